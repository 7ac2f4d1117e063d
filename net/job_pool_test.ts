import assert from "node:assert/strict";
import type { StorageJob, StorageJobResult } from "../core/storage.ts";
import { runStorageJob } from "../data/jobs.ts";
import {
  defaultWorkerCount,
  inlineJobs,
  JobError,
  JobPool,
  JobPoolClosedError,
} from "./job_pool.ts";
import { isJobWorker, runJobWorker, transferables } from "./job_worker.ts";

const fileKey = new Uint8Array(32).fill(7);
const fileSalt = new Uint8Array(32).fill(9);

function plaintext(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 13 + seed) & 0xff);
}

function sealJob(n: number, seed: number, blockIndex = 0): StorageJob {
  return {
    type: "seal",
    fileKey,
    fileSalt,
    blockIndex,
    plaintext: plaintext(n, seed),
    scheme: "rs:4+4",
  };
}

function openJob(sealed: StorageJobResult & { type: "sealed" }, blockIndex = 0): StorageJob {
  const fragments = sealed.fragments.map((f, i) => (i === 1 || i === 6 ? undefined : f.slice()));
  return {
    type: "open",
    fileKey,
    fileSalt,
    blockIndex,
    scheme: "rs:4+4",
    fragments,
    cipherSize: sealed.cipherSize,
    fragmentHashes: sealed.fragmentHashes,
  };
}

Deno.test("JobPool seals and opens like the inline runner, moving large arrays", async () => {
  const pool = new JobPool({ workers: 2 });
  try {
    const job = sealJob(1024 * 1024 + 3, 1);
    const expected = runStorageJob(sealJob(1024 * 1024 + 3, 1));
    const sent = (job as { plaintext: Uint8Array }).plaintext;
    const sealed = await pool.run(job);
    assert.equal(sent.byteLength, 0, "the plaintext was transferred");
    assert.equal(fileKey.byteLength, 32, "a small key is copied, never moved");
    assert.deepEqual(sealed, expected);
    assert.equal(sealed.type, "sealed");
    if (sealed.type !== "sealed") return;
    const opened = await pool.run(openJob(sealed));
    assert.deepEqual(opened, { type: "opened", plaintext: plaintext(1024 * 1024 + 3, 1) });
    const wrongKey = await pool.run(
      { ...openJob(sealed), fileKey: new Uint8Array(32) } as StorageJob,
    );
    assert.equal(wrongKey.type === "failed" && wrongKey.error, "authentication");
    assert.deepEqual(pool.counters, {
      submitted: 3,
      completed: 3,
      failed: 0,
      crashes: 0,
      waited: 0,
      refused: 0,
    });
  } finally {
    await pool.close();
  }
});

Deno.test("JobPool copies views into shared buffers", async () => {
  const pool = new JobPool({ workers: 1 });
  try {
    const frame = plaintext(512 * 1024, 2);
    const view = frame.subarray(1024, 1024 + 256 * 1024);
    const job = { ...sealJob(1, 0), plaintext: view } as StorageJob;
    const result = await pool.run(job);
    assert.equal(result.type, "sealed");
    assert.equal(frame.byteLength, 512 * 1024, "the frame keeps its bytes");
    assert.equal(transferables({ a: [view, frame] }, { wholeOnly: true }).length, 1);
  } finally {
    await pool.close();
  }
});

Deno.test("JobPool makes callers wait when its queue is full", async () => {
  const pool = new JobPool({ workers: 1, queueMax: 2 });
  try {
    const jobs = Array.from({ length: 8 }, (_, i) => sealJob(64 * 1024, i, i));
    const want = Array.from({ length: 8 }, (_, i) => runStorageJob(sealJob(64 * 1024, i, i)));
    const results = await Promise.all(jobs.map((job) => pool.run(job)));
    assert.deepEqual(results, want);
    assert.equal(pool.counters.completed, 8);
    assert.ok(pool.counters.waited >= 4, `waited ${pool.counters.waited}`);
    assert.equal(pool.queued, 0);
    assert.equal(pool.running, 0);
  } finally {
    await pool.close();
  }
});

Deno.test("JobPool rejects a malformed job and keeps working", async () => {
  const pool = new JobPool({ workers: 1 });
  try {
    const bad = { ...sealJob(10, 1), scheme: "nonsense" } as StorageJob;
    await assert.rejects(() => pool.run(bad), JobError);
    assert.equal((await pool.run(sealJob(10, 1))).type, "sealed");
    assert.equal(pool.counters.failed, 1);
  } finally {
    await pool.close();
  }
});

