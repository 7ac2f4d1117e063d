/**
 * Small helpers to build the router's effects.
 *
 * @module
 */

import type { Effect, NodeId } from "../../core/actor.ts";
import type { Message } from "../../core/protocol/mod.ts";
import type { RouterProtocol, RouterState } from "./state.ts";

/** The effects one handler returns. */
export type Out = Effect<RouterProtocol>[];

/** Sends `message` to `to` on the session `to` keeps with us. */
export function send(to: NodeId, message: Message): Out[number] {
  return { kind: "send", to, message };
}

/** A trace event. */
export function trace(
  event: string,
  detail?: Record<string, string | number | boolean>,
): Out[number] {
  return { kind: "trace", event, detail };
}

/**
 * Counts and traces a request refused for its link's key (another key than the route's, or
 * none): the string `auth.refused` is what the simulator counts.
 */
export function refuseAuth(state: RouterState, from: NodeId, type: string): Out[number] {
  state.counters.authRefused++;
  return trace("auth.refused", { from, type });
}
