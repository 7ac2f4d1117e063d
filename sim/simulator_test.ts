import fc from "fast-check";
import type { Message } from "../core/protocol/mod.ts";
import { heartbeat, type HeartbeatProtocol, heartbeatState } from "../actors/demo/heartbeat.ts";
import { messageCodec } from "../core/protocol/mod.ts";
import type { Actor } from "../core/actor.ts";
import {
  AUTH_REFUSED,
  type ImpostorFrame,
  type ImpostorOutcome,
  type SimConfig,
  type SimNode,
  SimulationError,
  Simulator,
} from "./simulator.ts";
import {
  drive,
  recorder,
  recorderState,
  requester,
  requesterState,
  type TestProtocol,
  testSim,
} from "./testing.ts";
import { Churn } from "./churn.ts";

function ping(seq: number): Message {
  return { type: "ping", seq, sentMs: 0 };
}

function sendAll(
  sim: Simulator<TestProtocol>,
  from: SimNode<TestProtocol>,
  to: string,
  count: number,
) {
  for (let i = 0; i < count; i++) sim.command(from, { send: to, message: ping(i) });
}

Deno.test("with no loss and no partition every message arrives exactly once, in order", () => {
  fc.assert(
    fc.property(fc.nat(2 ** 30), fc.integer({ min: 1, max: 200 }), (seed, n) => {
      const sim = testSim(seed);
      const a = sim.addNode("a", recorder, recorderState());
      const b = sim.addNode("b", recorder, recorderState());
      sendAll(sim, a, b.id, n);
      drive(sim);
      const got = (b.state.received as { message: Message }[]).map((r) => r.message);
      const seqs = got.map((m) => (m.type === "ping" ? m.seq : -1));
      if (seqs.join() !== Array.from({ length: n }, (_, i) => i).join()) {
        throw new Error(`received ${seqs}`);
      }
      if (a.state.received.length !== n) throw new Error("pongs missing");
    }),
    { numRuns: 50 },
  );
});

Deno.test("duplicated packets are dropped by the replay window; the actor sees each once", () => {
  const sim = testSim(7, { network: { duplicate: 0.5 } });
  const a = sim.addNode("a", recorder, recorderState());
  const b = sim.addNode("b", recorder, recorderState());
  sendAll(sim, a, b.id, 300);
  drive(sim);
  if (b.state.received.length !== 300) throw new Error(`got ${b.state.received.length}`);
  if (sim.counters.duplicates < 100) throw new Error("duplication did not happen");
  if (sim.counters.dropReplay !== sim.counters.duplicates) {
    throw new Error(`replays ${sim.counters.dropReplay} != duplicates ${sim.counters.duplicates}`);
  }
});

Deno.test("reordering delivers out of order but never loses or repeats a message", () => {
  const sim = testSim(8, { network: { reorder: 0.3 } });
  const a = sim.addNode("a", recorder, recorderState());
  const b = sim.addNode("b", recorder, recorderState());
  sendAll(sim, a, b.id, 20);
  drive(sim);
  const seqs = b.state.received.map((r: { message: Message }) =>
    r.message.type === "ping" ? r.message.seq : -1
  );
  if ([...seqs].sort((x, y) => x - y).join() !== Array.from({ length: 20 }, (_, i) => i).join()) {
    throw new Error(`lost or repeated: ${seqs}`);
  }
  if (seqs.every((s: number, i: number) => s === i)) throw new Error("no reordering happened");
});

