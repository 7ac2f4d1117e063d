/**
 * The randomized swarm (after TigerBeetle's VOPR): for each seed, a storage network runs under
 * churn and every fault the simulator has (loss, duplication, reordering, altered, forged and
 * garbage frames, failing disks), then heals and must converge: every file the checkers call
 * durable is restored byte for byte, no lost file is restored, no wrong byte reaches a user, and
 * no plaintext reaches a supplier's disk. Actor invariants are checked after every step.
 *
 * A seed that fails is a bug report: fix it and add it to REGRESSION_SEEDS for good.
 */

import { parseFlags } from "../flags.ts";
import { simulateStorage, type StorageFaults } from "./run.ts";

/**
 * Seeds that once failed; each must pass forever.
 * - 104: a user fired suppliers that had come back online but were not yet probed again, down
 *   to fewer than K holders, and lost a block (fixed: fire only on an unanswered probe, and
 *   never a supplier whose fragments cannot be rebuilt from online members at once).
 */
const REGRESSION_SEEDS: number[] = [104];
/** Fresh seeds checked on every run. */
const SWARM_SEEDS = [101, 102, 103, 105];

const FAULTS: StorageFaults = {
  network: { loss: 0.02, duplicate: 0.02, reorder: 0.02 },
  frames: { alter: 0.005, forge: 0.005, garbage: 0.005 },
  diskFailure: 0.002,
};

function swarm(seed: number, extra: string[] = []): void {
  const flags = parseFlags([
    ...extra,
    "--nodes=60",
    "--days=6",
    "--churn=1",
    "--downtime-hours=6",
    "--permanent=0.15",
    "--files=2",
    "--file-size=100000",
    "--fire-after-hours=12",
    "--audit-hours=6",
    `--seed=${seed}`,
  ]);
  const { report } = simulateStorage(flags, flags, FAULTS);
  const check = report.check as Record<string, number>;
  const files = report.files as { stored: number; lost: number };
  const problems: string[] = [];
  if (check.plaintextLeaks !== 0) problems.push(`${check.plaintextLeaks} plaintext leaks`);
  if (check.wrongBytes !== 0) problems.push(`${check.wrongBytes} wrong bytes restored`);
  if (check.durableUnrecovered !== 0) {
    problems.push(`${check.durableUnrecovered} durable files not recovered after healing`);
  }
  if (check.lostRecovered !== 0) problems.push(`${check.lostRecovered} lost files recovered`);
  if (files.stored === 0) problems.push("nothing was stored");
  if (check.recovered !== files.stored - files.lost) {
    problems.push(`recovered ${check.recovered} of ${files.stored - files.lost} durable files`);
  }
  if (problems.length > 0) {
    throw new Error(`swarm seed ${seed} failed: ${problems.join("; ")}`);
  }
}

for (const seed of [...REGRESSION_SEEDS, ...SWARM_SEEDS]) {
  Deno.test(`swarm: faults and churn, then heal and converge (seed ${seed})`, () => swarm(seed));
}

// Without repair there are no timers to mask a pipeline that waits for an input that never
// comes (queued restores once did): the healed phase must converge all the same.
for (const seed of [201, 202]) {
  Deno.test(`swarm without repair converges after healing (seed ${seed})`, () => {
    swarm(seed, ["--no-repair"]);
  });
}

Deno.test("determinism: the same seed gives the same trace hash, another seed another", () => {
  const run = (seed: number) => {
    const flags = parseFlags([
      "--nodes=40",
      "--days=2",
      "--files=1",
      "--file-size=50000",
      `--seed=${seed}`,
    ]);
    return simulateStorage(flags, flags, FAULTS).report.traceHash;
  };
  const a = run(7);
  const b = run(7);
  const c = run(8);
  if (a !== b) throw new Error(`same seed, different hashes: ${a} ${b}`);
  if (a === c) throw new Error(`different seeds, same hash ${a}`);
});
