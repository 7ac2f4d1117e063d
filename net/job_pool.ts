/**
 * Runs storage jobs (`core/storage.ts`) on a pool of Web Workers, so encryption and erasure
 * coding of 4 MiB blocks never stall the node's event loop; and {@link inlineJobs}, the same
 * interface on the main thread.
 *
 * Theory of operation.
 * - Workers: `workers` module workers (default: one per core minus one, at least one, at most
 *   {@link JOB_WORKERS_MAX}), started at construction on `workerUrl` and named
 *   `JOB_WORKER_NAME`; each runs `runJobWorker()` (`job_worker.ts`). A worker takes one job at a
 *   time, so a crash is charged to exactly one job.
 * - Queue: jobs wait in FIFO order for an idle worker. At most `queueMax` (default
 *   {@link JOB_QUEUE_MAX}) wait; a caller beyond that awaits room (back-pressure), and at most
 *   {@link JOB_WAITERS_MAX} callers may await at once; more are refused with
 *   {@link JobPoolFullError}.
 * - Bytes: a job's byte arrays of at least `transferMinBytes` (default 64 KiB) that cover their
 *   whole buffer are transferred to the worker, so the caller's arrays are emptied (detached);
 *   jobs hand their bytes over (as `core/storage.ts` says). Smaller arrays and views into shared
 *   buffers (a fragment inside a received frame, a key kept in an actor's state) are copied.
 *   Results come back transferred.
 * - Failures: a job that throws in the worker (a malformed job: our bug) rejects with
 *   {@link JobError}. A worker that dies (an uncaught error, a load failure) rejects its job
 *   with {@link JobWorkerCrashError}; it is terminated and replaced when the next job needs it
 *   (not at once, so a worker that cannot even load does not respawn in a loop). Data failures
 *   (too few fragments, a bad hash, a wrong key) are ordinary results.
 * - `close()` terminates every worker and rejects every job not yet answered with
 *   {@link JobPoolClosedError}.
 *
 * @example
 * ```ts
 * const pool = new JobPool(); // from source; a bundle passes { workerUrl: Deno.mainModule }
 * const host = new Host({ ...options, runJob: (job) => pool.run(job) });
 * // ... on shutdown:
 * await pool.close();
 * ```
 *
 * @module
 */

import { JOB_QUEUE_MAX, JOB_WAITERS_MAX, JOB_WORKERS_MAX } from "../core/limits.ts";
import type { StorageJob, StorageJobResult } from "../core/storage.ts";
import { runStorageJob } from "../data/jobs.ts";
import {
  JOB_WORKER_NAME,
  type JobReply,
  type JobRequest,
  postWithTransfer,
  transferables,
} from "./job_worker.ts";

/** Smallest job array moved to a worker rather than copied, by default. */
const TRANSFER_MIN_BYTES_DEFAULT = 64 * 1024;

/** A job threw inside the worker (a malformed job). */
export class JobError extends Error {
  override name = "JobError";
}

/** The worker running a job died. */
export class JobWorkerCrashError extends Error {
  override name = "JobWorkerCrashError";
}

/** The pool was closed before the job was answered. */
export class JobPoolClosedError extends Error {
  override name = "JobPoolClosedError";
}

/** Too many callers are already waiting for room in the queue. */
class JobPoolFullError extends Error {
  override name = "JobPoolFullError";
}

/** What a job runner has done so far. */
export interface JobCounters {
  /** Jobs accepted by `run`. */
  submitted: number;
  /** Jobs answered with a result (data failures included). */
  completed: number;
  /** Jobs that threw (malformed jobs). */
  failed: number;
  /** Workers that died, each taking its job with it. */
  crashes: number;
  /** Calls that had to wait for room in the queue. */
  waited: number;
  /** Calls refused because too many were waiting. */
  refused: number;
}

