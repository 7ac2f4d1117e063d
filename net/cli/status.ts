/**
 * `bitdust status [--json] [--data DIR]` and `bitdust suppliers [--json] [--data DIR]`: the
 * family of suppliers, which are online, and how many fragments are missing or at risk.
 *
 * @module
 */

import { healthWord, notRestorableLine } from "../../actors/customer/status.ts";
import { ApiClient } from "../api_client.ts";
import { dataDir } from "../home.ts";
import { parseArgs, runCommand } from "./_command.ts";

/** Prints status (`what` = "status") or just the suppliers (`what` = "suppliers"). */
export function statusCommand(what: "status" | "suppliers", args: string[]): Promise<number> {
  return runCommand(what, async () => {
    const { flags } = parseArgs(args, {
      json: { kind: "boolean", help: "print JSON" },
      data: { kind: "string", help: "data directory" },
      help: { kind: "boolean", help: "show usage" },
    });
    if (flags.help) {
      console.log(`usage: bitdust ${what} [--json] [--data DIR]`);
      return 0;
    }
    const api = await ApiClient.connect(dataDir(flags.data as string | undefined));
    const s = await api.status();
    if (flags.json) {
      console.log(JSON.stringify(what === "status" ? s : s.positions, null, 2));
      return 0;
    }
    if (what === "status") {
      const active = s.positions.filter((p) => p.state === "active").length;
      const online = s.positions.filter((p) => p.state === "active" && p.online).length;
      console.log(
        `${s.name}: ${s.scheme}, ${active} of ${s.positions.length} suppliers hired, ` +
          `${online} online; ${s.versions} versions`,
      );
      console.log(
        `blocks missing fragments: ${s.blocksDegraded}; blocks restorable now: ` +
          `${s.blocksRestorableNow}; blocks NOT restorable now (fewer than K fragments on ` +
          `online suppliers): ${s.blocksAtRisk}`,
      );
      for (const h of s.health) {
        if (h.state === "complete" && !h.restorableNow) console.log(notRestorableLine(h));
        else console.log(`version ${h.versionId}: ${healthWord(h)}`);
      }
      if (s.job !== null) {
        const of = s.job.version === "" ? "" : ` of version ${s.job.version}`;
        // Every fragment stored but not yet in a kept family record: `ls` says "recording".
        const what = s.job.waitingFor === "" ? s.job.state : `waiting for ${s.job.waitingFor}`;
        console.log(`running: ${s.job.kind}${of}: ${what}`);
      }
      if (s.writerLease !== null) console.log(`not writing: ${s.writerLease}`);
      if (s.recoveryProblem !== null) console.log(`recovery stopped: ${s.recoveryProblem}`);
      else if (s.phase === "recovering") {
        console.log("recovering: looking for your family of suppliers on the ID servers");
      } else if (s.versionsToRecover > 0) {
        console.log(`recovering: ${s.versionsToRecover} versions still to read back`);
      }
    }
    for (const p of s.positions) {
      const who = p.supplier ?? "(none)";
      const state = p.state === "active" ? (p.online ? "online" : "offline") : p.state;
      console.log(
        `  ${String(p.position).padStart(3)}  ${who.padEnd(24)} ${state.padEnd(8)} ` +
          `missing ${p.missing}`,
      );
    }
    return 0;
  });
}

/** Runs `bitdust status`. */
export function run(args: string[]): Promise<number> {
  return statusCommand("status", args);
}
