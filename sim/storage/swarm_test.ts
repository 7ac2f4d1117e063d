/**
 * The randomized swarm (after TigerBeetle's VOPR): for each seed, a storage network runs under
 * churn and every fault the simulator has (loss, duplication, reordering, altered, forged and
 * garbage frames, failing disks, and impostors: messages claiming existing names under other
 * keys, both ways), then heals and must converge: every file the checkers call durable is
 * restored byte for byte, no lost file is restored, no wrong byte reaches a user, no plaintext
 * reaches a supplier's disk, and no impostor message was accepted. Actor invariants are checked
 * after every step.
 *
 * The impostor tests also compare a run with the attacker against the same seed without it
 * (what users keep must not move), and prove the impostor count can fail: with stolen keys
 * (the real node's own) every delivery is accepted, and users lose their data.
 *
 * A seed that fails is a bug report: fix it and add it to REGRESSION_SEEDS for good.
 */

import { parseFlags } from "../flags.ts";
import type { Report } from "../report.ts";
import { IMPOSTOR_KINDS } from "./impostors.ts";
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

/** Impostor messages per simulated hour in every swarm run (a few thousand per run). */
const IMPOSTORS = 100;

function swarmFlags(seed: number, extra: string[]) {
  return parseFlags([
    `--impostors=${IMPOSTORS}`,
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
}

/** Runs one swarm; returns the report, or throws naming the seed and every problem. */
function swarm(seed: number, extra: string[] = [], faults: StorageFaults = {}) {
  const flags = swarmFlags(seed, extra);
  const { report, run } = simulateStorage(flags, flags, { ...FAULTS, ...faults });
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
  if (check.impostorsAccepted !== 0) {
    const kinds = (report.impostors as Report).acceptedKinds;
    problems.push(`${check.impostorsAccepted} impostor messages accepted (${kinds})`);
  }
  if (problems.length > 0) {
    throw new Error(`swarm seed ${seed} failed: ${problems.join("; ")}`);
  }
  return { report, run };
}

for (const seed of [...REGRESSION_SEEDS, ...SWARM_SEEDS]) {
  Deno.test(`swarm: faults, churn and impostors, then heal and converge (seed ${seed})`, () => {
    swarm(seed);
  });
}

// Without repair there are no timers to mask a pipeline that waits for an input that never
// comes (queued restores once did): the healed phase must converge all the same. Seed 202 once
// failed: final restores failed fast on offline beliefs older than the healing (fixed: a restore
// probes members believed offline on old evidence before it fails).
for (const seed of [201, 202]) {
  Deno.test(`swarm without repair converges after healing (seed ${seed})`, () => {
    swarm(seed, ["--no-repair"]);
  });
}

Deno.test("determinism: the same seed gives the same trace hash, another seed another", () => {
  const run = (seed: number, impostors: number) => {
    const flags = parseFlags([
      "--nodes=40",
      "--days=2",
      "--files=1",
      "--file-size=50000",
      `--impostors=${impostors}`,
      `--seed=${seed}`,
    ]);
    return simulateStorage(flags, flags, FAULTS).report;
  };
  const a = run(7, 0).traceHash;
  const b = run(7, 0).traceHash;
  const c = run(8, 0).traceHash;
  if (a !== b) throw new Error(`same seed, different hashes: ${a} ${b}`);
  if (a === c) throw new Error(`different seeds, same hash ${a}`);
  // With impostors on: still the same hash for the same seed, and one that covers them.
  const x = run(7, 300);
  const y = run(7, 300);
  if ((x.impostors as Report).delivered === 0) throw new Error("no impostor was delivered");
  if (x.traceHash !== y.traceHash) {
    throw new Error(`impostors on, same seed, different hashes: ${x.traceHash} ${y.traceHash}`);
  }
  if (x.traceHash === a) throw new Error("the trace hash does not cover impostors");
});

// --- impostors ---------------------------------------------------------------------------------

/** What a user keeps: files stored and durable, suppliers replaced; from one report. */
function kept(report: Report) {
  const files = report.files as { stored: number; lost: number };
  const suppliers = report.suppliers as { replaced: number };
  return { stored: files.stored, durable: files.stored - files.lost, replaced: suppliers.replaced };
}

/** Every kind of impostor message reached a pinned target at least `min` times. */
function everyKindDelivered(run: ReturnType<typeof swarm>["run"], min: number): void {
  const thin = IMPOSTOR_KINDS.filter((k) => {
    const t = run.impostors!.tally.get(k)!;
    return t.refused + t.accepted < min;
  });
  if (thin.length > 0) throw new Error(`kinds delivered fewer than ${min} times: ${thin}`);
}

/** The attacked run keeps about what the quiet run of the same seed keeps. */
function sameOutcome(quiet: Report, attacked: Report): void {
  const q = kept(quiet);
  const a = kept(attacked);
  // Not equal: impostor frames take bandwidth and steps, so the runs drift apart in time.
  if (a.stored < 0.8 * q.stored || a.durable < 0.8 * q.durable) {
    throw new Error(`with impostors ${JSON.stringify(a)}, without ${JSON.stringify(q)}`);
  }
  if (a.replaced > 1.5 * q.replaced + 10) {
    throw new Error(`impostors got ${a.replaced} suppliers replaced, against ${q.replaced}`);
  }
}

Deno.test("impostors: every kind reaches a pinned target many times, none is accepted", () => {
  const { report, run } = swarm(106, ["--impostors=300"]);
  everyKindDelivered(run, 20);
  sameOutcome(swarm(106, ["--impostors=0"]).report, report);
});

Deno.test("impostors against ideally pinning actors: all refused, nothing moves", () => {
  // The actors behind a shim that refuses every key but the claimed name's own: the checker
  // must read zero, and what users keep must be what they keep without the attacker.
  const { report, run } = swarm(107, ["--impostors=300"], { idealPinning: true });
  everyKindDelivered(run, 20);
  const imp = report.impostors as Record<string, number>;
  if (imp.refused !== imp.delivered || imp.delivered < 10_000) {
    throw new Error(`delivered ${imp.delivered}, refused ${imp.refused}`);
  }
  sameOutcome(swarm(107, ["--impostors=0"]).report, report);
});

Deno.test("impostors with stolen keys are accepted and counted: the checker can fail", () => {
  const flags = swarmFlags(108, ["--impostors=300"]);
  const stolen = simulateStorage(flags, flags, { ...FAULTS, impostorKeys: "stolen" }).report;
  const check = stolen.check as Record<string, number>;
  const imp = stolen.impostors as Record<string, number>;
  // A stolen key is indistinguishable from its owner: every delivery is accepted.
  if (imp.delivered < 1000 || check.impostorsAccepted !== imp.delivered) {
    throw new Error(`delivered ${imp.delivered}, accepted ${check.impostorsAccepted}`);
  }
  // And it shows where users look: their files are gone.
  const quiet = kept(swarm(108, ["--impostors=0"]).report);
  const attacked = kept(stolen);
  if (attacked.durable > quiet.durable / 2) {
    throw new Error(`stolen keys left ${attacked.durable} of ${quiet.durable} durable files`);
  }
});