/** Runs storage jobs; {@link JobPool} and {@link inlineJobs} implement it. */
export interface JobRunner {
  /** Runs one job; resolves to its result. The job's large byte arrays may be detached. */
  run(job: StorageJob): Promise<StorageJobResult>;
  /** Counters since creation. */
  readonly counters: JobCounters;
  /** Stops: jobs not yet answered are rejected; `run` rejects from now on. */
  close(): Promise<void>;
}

function zeroCounters(): JobCounters {
  return { submitted: 0, completed: 0, failed: 0, crashes: 0, waited: 0, refused: 0 };
}

/** Options of {@link JobPool}. */
export interface JobPoolOptions {
  /**
   * Module each worker runs; it must call `runJobWorker()` (default: `job_worker.ts` next to
   * this file, which works from source; a bundle or binary passes `Deno.mainModule`).
   */
  workerUrl?: string | URL;
  /** Number of workers (default: cores minus one, at least 1, at most JOB_WORKERS_MAX). */
  workers?: number;
  /** Jobs that may wait for a worker (default JOB_QUEUE_MAX). */
  queueMax?: number;
  /** Smallest job array moved rather than copied (default 64 KiB; `Infinity`: copy all). */
  transferMinBytes?: number;
}

/** Default number of workers: one per core but one for the event loop, at least one. */
export function defaultWorkerCount(): number {
  const cores = navigator.hardwareConcurrency ?? 2;
  return Math.max(1, Math.min(JOB_WORKERS_MAX, cores - 1));
}

interface Task {
  id: number;
  job: StorageJob;
  resolve(result: StorageJobResult): void;
  reject(error: Error): void;
}

interface Slot {
  worker: Worker | null;
  task: Task | null;
}

/** A pool of job workers; see the module comment. */
export class JobPool implements JobRunner {
  /** What the pool has done since it started. */
  readonly counters: JobCounters = zeroCounters();
  readonly #url: string;
  readonly #slots: Slot[] = [];
  readonly #queue: Task[] = [];
  readonly #waiters: (() => void)[] = [];
  readonly #queueMax: number;
  readonly #transferMinBytes: number;
  #nextId = 1;
  #closed = false;

  /** Starts the workers; throws `RangeError` for counts out of range. */
  constructor(options: JobPoolOptions = {}) {
    const workers = options.workers ?? defaultWorkerCount();
    if (!Number.isInteger(workers) || workers < 1 || workers > JOB_WORKERS_MAX) {
      throw new RangeError(`workers must be 1..${JOB_WORKERS_MAX}, got ${workers}`);
    }
    const queueMax = options.queueMax ?? JOB_QUEUE_MAX;
    if (!Number.isInteger(queueMax) || queueMax < 1 || queueMax > JOB_QUEUE_MAX) {
      throw new RangeError(`queueMax must be 1..${JOB_QUEUE_MAX}, got ${queueMax}`);
    }
    this.#url = String(options.workerUrl ?? new URL("./job_worker.ts", import.meta.url));
    this.#queueMax = queueMax;
    this.#transferMinBytes = options.transferMinBytes ?? TRANSFER_MIN_BYTES_DEFAULT;
    for (let i = 0; i < workers; i++) {
      const slot: Slot = { worker: null, task: null };
      slot.worker = this.#spawn(slot);
      this.#slots.push(slot);
    }
  }

  /** Number of workers. */
  get size(): number {
    return this.#slots.length;
  }

  /** Jobs waiting for a worker. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Jobs running on workers. */
  get running(): number {
    return this.#slots.filter((s) => s.task !== null).length;
  }

