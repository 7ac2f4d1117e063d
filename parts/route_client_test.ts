import assert from "node:assert/strict";
import type { Effect, Input, Protocol, StepContext } from "../core/actor.ts";
import { REACH_PROBE_GRACE_MS, ROUTE_ANSWER_TIMEOUT_MS } from "../core/limits.ts";
import { Random } from "../core/prng.ts";
import type { Message } from "../core/protocol/mod.ts";
import { RouteClient } from "./route_client.ts";

type P = Protocol & { message: Message };

/** Drives one route client with a clock the test moves. */
class Driver {
  nowMs = 0;
  readonly random = Random.stream(1, "route client");
  constructor(readonly client: RouteClient<P>) {}

  #ctx(): StepContext {
    return {
      nowMs: this.nowMs,
      random: this.random,
      secret: this.random,
      self: "me",
      crypto: {
        sha256: () => new Uint8Array(32),
        sign: () => new Uint8Array(64),
        verify: () => false,
      },
    };
  }

  step(input: Input<P>): readonly Effect<P>[] | null {
    const out = this.client.step(input, this.#ctx());
    this.client.invariants();
    return out;
  }

  start(): Message[] {
    return sent(this.step({ kind: "start" }));
  }

  from(from: string, message: Message): Message[] {
    return sent(this.step({ kind: "message", from, fromKey: new Uint8Array(32), message }));
  }

  /** Moves the clock to the client's deadline and delivers the timeout. */
  expire(): Message[] {
    const due = this.client.nextDeadlineMs();
    assert.notEqual(due, null, "no deadline armed");
    this.nowMs = Math.max(this.nowMs, due!);
    return sent(this.step({ kind: "timeout", nowMs: this.nowMs }));
  }
}

function sent(effects: readonly Effect<P>[] | null): Message[] {
  assert.notEqual(effects, null, "the client did not claim the input");
  return effects!.map((e) => {
    assert.equal(e.kind, "send");
    return (e as { message: Message }).message;
  });
}

/** A client of mode `mode` over routers r0..r{n-1}, started; returns the first router asked. */
function started(mode: "auto" | "nat" | "public", n = 3) {
  const routers = Array.from({ length: n }, (_, i) => `r${i}`);
  const d = new Driver(new RouteClient<P>({ mode, routers }));
  const first = d.start();
  return { d, first, asked: d.client.router };
}

Deno.test("route client: a dial-back that comes through makes the node public", () => {
  const { d, first, asked } = started("auto");
  assert.equal(first[0].type, "reach_check");
  const id = (first[0] as { requestId: number }).requestId;
  assert.deepEqual(
    d.from(asked!, { type: "reach_check_reply", requestId: id, outcome: "probed" }),
    [],
  );
  assert.deepEqual(d.from(asked!, { type: "reach_probe", requestId: id }), []);
  assert.equal(d.client.reach, "public");
  assert.equal(d.client.phase, "public");
  assert.equal(d.client.nextDeadlineMs(), null);
  assert.equal(d.client.contact, null);
});

Deno.test("route client: no dial-back within the grace means NAT; it registers and holds", () => {
  const { d, first, asked } = started("auto");
  const id = (first[0] as { requestId: number }).requestId;
  d.from(asked!, { type: "reach_check_reply", requestId: id, outcome: "probed" });
  assert.equal(d.client.nextDeadlineMs(), REACH_PROBE_GRACE_MS);
  const register = d.expire();
  assert.equal(d.client.reach, "nat");
  assert.equal(register[0].type, "route_register");
  const rid = (register[0] as { requestId: number }).requestId;
  d.from(asked!, { type: "route_register_reply", requestId: rid, outcome: "held", pingMs: 30_000 });
  assert.equal(d.client.phase, "held");
  assert.equal(d.client.contact, asked);
  assert.deepEqual(d.from(asked!, { type: "route_ping", nonce: 5 }), [{
    type: "route_pong",
    nonce: 5,
  }]);
  assert.equal(d.client.counters.moves, 0);
});

Deno.test("route client: answers from routers it did not ask, or out of turn, are ignored", () => {
  const { d, first, asked } = started("nat");
  assert.equal(first[0].type, "route_register");
  const rid = (first[0] as { requestId: number }).requestId;
  const other = asked === "r0" ? "r1" : "r0";
  d.from(other, { type: "route_register_reply", requestId: rid, outcome: "held", pingMs: 1 });
  d.from(asked!, { type: "route_register_reply", requestId: rid + 1, outcome: "held", pingMs: 1 });
  assert.deepEqual(d.from(other, { type: "route_ping", nonce: 1 }), []);
  assert.equal(d.client.phase, "registering");
  assert.equal(d.client.counters.ignored, 3);
  // And what is not a router's message is the actor's.
  assert.equal(d.step({ kind: "message", from: "x", fromKey: null, message: ping() }), null);
});

function ping(): Message {
  return { type: "ping", seq: 1, sentMs: 0 };
}

Deno.test("route client: a router that stops pinging is left for the next; that is a move", () => {
  const { d, first, asked } = started("nat");
  const rid = (first[0] as { requestId: number }).requestId;
  d.from(asked!, { type: "route_register_reply", requestId: rid, outcome: "held", pingMs: 30_000 });
  const again = d.expire(); // no ping for three intervals and a timeout
  assert.equal(again[0].type, "route_register");
  const next = d.client.router!;
  assert.notEqual(next, asked);
  assert.equal(d.client.contact, asked, "its identity still names the old router");
  const id2 = (again[0] as { requestId: number }).requestId;
  d.from(next, { type: "route_register_reply", requestId: id2, outcome: "held", pingMs: 30_000 });
  assert.equal(d.client.contact, next);
  assert.equal(d.client.counters.moves, 1);
});

Deno.test("route client: refusals and silences walk the routers, then it backs off a round", () => {
  const { d, first } = started("nat", 2);
  let request = first[0] as { requestId: number };
  const refusal = (outcome: "full" | "refused") =>
    d.from(d.client.router!, {
      type: "route_register_reply",
      requestId: request.requestId,
      outcome,
      pingMs: 0,
    });
  const second = refusal("full");
  assert.equal(second[0].type, "route_register");
  request = second[0] as { requestId: number };
  assert.deepEqual(refusal("refused"), []); // both routers refused: a pause
  assert.equal(d.client.phase, "waiting");
  assert.ok(d.client.nextDeadlineMs()! > d.nowMs + ROUTE_ANSWER_TIMEOUT_MS);
  const retry = d.expire();
  assert.equal(retry[0].type, "route_register");
  assert.equal(d.expire()[0].type, "route_register", "no answer: the next router");
  assert.equal(d.client.counters.refused, 2);
  assert.equal(d.client.counters.timeouts, 1);
});

Deno.test("route client: after a restart it asks the router its identity names first", () => {
  const { d, first, asked } = started("nat");
  const rid = (first[0] as { requestId: number }).requestId;
  d.from(asked!, { type: "route_register_reply", requestId: rid, outcome: "held", pingMs: 30_000 });
  d.client.reset();
  d.client.invariants();
  const again = d.start();
  assert.equal(again[0].type, "route_register");
  assert.equal(d.client.router, asked);
});

Deno.test("route client: mode public never talks to a router", () => {
  const { d, first } = started("public");
  assert.deepEqual(first, []);
  assert.equal(d.client.phase, "public");
  assert.equal(d.client.nextDeadlineMs(), null);
});