const CRASHING_WORKER = `
import { runJobWorker } from ${JSON.stringify(new URL("./job_worker.ts", import.meta.url).href)};
runJobWorker();
const inner = self.onmessage;
self.onmessage = (e) => {
  if (e.data.job.type === "crash") setTimeout(() => { throw new Error("boom"); });
  else inner(e);
};
`;

/**
 * Runs `body` (the source of an async function of `JobPool` and a sealing job maker, returning
 * JSON-able facts) in a child process, so the traces Deno prints for a dying worker land in the
 * child's stderr, which is returned, rather than in the test run's output.
 */
async function inChild(body: string, files: Record<string, string> = {}) {
  const dir = await Deno.makeTempDir({ prefix: "bitdust-jobs-" });
  try {
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(`${dir}/${name}`, text);
    }
    const pool = JSON.stringify(new URL("./job_pool.ts", import.meta.url).href);
    await Deno.writeTextFile(
      `${dir}/child.ts`,
      `import { JobPool, JobWorkerCrashError } from ${pool};
const dir = ${JSON.stringify(dir)};
const seal = (n: number, seed: number) => ({
  type: "seal", fileKey: new Uint8Array(32).fill(7), fileSalt: new Uint8Array(32).fill(9),
  blockIndex: 0, scheme: "rs:4+4",
  plaintext: Uint8Array.from({ length: n }, (_, i) => (i * 13 + seed) & 0xff),
});
const facts = await (${body})(JobPool, JobWorkerCrashError, seal, dir);
console.log(JSON.stringify(facts));
`,
    );
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-config", `${dir}/child.ts`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(r.stderr);
    assert.equal(r.code, 0, stderr);
    return { facts: JSON.parse(new TextDecoder().decode(r.stdout)), stderr };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("JobPool: a crashed worker rejects its job and is replaced", async () => {
  const { facts, stderr } = await inChild(
    `async (JobPool, CrashError, seal, dir) => {
      const pool = new JobPool({ workers: 1, workerUrl: new URL("file://" + dir + "/worker.js") });
      const crash = pool.run({ type: "crash" });
      const after = pool.run(seal(100, 3));
      const rejected = await crash.then(() => "resolved", (e) => e instanceof CrashError);
      const afterType = (await after).type;
      const crashes = pool.counters.crashes;
      await pool.close();
      return { rejected, afterType, crashes };
    }`,
    { "worker.js": CRASHING_WORKER },
  );
  assert.deepEqual(facts, { rejected: true, afterType: "sealed", crashes: 1 });
  assert.match(stderr, /boom/); // the crash really happened, in the worker
});

Deno.test("JobPool: a worker that cannot load fails each job without respawning", async () => {
  const { facts } = await inChild(
    `async (JobPool, CrashError, seal) => {
      const workerUrl = "data:application/javascript,throw new Error('cannot start')";
      const pool = new JobPool({ workers: 1, workerUrl });
      const outcome = (p) => p.then(() => "resolved", (e) => e instanceof CrashError);
      const first = await outcome(pool.run(seal(10, 1)));
      const second = await outcome(pool.run(seal(10, 2)));
      await new Promise((r) => setTimeout(r, 50));
      const crashes = pool.counters.crashes;
      await pool.close();
      return { first, second, crashesInRange: crashes >= 2 && crashes <= 3 };
    }`,
  );
  assert.deepEqual(facts, { first: true, second: true, crashesInRange: true });
});

Deno.test("JobPool: close rejects queued and waiting jobs", async () => {
  const pool = new JobPool({ workers: 1, queueMax: 1 });
  const runs = Array.from({ length: 4 }, (_, i) => pool.run(sealJob(1024 * 1024, i)));
  const settled = Promise.allSettled(runs);
  await pool.close();
  for (const r of await settled) {
    assert.equal(r.status, "rejected");
    assert.ok((r as PromiseRejectedResult).reason instanceof JobPoolClosedError);
  }
  await assert.rejects(() => pool.run(sealJob(1, 1)), JobPoolClosedError);
  await pool.close();
});

Deno.test("inlineJobs has the same interface", async () => {
  const jobs = inlineJobs();
  const sealed = await jobs.run(sealJob(5000, 4));
  assert.deepEqual(sealed, runStorageJob(sealJob(5000, 4)));
  await assert.rejects(() => jobs.run({ ...sealJob(1, 1), scheme: "x" } as StorageJob), JobError);
  assert.equal(jobs.counters.completed, 1);
  assert.equal(jobs.counters.failed, 1);
  await jobs.close();
  await assert.rejects(() => jobs.run(sealJob(1, 1)), JobPoolClosedError);
});

Deno.test("the worker entry knows where it runs", () => {
  assert.equal(isJobWorker(), false);
  assert.throws(() => runJobWorker(), /inside a worker/);
  assert.ok(defaultWorkerCount() >= 1);
});
