/**
 * Reconnect delays: exponential backoff with jitter.
 *
 * After the n-th failed dial in a row the next one waits between half and all of
 * `min(maxMs, baseMs * 2^(n-1))` ("equal jitter"): the delay keeps growing, and peers that lost
 * a common node at the same moment do not all redial it at the same instant.
 *
 * @module
 */

/** Default delay after the first failure. */
export const BACKOFF_BASE_MS = 250;
/** Default longest delay. */
export const BACKOFF_MAX_MS = 30_000;

/**
 * Delay before the next dial after `failures` (≥ 1) failures in a row; `random` returns a number
 * in [0, 1).
 *
 * @example
 * ```ts
 * import { backoffDelayMs } from "./backoff.ts";
 * const d = backoffDelayMs(3, 100, 10_000, () => 0.5); // ceiling 400 ms: 200 + 0.5 * 200
 * console.assert(d === 300);
 * ```
 */
export function backoffDelayMs(
  failures: number,
  baseMs = BACKOFF_BASE_MS,
  maxMs = BACKOFF_MAX_MS,
  random: () => number = Math.random,
): number {
  if (!(failures >= 1)) throw new RangeError(`failures must be at least 1, got ${failures}`);
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(failures - 1, 40));
  return ceiling / 2 + random() * (ceiling / 2);
}