Deno.test("loss drops about the configured share, and a requester's retries get through", () => {
  const sim = testSim(9, { network: { loss: 0.3 } });
  const a = sim.addNode("a", recorder, recorderState());
  const b = sim.addNode("b", recorder, recorderState());
  sendAll(sim, a, b.id, 2000);
  drive(sim);
  const share = sim.counters.dropLoss / sim.counters.sent;
  if (Math.abs(share - 0.3) > 0.03) throw new Error(`loss share ${share}`);

  const answers: { tries: number }[] = [];
  const sim2 = testSim(10, {
    network: { loss: 0.6 },
    onNotice: (_n, notice) => void ("answer" in notice && answers.push(notice)),
  });
  const client = sim2.addNode("client", requester, requesterState(500));
  const server = sim2.addNode("server", recorder, recorderState());
  sim2.command(client, { ask: server.id });
  drive(sim2);
  if (answers.length !== 1) throw new Error(`answers: ${answers.length}`);
  if (client.state.tries !== answers[0].tries) throw new Error("tries mismatch");
});

Deno.test("partitions drop traffic between groups and healing restores it", () => {
  const sim = testSim(11);
  const a = sim.addNode("a", recorder, recorderState());
  const b = sim.addNode("b", recorder, recorderState());
  sim.network.partition([[a.index]]);
  sendAll(sim, a, b.id, 5);
  drive(sim);
  const received = () => b.state.received.length;
  if (received() !== 0) throw new Error("crossed a partition");
  if (sim.counters.dropPartition !== 5) throw new Error(`drops ${sim.counters.dropPartition}`);
  sim.network.heal();
  sendAll(sim, a, b.id, 5);
  drive(sim);
  if (received() !== 5) throw new Error("heal did not restore traffic");
});

Deno.test("a one-way partition silences the listed node but lets it hear the rest", () => {
  const sim = testSim(13);
  const a = sim.addNode("a", recorder, recorderState());
  const b = sim.addNode("b", recorder, recorderState());
  sim.network.partition([[a.index]], true);
  sendAll(sim, a, b.id, 4);
  sendAll(sim, b, a.id, 3);
  drive(sim);
  if (b.state.received.length !== 0) throw new Error("the silenced node was heard");
  if (a.state.received.length !== 3) throw new Error(`a heard ${a.state.received.length}`);
  // a's four pings and its three pongs to b's pings are dropped.
  if (sim.counters.dropPartition !== 7) throw new Error(`drops ${sim.counters.dropPartition}`);
});

Deno.test("a clogged node's messages arrive late, in order, none lost; heal unclogs", () => {
  const flat = { bandwidthSigma: 0, jitterSigma: 0, latencySigma: 0, latencyMsMedian: 10 };
  const arrivals = (clogMs: number): { atMs: number; message: Message }[] => {
    const sim = testSim(14, { network: flat });
    const a = sim.addNode("a", recorder, recorderState());
    const b = sim.addNode("b", recorder, recorderState());
    sim.network.clog(b.index, clogMs);
    sendAll(sim, a, b.id, 6);
    drive(sim);
    return b.state.received;
  };
  const plain = arrivals(0);
  const clogged = arrivals(5_000);
  if (clogged.length !== 6) throw new Error(`${clogged.length} of 6 arrived`);
  const late = clogged.map((r, i) => r.atMs - plain[i].atMs);
  if (late.some((d) => d < 5_000)) throw new Error(`not delayed by the clog: ${late}`);
  const seqs = clogged.map((r) => (r.message as { seq: number }).seq);
  if (seqs.join() !== "0,1,2,3,4,5") throw new Error(`reordered: ${seqs}`);
});

Deno.test("bandwidth: a large message takes size / rate, and a queue forms behind it", () => {
  const sim = testSim(12, {
    network: { bandwidthSigma: 0, jitterSigma: 0, latencySigma: 0, latencyMsMedian: 10 },
  });
  const a = sim.addNode("a", recorder, recorderState());
  const b = sim.addNode("b", recorder, recorderState());
  const data = new Uint8Array(250_000);
  const big: Message = {
    type: "store",
    requestId: 1,
    epoch: 0,
    key: "k",
    hash: new Uint8Array(32),
    data,
  };
  for (let i = 0; i < 3; i++) sim.command(a, { send: b.id, message: big });
  drive(sim);
  const times = b.state.received.map((r: { atMs: number }) => r.atMs);
  // Each frame leaves at the 2.5 MB/s upload rate (about 100 ms); three queue one after another.
  const size = sim.counters.bytesSent / 3;
  const upload = (size * 1000) / 2_500_000;
  const download = (size * 1000) / 12_500_000;
  const expected = [1, 2, 3].map((i) => Math.ceil(i * upload + 10 + download));
  if (times.join() !== expected.join()) throw new Error(`arrivals ${times}, expected ${expected}`);
});

