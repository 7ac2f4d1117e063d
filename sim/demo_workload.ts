/**
 * The kernel demonstration workload: a network of heartbeat nodes under churn.
 *
 * Each node watches a few random peers; churn takes nodes offline and, for a share of spells,
 * replaces them with fresh nodes. The run reports what the heartbeat layer observed
 * (suspicions and recoveries) next to what the kernel did (events, deliveries, drops).
 *
 * @module
 */

import { heartbeat, type HeartbeatProtocol, heartbeatState } from "../actors/demo/heartbeat.ts";
import { simNodeId } from "../core/ids.ts";
import { Random } from "../core/prng.ts";
import { messageCodec } from "../core/protocol/mod.ts";
import { Churn } from "./churn.ts";
import type { SimFlags } from "./flags.ts";
import type { Report } from "./report.ts";
import { type SimNode, Simulator } from "./simulator.ts";

const PEERS_PER_NODE = 8;
const DAY_MS = 86_400_000;
const INTERVAL_MS = 10 * 60_000;

/** Progress callback: share of simulated time done, events so far. */
export type Progress = (done: number, events: number) => void;

/** Runs the demonstration network for `flags.days` and returns its report body. */
export function runDemo(flags: SimFlags, progress?: Progress): Report {
  let suspicions = 0;
  let recoveries = 0;
  const sim: Simulator<HeartbeatProtocol> = new Simulator<HeartbeatProtocol>({
    seed: flags.seed,
    codec: messageCodec,
    checkEvery: flags.checkEvery,
    onNotice: (_node, notice) => {
      if ("suspected" in notice) suspicions++;
      else recoveries++;
    },
  });
  const random = Random.stream(flags.seed, "workload");
  const peersFor = (index: number, population: number): string[] => {
    const peers = new Set<string>();
    const want = Math.min(PEERS_PER_NODE, population - 1);
    while (peers.size < want) {
      const j = random.int(population);
      if (j !== index) peers.add(simNodeId(j));
    }
    return [...peers].sort();
  };
  const churn: Churn<HeartbeatProtocol> = new Churn(sim, {
    churnPerDay: flags.churn,
    downtimeHoursMean: flags.downtimeHours,
    permanent: flags.permanent,
  }, {
    canDepart: () => true,
    onDepart: (_gone: SimNode<HeartbeatProtocol>) => {
      const index = sim.nodes.length;
      const fresh = sim.addNode(
        "heartbeat",
        heartbeat,
        heartbeatState(peersFor(index, index), INTERVAL_MS),
      );
      churn.watch(fresh);
    },
  });
  for (let i = 0; i < flags.nodes; i++) {
    churn.watch(sim.addNode("heartbeat", heartbeat, heartbeatState(peersFor(i, flags.nodes))));
  }
  const endMs = flags.days * DAY_MS;
  const sliceMs = Math.max(endMs / 200, 60_000);
  for (let t = sliceMs; t < endMs + sliceMs; t += sliceMs) {
    sim.runUntil(Math.min(t, endMs));
    progress?.(Math.min(t, endMs) / endMs, sim.counters.events);
  }
  const c = sim.counters;
  sim.checkAll();
  return {
    note: "the kernel's heartbeat actors: no storage",
    heartbeat: { suspicions, recoveries },
    spells: { offline: churn.offlineSpells, departures: churn.departures },
    nodesEver: sim.nodes.length,
    messages: c.sent,
    delivered: c.delivered,
    dropped: {
      loss: c.dropLoss,
      partition: c.dropPartition,
      offline: c.dropOffline,
      unroutable: c.dropUnroutable,
      replay: c.dropReplay,
      frameCheck: c.dropFrameCheck,
      malformed: c.dropMalformed,
    },
    events: c.events,
    simMs: sim.nowMs,
    traceHash: sim.trace.hex(),
  };
}
