/**
 * Always-on assertions for our own invariants.
 *
 * An assertion failure means a bug in bitdust itself, never a misbehaving peer: peers' mistakes
 * are rejected as values, counted and traced. The simulator catches {@link AssertionError},
 * prints the seed and stops the run.
 *
 * @module
 */

/** Raised when one of our own invariants does not hold. */
export class AssertionError extends Error {
  override name = "AssertionError";
}

/**
 * Throws {@link AssertionError} unless `condition` holds. Never compiled out.
 *
 * @example
 * ```ts
 * import { assert } from "./assert.ts";
 * assert(1 + 1 === 2, "arithmetic works");
 * ```
 */
export function assert(condition: unknown, message = "assertion failed"): asserts condition {
  if (!condition) throw new AssertionError(message);
}
