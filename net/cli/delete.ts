/**
 * `bitdust delete VERSION [--data DIR]`: forgets a version and asks its suppliers to remove its
 * fragments.
 *
 * @module
 */

import { ApiClient } from "../api_client.ts";
import { dataDir } from "../home.ts";
import { parseArgs, runCommand, UsageError } from "./_command.ts";

/** Runs `bitdust delete`. */
export function run(args: string[]): Promise<number> {
  return runCommand("delete", async () => {
    const { flags, positional } = parseArgs(args, {
      data: { kind: "string", help: "data directory" },
      help: { kind: "boolean", help: "show usage" },
    });
    if (flags.help) {
      console.log("usage: bitdust delete VERSION [--data DIR]");
      return 0;
    }
    if (positional.length !== 1) throw new UsageError("give the VERSION to delete");
    const api = await ApiClient.connect(dataDir(flags.data as string | undefined));
    await api.deleteVersion(positional[0]);
    console.log(`deleted version ${positional[0]}`);
    return 0;
  });
}
