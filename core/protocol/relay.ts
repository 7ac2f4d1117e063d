/**
 * Messages of routers and relayed packets, tags 128–159.
 *
 * | tag | message                | from → to        | answer                 |
 * |-----|------------------------|------------------|------------------------|
 * | 128 | `route_register`       | node → router    | `route_register_reply` |
 * | 129 | `route_register_reply` | router → node    |                        |
 * | 130 | `route_release`        | node → router    |                        |
 * | 131 | `relay`                | sender → router  | (`relay_refused`)      |
 * | 132 | `relayed`              | router → node    |                        |
 * | 133 | `relay_refused`        | router → sender  |                        |
 * | 134 | `route_ping`           | router → node    | `route_pong`           |
 * | 135 | `route_pong`           | node → router    |                        |
 * | 136 | `reach_check`          | node → router    | `reach_check_reply`    |
 * | 137 | `reach_check_reply`    | router → node    |                        |
 * | 138 | `reach_probe`          | router → node    |                        |
 *
 * A node that cannot accept connections (behind NAT) keeps a session to a router, opened by
 * itself, and registers a **route** on it (`route_register`): the router will forward to it what
 * others address to it. The route belongs to the key that authenticated the session, so nobody
 * else can register, release or answer for it. The router pings the node on the route's session
 * (`route_ping`), which also keeps the NAT's mapping open, and drops a route whose node stops
 * answering; the node re-registers after the router restarts (routes are not kept on disk).
 *
 * A sender reaches a routed node by giving the router an **envelope** addressed to it (`relay`);
 * the router passes it on unchanged (`relayed`, with the authenticated sender's name) or answers
 * `relay_refused` with the reason. The envelope is sealed to the recipient and signed by the
 * sender (on the real network: `net/relay_envelope.ts`; in the simulator a stand-in with the same
 * sizes, see `sim/relay.ts`), so the router learns only sender, recipient and size, and cannot
 * read, alter or forge what it carries: a recipient that cannot open an envelope or verify its
 * signature drops it and counts it.
 *
 * Reachability is discovered: a node asks a router to dial it back (`reach_check`); the router
 * answers on the node's own session (`reach_check_reply`) and sends `reach_probe` over a new
 * connection to the node's advertised address (a `send` effect with `dial`). A probe that
 * arrives before the answer's grace ends says the node can be dialed; otherwise it is behind NAT.
 *
 * @module
 */

import { bytes, oneOf, string, struct, uint } from "../codec.ts";
import { NODE_ID_BYTES_MAX, RELAY_ENVELOPE_BYTES_MAX } from "../limits.ts";

/** Outcomes of registering a route; all but `held` are refusals. */
const ROUTE_OUTCOMES = ["held", "full", "refused"] as const;
/** One of {@link ROUTE_OUTCOMES}. */
export type RouteOutcome = typeof ROUTE_OUTCOMES[number];

/**
 * Why a router did not pass an envelope on:
 * `no_route` (it holds no route to the recipient), `oversized` (the envelope exceeds the
 * router's limit), `queue_full` (the recipient's route has too many bytes waiting),
 * `rate` (the sender used up its share of the router's bandwidth), `closing` (it is stopping).
 */
const RELAY_REFUSALS = ["no_route", "oversized", "queue_full", "rate", "closing"] as const;
/** One of {@link RELAY_REFUSALS}. */
export type RelayRefusal = typeof RELAY_REFUSALS[number];

/** Outcomes of a reachability check. */
const REACH_OUTCOMES = ["probed", "busy"] as const;
/** One of {@link REACH_OUTCOMES}. */
export type ReachOutcome = typeof REACH_OUTCOMES[number];

const name = string(NODE_ID_BYTES_MAX);
const envelope = bytes(RELAY_ENVELOPE_BYTES_MAX);

/** Wire table of the router messages. */
export const relayMessages = {
  route_register: [128, struct({ requestId: uint })],
  route_register_reply: [
    129,
    struct({
      requestId: uint,
      outcome: oneOf(ROUTE_OUTCOMES),
      /** How often the router pings the route (the node's NAT mapping must outlive it). */
      pingMs: uint,
    }),
  ],
  route_release: [130, struct({})],
  relay: [131, struct({ to: name, envelope })],
  relayed: [132, struct({ from: name, envelope })],
  relay_refused: [133, struct({ to: name, reason: oneOf(RELAY_REFUSALS), size: uint })],
  route_ping: [134, struct({ nonce: uint })],
  route_pong: [135, struct({ nonce: uint })],
  reach_check: [136, struct({ requestId: uint })],
  reach_check_reply: [137, struct({ requestId: uint, outcome: oneOf(REACH_OUTCOMES) })],
  reach_probe: [138, struct({ requestId: uint })],
} as const;
