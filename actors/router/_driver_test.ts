/**
 * Test helpers of the router: a tiny synchronous driver that steps the actor by hand with a
 * fake `StepContext` (virtual clock, seeded random stream, crypto that must not be used),
 * checks the invariants after every step and that every message it sends would encode, and
 * records its effects as they are (so a test can see that an envelope is the very same array).
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Effect, Input, NodeId, StepContext, StepCrypto } from "../../core/actor.ts";
import { encode } from "../../core/codec.ts";
import { Random } from "../../core/prng.ts";
import { type Message, messageCodec } from "../../core/protocol/mod.ts";
import {
  routerActor,
  type RouterConfig,
  type RouterNotice,
  type RouterProtocol,
  type RouterState,
  routerState,
  type RouterStatus,
} from "./mod.ts";

/** A send effect as the router returned it. */
export type Sent = { to: NodeId; message: Message; dial?: true };

const noCrypto: StepCrypto = {
  sha256: () => assert.fail("the router hashes nothing"),
  sign: () => assert.fail("the router signs nothing"),
  verify: () => assert.fail("the router verifies nothing"),
};

/** A distinct 32-byte stand-in for the key of `label`'s link. */
export function keyOf(label: string): Uint8Array {
  const k = new Uint8Array(32);
  for (let i = 0; i < label.length; i++) k[i % 32] ^= label.charCodeAt(i);
  k[31] = label.length;
  return k;
}

/** Steps one router by hand (see the module header). */
export class RouterDriver {
  state: RouterState;
  nowMs: number;
  random: Random;
  sent: Sent[] = [];
  notices: RouterNotice[] = [];
  traces: string[] = [];
  /** Steps run (timeouts included). */
  steps = 0;

  constructor(config: Partial<RouterConfig> = {}, seed = 1, nowMs = 1_000_000) {
    this.nowMs = nowMs;
    this.random = Random.stream(seed, "router");
    this.state = routerState({ name: "router", ...config }, nowMs);
    this.deliver({ kind: "start" });
  }

  ctx(): StepContext {
    const { nowMs, random } = this;
    return { nowMs, random, secret: random, self: this.state.options.name, crypto: noCrypto };
  }

  /** Runs one step, checks the invariants, records and returns the effects. */
  deliver(input: Input<RouterProtocol>): readonly Effect<RouterProtocol>[] {
    const effects = routerActor.step(this.state, input, this.ctx());
    this.steps++;
    routerActor.invariants(this.state);
    for (const e of effects) {
      if (e.kind === "send") {
        encode(messageCodec, e.message); // must survive the wire
        this.sent.push(e.dial ? { to: e.to, message: e.message, dial: true } : e);
      } else if (e.kind === "notice") this.notices.push(e.notice);
      else if (e.kind === "trace") this.traces.push(e.event);
      else assert.fail(`the router asked for ${e.kind}`);
    }
    return effects;
  }

  /** Delivers `message` from `from` over a link authenticated by `key` (default: `from`'s). */
  from(from: NodeId, message: Message, key: Uint8Array | null = keyOf(from)) {
    return this.deliver({ kind: "message", from, fromKey: key, message });
  }

  /** Registers `name` (with its own key unless given); returns the reply's outcome. */
  register(name: NodeId, key: Uint8Array | null = keyOf(name), requestId = 1): string {
    const before = this.sent.length;
    this.from(name, { type: "route_register", requestId }, key);
    const replies = this.sent.slice(before).filter((s) =>
      s.message.type === "route_register_reply"
    );
    assert.equal(replies.length, 1);
    const m = replies[0].message as Extract<Message, { type: "route_register_reply" }>;
    assert.equal(m.requestId, requestId);
    return m.outcome;
  }

  /** Sends `envelope` from `from` to `to` through the router. */
  relay(from: NodeId, to: NodeId, envelope: Uint8Array) {
    return this.from(from, { type: "relay", to, envelope });
  }

  /** Moves the clock to `nowMs + ms`, delivering a timeout at every deadline on the way. */
  advance(ms: number): void {
    const until = this.nowMs + ms;
    for (let i = 0;; i++) {
      assert.ok(i < 1_000_000, "timeouts do not settle");
      const due = routerActor.nextDeadlineMs(this.state);
      if (due === null || due > until) break;
      this.nowMs = Math.max(this.nowMs, due);
      this.deliver({ kind: "timeout", nowMs: this.nowMs });
    }
    this.nowMs = until;
  }

  /** The sends recorded since the last call (and forgets them). */
  take(): Sent[] {
    const out = this.sent;
    this.sent = [];
    return out;
  }

  /** The router's status notice. */
  status(): RouterStatus {
    this.deliver({ kind: "command", command: { type: "status" } });
    return this.notices[this.notices.length - 1];
  }
}

/** `n` bytes of a pattern that differs per `seed`. */
export function envelopeOf(n: number, seed = 0): Uint8Array {
  const e = new Uint8Array(n);
  for (let i = 0; i < n; i++) e[i] = (i * 31 + seed * 7 + 1) & 0xff;
  return e;
}
