/**
 * Routes: registration, release, the pings that keep a route alive, and dropping dead ones.
 *
 * A route is keyed by the node's name and pinned to the key of the link it was registered on;
 * only that key may refresh, release or answer for it. Each route has its own ping phase, drawn
 * from the step's random stream when it is added, so pings of routes registered together do not
 * all fall in the same millisecond. A ping goes every `pingMs`; a route whose previous ping is
 * still unanswered when the next is due counts a miss, and at `missedPingsMax` misses in a row
 * it is dropped with its queue. A pong with the outstanding nonce, or a repeated registration,
 * resets the count.
 *
 * @module
 */

import type { NodeId } from "../../core/actor.ts";
import { bytesEqual } from "../../core/ids.ts";
import type { RouteOutcome } from "../../core/protocol/relay.ts";
import { type Out, refuseAuth, send, trace } from "./_effects.ts";
import { armDrain } from "./relay.ts";
import { newRoute, type Route, type RouterState } from "./state.ts";

/** Answers `route_register` from `from` on a link with `fromKey`. */
export function onRegister(
  state: RouterState,
  from: NodeId,
  fromKey: Uint8Array | null,
  requestId: number,
  nowMs: number,
  phaseMs: () => number,
): Out {
  const o = state.options;
  const c = state.counters;
  const reply = (outcome: RouteOutcome) =>
    send(from, { type: "route_register_reply", requestId, outcome, pingMs: o.pingMs });
  const held = state.routes.get(from);
  if (fromKey === null || (held !== undefined && !bytesEqual(held.key, fromKey))) {
    return [refuseAuth(state, from, "route_register"), reply("refused")];
  }
  if (state.closing) {
    c.routesRefusedClosing++;
    return [reply("refused")];
  }
  if (held !== undefined) {
    heard(held);
    c.routesRefreshed++;
    return [reply("held")];
  }
  if (state.routes.size >= o.routesMax) {
    c.routesFull++;
    return [reply("full")];
  }
  const route = newRoute(state, from, fromKey, nowMs + phaseMs(), nowMs);
  state.routes.set(from, route);
  state.pings.push(route);
  armPing(state);
  c.routesAdded++;
  return [reply("held")];
}

/** A route's node was heard from: no ping outstanding, no misses. */
function heard(r: Route): void {
  r.nonce = 0;
  r.missed = 0;
}

/** Handles `route_release` (or `route_pong` with `nonce`) from `from` on a link with `fromKey`. */
export function onRouteMessage(
  state: RouterState,
  from: NodeId,
  fromKey: Uint8Array | null,
  nonce: number | null,
): Out {
  const type = nonce === null ? "route_release" : "route_pong";
  const r = state.routes.get(from);
  if (r === undefined) {
    // Late (the route was dropped) or never ours: nothing to answer.
    if (nonce === null) state.counters.unexpected++;
    else state.counters.pongsStale++;
    return [];
  }
  if (fromKey === null || !bytesEqual(r.key, fromKey)) return [refuseAuth(state, from, type)];
  if (nonce === null) {
    dropRoute(state, r);
    state.counters.routesReleased++;
  } else if (r.nonce !== 0 && nonce === r.nonce) {
    heard(r);
    state.counters.pongs++;
  } else {
    state.counters.pongsStale++;
  }
  return [];
}

/** Removes `r` and its queue (what it held is counted as dropped). */
function dropRoute(state: RouterState, r: Route): void {
  state.routes.delete(r.name);
  state.pings.remove(r);
  state.drains.remove(r);
  const frames = r.queue?.length ?? 0;
  state.counters.droppedFrames += frames;
  state.counters.droppedBytes += r.queuedBytes;
  state.queuedBytes -= r.queuedBytes;
  state.queuedFrames -= frames;
  r.queue = null;
  r.queuedBytes = 0;
  armPing(state);
  armDrain(state);
}

/** Pings every route that is due (at most `workPerStepMax`; the rest stays due). */
export function onPingTimer(state: RouterState, nowMs: number): Out {
  const o = state.options;
  const out: Out = [];
  let work = o.workPerStepMax;
  for (let r = state.pings.top(); r !== undefined && r.ping.atMs <= nowMs && work > 0; work--) {
    if (r.nonce !== 0) r.missed++;
    if (r.missed >= o.missedPingsMax) {
      dropRoute(state, r);
      state.counters.routesDropped++;
      out.push(trace("router.route_dropped", { name: r.name }));
    } else {
      r.nonce = state.seq++;
      const next = r.ping.atMs + o.pingMs;
      r.ping.atMs = next > nowMs ? next : nowMs + o.pingMs;
      r.ping.seq = state.seq++;
      state.pings.update(r);
      state.counters.pingsSent++;
      out.push(send(r.name, { type: "route_ping", nonce: r.nonce }));
    }
    r = state.pings.top();
  }
  armPing(state);
  return out;
}

/**
 * Back online (or booted): our silence was not our routes' fault. Every route forgets its
 * misses and its outstanding ping, and a ping that fell due while we were away moves to the
 * next time of its own phase, so a long absence does not fire every route's pings at once.
 */
export function resumePings(state: RouterState, nowMs: number): void {
  const pingMs = state.options.pingMs;
  for (const r of state.routes.values()) {
    heard(r);
    if (r.ping.atMs < nowMs) {
      r.ping.atMs += Math.ceil((nowMs - r.ping.atMs) / pingMs) * pingMs;
      state.pings.update(r);
    }
  }
  armPing(state);
}

/** Holds the ping heap's top in the timer table. */
function armPing(state: RouterState): void {
  const top = state.pings.top();
  if (top === undefined) state.deadlines.stop("ping");
  else state.deadlines.set("ping", top.ping.atMs);
}
