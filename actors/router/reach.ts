/**
 * Reachability checks: a node asks to be dialed back, to learn whether it accepts connections.
 *
 * Each check costs the router a new outgoing connection, so all of them together share one
 * budget, a token bucket of `reachChecksPerMinute` tokens refilled over a minute (a burst of a
 * minute's worth, then an even rate). Over the budget, or while closing, the node is told
 * `busy` and asks again later or elsewhere. Otherwise the router answers on the node's own
 * session (`probed`) and sends `reach_probe` over a new connection to the node's advertised
 * address (`dial`): only a node that can be dialed receives it.
 *
 * @module
 */

import type { NodeId } from "../../core/actor.ts";
import { covers, refill, take } from "./_bucket.ts";
import { type Out, send } from "./_effects.ts";
import type { RouterState } from "./state.ts";

/** What one dial-back costs from the budget. */
const CHECK_TOKENS = 1;

/** Answers `reach_check {requestId}` from the authenticated node `from`. */
export function onReachCheck(
  state: RouterState,
  from: NodeId,
  requestId: number,
  nowMs: number,
): Out {
  refill(state.reach, nowMs);
  if (state.closing || !covers(state.reach, CHECK_TOKENS)) {
    state.counters.reachBusy++;
    return [send(from, { type: "reach_check_reply", requestId, outcome: "busy" })];
  }
  take(state.reach, CHECK_TOKENS);
  state.counters.reachProbed++;
  return [
    send(from, { type: "reach_check_reply", requestId, outcome: "probed" }),
    { kind: "send", to: from, message: { type: "reach_probe", requestId }, dial: true },
  ];
}
