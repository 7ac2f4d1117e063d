/**
 * `bitdust cancel [JOB] [--data DIR]`: stops a running backup or restore in the daemon. Without
 * JOB it stops the only running job; with several running it lists them and stops none.
 *
 * A cancelled backup's version is deleted (fragments already stored are removed from the
 * suppliers) and the next backup can start at once; a cancelled restore's destination is
 * removed. The command waits (bounded) until the daemon confirms.
 *
 * @module
 */

import type { JobView } from "../api.ts";
import { ApiClient } from "../api_client.ts";
import { dataDir } from "../home.ts";
import { CliError, parseArgs, runCommand, UsageError } from "./_command.ts";
import { jobLine } from "./jobs.ts";

const USAGE = "usage: bitdust cancel [JOB] [--data DIR]";
const POLL_MS = 200;
/** How long to wait for the daemon to confirm a cancel. */
const CONFIRM_WAIT_MS = 10_000;

/** Runs `bitdust cancel`. */
export function run(args: string[]): Promise<number> {
  return runCommand("cancel", async () => {
    const { flags, positional } = parseArgs(args, {
      data: { kind: "string", help: "data directory" },
      help: { kind: "boolean", help: "show usage" },
    });
    if (flags.help) {
      console.log(USAGE);
      return 0;
    }
    if (positional.length > 1) throw new UsageError("give at most one JOB");
    const api = await ApiClient.connect(dataDir(flags.data as string | undefined));
    let id = positional[0];
    if (id === undefined) {
      const running = await api.jobs();
      if (running.length === 0) throw new CliError("no job is running");
      if (running.length > 1) {
        for (const job of running) console.log(jobLine(job));
        throw new CliError(`${running.length} jobs are running; give the JOB id to cancel`);
      }
      id = running[0].jobId;
    }
    let job: JobView = await api.cancel(id);
    const deadline = Date.now() + CONFIRM_WAIT_MS;
    while (job.state === "running" && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, POLL_MS));
      job = await api.job(id);
    }
    if (job.state === "running") {
      throw new CliError(`job ${id} is still stopping; see 'bitdust jobs'`);
    }
    const what = job.version === "" ? "" : ` (version ${job.version})`;
    console.log(`cancelled ${job.kind} job ${id}${what}`);
    return 0;
  });
}
