// Drawn swarm seeds 1100–1149 (see sim/swarm.ts); split over files so --parallel spreads them.
import { swarmTests } from "./swarm.ts";

swarmTests(1100, 1150);
