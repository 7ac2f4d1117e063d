/**
 * The route client: how a node finds out whether it can be dialed, and, when it cannot (behind
 * NAT), keeps a route at a router so that others reach it.
 *
 * Theory of operation. It runs beside the node's actor as the node shell's companion
 * (`core/shell.ts`), on the same inputs, so the customer and the supplier need not know about
 * NAT at all: it claims the router's messages (`core/protocol/relay.ts`) and leaves everything
 * else to the actor. Phases:
 * - `checking` (mode `auto`): it asks a router to dial it back (`reach_check`). A `reach_probe`
 *   that arrives (over a new connection: only a dialable node gets it) makes it `public`; an
 *   answer `probed` without the probe within {@link REACH_PROBE_GRACE_MS} makes it behind NAT.
 *   No answer within {@link ROUTE_ANSWER_TIMEOUT_MS}, or `busy`: the next router is asked.
 *   Mode `public` skips the check (`--public`), mode `nat` assumes NAT (`--behind-nat`).
 * - `registering`: it asks a router for a route (`route_register`); `held` makes it `held`,
 *   anything else (a refusal, no answer in time) moves on to the next router.
 * - `held`: the router pings it on the route's session; each ping is answered (`route_pong`),
 *   which also keeps the NAT's mapping open. Silence past {@link ROUTE_MISSED_PINGS_MAX} pings
 *   (and an answer timeout) means the router is gone: it registers elsewhere.
 * - `public`: nothing to do; others dial it directly.
 * Routers are tried in a random rotation of the candidates it was given (from the ID servers'
 * directory of router offers on the real network, the run's routers in the simulator); when a
 * whole round fails it waits a backoff before the next round.
 *
 * What others see: {@link RouteClient.contact} is the router its published identity names
 * (`relay://<router>`), the last one that held its route. It changes only when another router
 * holds the route; each change is a move (`counters.moves`), and the host publishes a new
 * identity revision (peers follow it: the same key, a higher revision). Between the old
 * router's death and the new route, senders still use the old contact and their envelopes are
 * refused (`no_route`) or lost: the actors' retries cover it, as for any lost message.
 *
 * Only the routers this client asked may answer it: a route message from any other node, or
 * with another request id or nonce, is dropped and counted (`ignored`). After a restart
 * ({@link RouteClient.reset}) the client forgets its route but not what it learned of its
 * reachability (a process restart does not move the machine) and registers again.
 *
 * @module
 */

import type { Effect, Input, NodeId, Protocol, StepContext } from "../core/actor.ts";
import { assert } from "../core/assert.ts";
import {
  REACH_PROBE_GRACE_MS,
  ROUTE_ANSWER_TIMEOUT_MS,
  ROUTE_MISSED_PINGS_MAX,
  ROUTE_PING_MS,
} from "../core/limits.ts";
import type { Message } from "../core/protocol/mod.ts";
import type { Companion } from "../core/shell.ts";

/** How a node decides whether it is behind NAT. */
export type ReachMode = "auto" | "nat" | "public";

/** What the route client is doing (see the module comment). */
export type RoutePhase = "idle" | "checking" | "public" | "registering" | "held" | "waiting";

/** Backoff after a whole round of routers failed (doubled per round, up to the maximum). */
const ROUND_BACKOFF_MS = 30_000;
const ROUND_BACKOFF_MS_MAX = 15 * 60_000;

/** Counters of one route client. */
export interface RouteClientCounters {
  /** Reachability checks sent. */
  checks: number;
  /** Registrations sent. */
  registrations: number;
  /** Routes held, the first one included. */
  held: number;
  /** Changes of the published router (the first route is not a move). */
  moves: number;
  /** Refused registrations and reachability checks (`full`, `refused`, `busy`). */
  refused: number;
  /** Answers that did not come in time. */
  timeouts: number;
  /** Pings answered. */
  pongs: number;
  /** Route messages dropped: from a node it did not ask, or out of turn. */
  ignored: number;
  /** `relay_refused` answers to what this node sent through a router, by reason. */
  relayRefused: number;
}

/** A protocol whose messages are bitdust's. */
type Routed = Protocol & { message: Message };

