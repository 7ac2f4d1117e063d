/**
 * Job pool benchmark (`deno task bench jobs`): storage jobs on workers against the main thread.
 *
 * - Throughput: sealing and opening {@link BLOCKS} blocks of 4 MiB at `rs:4+4` (opening drops
 *   two data fragments, so the erasure code really decodes), through a {@link JobPool} with the
 *   default worker count and with one worker per core, as a ratio to {@link inlineJobs} in the
 *   same run. Pool jobs are all submitted at once (the pool's queue applies back-pressure); the
 *   inline runner gets them one at a time, yielding to the event loop between jobs (its best
 *   case: a host that emits several jobs in one step blocks for all of them).
 * - Event-loop latency: a 1 ms interval timer runs meanwhile; the figure is its worst lateness,
 *   what any socket, timer or HTTP request of the node would have waited. The same timer on an
 *   idle loop for one second gives the machine's noise floor.
 * Inputs are built before the clock starts (the pool moves their bytes, so each run gets its
 * own copies). Each worker runs one small job first, so worker start-up is not timed.
 *
 * @module
 */

import type { StorageJob } from "../core/storage.ts";
import { runStorageJob } from "../data/jobs.ts";
import { defaultWorkerCount, inlineJobs, JobPool, type JobRunner } from "../net/job_pool.ts";

const MiB = 1024 * 1024;
const BLOCK_BYTES = 4 * MiB;
/** Blocks per measurement. */
const BLOCKS = 24;
const SCHEME = "rs:4+4";
const fileKey = crypto.getRandomValues(new Uint8Array(32));
const fileSalt = crypto.getRandomValues(new Uint8Array(32));

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) {
    crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  }
  return out;
}

const plaintexts = Array.from({ length: BLOCKS }, () => randomBytes(BLOCK_BYTES));

function sealJobs(): StorageJob[] {
  return plaintexts.map((p, blockIndex) => ({
    type: "seal",
    fileKey,
    fileSalt,
    blockIndex,
    plaintext: p.slice(),
    scheme: SCHEME,
  }));
}

const sealed = sealJobs().map((job) => {
  const r = runStorageJob(job);
  if (r.type !== "sealed") throw new Error("seal failed");
  return r;
});

function openJobs(): StorageJob[] {
  return sealed.map((s, blockIndex) => ({
    type: "open",
    fileKey,
    fileSalt,
    blockIndex,
    scheme: SCHEME,
    fragments: s.fragments.map((f, i) => (i < 2 ? undefined : f.slice())),
    cipherSize: s.cipherSize,
    fragmentHashes: s.fragmentHashes,
  }));
}

/** Watches the event loop; `stop()` returns the worst lateness of a 1 ms timer, in ms. */
function lagMonitor(): { stop(): number } {
  let worst = 0;
  let last = performance.now();
  const id = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last - 1);
    last = now;
  }, 1);
  return {
    stop() {
      clearInterval(id);
      return Math.max(worst, performance.now() - last - 1);
    },
  };
}

interface Run {
  mbPerSec: number;
  worstLagMs: number;
}

async function measure(runner: JobRunner, jobs: StorageJob[], oneAtATime: boolean): Promise<Run> {
  await new Promise((r) => setTimeout(r, 20)); // let the monitor start from a quiet loop
  const lag = lagMonitor();
  const t0 = performance.now();
  if (oneAtATime) {
    for (const job of jobs) {
      await runner.run(job);
      await new Promise((r) => setTimeout(r, 0));
    }
  } else {
    await Promise.all(jobs.map((job) => runner.run(job)));
  }
  const ms = performance.now() - t0;
  return { mbPerSec: (jobs.length * BLOCK_BYTES) / 1e6 / (ms / 1000), worstLagMs: lag.stop() };
}

async function warmPool(workers: number): Promise<JobPool> {
  const pool = new JobPool({ workers });
  const tiny: StorageJob = {
    type: "seal",
    fileKey,
    fileSalt,
    blockIndex: 0,
    plaintext: new Uint8Array(1024),
    scheme: SCHEME,
  };
  await Promise.all(Array.from({ length: workers }, () => pool.run({ ...tiny })));
  return pool;
}

function show(label: string, run: Run, base?: Run): void {
  const rate = `${run.mbPerSec.toFixed(0)} MB/s`.padStart(10);
  const lag = `worst loop lag ${run.worstLagMs.toFixed(1)} ms`.padStart(24);
  const ratio = base === undefined ? "" : `  ×${(run.mbPerSec / base.mbPerSec).toFixed(2)}`;
  console.log(`${label.padEnd(34)} ${rate}${ratio.padEnd(8)} ${lag}`);
}

/** Runs the benchmark and prints its table. */
export async function run(): Promise<void> {
  const cores = navigator.hardwareConcurrency ?? 1;
  console.log(`${BLOCKS} blocks of 4 MiB at ${SCHEME}; ${cores} cores`);
  await new Promise((r) => setTimeout(r, 20));
  const idle = lagMonitor();
  await new Promise((r) => setTimeout(r, 1000));
  console.log(
    `${"idle event loop, 1 s (noise floor)".padEnd(52)} ` +
      `${`worst loop lag ${idle.stop().toFixed(1)} ms`.padStart(24)}`,
  );
  const inline = inlineJobs();
  const counts = [...new Set([defaultWorkerCount(), Math.max(1, cores)])];
  for (const [what, make] of [["seal", sealJobs], ["open", openJobs]] as const) {
    const base = await measure(inline, make(), true);
    show(`${what} inline (main thread)`, base);
    for (const workers of counts) {
      const pool = await warmPool(workers);
      try {
        const label = `${what} pool, ${workers} worker${workers === 1 ? "" : "s"}`;
        show(label, await measure(pool, make(), false), base);
      } finally {
        await pool.close();
      }
    }
  }
  await inline.close();
}

if (import.meta.main) await run();
