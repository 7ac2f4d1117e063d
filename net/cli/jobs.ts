/**
 * `bitdust jobs [--json] [--data DIR]`: the backups and restores the daemon is running, with
 * their progress: id, kind, version, bytes done of total, state (and what a job waits for).
 *
 * @module
 */

import type { JobView } from "../api.ts";
import { ApiClient } from "../api_client.ts";
import { dataDir } from "../home.ts";
import { parseArgs, runCommand } from "./_command.ts";

const USAGE = "usage: bitdust jobs [--json] [--data DIR]";

/** One line of `bitdust jobs` for `job`. */
export function jobLine(job: JobView): string {
  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  const version = job.version === "" ? "(starting)" : job.version;
  const waiting = job.waitingFor === "" ? "" : `, waiting for ${job.waitingFor}`;
  return `${job.jobId.padStart(4)}  ${job.kind.padEnd(7)}  ${version}  ` +
    `${mib(job.bytesDone)} of ${mib(job.bytesTotal)}  ${job.state}${waiting}`;
}

/** Runs `bitdust jobs`. */
export function run(args: string[]): Promise<number> {
  return runCommand("jobs", async () => {
    const { flags } = parseArgs(args, {
      json: { kind: "boolean", help: "print JSON" },
      data: { kind: "string", help: "data directory" },
      help: { kind: "boolean", help: "show usage" },
    });
    if (flags.help) {
      console.log(USAGE);
      return 0;
    }
    const api = await ApiClient.connect(dataDir(flags.data as string | undefined));
    const jobs = await api.jobs();
    if (flags.json) {
      console.log(JSON.stringify(jobs, null, 2));
      return 0;
    }
    if (jobs.length === 0) console.log("no jobs running");
    for (const job of jobs) console.log(jobLine(job));
    return 0;
  });
}
