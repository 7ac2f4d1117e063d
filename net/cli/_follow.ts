/**
 * Following a daemon job from the CLI: polls it, draws a progress bar when stdout is a terminal,
 * and returns its outcome or throws its error as one line.
 *
 * Ctrl-C (SIGINT, or SIGTERM) while following cancels the job in the daemon: a CLI that goes away
 * never leaves its backup running there (every later backup would be refused), and the command
 * exits 130 with one line saying what was cancelled.
 *
 * @module
 */

import type { JobView } from "../api.ts";
import type { ApiClient } from "../api_client.ts";
import { CliError, stopSignal } from "./_command.ts";

const POLL_MS = 200;
/** How long a job may wait on something other than bytes before the user is told what for. */
const WAIT_TELL_MS = 3000;
const BAR_WIDTH = 30;

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** One line of progress: a bar, the share done, and the bytes. */
function progressLine(label: string, done: number, total: number): string {
  const share = total <= 0 ? 1 : Math.min(1, done / total);
  const filled = Math.round(share * BAR_WIDTH);
  const bar = "#".repeat(filled) + ".".repeat(BAR_WIDTH - filled);
  return `${label} [${bar}] ${(share * 100).toFixed(0).padStart(3)}% ${mib(done)} / ${mib(total)}`;
}

/** Exit code of a command stopped by Ctrl-C (128 + SIGINT), as shells report it. */
const INTERRUPTED_CODE = 130;
/** How long an interrupted CLI waits for the daemon to confirm the cancel. */
const CANCEL_WAIT_MS = 10_000;

/**
 * Polls job `id` until it ends; returns the finished job, throws a {@link CliError} on failure
 * (code {@link INTERRUPTED_CODE} after Ctrl-C, once the daemon's job is cancelled).
 */
export async function follow(api: ApiClient, id: string, label: string): Promise<JobView> {
  const stop = stopSignal();
  let interrupted = false;
  stop.done.then(() => interrupted = true);
  try {
    const job = await poll(api, id, label, () => interrupted, stop.done);
    if (job !== null) return job;
  } finally {
    stop.remove();
  }
  throw new CliError(await cancelOnInterrupt(api, id), INTERRUPTED_CODE);
}

/** Cancels job `id` after Ctrl-C and waits (bounded) for it to end; the line to print. */
async function cancelOnInterrupt(api: ApiClient, id: string): Promise<string> {
  if (Deno.stdout.isTerminal()) Deno.stdout.writeSync(new TextEncoder().encode("\n"));
  try {
    const job = await api.cancel(id);
    const deadline = Date.now() + CANCEL_WAIT_MS;
    for (let j = job; j.state === "running" && Date.now() < deadline; j = await api.job(id)) {
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    const what = job.version === "" ? "" : ` (version ${job.version})`;
    return `interrupted; cancelled ${job.kind} job ${id}${what} in the daemon`;
  } catch (e) {
    // The job ended meanwhile, or the daemon is gone: say so rather than claim a cancel.
    const why = e instanceof CliError ? e.message : String(e);
    return `interrupted; job ${id} could not be cancelled: ${why}`;
  }
}

/** The polling loop of {@link follow}; null when interrupted. */
async function poll(
  api: ApiClient,
  id: string,
  label: string,
  interrupted: () => boolean,
  signal: Promise<string>,
): Promise<JobView | null> {
  const tty = Deno.stdout.isTerminal();
  const encoder = new TextEncoder();
  let drawn = false;
  let waitingSince = 0;
  let told = false;
  for (;;) {
    if (interrupted()) return null;
    const job = await api.job(id);
    // A wait that lasts (no ID server answering): say what for, once, rather than sit at 100%.
    if (job.waitingFor === "" || job.state !== "running") waitingSince = 0;
    else if (waitingSince === 0) waitingSince = Date.now();
    else if (!told && Date.now() - waitingSince >= WAIT_TELL_MS) {
      if (drawn) Deno.stdout.writeSync(encoder.encode("\n"));
      console.error(`waiting for ${job.waitingFor}`);
      told = true;
    }
    if (tty && (job.state === "running" || job.state === "waiting")) {
      Deno.stdout.writeSync(
        encoder.encode(`\r${progressLine(label, job.bytesDone, job.bytesTotal)}`),
      );
      drawn = true;
    }
    if (job.state === "done" || job.state === "failed") {
      if (drawn) {
        const end = job.state === "done" ? job.bytesTotal : job.bytesDone;
        Deno.stdout.writeSync(encoder.encode(`\r${progressLine(label, end, job.bytesTotal)}\n`));
      }
      for (const w of job.warnings) console.error(`warning: ${w}`);
      if (job.state === "failed") throw new CliError(job.error);
      return job;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([signal, new Promise((r) => timer = setTimeout(r, POLL_MS))]);
    clearTimeout(timer);
  }
}
