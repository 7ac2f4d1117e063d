/**
 * Following a daemon job from the CLI: polls it, draws a progress bar when stdout is a terminal,
 * and returns its outcome or throws its error as one line.
 *
 * @module
 */

import type { JobView } from "../api.ts";
import type { ApiClient } from "../api_client.ts";
import { CliError } from "./_command.ts";

const POLL_MS = 200;
/** How long a job may wait on something other than bytes before the user is told what for. */
const WAIT_TELL_MS = 3000;
const BAR_WIDTH = 30;

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** One line of progress: a bar, the share done, and the bytes. */
export function progressLine(label: string, done: number, total: number): string {
  const share = total <= 0 ? 1 : Math.min(1, done / total);
  const filled = Math.round(share * BAR_WIDTH);
  const bar = "#".repeat(filled) + ".".repeat(BAR_WIDTH - filled);
  return `${label} [${bar}] ${(share * 100).toFixed(0).padStart(3)}% ${mib(done)} / ${mib(total)}`;
}

/** Polls job `id` until it ends; returns the finished job, throws a {@link CliError} on failure. */
export async function follow(api: ApiClient, id: string, label: string): Promise<JobView> {
  const tty = Deno.stdout.isTerminal();
  const encoder = new TextEncoder();
  let drawn = false;
  let waitingSince = 0;
  let told = false;
  for (;;) {
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
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