Deno.test("frame faults: altered and forged frames fail the check, garbage fails to decode", () => {
  const sim = testSim(13, { faults: { alter: 0.1, forge: 0.1, garbage: 0.1 } });
  const a = sim.addNode("a", recorder, recorderState());
  const b = sim.addNode("b", recorder, recorderState());
  sendAll(sim, a, b.id, 1000);
  drive(sim);
  const c = sim.counters;
  if (c.dropFrameCheck < 100 || c.dropMalformed < 20) {
    throw new Error(`frame check ${c.dropFrameCheck}, malformed ${c.dropMalformed}`);
  }
  for (const r of b.state.received) {
    if (r.message.type !== "ping" && r.message.type !== "pong" && r.message.type !== "gossip") {
      throw new Error("a corrupted message reached the actor");
    }
  }
});

Deno.test("offline nodes get no messages, keep their disk, and get held completions back", () => {
  const sim = testSim(14);
  const a = sim.addNode("a", recorder, recorderState());
  const b = sim.addNode("b", recorder, recorderState());
  sim.command(a, { job: 21 });
  sim.at(0, () => sim.setOffline(a));
  sendAll(sim, b, a.id, 3);
  drive(sim);
  if (a.state.received.length !== 0) throw new Error("offline node got messages");
  if (a.state.jobResults.length !== 0) throw new Error("offline node stepped");
  if (sim.counters.dropOffline !== 3) throw new Error(`dropOffline ${sim.counters.dropOffline}`);
  sim.setOnline(a);
  if (a.state.starts !== 2) throw new Error("no start on return");
  if (a.state.jobResults.join() !== "42") throw new Error(`job results ${a.state.jobResults}`);
  sim.depart(b);
  sendAll(sim, a, b.id, 2);
  drive(sim);
  if (sim.counters.dropUnroutable !== 2) throw new Error("departed node still routable");
});

Deno.test("timers: an offline node's timer waits, and fires when it returns", () => {
  const sim = new Simulator<HeartbeatProtocol>({ seed: 3, codec: messageCodec });
  const a = sim.addNode("hb", heartbeat, heartbeatState(["n1"], 1000));
  const b = sim.addNode("hb", heartbeat, heartbeatState(["n0"], 1000));
  sim.runUntil(10_000);
  const pings = a.state.pings;
  if (pings < 8) throw new Error(`pings ${pings}`);
  sim.setOffline(a);
  sim.runUntil(20_000);
  if (a.state.pings !== pings) throw new Error("offline node's timer fired");
  sim.setOnline(a);
  sim.runUntil(30_000);
  if (a.state.pings < pings + 8) throw new Error("timer did not resume");
  if (b.state.pongs < 8) throw new Error("b got no pongs");
});

Deno.test("an actor's failure stops the run with a SimulationError naming the seed", () => {
  const sim = testSim("seed-xyz");
  const bad = sim.addNode("a", recorder, recorderState());
  bad.state.starts = 0; // breaks the recorder's invariant on the next step
  sim.command(bad, { job: 1 });
  try {
    drive(sim);
    throw new Error("no failure");
  } catch (e) {
    if (!(e instanceof SimulationError)) throw e;
    if (!e.message.includes('"seed-xyz"')) throw new Error(e.message);
  }
});

