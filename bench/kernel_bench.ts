/**
 * Kernel benchmarks: scheduler events per second, simulated deliveries per second, and memory per
 * idle simulated node, each next to a baseline measured in the same run.
 *
 * - Scheduler: the classic "hold" model (pop the earliest event, push one a random time later)
 *   with 10,000 and 1,000,000 pending events, against sorting the same number of keys with
 *   `Float64Array.prototype.sort` (the best possible offline ordering).
 * - Deliveries: pairs of trivial actors bouncing a message forever (each delivery sends the next
 *   one through the full path: encode, network model, queue, link checks, decode, step), against
 *   a bare loop that only encodes and decodes the same messages with the same codec.
 * - Memory: heap growth per idle node (a heartbeat actor with no peers), for 100,000 nodes.
 *
 * @module
 */

import type { Actor, Effect, Input, StepContext } from "../core/actor.ts";
import { decode, encode } from "../core/codec.ts";
import { Random } from "../core/prng.ts";
import { type Message, messageCodec } from "../core/protocol/mod.ts";
import { EventQueue, type Scheduled } from "../sim/event_queue.ts";
import { Simulator } from "../sim/simulator.ts";
import { heartbeat, type HeartbeatProtocol, heartbeatState } from "../actors/demo/heartbeat.ts";

function rate(count: number, ms: number): string {
  const perSec = (count * 1000) / ms;
  return perSec >= 1e6 ? `${(perSec / 1e6).toFixed(2)} M/s` : `${(perSec / 1e3).toFixed(1)} k/s`;
}

function schedulerBench(pending: number, holds: number): { queueMs: number; sortMs: number } {
  const random = Random.stream(1, "bench");
  const queue = new EventQueue<Scheduled>();
  for (let i = 0; i < pending; i++) queue.push({ t: random.float() * 1000, seq: 0 });
  const steps = new Float64Array(holds);
  for (let i = 0; i < holds; i++) steps[i] = random.exponential(1000);
  let t0 = performance.now();
  let last = -1;
  for (let i = 0; i < holds; i++) {
    const e = queue.pop()!;
    if (e.t < last) throw new Error("queue out of order");
    last = e.t;
    e.t += steps[i];
    queue.push(e);
  }
  const queueMs = performance.now() - t0;
  t0 = performance.now();
  steps.sort();
  const sortMs = performance.now() - t0;
  return { queueMs, sortMs };
}

/** Bounces every message straight back: the cheapest possible actor. */
type Bouncer = { partner: string; bounces: number };
type Effects = readonly Effect<HeartbeatProtocol>[];
const bouncer: Actor<Bouncer, HeartbeatProtocol> = {
  step(s: Bouncer, input: Input<HeartbeatProtocol>, ctx: StepContext): Effects {
    if (input.kind === "start") {
      return [{
        kind: "send",
        to: s.partner,
        message: { type: "ping", seq: 0, sentMs: ctx.nowMs },
      }];
    }
    if (input.kind !== "message" || input.message.type !== "ping") return [];
    s.bounces++;
    const m = input.message;
    return [{
      kind: "send",
      to: input.from,
      message: { type: "ping", seq: m.seq + 1, sentMs: m.sentMs },
    }];
  },
  nextDeadlineMs: () => null,
  invariants: (s) => {
    if (s.bounces < 0) throw new Error("negative");
  },
};

function deliveryBench(pairs: number, deliveries: number): { simMs: number; codecMs: number } {
  const sim = new Simulator<HeartbeatProtocol>({ seed: 1, codec: messageCodec });
  for (let i = 0; i < pairs; i++) {
    sim.addNode("bouncer", bouncer, { partner: `n${2 * i + 1}`, bounces: 0 });
    sim.addNode("bouncer", bouncer, { partner: `n${2 * i}`, bounces: 0 });
  }
  const t0 = performance.now();
  sim.runUntil(Infinity, deliveries);
  const simMs = performance.now() - t0;
  const delivered = sim.counters.delivered;
  if (delivered < deliveries * 0.99) throw new Error(`only ${delivered} delivered`);
  // Baseline: the codec work alone for the same number of messages.
  const t1 = performance.now();
  let check = 0;
  for (let i = 0; i < deliveries; i++) {
    const bytes = encode(messageCodec, { type: "ping", seq: i, sentMs: i * 1.5 } as Message);
    const m = decode(messageCodec, bytes);
    if (m.type === "ping") check += m.seq;
  }
  const codecMs = performance.now() - t1;
  if (check === 0) throw new Error("unreachable");
  return { simMs, codecMs };
}

function memoryBench(nodes: number): number {
  const sim = new Simulator<HeartbeatProtocol>({ seed: 1, codec: messageCodec });
  sim.addNode("idle", heartbeat, heartbeatState([]));
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = Deno.memoryUsage().heapUsed;
  for (let i = 1; i < nodes; i++) sim.addNode("idle", heartbeat, heartbeatState([]));
  gc?.();
  const after = Deno.memoryUsage().heapUsed;
  if (sim.nodes.length !== nodes) throw new Error("lost nodes");
  return (after - before) / (nodes - 1);
}

/** Runs the kernel benchmarks and prints their figures. */
export async function run(): Promise<void> {
  const n = 2_000_000;
  schedulerBench(1000, 100_000); // warm up
  for (const pending of [10_000, 1_000_000]) {
    const s = schedulerBench(pending, n);
    const ratio = (s.sortMs / s.queueMs).toFixed(2);
    console.log(
      `scheduler (${pending.toLocaleString("en-US")} pending): ${rate(n, s.queueMs)} events ` +
        `(pop + push); baseline sort of ${n.toLocaleString("en-US")} keys ${rate(n, s.sortMs)}; ` +
        `ratio ${ratio}`,
    );
  }
  deliveryBench(100, 100_000); // warm up
  const d = deliveryBench(1000, 2_000_000);
  console.log(
    `deliveries: ${rate(2_000_000, d.simMs)} simulated deliveries; ` +
      `baseline codec round trip alone ${rate(2_000_000, d.codecMs)}; ` +
      `ratio ${(d.codecMs / d.simMs).toFixed(2)}`,
  );
  const perNode = memoryBench(100_000);
  console.log(`memory: ${perNode.toFixed(0)} bytes of heap per idle node (100,000 nodes)`);
  await Promise.resolve();
}

if (import.meta.main) await run();
