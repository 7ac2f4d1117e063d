/**
 * Runs fast-check properties with a seed that is always printed on failure.
 *
 * Set `FC_SEED=<n>` to replay a failing run; `FC_RUNS_SCALE=<x>` multiplies every run count
 * (e.g. 10 for a long soak). A failing seed is kept as a regression case in the test beside it.
 *
 * @module
 */

import fc from "fast-check";

function envNumber(name: string): number | undefined {
  try {
    const v = Deno.env.get(name);
    return v === undefined || v === "" ? undefined : Number(v);
  } catch {
    return undefined; // no --allow-env: use the defaults
  }
}

/** The seed for this test process: `FC_SEED` or a fresh one. */
const SEED: number = envNumber("FC_SEED") ?? (Date.now() ^ (Math.random() * 0x7fffffff));

/**
 * Checks `property` for `numRuns` runs (scaled by `FC_RUNS_SCALE`) from {@link SEED}; on
 * failure the thrown error starts with the seed to replay it.
 */
export function check<T>(
  property: fc.IProperty<T>,
  numRuns: number,
  extra: { seed?: number; path?: string } = {},
): void {
  const seed = extra.seed ?? SEED;
  const runs = Math.max(1, Math.round(numRuns * (envNumber("FC_RUNS_SCALE") ?? 1)));
  try {
    fc.assert(property, { seed, numRuns: runs, path: extra.path });
  } catch (e) {
    console.error(`fast-check failed: replay with FC_SEED=${seed}`);
    throw e;
  }
}
