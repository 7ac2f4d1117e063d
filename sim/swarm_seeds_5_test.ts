// Drawn swarm seeds 1250–1299 (see sim/swarm.ts); split over files so --parallel spreads them.
import { swarmTests } from "./swarm.ts";

swarmTests(1250, 1300);