function demoHash(seed: number): string {
  const sim = new Simulator<HeartbeatProtocol>({
    seed,
    codec: messageCodec,
    network: { loss: 0.01, reorder: 0.01, duplicate: 0.01 },
  });
  const churn = new Churn(sim, { churnPerDay: 5, downtimeHoursMean: 2, permanent: 0.2 }, {
    canDepart: () => true,
  });
  for (let i = 0; i < 30; i++) {
    const peers = [(i + 1) % 30, (i + 7) % 30].map((j) => `n${j}`);
    churn.watch(sim.addNode("hb", heartbeat, heartbeatState(peers, 60_000)));
  }
  sim.runUntil(2 * 86_400_000);
  return sim.trace.hex();
}

Deno.test("determinism: the same seed gives the same trace hash, another seed another", () => {
  const a = demoHash(1);
  const b = demoHash(1);
  const c = demoHash(2);
  if (a !== b) throw new Error(`same seed, different hashes: ${a} ${b}`);
  if (a === c) throw new Error("different seeds, same hash");
});

// --- impostors -----------------------------------------------------------------------------------

/** State of {@link pinner}: the key it pinned for each name, and what it accepted. */
interface PinnerState {
  pinned: Map<string, Uint8Array>;
  accepted: { from: string; fromKey: Uint8Array | null }[];
  refused: number;
}

/** Accepts a message only under the key pinned for its sender, as the actors must. */
const pinner: Actor<PinnerState, TestProtocol> = {
  step(s, input) {
    if (input.kind !== "message") return [];
    const want = s.pinned.get(input.from);
    if (want !== undefined && !sameKey(want, input.fromKey)) {
      s.refused++;
      const detail = { from: input.from, type: input.message.type, why: "key" };
      return [{ kind: "trace", event: AUTH_REFUSED, detail }];
    }
    s.accepted.push({ from: input.from, fromKey: input.fromKey });
    return [];
  },
  nextDeadlineMs: () => null,
  invariants: () => {},
};

function sameKey(a: Uint8Array, b: Uint8Array | null): boolean {
  return b !== null && a.length === b.length && a.every((x, i) => x === b[i]);
}

/** A target pinning `b`'s key, `b` itself, and an attacker; keys are the names' bytes. */
function impostorSim(seed: number, extra: Partial<SimConfig<TestProtocol>> = {}) {
  const keyOf = (name: string) => new TextEncoder().encode(`key-of-${name}`);
  const sim = testSim(seed, { keyFor: (node) => keyOf(node.id), ...extra });
  const state: PinnerState = { pinned: new Map([["b", keyOf("b")]]), accepted: [], refused: 0 };
  const a = sim.addNode("target", pinner, state, "a");
  const b = sim.addNode("honest", recorder, recorderState(), "b");
  const attacker = sim.addAttacker();
  return { sim, a, b, attacker, state, keyOf };
}

function impostorPings(
  sim: Simulator<TestProtocol>,
  attacker: SimNode<TestProtocol>,
  count: number,
  frame: Partial<ImpostorFrame<TestProtocol>> = {},
): ImpostorOutcome[] {
  const outcomes: ImpostorOutcome[] = [];
  for (let i = 0; i < count; i++) {
    sim.sendImpostor(attacker, {
      to: "a",
      from: "b",
      fromKey: new Uint8Array([1, 2, 3, i]),
      message: ping(i),
      onOutcome: (o) => void outcomes.push(o),
      ...frame,
    });
  }
  return outcomes;
}

Deno.test("impostor frames reach the actor under the claimed name and key, and are counted", () => {
  const { sim, a, b, attacker, state } = impostorSim(21);
  const outcomes = impostorPings(sim, attacker, 40);
  sendAll(sim, b, a.id, 5);
  drive(sim);
  const c = sim.counters;
  if (state.refused !== 40 || state.accepted.length !== 5) {
    throw new Error(`refused ${state.refused}, accepted ${state.accepted.length}`);
  }
  if (state.accepted.some((m) => m.from !== "b")) throw new Error("wrong sender");
  if (c.impostorSent !== 40 || c.impostorDelivered !== 40 || c.impostorRefused !== 40) {
    throw new Error(`sent ${c.impostorSent}, delivered ${c.impostorDelivered}`);
  }
  if (c.impostorAccepted !== 0 || outcomes.some((o) => o !== "refused")) {
    throw new Error(`accepted ${c.impostorAccepted}`);
  }
  // Honest traffic is counted as before; the attacker's is apart.
  if (c.sent !== 5 || c.delivered !== 5) throw new Error(`honest ${c.sent} ${c.delivered}`);
});

