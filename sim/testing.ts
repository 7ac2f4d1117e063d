/**
 * Test helpers for driving actors under the simulator: a bounded drive loop and small actors
 * that record what they receive.
 *
 * @module
 */

import type { Actor, Effect, Input, NodeId, StepContext } from "../core/actor.ts";
import { NO_EFFECTS } from "../core/actor.ts";
import type { Message } from "../core/protocol/mod.ts";
import { type SimConfig, Simulator } from "./simulator.ts";
import { messageCodec } from "../core/protocol/mod.ts";
import type { Seed } from "../core/prng.ts";

/**
 * Runs the simulation until nothing is left to do, at most `maxEvents` events; throws (naming the
 * seed) when the budget runs out, because a protocol that never goes idle is a bug.
 */
// deno-lint-ignore no-explicit-any
export function drive(sim: Simulator<any>, maxEvents = 1_000_000): number {
  const before = sim.counters.events;
  if (!sim.runUntilIdle(maxEvents)) {
    throw new Error(
      `still busy after ${maxEvents} events at ${sim.nowMs} ms (seed ${JSON.stringify(sim.seed)})`,
    );
  }
  return sim.counters.events - before;
}

/** Protocol of the test actors: demo messages, commands to send them, notices of receipt. */
export interface TestProtocol {
  message: Message;
  job: { double: number };
  jobResult: number;
  command: { send: NodeId; message: Message } | { ask: NodeId } | { job: number };
  notice: { got: Message; from: NodeId; atMs: number } | { answer: number; tries: number };
}

type TE = Effect<TestProtocol>;

/** State of a {@link recorder}: everything it received, in order. */
export interface RecorderState {
  received: { from: NodeId; message: Message; atMs: number }[];
  starts: number;
  jobResults: number[];
}

/** An actor that sends what it is told to, answers pings, and records everything it gets. */
export const recorder: Actor<RecorderState, TestProtocol> = {
  step(s: RecorderState, input: Input<TestProtocol>, ctx: StepContext): readonly TE[] {
    switch (input.kind) {
      case "start":
        s.starts++;
        return NO_EFFECTS;
      case "command": {
        const c = input.command;
        if ("send" in c) return [{ kind: "send", to: c.send, message: c.message }];
        if ("job" in c) return [{ kind: "job", id: c.job, job: { double: c.job } }];
        return NO_EFFECTS;
      }
      case "message": {
        s.received.push({ from: input.from, message: input.message, atMs: ctx.nowMs });
        const out: TE[] = [{
          kind: "notice",
          notice: { got: input.message, from: input.from, atMs: ctx.nowMs },
        }];
        const m = input.message;
        if (m.type === "ping") {
          const pong: Message = { type: "pong", seq: m.seq, sentMs: 0 };
          out.push({ kind: "send", to: input.from, message: pong });
        }
        return out;
      }
      case "job_done":
        s.jobResults.push(input.result);
        return NO_EFFECTS;
      default:
        return NO_EFFECTS;
    }
  },
  nextDeadlineMs: () => null,
  invariants(s) {
    if (s.starts < 1) throw new Error("stepped before start");
  },
};

/** A fresh {@link RecorderState}. */
export function recorderState(): RecorderState {
  return { received: [], starts: 0, jobResults: [] };
}

/** State of a {@link requester}: asks a server, retries on timeout until answered. */
export interface RequesterState {
  server: NodeId | null;
  seq: number;
  tries: number;
  retryAt: number | null;
  retryMs: number;
  answered: boolean;
}

/** Sends `ping` to the server it is asked about, re-sends every `retryMs` until a `pong`. */
export const requester: Actor<RequesterState, TestProtocol> = {
  step(s: RequesterState, input: Input<TestProtocol>, ctx: StepContext): readonly TE[] {
    if (input.kind === "command" && "ask" in input.command) {
      s.server = input.command.ask;
      s.seq++;
      s.answered = false;
      return send(s, ctx);
    }
    if (input.kind === "timeout") {
      if (s.retryAt === null || ctx.nowMs < s.retryAt) return NO_EFFECTS; // spurious
      return send(s, ctx);
    }
    if (input.kind === "message" && input.message.type === "pong" && !s.answered) {
      if (input.message.seq !== s.seq) return NO_EFFECTS;
      s.answered = true;
      s.retryAt = null;
      return [{ kind: "notice", notice: { answer: input.message.seq, tries: s.tries } }];
    }
    return NO_EFFECTS;
  },
  nextDeadlineMs: (s) => s.retryAt,
  invariants(s) {
    if (s.answered && s.retryAt !== null) throw new Error("answered but still retrying");
  },
};

function send(s: RequesterState, ctx: StepContext): readonly TE[] {
  s.tries++;
  s.retryAt = ctx.nowMs + s.retryMs;
  return [{ kind: "send", to: s.server!, message: { type: "ping", seq: s.seq, sentMs: 0 } }];
}

/** A fresh {@link RequesterState}. */
export function requesterState(retryMs = 1000): RequesterState {
  return { server: null, seq: 0, tries: 0, retryAt: null, retryMs, answered: false };
}

/** A simulator for the test actors, with a job runner that doubles numbers. */
export function testSim(
  seed: Seed,
  extra: Partial<SimConfig<TestProtocol>> = {},
): Simulator<TestProtocol> {
  return new Simulator<TestProtocol>({
    seed,
    codec: messageCodec,
    runJob: (job) => ({ result: job.double * 2, costMs: 5 }),
    ...extra,
  });
}
