// Drawn swarm seeds 1150–1199 (see sim/swarm.ts); split over files so --parallel spreads them.
import { swarmTests } from "./swarm.ts";

swarmTests(1150, 1200);
