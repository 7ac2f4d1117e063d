/**
 * The router: relays sealed envelopes to nodes that cannot accept connections, over the
 * sessions those nodes opened to it.
 *
 * Theory of operation.
 * - State: a table of routes (`routes.ts`), each pinned to the key of the link that registered
 *   it, with its own ping phase, its share of the bandwidth and a FIFO queue (`relay.ts`); the
 *   router's bandwidth; the budget of dial-backs (`reach.ts`); `closing` once the operator said
 *   `close`. Memory only, no disk and no io effects: after a restart the nodes register again.
 * - Authentication: `from` and `fromKey` are the link's. Registering, releasing and answering
 *   pings for a route take its key; relays and reach checks take any key, never none. A refusal
 *   for the key is counted (`authRefused`) and traced `auth.refused`.
 * - Relays: an envelope goes on unchanged, the same bytes, as `relayed` with its sender's name,
 *   once the router's bandwidth and the route's share cover it; else it waits in the route's
 *   queue (FIFO per route, so per sender and route). Buckets hold one second's worth but at
 *   least one envelope of the largest size. Refusals (`relay_refused` to the sender, counted by
 *   reason): `closing`, `oversized` (over `envelopeBytesMax`), `no_route`, `queue_full` (the
 *   route's bytes or frames, or all queues' bytes, over their bound: an envelope larger than
 *   the route's queue bound only ever goes straight through).
 * - Timers: a `TimerTable` with two kinds; `nextDeadlineMs` is its `next()`.
 *   - `ping`: the top of the ping heap (every route's next ping). Firing pings each due route
 *     (a miss counted if the last ping is unanswered; at `missedPingsMax` the route is dropped,
 *     `routesDropped`) and re-arms at the new top.
 *   - `drain`: when the earliest queued head may go by both buckets. Firing passes on what is
 *     due and re-arms. Every relay drains what is due first, so nothing new overtakes it.
 *   Both do at most `workPerStepMax` items per step; the rest stays due. A spurious timeout
 *   does nothing.
 * - `start` (boot, or back online): routes stay, their misses are forgiven and overdue pings
 *   move to their next phase; queues drain on.
 * - Commands: `status` (a notice with counters and limits), `close` (from then on relays are
 *   refused `closing`, registrations `refused`, reach checks `busy`; queued envelopes still go).
 * - Limits (`core/limits.ts`, lowered in tests through `RouterConfig`): routes, each
 *   queue's bytes and frames, all queues' bytes, envelope size, the bandwidth and each route's
 *   share, dial-backs per minute, work per step. Nothing a peer sends grows anything past them.
 * - Messages (everything not in the table is counted `unexpected` and traced; a peer's
 *   mistakes are never exceptions):
 *
 * | message          | from               | answer                                      |
 * |------------------|--------------------|---------------------------------------------|
 * | `route_register` | the node           | `route_register_reply` held / full / refused |
 * | `route_release`  | the route's key    | none: the route and its queue are dropped   |
 * | `relay`          | any key            | `relayed` to the route, or `relay_refused`  |
 * | `route_pong`     | the route's key    | none: with the outstanding nonce, heard     |
 * | `reach_check`    | any key            | `reach_check_reply` probed / busy, and with |
 * |                  |                    | probed, `reach_probe` on a new connection   |
 *
 * @module
 */

import {
  type Actor,
  type Effect,
  type Input,
  NO_EFFECTS,
  type NodeId,
  type StepContext,
} from "../../core/actor.ts";
import { isNodeId } from "../../core/ids.ts";
import type { Message } from "../../core/protocol/mod.ts";
import { type Out, refuseAuth, trace } from "./_effects.ts";
import { onReachCheck } from "./reach.ts";
import { drainDue, onRelay } from "./relay.ts";
import { onPingTimer, onRegister, onRouteMessage, resumePings } from "./routes.ts";
import { invariants, type RouterCommand, type RouterProtocol, type RouterState } from "./state.ts";

type Effects = readonly Effect<RouterProtocol>[];

/** Applies one input to the router. */
export function step(
  state: RouterState,
  input: Input<RouterProtocol>,
  ctx: StepContext,
): Effects {
  switch (input.kind) {
    case "start":
      resumePings(state, ctx.nowMs);
      return drainDue(state, ctx.nowMs);
    case "command":
      return onCommand(state, input.command);
    case "message":
      return onMessage(state, input.from, input.fromKey, input.message, ctx);
    case "timeout":
      return onTimeout(state, ctx.nowMs);
    default:
      // No io and no jobs are ever asked for: a completion is the host's mistake, not a peer's.
      state.counters.unexpected++;
      return NO_EFFECTS;
  }
}

/** Earliest armed timer: the next ping or the next queued envelope. */
export function nextDeadlineMs(state: RouterState): number | null {
  return state.deadlines.next();
}

/** The router as an {@link Actor}. */
export const routerActor: Actor<RouterState, RouterProtocol> = {
  step,
  nextDeadlineMs,
  invariants,
};

function onTimeout(state: RouterState, nowMs: number): Effects {
  let out: Out | null = null;
  for (const kind of state.deadlines.expired(nowMs)) {
    const more = kind === "ping" ? onPingTimer(state, nowMs) : drainDue(state, nowMs);
    out = out === null ? more : out.concat(more);
  }
  return out ?? NO_EFFECTS;
}

function onCommand(state: RouterState, command: RouterCommand): Effects {
  if (command.type === "close") state.closing = true;
  const counters = structuredClone(state.counters);
  return [{
    kind: "notice",
    notice: {
      type: "status",
      name: state.options.name,
      closing: state.closing,
      routes: state.routes.size,
      queuedBytes: state.queuedBytes,
      queuedFrames: state.queuedFrames,
      counters,
      limits: { ...state.options },
    },
  }];
}

function onMessage(
  state: RouterState,
  from: NodeId,
  fromKey: Uint8Array | null,
  m: Message,
  ctx: StepContext,
): Effects {
  if (!isNodeId(from)) {
    // A name no host should hand over: it could not even be written into an answer.
    state.counters.unexpected++;
    return [trace("router.bad_sender", { type: m.type })];
  }
  switch (m.type) {
    case "route_register":
      return onRegister(state, from, fromKey, m.requestId, ctx.nowMs, () => phase(state, ctx));
    case "route_release":
      return onRouteMessage(state, from, fromKey, null);
    case "route_pong":
      return onRouteMessage(state, from, fromKey, m.nonce);
    case "relay":
      if (fromKey === null) return [refuseAuth(state, from, m.type)];
      return onRelay(state, from, m.to, m.envelope, ctx.nowMs);
    case "reach_check":
      if (fromKey === null) return [refuseAuth(state, from, m.type)];
      return onReachCheck(state, from, m.requestId, ctx.nowMs);
    default:
      state.counters.unexpected++;
      return [trace("router.unexpected", { from, type: m.type })];
  }
}

/** A new route's first ping: within one period from now, never now itself. */
function phase(state: RouterState, ctx: StepContext): number {
  return 1 + ctx.random.int(state.options.pingMs);
}
