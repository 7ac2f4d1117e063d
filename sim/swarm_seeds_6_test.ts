// Drawn swarm seeds 1300–1349 (see sim/swarm.ts); split over files so --parallel spreads them.
import { swarmTests } from "./swarm.ts";

swarmTests(1300, 1350);
