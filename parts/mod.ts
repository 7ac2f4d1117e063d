/**
 * Reusable parts: pieces of protocol that more than one role needs, written once. Like the
 * actors they are deterministic and sans-IO; they import only `core/` and each other, and any
 * role may import them (tidy enforces both).
 *
 * - `fragment_keys.ts`: the one place the key format of blocks and fragments lives.
 * - `idserver_link.ts`: timekeeping of a node's links to its ID servers (publish, confirm,
 *   refresh, back off per server); the supplier's announce runs on it.
 *
 * @module
 */

export * from "./fragment_keys.ts";
export * from "./idserver_link.ts";
