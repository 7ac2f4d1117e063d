// Drawn swarm seeds 1050–1099 (see sim/swarm.ts); split over files so --parallel spreads them.
import { swarmTests } from "./swarm.ts";

swarmTests(1050, 1100);
