/**
 * The inside of a job worker: a message loop that runs storage jobs (`data/jobs.ts`) off the
 * main thread for {@link JobPool} (`job_pool.ts`).
 *
 * Theory of operation. The pool starts each worker as a module worker named
 * {@link JOB_WORKER_NAME} on a URL it is given. That module must call {@link runJobWorker} once,
 * synchronously at its top level (before any `await`, so no message arrives before the handler).
 * The loop takes each {@link JobRequest} as it comes, runs `runStorageJobAsync` and posts a
 * {@link JobReply}: the result with its byte arrays' buffers transferred (not copied), or the
 * error text when the job threw (a malformed job: our bug). Data failures (too few fragments, a
 * bad hash, a wrong key) are results, not errors. Anything that kills the worker (an uncaught
 * error outside a job) reaches the pool as an `error` event.
 *
 * Two ways to load it:
 * - from source: the pool's default URL is this file, which starts the loop itself when it finds
 *   it runs as a job worker ({@link isJobWorker});
 * - from a bundle or a compiled binary, where this file does not exist on its own: the pool is
 *   given `Deno.mainModule`, and the program's entry calls `runJobWorker()` first thing when
 *   `isJobWorker()` (calling it twice is harmless).
 *
 * @module
 */

import type { StorageJob, StorageJobResult } from "../core/storage.ts";
import { runStorageJobAsync } from "../data/jobs.ts";

/** Name the pool gives its workers; how a module knows it runs as one. */
export const JOB_WORKER_NAME = "bitdust-job-worker";
/** Deepest nesting {@link transferables} looks into. */
const TRANSFER_DEPTH_MAX = 6;
/**
 * Smallest result array whose buffer the worker moves rather than copies: below it a copy is
 * cheaper, and module-level constants (empty arrays, small tables) are never moved away.
 */
const RESULT_TRANSFER_MIN_BYTES = 4096;

/** A job as the pool sends it. */
export interface JobRequest {
  /** Chosen by the pool, echoed in the reply. */
  id: number;
  /** The job. */
  job: StorageJob;
}

/** A worker's answer to one {@link JobRequest}. */
export type JobReply =
  | { id: number; ok: true; result: StorageJobResult }
  | { id: number; ok: false; error: string };

/** Which buffers {@link transferables} picks. */
export interface TransferRule {
  /** Smallest array whose buffer moves (default 1: all but empty ones). */
  minBytes?: number;
  /** Move only buffers that one array covers whole, so no other view loses its bytes. */
  wholeOnly?: boolean;
}

/**
 * The distinct `ArrayBuffer`s under the byte arrays of `value` (plain objects and arrays,
 * a few levels deep) that `rule` allows to move.
 */
export function transferables(value: unknown, rule: TransferRule = {}): ArrayBuffer[] {
  const found = new Set<ArrayBuffer>();
  const minBytes = Math.max(1, rule.minBytes ?? 1);
  const visit = (v: unknown, depth: number): void => {
    if (v === null || typeof v !== "object" || depth > TRANSFER_DEPTH_MAX) return;
    if (ArrayBuffer.isView(v)) {
      const buffer = v.buffer;
      if (!(buffer instanceof ArrayBuffer) || v.byteLength < minBytes) return;
      if (rule.wholeOnly && (v.byteOffset !== 0 || v.byteLength !== buffer.byteLength)) return;
      found.add(buffer);
      return;
    }
    const items = Array.isArray(v) ? v : Object.values(v);
    for (const item of items) visit(item, depth + 1);
  };
  visit(value, 0);
  return [...found];
}

/** Posts `message`, moving `transfer`; copies instead when a buffer cannot move. */
export function postWithTransfer(
  target: { postMessage(message: unknown, transfer: Transferable[]): void },
  message: unknown,
  transfer: ArrayBuffer[],
): void {
  if (transfer.length > 0) {
    try {
      target.postMessage(message, transfer);
      return;
    } catch {
      // a buffer that cannot move (WebAssembly memory, say): copy everything instead
    }
  }
  target.postMessage(message, []);
}

/** Whether this code runs inside a worker started by a {@link JobPool}. */
export function isJobWorker(): boolean {
  const g = globalThis as { WorkerGlobalScope?: unknown; name?: unknown };
  return g.WorkerGlobalScope !== undefined && g.name === JOB_WORKER_NAME;
}

let installed = false;

/**
 * Answers one request (never throws: a job that throws becomes an error reply). Blocks are sealed
 * and opened through WebCrypto (`runStorageJobAsync`), several times faster here.
 */
export async function answer(request: JobRequest): Promise<JobReply> {
  try {
    return { id: request.id, ok: true, result: await runStorageJobAsync(request.job) };
  } catch (e) {
    const error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    return { id: request.id, ok: false, error };
  }
}

/**
 * Installs the job loop in this worker. Call it once, synchronously, at the top level of the
 * worker's entry module; later calls do nothing. Throws outside a worker.
 */
export function runJobWorker(): void {
  if (installed) return;
  const scope = globalThis as unknown as {
    WorkerGlobalScope?: unknown;
    onmessage: ((e: MessageEvent<JobRequest>) => void) | null;
    postMessage(message: unknown, transfer: Transferable[]): void;
  };
  if (scope.WorkerGlobalScope === undefined) {
    throw new Error("runJobWorker() runs inside a worker only");
  }
  installed = true;
  scope.onmessage = async (e) => {
    const reply = await answer(e.data);
    const rule = { minBytes: RESULT_TRANSFER_MIN_BYTES };
    postWithTransfer(scope, reply, reply.ok ? transferables(reply.result, rule) : []);
  };
}

if (isJobWorker()) runJobWorker();