/** The companion that keeps a node reachable (see the module comment). */
export class RouteClient<P extends Routed = Routed> implements Companion<P> {
  readonly mode: ReachMode;
  readonly routers: readonly NodeId[];
  phase: RoutePhase = "idle";
  /** What it learned of itself; `unknown` until the check ends. */
  reach: "unknown" | "public" | "nat";
  /** The router it is asking or holds a route at. */
  router: NodeId | null = null;
  /** The router its identity names (see the module comment). */
  contact: NodeId | null = null;
  readonly counters: RouteClientCounters = {
    checks: 0,
    registrations: 0,
    held: 0,
    moves: 0,
    refused: 0,
    timeouts: 0,
    pongs: 0,
    ignored: 0,
    relayRefused: 0,
  };
  /** The request id of the check or registration it waits on (0: none). */
  #request = 0;
  #nextRequest = 1;
  /** A check answered `probed`: waiting for the probe. */
  #probed = false;
  #deadline: number | null = null;
  /** Where in the rotation it is, and how many routers it tried this round. */
  #cursor = -1;
  #tried = 0;
  #rounds = 0;
  #pingMs = ROUTE_PING_MS;

  constructor(options: { mode: ReachMode; routers: readonly NodeId[] }) {
    this.mode = options.mode;
    this.routers = options.routers;
    this.reach = options.mode === "auto" ? "unknown" : options.mode;
  }

  step(input: Input<P>, ctx: StepContext): readonly Effect<P>[] | null {
    switch (input.kind) {
      case "start":
        return this.#start(ctx);
      case "timeout":
        return this.#timeout(ctx);
      case "message":
        return this.#message(input.from, input.message, ctx);
      default:
        return null;
    }
  }

  nextDeadlineMs(): number | null {
    return this.#deadline;
  }

