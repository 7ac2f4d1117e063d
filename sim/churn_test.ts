import { heartbeat, type HeartbeatProtocol, heartbeatState } from "../actors/demo/heartbeat.ts";
import { messageCodec } from "../core/protocol/mod.ts";
import { Churn } from "./churn.ts";
import { Simulator } from "./simulator.ts";

const DAY_MS = 86_400_000;

Deno.test("churn: offline rate, downtime and departures follow the configuration", () => {
  const sim = new Simulator<HeartbeatProtocol>({ seed: 21, codec: messageCodec });
  let replacements = 0;
  let offlineMs = 0;
  const wentOffline = new Map<number, number>();
  const churn: Churn<HeartbeatProtocol> = new Churn(
    sim,
    { churnPerDay: 1, downtimeHoursMean: 6, permanent: 0.25 },
    {
      canDepart: (node) => node.index % 2 === 0, // odd nodes never depart (like users)
      onDepart: () => {
        replacements++;
        churn.watch(sim.addNode("idle", heartbeat, heartbeatState([])));
      },
      onChange: (node) => {
        if (node.status === "offline") wentOffline.set(node.index, sim.nowMs);
        else offlineMs += sim.nowMs - wentOffline.get(node.index)!;
      },
    },
  );
  const nodes = 400;
  for (let i = 0; i < nodes; i++) churn.watch(sim.addNode("idle", heartbeat, heartbeatState([])));
  const days = 20;
  sim.runUntil(days * DAY_MS);
  const spells = churn.offlineSpells + churn.departures;
  // Nodes are online most of the time (mean uptime 24 h, downtime 6 h): expect about 0.8/day.
  const perNodeDay = spells / (nodes * days);
  if (perNodeDay < 0.7 || perNodeDay > 0.9) throw new Error(`spells per node-day ${perNodeDay}`);
  const meanDownHours = offlineMs / 3_600_000 / churn.offlineSpells;
  if (meanDownHours < 5 || meanDownHours > 7) throw new Error(`mean downtime ${meanDownHours} h`);
  if (replacements !== churn.departures) throw new Error("departures not replaced");
  const departedOdd = sim.nodes.filter((n) =>
    n.status === "departed" && n.index % 2 === 1 &&
    n.index < nodes
  );
  if (departedOdd.length !== 0) throw new Error("a node that may not depart departed");
  if (churn.departures < 200) throw new Error(`departures ${churn.departures}`);
});