  /** Runs one job on a worker, waiting for room in the queue first when it is full. */
  async run(job: StorageJob): Promise<StorageJobResult> {
    if (this.#closed) throw new JobPoolClosedError("the job pool is closed");
    if (this.#queue.length >= this.#queueMax) {
      this.counters.waited++;
      do {
        if (this.#waiters.length >= JOB_WAITERS_MAX) {
          this.counters.refused++;
          throw new JobPoolFullError(`more than ${JOB_WAITERS_MAX} callers wait for the pool`);
        }
        await new Promise<void>((resolve) => this.#waiters.push(resolve));
        if (this.#closed) throw new JobPoolClosedError("the job pool is closed");
      } while (this.#queue.length >= this.#queueMax);
    }
    this.counters.submitted++;
    return await new Promise<StorageJobResult>((resolve, reject) => {
      this.#queue.push({ id: this.#nextId++, job, resolve, reject });
      this.#dispatch();
    });
  }

  #spawn(slot: Slot): Worker {
    const worker = new Worker(this.#url, { type: "module", name: JOB_WORKER_NAME });
    worker.onmessage = (e: MessageEvent<JobReply>) => this.#onReply(slot, e.data);
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault(); // ours to handle: do not let it end the process
      this.#onCrash(slot, e.message);
    };
    worker.onmessageerror = () => this.#onCrash(slot, "a reply could not be read");
    return worker;
  }

  /** Hands waiting jobs to idle workers, (re)starting workers as needed. */
  #dispatch(): void {
    for (const slot of this.#slots) {
      if (this.#queue.length === 0 || this.#closed) return;
      if (slot.task !== null) continue;
      const task = this.#queue.shift()!;
      this.#waiters.shift()?.();
      slot.worker ??= this.#spawn(slot);
      slot.task = task;
      const request: JobRequest = { id: task.id, job: task.job };
      const rule = { minBytes: this.#transferMinBytes, wholeOnly: true };
      try {
        postWithTransfer(slot.worker, request, transferables(task.job, rule));
      } catch (e) {
        slot.task = null; // the job cannot be sent (not cloneable): our bug
        this.counters.failed++;
        task.reject(new JobError(`the job cannot be sent to a worker: ${e}`));
      }
    }
  }

  #onReply(slot: Slot, reply: JobReply): void {
    const task = slot.task;
    if (task === null || task.id !== reply.id) return; // answer of a job already given up
    slot.task = null;
    if (reply.ok) {
      this.counters.completed++;
      task.resolve(reply.result);
    } else {
      this.counters.failed++;
      task.reject(new JobError(reply.error));
    }
    this.#dispatch();
  }

  #onCrash(slot: Slot, message: string): void {
    this.counters.crashes++;
    slot.worker?.terminate();
    slot.worker = null; // replaced when the next job needs it
    const task = slot.task;
    slot.task = null;
    task?.reject(new JobWorkerCrashError(`a job worker died: ${message}`));
    this.#dispatch();
  }

  /** Terminates the workers; rejects every job not yet answered. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    const error = new JobPoolClosedError("the job pool is closed");
    for (const slot of this.#slots) {
      slot.worker?.terminate();
      slot.worker = null;
      slot.task?.reject(error);
      slot.task = null;
    }
    for (const task of this.#queue.splice(0)) task.reject(error);
    for (const wake of this.#waiters.splice(0)) wake();
    return Promise.resolve();
  }
}

/**
 * A {@link JobRunner} that runs each job on the calling thread, at once: for tests, tools and
 * machines where workers are not wanted. It blocks the event loop for the job's duration.
 */
export function inlineJobs(): JobRunner {
  const counters = zeroCounters();
  let closed = false;
  return {
    counters,
    run(job: StorageJob): Promise<StorageJobResult> {
      if (closed) return Promise.reject(new JobPoolClosedError("the job runner is closed"));
      counters.submitted++;
      try {
        const result = runStorageJob(job);
        counters.completed++;
        return Promise.resolve(result);
      } catch (e) {
        counters.failed++;
        return Promise.reject(
          new JobError(e instanceof Error ? `${e.name}: ${e.message}` : `${e}`),
        );
      }
    },
    close(): Promise<void> {
      closed = true;
      return Promise.resolve();
    },
  };
}
