// Drawn swarm seeds 1350–1399 (see sim/swarm.ts); split over files so --parallel spreads them.
import { swarmTests } from "./swarm.ts";

swarmTests(1350, 1400);
