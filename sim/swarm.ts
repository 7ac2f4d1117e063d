/**
 * The seeded swarm (after TigerBeetle's VOPR): one seed decides the whole world of a run (its
 * size, churn, scheme, network faults, frame faults, disk failures, impostors), the storage
 * workload runs in it, heals, and must converge; a run that does not names its seed and the
 * options the seed drew, which is all it takes to reproduce it.
 *
 * Theory of operation. {@link drawSwarm} turns a seed into {@link SwarmOptions} with a random
 * stream of its own (`swarm`), so the options do not shift when the workload changes how it
 * draws. Faults are drawn per category, each off in some runs (a fault that is always on hides
 * the behaviour without it). {@link runSwarm} runs the storage workload with those options: a
 * safety phase under every fault (actor invariants after every step; no wrong byte restored,
 * no plaintext on a supplier's disk, no impostor message accepted), then the workload's healing
 * phase (faults off, everyone online) and its final restores, which is the liveness check:
 * every file the checkers call durable must be restored byte for byte, and none that is lost.
 * The final restores run within the workload's healing window; one that does not finish there
 * counts as not recovered, so a run that does not converge in time fails.
 *
 * Episodic faults (`storage/faults.ts`) are drawn too: partitions (half of them one-way),
 * clogged nodes, bit rot in suppliers' fragments, supplier crash-restarts that lose or tear
 * writes in flight, and per-node clock skew. The liveness check is explicit as well: during
 * the healing day every user is asked each hour whether it has work pending (a backup, a
 * restore, a recovery, an unfilled position, a fragment it knows missing); one that still has
 * some at the end of the day fails the run, printing what it was waiting for.
 *
 * @module
 */

import { Random } from "../core/prng.ts";
import { parseFlags } from "./flags.ts";
import type { Report } from "./report.ts";
import { simulateStorage, type StorageFaults } from "./storage/run.ts";

/** What one seed drew: the flags of the run and its faults. */
export interface SwarmOptions {
  seed: number;
  /** Command-line flags of the storage run (as `deno task sim` takes them). */
  flags: string[];
  faults: StorageFaults;
}

/** What a swarm run found: its options, report, and every broken promise (empty: passed). */
export interface SwarmOutcome {
  options: SwarmOptions;
  report: Report;
  problems: string[];
}

/** Draws the world of seed `seed`; `size` scales the network (1: tens of nodes, a day or two). */
export function drawSwarm(seed: number, size = 1): SwarmOptions {
  const r = Random.stream(seed, "swarm");
  const pick = <T>(xs: readonly T[]): T => xs[r.int(xs.length)];
  const maybe = (p: number, value: () => number) => (r.float() < p ? value() : 0);
  const nodes = Math.round((24 + r.int(40)) * size);
  const flags = [
    `--seed=${seed}`,
    `--nodes=${nodes}`,
    `--days=${1 + r.int(2)}`,
    `--churn=${(0.2 + 1.3 * r.float()).toFixed(2)}`,
    `--downtime-hours=${2 + r.int(10)}`,
    `--permanent=${(0.2 * r.float()).toFixed(2)}`,
    `--ecc=${pick(["rs:4+4", "rs:2+2", "mirror:2", "rs:3+2"])}`,
    `--files=${1 + r.int(2)}`,
    `--file-size=${pick([20_000, 60_000, 100_000])}`,
    `--fire-after-hours=${pick([6, 12, 24])}`,
    `--audit-hours=${pick([3, 6, 12])}`,
    `--impostors=${maybe(0.5, () => 20 + r.int(100))}`,
  ];
  if (r.float() < 0.15) flags.push("--no-repair");
  const faults: StorageFaults = {
    network: {
      loss: maybe(0.7, () => 0.05 * r.float()),
      duplicate: maybe(0.5, () => 0.05 * r.float()),
      reorder: maybe(0.5, () => 0.05 * r.float()),
    },
    frames: {
      alter: maybe(0.4, () => 0.01 * r.float()),
      forge: maybe(0.4, () => 0.01 * r.float()),
      garbage: maybe(0.4, () => 0.01 * r.float()),
    },
    diskFailure: maybe(0.5, () => 0.005 * r.float()),
  };
  // Drawn after the rest, so that adding them left the older options of every seed as they were.
  const chance = <T>(p: number, value: () => T): T | undefined =>
    r.float() < p ? value() : undefined;
  faults.partitions = chance(0.4, () => ({
    perDay: round(1 + 3 * r.float()),
    hours: round(0.5 + 5 * r.float()),
    share: round(0.1 + 0.3 * r.float()),
    oneWay: 0.5,
  }));
  faults.clogs = chance(0.4, () => ({
    perDay: round(2 + 8 * r.float()),
    hours: round(0.5 + 3 * r.float()),
    delayMs: 200 + r.int(4800),
  }));
  faults.bitRotPerDiskDay = chance(0.3, () => round(0.05 + 0.45 * r.float()));
  faults.crashes = chance(0.4, () => ({
    perSupplierDay: round(0.1 + 0.9 * r.float()),
    lostWrite: round(0.5 * r.float()),
    tornWrite: round(0.3 * r.float()),
    diskMs: pick([0.1, 2, 10]),
  }));
  faults.clockSkewMs = pick([0, 0, 2_000, 60_000, 300_000]);
  faults.backupRetryMs = 3_600_000; // a user told "try again" does, an hour later
  // NAT and routers (issue 13): the flags default to NAT for half the nodes; a swarm world
  // draws its own share, none in some, and enough routers that one of them churning matters.
  flags.push(`--nat=${pick([0, 0.3, 0.5, 0.8])}`, `--routers=${pick([0.02, 0.05, 0.1])}`);
  for (const key of Object.keys(faults) as (keyof StorageFaults)[]) {
    if (faults[key] === undefined) delete faults[key];
  }
  return { seed, flags, faults };
}