Deno.test("an impostor the actor cannot tell apart (a stolen key) is counted as accepted", () => {
  const { sim, attacker, state, keyOf } = impostorSim(22);
  impostorPings(sim, attacker, 10, { fromKey: keyOf("b") });
  impostorPings(sim, attacker, 10); // fresh keys: refused
  // A name the target never pinned: it takes any key (admission is the transport's job).
  impostorPings(sim, attacker, 5, { from: "c" });
  drive(sim);
  const c = sim.counters;
  if (c.impostorAccepted !== 15 || c.impostorRefused !== 10 || state.accepted.length !== 15) {
    throw new Error(`accepted ${c.impostorAccepted}, refused ${c.impostorRefused}`);
  }
});

Deno.test("impostor standing: unpinned frames never reach the actor, stale ones uncounted", () => {
  const { sim, attacker, state } = impostorSim(23);
  const unpinned = impostorPings(sim, attacker, 7, { standing: () => "unpinned" });
  const stale = impostorPings(sim, attacker, 5, { standing: () => "stale" });
  drive(sim);
  const c = sim.counters;
  if (unpinned.some((o) => o !== "unpinned") || stale.some((o) => o !== "stale")) {
    throw new Error(`outcomes ${unpinned} ${stale}`);
  }
  if (c.impostorUnpinned !== 7 || c.impostorStale !== 5 || c.impostorDelivered !== 0) {
    throw new Error(`unpinned ${c.impostorUnpinned}, stale ${c.impostorStale}`);
  }
  if (state.refused !== 5) throw new Error(`the actor saw ${state.refused} frames, not 5`);
});

Deno.test("impostor frames cross the network: loss, duplicates, offline and departed nodes", () => {
  const { sim, a, attacker, state } = impostorSim(24, {
    network: { loss: 0.3, duplicate: 0.3 },
  });
  const outcomes = impostorPings(sim, attacker, 1000);
  drive(sim);
  const c = sim.counters;
  const share = c.impostorDropped / c.impostorSent;
  if (Math.abs(share - 0.3) > 0.05) throw new Error(`dropped share ${share}`);
  if (outcomes.length !== 1000) throw new Error(`${outcomes.length} outcomes for 1000 frames`);
  // A duplicated frame is settled once, and the actor sees it once.
  if (c.impostorDelivered + c.impostorDropped !== 1000 || state.refused !== c.impostorDelivered) {
    throw new Error(`delivered ${c.impostorDelivered}, dropped ${c.impostorDropped}`);
  }
  sim.network.reconfigure({ loss: 0, duplicate: 0 });
  sim.setOffline(a);
  impostorPings(sim, attacker, 3);
  drive(sim);
  sim.depart(a);
  impostorPings(sim, attacker, 2);
  drive(sim);
  if (c.impostorDropped + c.impostorDelivered !== 1005 || state.refused !== c.impostorDelivered) {
    throw new Error("an offline or departed target got impostor frames");
  }
});

