/**
 * Reusable parts: pieces of protocol that more than one role needs, written once. Like the
 * actors they are deterministic and sans-IO; they import only `core/` and each other, and any
 * role may import them (tidy enforces both).
 *
 * - `fragment_keys.ts`: the one place the key format of blocks and fragments lives.
 * - `gather.ts`: gathering K of a block's N fragments without any key (whom to ask, in what
 *   order, what an answer means; each fragment checked against its recorded hash); restores and
 *   repairs run on it.
 * - `idserver_link.ts`: timekeeping of a node's links to its ID servers (publish, confirm,
 *   refresh, back off per server); the supplier's announce runs on it.
 * - `idserver_wire.ts`: the ID-server HTTP exchange as pure translators (message to request,
 *   request to the server's question, answer to response, response to reply), run by the real
 *   gateway and server and, through `sim/idserver_facade.ts`, by the simulator.
 * - `liveness.ts`: what a watcher believes of a peer (online, offline, dead) from its answers
 *   and silences; the customer's family runs on it.
 * - `rebuild.ts`: the rebuild after a gather, without any key: the `rebuild` job for the wanted
 *   positions, which checks every rebuilt fragment against the block's fragment index, and
 *   what its answer means (the matched fragments to store, by position; the positions that
 *   failed; or why the job did).
 *
 * @module
 */

export * from "./fragment_keys.ts";
export * from "./gather.ts";
export * from "./idserver_link.ts";
export * from "./idserver_wire.ts";
export * from "./liveness.ts";
export * from "./rebuild.ts";
