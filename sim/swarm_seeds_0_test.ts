// Drawn swarm seeds 1000–1049 (see sim/swarm.ts); split over files so --parallel spreads them.
import { swarmTests } from "./swarm.ts";

swarmTests(1000, 1050);
