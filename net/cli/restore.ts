/**
 * `bitdust restore VERSION|PATH --to DIR [--data DIR]`: restores a whole version (by id or a
 * unique prefix of it) or the newest backed-up copy of one file (by its path), into `DIR`, which
 * must not exist yet. Files come back byte-identical with their modes and modification times.
 *
 * @module
 */

import { ApiClient } from "../api_client.ts";
import { dataDir } from "../home.ts";
import { parseArgs, runCommand, UsageError } from "./_command.ts";
import { follow } from "./_follow.ts";

const USAGE = "usage: bitdust restore VERSION|PATH --to DIR [--data DIR]";

/** Runs `bitdust restore`. */
export function run(args: string[]): Promise<number> {
  return runCommand("restore", async () => {
    const { flags, positional } = parseArgs(args, {
      to: { kind: "string", help: "destination directory (must not exist)" },
      data: { kind: "string", help: "data directory" },
      help: { kind: "boolean", help: "show usage" },
    });
    if (flags.help) {
      console.log(USAGE);
      return 0;
    }
    if (positional.length !== 1) throw new UsageError("give one VERSION or PATH to restore");
    if (typeof flags.to !== "string") throw new UsageError("--to DIR is required");
    const to = flags.to.startsWith("/") ? flags.to : `${Deno.cwd()}/${flags.to}`;
    const api = await ApiClient.connect(dataDir(flags.data as string | undefined));
    await follow(api, await api.restore(positional[0], to), "restore");
    console.log(`restored ${positional[0]} into ${to}`);
    return 0;
  });
}