  invariants(): void {
    const p = this.phase;
    assert(p === "idle" || p === "public" || this.#deadline !== null, `${p} without deadline`);
    assert(p !== "public" || this.reach === "public", "public phase but not public");
    assert(
      (p === "checking" || p === "registering") === (this.#request !== 0),
      `phase ${p} with request ${this.#request}`,
    );
    assert(p !== "held" || this.router !== null && this.contact === this.router, "held nowhere");
    assert(this.counters.moves < this.counters.held || this.counters.held === 0, "moves");
  }

  reset(): void {
    this.phase = "idle";
    this.router = null;
    this.#request = 0;
    this.#probed = false;
    this.#deadline = null;
  }

  // -------------------------------------------------------------------------------------------

  #start(ctx: StepContext): Effect<P>[] {
    if (this.routers.length === 0 || this.reach === "public") {
      this.phase = this.reach === "public" ? "public" : "idle";
      this.#deadline = null;
      return [];
    }
    if (this.#cursor < 0) this.#cursor = ctx.random.int(this.routers.length);
    this.#tried = 0;
    // Back online: ask the router it held a route at first (it may still hold it).
    const again = this.contact !== null ? this.contact : this.#nextRouter();
    return this.reach === "unknown" ? this.#check(again, ctx) : this.#register(again, ctx);
  }

  #nextRouter(): NodeId {
    this.#cursor = (this.#cursor + 1) % this.routers.length;
    return this.routers[this.#cursor];
  }

  #check(router: NodeId, ctx: StepContext): Effect<P>[] {
    this.phase = "checking";
    this.router = router;
    this.#probed = false;
    this.#request = this.#nextRequest++;
    this.#deadline = ctx.nowMs + ROUTE_ANSWER_TIMEOUT_MS;
    this.counters.checks++;
    return [send(router, { type: "reach_check", requestId: this.#request })];
  }

  #register(router: NodeId, ctx: StepContext): Effect<P>[] {
    this.phase = "registering";
    this.router = router;
    this.#request = this.#nextRequest++;
    this.#deadline = ctx.nowMs + ROUTE_ANSWER_TIMEOUT_MS;
    this.counters.registrations++;
    return [send(router, { type: "route_register", requestId: this.#request })];
  }

  /** The current attempt failed: the next router, or a pause after a whole round. */
  #moveOn(ctx: StepContext): Effect<P>[] {
    this.#request = 0;
    this.#tried++;
    if (this.#tried >= this.routers.length) {
      this.#tried = 0;
      this.phase = "waiting";
      this.router = null;
      const backoff = Math.min(ROUND_BACKOFF_MS_MAX, ROUND_BACKOFF_MS * 2 ** this.#rounds);
      this.#rounds = Math.min(this.#rounds + 1, 16);
      this.#deadline = ctx.nowMs + backoff;
      return [];
    }
    const next = this.#nextRouter();
    return this.reach === "unknown" ? this.#check(next, ctx) : this.#register(next, ctx);
  }

  #timeout(ctx: StepContext): Effect<P>[] {
    if (this.#deadline === null || ctx.nowMs < this.#deadline) return [];
    switch (this.phase) {
      case "checking":
        if (this.#probed) {
          // Answered, yet no dial-back came through: nobody can dial this node.
          this.reach = "nat";
          this.#request = 0;
          this.#tried = 0;
          return this.#register(this.router!, ctx);
        }
        this.counters.timeouts++;
        return this.#moveOn(ctx);
      case "registering":
        this.counters.timeouts++;
        return this.#moveOn(ctx);
      case "held":
        // The router stopped pinging: it is gone (or dropped the route). Register elsewhere.
        this.counters.timeouts++;
        this.#tried = 0;
        return this.#moveOn(ctx);
      case "waiting":
        this.#tried = 0;
        return this.reach === "unknown"
          ? this.#check(this.#nextRouter(), ctx)
          : this.#register(this.#nextRouter(), ctx);
      default:
        this.#deadline = null;
        return [];
    }
  }

  #message(from: NodeId, m: Message, ctx: StepContext): Effect<P>[] | null {
    switch (m.type) {
      case "reach_check_reply":
        return this.#onCheckReply(from, m.requestId, m.outcome === "probed", ctx);
      case "reach_probe":
        return this.#onProbe(from, m.requestId);
      case "route_register_reply":
        return this.#onRegisterReply(from, m.requestId, m.outcome === "held", m.pingMs, ctx);
      case "route_ping":
        return this.#onPing(from, m.nonce, ctx);
      case "relay_refused":
        this.counters.relayRefused++;
        return [];
      case "route_register":
      case "route_release":
      case "route_pong":
      case "reach_check":
      case "relay":
      case "relayed":
        // A router's requests, sent to a node that is none: not the actor's business either.
        this.counters.ignored++;
        return [];
      default:
        return null;
    }
  }

  #expected(from: NodeId, requestId: number, phase: RoutePhase): boolean {
    const ok = this.phase === phase && from === this.router && requestId === this.#request;
    if (!ok) this.counters.ignored++;
    return ok;
  }

  #onCheckReply(from: NodeId, id: number, probed: boolean, ctx: StepContext): Effect<P>[] {
    if (!this.#expected(from, id, "checking") || this.#probed) return [];
    if (!probed) {
      this.counters.refused++;
      return this.#moveOn(ctx);
    }
    this.#probed = true;
    this.#deadline = ctx.nowMs + REACH_PROBE_GRACE_MS;
    return [];
  }

  #onProbe(from: NodeId, id: number): Effect<P>[] {
    if (!this.#expected(from, id, "checking")) return [];
    this.reach = "public";
    this.phase = "public";
    this.router = null;
    this.#request = 0;
    this.#deadline = null;
    return [];
  }

  #onRegisterReply(
    from: NodeId,
    id: number,
    held: boolean,
    pingMs: number,
    ctx: StepContext,
  ): Effect<P>[] {
    if (!this.#expected(from, id, "registering")) return [];
    if (!held) {
      this.counters.refused++;
      return this.#moveOn(ctx);
    }
    this.phase = "held";
    this.#request = 0;
    this.#rounds = 0;
    this.#tried = 0;
    this.#pingMs = Math.max(1000, Math.min(pingMs, 10 * ROUTE_PING_MS));
    this.counters.held++;
    if (this.contact !== null && this.contact !== from) this.counters.moves++;
    this.contact = from;
    this.#watch(ctx);
    return [];
  }

  #onPing(from: NodeId, nonce: number, ctx: StepContext): Effect<P>[] {
    if (this.phase !== "held" || from !== this.router) {
      this.counters.ignored++;
      return [];
    }
    this.counters.pongs++;
    this.#watch(ctx);
    return [send(from, { type: "route_pong", nonce })];
  }

  /** Arms the watchdog: the router's pings must keep coming. */
  #watch(ctx: StepContext): void {
    this.#deadline = ctx.nowMs + this.#pingMs * ROUTE_MISSED_PINGS_MAX + ROUTE_ANSWER_TIMEOUT_MS;
  }
}

function send<P extends Routed>(to: NodeId, message: Message): Effect<P> {
  return { kind: "send", to, message };
}
