/**
 * `bitdust backup PATH [--data DIR] [--json]`: backs up a file or a directory tree as a new
 * version, through the running daemon; shows progress on a terminal and prints the version id.
 *
 * Symbolic links are not followed and not stored: each is reported as skipped. Empty files and
 * empty folders' files are kept; file modes and modification times are recorded.
 *
 * @module
 */

import { ApiClient } from "../api_client.ts";
import { dataDir } from "../home.ts";
import { parseArgs, runCommand, UsageError } from "./_command.ts";
import { follow } from "./_follow.ts";

const USAGE = "usage: bitdust backup PATH [--data DIR] [--json]";

/** Runs `bitdust backup`. */
export function run(args: string[]): Promise<number> {
  return runCommand("backup", async () => {
    const { flags, positional } = parseArgs(args, {
      data: { kind: "string", help: "data directory" },
      json: { kind: "boolean", help: "print the outcome as JSON" },
      help: { kind: "boolean", help: "show usage" },
    });
    if (flags.help) {
      console.log(USAGE);
      return 0;
    }
    if (positional.length !== 1) throw new UsageError("give exactly one PATH to back up");
    const path = await Deno.realPath(positional[0]).catch(() => {
      throw new UsageError(`${positional[0]} does not exist`);
    });
    const api = await ApiClient.connect(dataDir(flags.data as string | undefined));
    const job = await follow(api, await api.backup(path), "backup ");
    if (flags.json) console.log(JSON.stringify({ versionId: job.result, bytes: job.bytesTotal }));
    else console.log(`backed up ${path} as version ${job.result}`);
    return 0;
  });
}
