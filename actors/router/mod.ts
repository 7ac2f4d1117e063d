/**
 * The router role: relays sealed envelopes to nodes behind NAT over the sessions they opened to
 * it, pings those nodes and drops dead routes, and dials nodes back so they learn whether they
 * can be reached directly.
 *
 * A sans-IO actor ({@link routerActor}) with no disk: the simulator runs it as a node, the real
 * daemon puts sockets under it. See `step.ts` for the theory of operation.
 *
 * @example
 * ```ts
 * import { routerActor, routerState } from "./mod.ts";
 * const state = routerState({ name: "r1" });
 * console.assert(routerActor.nextDeadlineMs(state) === null);
 * ```
 *
 * @module
 */

export { nextDeadlineMs, routerActor, step } from "./step.ts";
export {
  invariants,
  type Route,
  ROUTER_DEFAULTS,
  type RouterCommand,
  type RouterConfig,
  type RouterCounters,
  type RouterNotice,
  type RouterOptions,
  type RouterProtocol,
  type RouterState,
  routerState,
  type RouterStatus,
} from "./state.ts";
