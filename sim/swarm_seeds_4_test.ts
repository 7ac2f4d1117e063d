// Drawn swarm seeds 1200–1249 (see sim/swarm.ts); split over files so --parallel spreads them.
import { swarmTests } from "./swarm.ts";

swarmTests(1200, 1250);
