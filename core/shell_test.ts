import assert from "node:assert/strict";
import type { Actor, Effect, Input, Protocol, StepContext } from "./actor.ts";
import { AssertionError } from "./assert.ts";
import { messageCodec } from "./protocol/mod.ts";
import type { Message } from "./protocol/mod.ts";
import { Random } from "./prng.ts";
import { DISARM, type EffectPort, NodeShell } from "./shell.ts";
import { encode } from "./codec.ts";
import { STEP_EFFECTS_MAX } from "./limits.ts";
import { acceptSequence, REPLAY_WINDOW_SPAN, replayWindow } from "./replay_window.ts";

interface P extends Protocol {
  message: Message;
  job: number;
  jobResult: number;
  command: { effects: Effect<P>[] } | { deadline: number | null } | { break: true };
  notice: string;
}

interface S {
  deadline: number | null;
  broken: boolean;
  checked: number;
}

const actor: Actor<S, P> = {
  step(s: S, input: Input<P>): readonly Effect<P>[] {
    if (input.kind !== "command") return [];
    const c = input.command;
    if ("effects" in c) return c.effects;
    if ("deadline" in c) s.deadline = c.deadline;
    else s.broken = true;
    return [];
  },
  nextDeadlineMs: (s) => s.deadline,
  invariants(s) {
    s.checked++;
    if (s.broken) throw new AssertionError("broken");
  },
};

const ctx = {
  nowMs: 0,
  random: Random.stream(1),
  secret: Random.stream(2),
  self: "n",
  crypto: null,
} as unknown as StepContext;

function recordingPort(log: string[]): EffectPort<P> {
  return {
    send: (to, m) => log.push(`send ${to} ${m.type}`),
    io: (id, op) => log.push(`io ${id} ${op.op}`),
    job: (id, job) => log.push(`job ${id} ${job}`),
    notice: (n) => log.push(`notice ${n}`),
    trace: (e) => log.push(`trace ${e}`),
  };
}

const fresh = () =>
  new NodeShell<S, P>({
    actor,
    state: { deadline: null, broken: false, checked: 0 },
    codec: messageCodec,
  });

Deno.test("shell: effects reach the port in order; invariants run after every step", () => {
  const shell = fresh();
  const log: string[] = [];
  const effects: Effect<P>[] = [
    { kind: "trace", event: "t" },
    { kind: "send", to: "m", message: { type: "ping", seq: 1, sentMs: 0 } },
    { kind: "io", id: 3, op: { op: "list", prefix: "" } },
    { kind: "job", id: 4, job: 9 },
    { kind: "notice", notice: "done" },
  ];
  shell.step({ kind: "command", command: { effects } }, ctx, recordingPort(log));
  assert.deepEqual(log, ["trace t", "send m ping", "io 3 list", "job 4 9", "notice done"]);
  assert.equal(shell.state.checked, 1);
  assert.equal(shell.steps, 1);
  assert.throws(
    () => shell.step({ kind: "command", command: { break: true } }, ctx, recordingPort(log)),
    AssertionError,
  );
});

Deno.test("shell: a step with more than STEP_EFFECTS_MAX effects is a bug, no effect runs", () => {
  const shell = fresh();
  const log: string[] = [];
  const many: Effect<P>[] = Array.from(
    { length: STEP_EFFECTS_MAX + 1 },
    () => ({ kind: "trace", event: "x" }),
  );
  assert.throws(
    () => shell.step({ kind: "command", command: { effects: many } }, ctx, recordingPort(log)),
    AssertionError,
  );
  assert.equal(log.length, 0);
});

Deno.test("shell: the host timer only moves earlier; a deadline pushed back re-arms it", () => {
  const shell = fresh();
  const port = recordingPort([]);
  const set = (deadline: number | null) =>
    shell.step({ kind: "command", command: { deadline } }, ctx, port);
  assert.equal(shell.rearm(0), null); // nothing armed, nothing due
  set(100);
  assert.equal(shell.rearm(0), 100);
  set(200); // later: the armed timer stays, it will fire early
  assert.equal(shell.rearm(0), null);
  set(50);
  assert.equal(shell.rearm(0), 50);
  set(30);
  assert.equal(shell.rearm(40), 40); // overdue: arm now, not in the past
  set(200);
  assert.equal(shell.fired(40), 200); // fired early: arm again at the real deadline
  assert.equal(shell.armedAt, 200);
  assert.equal(shell.fired(200), true);
  assert.equal(shell.rearm(200), 200); // the host's timer is gone and the deadline still stands
  set(null);
  assert.equal(shell.rearm(200), DISARM);
  assert.equal(shell.rearm(200), null);
  assert.equal(shell.fired(300), null); // a spurious fire with nothing due
  set(10);
  shell.reset({ deadline: 10, broken: false, checked: 0 });
  assert.equal(shell.armedAt, Infinity); // a restarted process has nothing armed
  assert.equal(shell.rearm(0), 10);
});

Deno.test("shell: a frame that does not decode is counted and never reaches the actor", () => {
  const shell = fresh();
  const good = encode(messageCodec, { type: "ping", seq: 7, sentMs: 0 } as Message);
  assert.deepEqual(shell.decode(good), { type: "ping", seq: 7, sentMs: 0 });
  assert.equal(shell.decode(new Uint8Array([0xff, 0xff, 0xff])), undefined);
  assert.equal(shell.decode(good.subarray(0, good.length - 1)), undefined);
  assert.equal(shell.malformed, 2);
});

Deno.test("replay window: each number once, any order within the span, none too far behind", () => {
  const w = replayWindow();
  assert.ok(acceptSequence(w, 5));
  assert.ok(!acceptSequence(w, 5));
  assert.ok(acceptSequence(w, 3));
  assert.ok(acceptSequence(w, 4));
  assert.ok(!acceptSequence(w, 3));
  assert.ok(acceptSequence(w, 5 + REPLAY_WINDOW_SPAN));
  assert.ok(!acceptSequence(w, 5)); // span behind: forgotten, so refused
  assert.ok(acceptSequence(w, 7)); // within the span, never seen
  assert.ok(!acceptSequence(w, 7));
  // Against a naive model: a set of every accepted number.
  const rng = Random.stream(3);
  const model = new Set<number>();
  const v = replayWindow();
  let highest = -1;
  for (let i = 0; i < 5000; i++) {
    const seq = Math.max(0, highest + rng.int(8) - 5);
    const expected = !model.has(seq) && highest - seq < REPLAY_WINDOW_SPAN;
    assert.equal(acceptSequence(v, seq), expected, `seq ${seq} after ${highest}`);
    if (expected) model.add(seq);
    highest = Math.max(highest, expected ? seq : highest);
  }
});

Deno.test("shell: checkEvery samples the invariants; check() runs them now", () => {
  const shell = new NodeShell<S, P>({
    actor,
    state: { deadline: null, broken: false, checked: 0 },
    checkEvery: 4,
  });
  const log: string[] = [];
  for (let i = 0; i < 10; i++) {
    shell.step({ kind: "command", command: { effects: [] } }, ctx, recordingPort(log));
  }
  assert.equal(shell.state.checked, 2, "after steps 4 and 8");
  // A state broken by step 9 goes unseen between samples, and the final check finds it.
  shell.step({ kind: "command", command: { break: true } }, ctx, recordingPort(log));
  assert.throws(() => shell.check(), AssertionError);
  assert.throws(() => new NodeShell<S, P>({ actor, state: shell.state, checkEvery: 0 }));
});
