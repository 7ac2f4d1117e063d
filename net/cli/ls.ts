/**
 * `bitdust ls [--json] [--data DIR]`: the versions and their files.
 *
 * @module
 */

import { healthWord } from "../../actors/customer/status.ts";
import { ApiClient } from "../api_client.ts";
import { dataDir } from "../home.ts";
import { parseArgs, runCommand } from "./_command.ts";

/** Runs `bitdust ls`. */
export function run(args: string[]): Promise<number> {
  return runCommand("ls", async () => {
    const { flags } = parseArgs(args, {
      json: { kind: "boolean", help: "print JSON" },
      data: { kind: "string", help: "data directory" },
      help: { kind: "boolean", help: "show usage" },
    });
    if (flags.help) {
      console.log("usage: bitdust ls [--json] [--data DIR]");
      return 0;
    }
    const api = await ApiClient.connect(dataDir(flags.data as string | undefined));
    const versions = await api.versions();
    // The per-version health comes from the daemon's status: the same figures `status` shows.
    const status = await api.status();
    const health = new Map(status.health.map((h) => [h.versionId, h]));
    if (flags.json) {
      const rows = versions.map((v) => ({ ...v, health: health.get(v.versionId) ?? null }));
      console.log(JSON.stringify(rows, null, 2));
      return 0;
    }
    if (status.recoveryProblem !== null) {
      console.log(`recovery stopped: ${status.recoveryProblem}`);
    } else if (status.phase === "recovering") {
      // A new machine reading its catalogue back: say so rather than "no versions".
      console.log("looking for your family of suppliers on the ID servers");
    } else if (status.versionsToRecover > 0) {
      console.log(`reading ${status.versionsToRecover} more versions back from your suppliers`);
    } else if (versions.length === 0) {
      console.log("no versions yet; make one with 'bitdust backup PATH'");
    }
    for (const v of versions) {
      const bytes = v.files.reduce((n, f) => n + f.size, 0);
      const when = new Date(v.createdMs).toISOString().replace("T", " ").slice(0, 19);
      const h = health.get(v.versionId);
      const word = h === undefined ? v.status : healthWord(h);
      console.log(
        `${v.versionId}  ${when}  ${word.padEnd(10)}  ${v.files.length} files, ` +
          `${bytes} bytes  ${v.label}`,
      );
      for (const f of v.files) {
        console.log(
          `    ${(f.mode & 0o777).toString(8).padStart(4, "0")}  ${
            String(f.size).padStart(12)
          }  ${f.path}`,
        );
      }
    }
    return 0;
  });
}