/** `x` to three decimals: drawn options print short and parse back to the same world. */
function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** Runs the world `options` describes and checks what users must see. */
function runSwarm(options: SwarmOptions): SwarmOutcome {
  const flags = parseFlags(options.flags);
  const { report } = simulateStorage(flags, flags, options.faults);
  return { options, report, problems: swarmProblems(report) };
}

/** Every promise to users the report shows broken. */
export function swarmProblems(report: Report): string[] {
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
  if (check.unsettled !== 0) {
    const first = (report.check as Report).unsettledFirst;
    problems.push(`${check.unsettled} users still had work pending after healing (${first})`);
  }
  if (check.recovered !== files.stored - files.lost) {
    problems.push(`recovered ${check.recovered} of ${files.stored - files.lost} durable files`);
  }
  if (check.impostorsAccepted !== 0) {
    const kinds = (report.impostors as Report).acceptedKinds;
    problems.push(`${check.impostorsAccepted} impostor messages accepted (${kinds})`);
  }
  return problems;
}

/** One line that reproduces a run: the seed and what it drew. */
export function describeSwarm(o: SwarmOptions): string {
  return `runSwarm(drawSwarm(${o.seed})): ${o.flags.join(" ")}; faults ${JSON.stringify(o.faults)}`;
}

/**
 * Seeds outside the CI range (1000–1399, which runs every seed anyway) that once failed a
 * drawn swarm; each must pass forever. A seed names a world only as `drawSwarm` draws it
 * today: a change to the drawing moves the world a seed stands for (the list is kept anyway,
 * as cheap extra worlds). 1399: every user's only backup failed in a partitioned one-day world,
 * so nothing was stored (the swarm's users retry failed backups now). 1555: a restore failed on
 * a rotten fragment while the good copy sat on a member not probed since the day before. 2035:
 * a user's only identity publish was lost, and its lease waited for the daily refresh. 2111: a
 * restore re-probed a member that answered "no contract" on every answer, forever. 3372: a
 * store answer lost after the backup gave up waiting left a durable fragment uncredited, so the
 * final restore never asked its holder (sweeps now recheck listed, uncredited fragments). (1255
 * and 1330, failed by the first liveness check, are in the CI range now.)
 */
export const SWARM_REGRESSION_SEEDS: readonly number[] = [1399, 1555, 2035, 2111, 3372];

/** Registers one test per seed in [from, to): a failure names the seed and what it drew. */
export function swarmTests(from: number, to: number): void {
  for (let seed = from; seed < to; seed++) {
    Deno.test(`swarm (drawn): seed ${seed} heals and converges`, () => {
      const options = drawSwarm(seed);
      console.log(describeSwarm(options));
      const outcome = runSwarm(options);
      if (outcome.problems.length > 0) {
        throw new Error(`${describeSwarm(outcome.options)}\n${outcome.problems.join("; ")}`);
      }
    });
  }
}