Deno.test("watchSends shows every message as it leaves; the trace hash covers impostors", () => {
  const run = (seed: number, impostors: number) => {
    const { sim, a, b, attacker } = impostorSim(seed);
    const seen: string[] = [];
    sim.watchSends((from, to, message) => {
      seen.push(`${from.id}>${to}:${message.type}`);
      if (message.type === "ping" && message.seq < impostors) {
        impostorPings(sim, attacker, 1, { message: ping(message.seq) });
      }
    });
    sendAll(sim, b, a.id, 3);
    drive(sim);
    return { hash: sim.trace.hex(), seen: seen.join(), refused: sim.counters.impostorRefused };
  };
  const base = run(25, 0);
  if (base.seen !== "b>a:ping,b>a:ping,b>a:ping") throw new Error(`seen ${base.seen}`);
  const attacked = run(25, 2);
  if (attacked.refused !== 2) throw new Error(`refused ${attacked.refused}`);
  if (attacked.hash === base.hash) throw new Error("impostor deliveries left the hash alone");
  if (run(25, 2).hash !== attacked.hash) throw new Error("same seed, different hashes");
});

Deno.test("clocks: a skewed node reads its own time; its timers keep their virtual spacing", () => {
  const sim = testSim(11);
  const server = sim.addNode("s", recorder, recorderState());
  const ahead = sim.addNode("a", requester, requesterState(1000));
  const behind = sim.addNode("b", requester, requesterState(1000));
  sim.setClockSkew(ahead, 90_000);
  sim.setClockSkew(behind, 30_000);
  sim.setOffline(server); // nobody answers: both retry every second of their own clock
  sim.command(ahead, { ask: server.id });
  sim.command(behind, { ask: server.id });
  sim.runUntil(10_500);
  // Same virtual spacing, so the same number of tries, however far the clock is off.
  if (ahead.state.tries !== behind.state.tries || ahead.state.tries < 10) {
    throw new Error(`tries ahead ${ahead.state.tries}, behind ${behind.state.tries}`);
  }
  let refused = "";
  try {
    sim.setClockSkew(behind, -1);
  } catch (e) {
    refused = String(e);
  }
  if (!refused.includes(">= 0")) throw new Error("a clock behind virtual time was accepted");
  // Deadlines are in the node's own clock.
  const due = (ahead.state.retryAt as number) - (behind.state.retryAt as number);
  if (due !== 60_000) throw new Error(`retry deadlines ${due} ms apart, not 60 s`);
  sim.setOnline(server);
  sim.runUntil(12_000);
  const seen = server.state.received.map((r: { atMs: number }) => r.atMs);
  if (seen.length === 0 || seen.some((t: number) => t > 12_000)) {
    throw new Error(`the server's own clock was skewed: ${seen}`);
  }
  if (!ahead.state.answered || !behind.state.answered) throw new Error("no answer");
});

/** Writes one blob when told to; counts completions. */
type Writer = { done: number };
const writer: Actor<Writer, TestProtocol> = {
  step(s, input) {
    if (input.kind === "command") {
      const data = new Uint8Array(1000).fill(7);
      return [{ kind: "io", id: 1, op: { op: "write", key: "k", data } }];
    }
    if (input.kind === "io_done") s.done++;
    return [];
  },
  nextDeadlineMs: () => null,
  invariants: () => {},
};

Deno.test("disk crash: a restart as a write starts undoes it; an acknowledged one stays", () => {
  const sim = testSim(31, { disk: { lostWrite: 1, opLatencyMs: 5 } });
  const node = sim.addNode("w", writer, { done: 0 });
  let inFlight = -1;
  sim.onNextWrite(node, (s) => {
    inFlight = node.disk!.inFlight;
    s.restart(node, { done: 0 });
  });
  sim.command(node, { send: "x", message: ping(0) }); // any command makes it write
  drive(sim);
  if (inFlight !== 1) throw new Error(`the hook ran with ${inFlight} writes in flight`);
  if (node.disk!.blobs.has("k")) throw new Error("the crash did not undo the write");
  if (node.state.done !== 0) throw new Error("the old process got the completion");
  if (sim.counters.writesLost !== 1) throw new Error(`writesLost ${sim.counters.writesLost}`);
  sim.command(node, { send: "x", message: ping(1) });
  drive(sim);
  sim.restart(node, { done: 0 }); // after the completion: durable
  if (node.disk!.blobs.get("k")?.length !== 1000) throw new Error("an acknowledged write was lost");
});
