/**
 * The kernel's demonstration actor: nodes that ping their peers and notice who stopped answering.
 *
 * It exists to exercise the simulator and the hosts with every kind of input and effect before
 * the storage roles arrive, and as the trivial actor of the kernel benchmarks.
 *
 * Theory of operation.
 * - State: a fixed list of peers (at most {@link HEARTBEAT_PEERS_MAX}), when each last answered,
 *   which are suspected, round-trip statistics, a sequence counter.
 * - Timers: one, `nextPingAt`. On boot and on every return online it is re-armed one interval
 *   ahead, with jitter. When it fires the node pings the next peer (round robin), re-arms, and
 *   marks as suspected every peer silent for {@link SUSPECT_AFTER_ROUNDS} full rounds.
 * - Every {@link SAVE_EVERY_PINGS} pings it writes its counters to blob `heartbeat/stats`, and
 *   counts the completion (or the failure) of that write.
 * - Messages: `ping {seq, sentMs}` is answered by `pong` with the same fields; a `pong` updates
 *   the peer's last-seen time and the RTT sum. Pongs from non-peers are counted and ignored.
 *
 * @module
 */

import type { Actor, Effect, Input, NodeId, StepContext } from "../../core/actor.ts";
import { NO_EFFECTS } from "../../core/actor.ts";
import { assert } from "../../core/assert.ts";
import type { Message } from "../../core/protocol/mod.ts";

/** Most peers one heartbeat node watches. */
const HEARTBEAT_PEERS_MAX = 64;
/** Rounds of silence after which a peer is suspected. */
const SUSPECT_AFTER_ROUNDS = 3;
/** Pings between two writes of the statistics blob. */
const SAVE_EVERY_PINGS = 16;

/** The demonstration protocol: messages only, no jobs, commands or notices. */
export interface HeartbeatProtocol {
  message: Message;
  job: never;
  jobResult: never;
  command: never;
  notice: { suspected: NodeId } | { recovered: NodeId };
}

/** State of one heartbeat node. */
export interface HeartbeatState {
  peers: NodeId[];
  intervalMs: number;
  lastSeenMs: number[];
  suspected: boolean[];
  nextPingAt: number | null;
  nextPeer: number;
  seq: number;
  pings: number;
  pongs: number;
  rttSumMs: number;
  strayPongs: number;
  saves: number;
  saveFailures: number;
}

/** A fresh heartbeat node watching `peers`, pinging one every `intervalMs`. */
export function heartbeatState(peers: NodeId[], intervalMs = 60_000): HeartbeatState {
  if (peers.length > HEARTBEAT_PEERS_MAX) {
    throw new RangeError(`at most ${HEARTBEAT_PEERS_MAX} peers, got ${peers.length}`);
  }
  if (!(intervalMs > 0)) throw new RangeError(`intervalMs must be > 0, got ${intervalMs}`);
  return {
    peers: [...peers],
    intervalMs,
    lastSeenMs: peers.map(() => 0),
    suspected: peers.map(() => false),
    nextPingAt: null,
    nextPeer: 0,
    seq: 0,
    pings: 0,
    pongs: 0,
    rttSumMs: 0,
    strayPongs: 0,
    saves: 0,
    saveFailures: 0,
  };
}

type E = Effect<HeartbeatProtocol>;

function step(s: HeartbeatState, input: Input<HeartbeatProtocol>, ctx: StepContext): readonly E[] {
  switch (input.kind) {
    case "start":
      if (s.peers.length === 0) return NO_EFFECTS;
      s.nextPingAt = ctx.nowMs + s.intervalMs * (0.5 + ctx.random.float());
      for (let i = 0; i < s.peers.length; i++) s.lastSeenMs[i] = ctx.nowMs;
      return NO_EFFECTS;
    case "timeout":
      return onTimeout(s, ctx);
    case "message":
      return onMessage(s, input.from, input.message, ctx);
    case "io_done":
      if (input.result.ok) s.saves++;
      else s.saveFailures++;
      return NO_EFFECTS;
    case "job_done":
    case "command":
      return NO_EFFECTS;
  }
}

function onTimeout(s: HeartbeatState, ctx: StepContext): readonly E[] {
  if (s.nextPingAt === null || ctx.nowMs < s.nextPingAt) return NO_EFFECTS;
  const effects: E[] = [];
  const peer = s.peers[s.nextPeer];
  s.nextPeer = (s.nextPeer + 1) % s.peers.length;
  s.seq++;
  s.pings++;
  effects.push({
    kind: "send",
    to: peer,
    message: { type: "ping", seq: s.seq, sentMs: ctx.nowMs },
  });
  s.nextPingAt = ctx.nowMs + s.intervalMs;
  const silentMs = SUSPECT_AFTER_ROUNDS * s.intervalMs * s.peers.length;
  for (let i = 0; i < s.peers.length; i++) {
    if (!s.suspected[i] && ctx.nowMs - s.lastSeenMs[i] > silentMs) {
      s.suspected[i] = true;
      effects.push({ kind: "notice", notice: { suspected: s.peers[i] } });
      effects.push({ kind: "trace", event: "suspect", detail: { peer: s.peers[i] } });
    }
  }
  if (s.pings % SAVE_EVERY_PINGS === 0) {
    const data = new Uint8Array(16);
    new DataView(data.buffer).setFloat64(0, s.pings, true);
    new DataView(data.buffer).setFloat64(8, s.pongs, true);
    effects.push({ kind: "io", id: s.pings, op: { op: "write", key: "heartbeat/stats", data } });
  }
  return effects;
}

function onMessage(s: HeartbeatState, from: NodeId, m: Message, ctx: StepContext): readonly E[] {
  if (m.type === "ping") {
    return [{ kind: "send", to: from, message: { type: "pong", seq: m.seq, sentMs: m.sentMs } }];
  }
  if (m.type !== "pong") return NO_EFFECTS;
  const i = s.peers.indexOf(from);
  if (i < 0) {
    s.strayPongs++;
    return NO_EFFECTS;
  }
  s.pongs++;
  s.rttSumMs += ctx.nowMs - m.sentMs;
  s.lastSeenMs[i] = ctx.nowMs;
  if (!s.suspected[i]) return NO_EFFECTS;
  s.suspected[i] = false;
  return [{ kind: "notice", notice: { recovered: from } }];
}

function invariants(s: HeartbeatState): void {
  assert(s.peers.length <= HEARTBEAT_PEERS_MAX, "too many peers");
  assert(s.lastSeenMs.length === s.peers.length, "lastSeenMs out of step with peers");
  assert(s.suspected.length === s.peers.length, "suspected out of step with peers");
  assert(s.pongs <= s.pings + s.strayPongs + s.pongs, "counter overflow");
  assert(s.rttSumMs >= 0, "negative round-trip time");
}

/** The heartbeat actor. */
export const heartbeat: Actor<HeartbeatState, HeartbeatProtocol> = {
  step,
  nextDeadlineMs: (s) => s.nextPingAt,
  invariants,
};
