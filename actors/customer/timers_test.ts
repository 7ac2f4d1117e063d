/**
 * The customer's timers, one kind at a time, driven through `step` as a host would: a wait is an
 * armed kind, its end is a timeout, and a timeout before anything is due does nothing.
 */

import type { StepContext } from "../../core/actor.ts";
import { Random } from "../../core/prng.ts";
import type { Message } from "../../core/protocol/mod.ts";
import { eccScheme } from "../../core/storage.ts";
import type { E } from "./protocol.ts";
import { markSilent } from "./family.ts";
import { customerState } from "./state.ts";
import { customerActor } from "./step.ts";

function eq(actual: unknown, expected: unknown, what: string): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: got ${a}, want ${e}`);
}

/** A customer past loading, with no family yet and no lease: it writes at once. */
function ready() {
  const s = customerState({
    name: "u",
    idServers: ["ids"],
    scheme: eccScheme("rs:2+1")!,
    fileKey: new Uint8Array(32),
  });
  s.phase = "ready";
  const ctx = (nowMs: number) =>
    ({
      nowMs,
      random: Random.stream(1, "random"),
      secret: Random.stream(1, "secret"),
      self: "u",
    }) as unknown as StepContext;
  const step = (nowMs: number, input: Parameters<typeof customerActor.step>[1]) => {
    const out = customerActor.step(s, input, ctx(nowMs));
    customerActor.invariants(s);
    return out;
  };
  const timeout = (nowMs: number) => step(nowMs, { kind: "timeout", nowMs });
  return { s, step, timeout };
}

function sent(out: readonly E[], type: Message["type"]): Extract<E, { kind: "send" }>[] {
  return out.flatMap((e) => e.kind === "send" && e.message.type === type ? [e] : []);
}

Deno.test("timers: hire_retry holds the next offer query back, and its timeout lets it go", () => {
  const { s, step, timeout } = ready();
  const [query] = sent(timeout(0), "offer_query");
  if (query === undefined) throw new Error("no offer query for an empty family");
  const requestId = (query.message as { requestId: number }).requestId;
  const message: Message = { type: "offer_query_reply", requestId, offers: [] };
  const answered = step(10, { kind: "message", from: "ids", fromKey: null, message });
  eq(sent(answered, "offer_query").length, 0, "asked again at once");
  const end = 10 + s.options.hireRetryMs;
  eq(s.deadlines.at("hire_retry"), end, "hire_retry after a fruitless round");
  eq(timeout(end - 1), [], "a timeout before the wait ends does nothing");
  eq(sent(timeout(end), "offer_query").length, 1, "asked again when the wait ends");
  eq(s.deadlines.at("hire_retry"), null, "the wait is over");
});

Deno.test("timers: flush batches records until its delay ends", () => {
  const { s, step, timeout } = ready();
  const writes = (out: readonly E[]) => out.flatMap((e) => e.kind === "io" ? [e.id] : []);
  timeout(0); // the first offer query; nothing dirty yet
  s.journal.dirty.add("family");
  const [id] = writes(timeout(1));
  if (id === undefined) throw new Error("the first change is not written at once");
  const end = 1 + s.options.persistIntervalMs;
  eq(s.deadlines.at("flush"), end, "then the batching delay runs");
  step(2, { kind: "io_done", id, result: { ok: true } });
  s.journal.dirty.add("family");
  eq(writes(timeout(3)), [], "a change within the delay waits");
  eq(writes(timeout(end)).length, 1, "and is written when the delay ends");
});

Deno.test("timers: position_retry is held at the earliest retry time still ahead", () => {
  const { s, timeout } = ready();
  s.family.positions.forEach((p, i) =>
    Object.assign(p, { state: "active", supplier: `s${i}`, online: true, key: new Uint8Array(32) })
  );
  timeout(0);
  const wait = s.options.probeIntervalMs;
  markSilent(s, 0, 100);
  markSilent(s, 1, 50);
  eq(s.deadlines.at("position_retry"), 50 + wait, "the earlier of the two");
  timeout(50 + wait);
  eq(s.deadlines.at("position_retry"), 100 + wait, "then the other");
  timeout(100 + wait);
  eq(s.deadlines.at("position_retry"), null, "none left ahead");
});
