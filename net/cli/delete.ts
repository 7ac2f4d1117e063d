/**
 * `bitdust delete VERSION [--yes] [--data DIR]`: forgets a version and asks its suppliers to
 * remove its fragments.
 *
 * VERSION is an id or a unique prefix of one (4 characters at least); a prefix several versions
 * share is refused with their ids. Deleting cannot be undone, so the version is named in full
 * and confirmed first: on a terminal with a y/N question, from a script only with `--yes`
 * (without it, and without a terminal to ask on, nothing is deleted).
 *
 * @module
 */

import { ApiError } from "../api.ts";
import { ApiClient } from "../api_client.ts";
import { dataDir } from "../home.ts";
import { pickVersion } from "../user_daemon.ts";
import { CliError, parseArgs, runCommand, UsageError } from "./_command.ts";
import { askYesNo } from "./_passphrase.ts";

const USAGE = "usage: bitdust delete VERSION [--yes] [--data DIR]";

/** Runs `bitdust delete`. */
export function run(args: string[]): Promise<number> {
  return runCommand("delete", async () => {
    const { flags, positional } = parseArgs(args, {
      yes: { kind: "boolean", help: "delete without asking (for scripts)" },
      data: { kind: "string", help: "data directory" },
      help: { kind: "boolean", help: "show usage" },
    });
    if (flags.help) {
      console.log(USAGE);
      return 0;
    }
    if (positional.length !== 1) throw new UsageError("give the VERSION to delete");
    const api = await ApiClient.connect(dataDir(flags.data as string | undefined));
    const versions = await api.versions();
    let v;
    try {
      v = pickVersion(versions, positional[0]);
    } catch (e) {
      if (e instanceof ApiError) throw new CliError(e.message);
      throw e;
    }
    if (v === undefined) {
      throw new CliError(`no version ${positional[0]}; list the versions with 'bitdust ls'`);
    }
    if (flags.yes !== true) {
      if (!Deno.stdin.isTerminal()) {
        throw new CliError(
          `not deleting version ${v.versionId} without confirmation; add --yes to delete it`,
        );
      }
      const when = new Date(v.createdMs).toISOString().replace("T", " ").slice(0, 19);
      const files = `${v.files.length} file${v.files.length === 1 ? "" : "s"}`;
      const ok = await askYesNo(
        `delete version ${v.versionId} (${v.label}, ${when}, ${files})? this cannot be undone`,
      );
      if (!ok) {
        console.error("nothing deleted");
        return 1;
      }
    }
    await api.deleteVersion(v.versionId);
    console.log(`deleted version ${v.versionId}`);
    return 0;
  });
}
