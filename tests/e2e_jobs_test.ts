/**
 * End to end from the sources (issue 11, cases 2 and 8): picking and deleting versions safely,
 * cancelling a running backup with `bitdust cancel` and with Ctrl-C on the CLI, and `bitdust
 * jobs`. Each step asserts what a user sees: one line, the exit code, no version left
 * `uploading`, and a next backup that works.
 */

import { backupAfterKill, exists, type Net, network } from "./_e2e.ts";
import { cli, type Proc, SOURCES, until } from "./_procs.ts";

/** A small network: `suppliers` suppliers, init flags (a small scheme and block size). */
function jobsNetwork(suppliers: number, init: string[], daemon?: string[]): Promise<Net> {
  return network(SOURCES, suppliers, true, { init, daemon });
}

type Run = { code: number; stdout: string; stderr: string };

function oneLine(r: Run, pattern: RegExp, what: string, code?: number): void {
  const text = r.stderr.trim();
  const codeOk = code === undefined ? r.code !== 0 : r.code === code;
  if (!codeOk || text.split("\n").length !== 1 || !pattern.test(text)) {
    throw new Error(`${what}: exit ${r.code}, stderr: ${r.stderr}`);
  }
}

interface Version {
  versionId: string;
  status: string;
}

async function versions(net: Net): Promise<Version[]> {
  const r = await cli(SOURCES, ["ls", "--json", "--data", net.user]);
  if (r.code !== 0) throw new Error(`ls: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

async function smallBackup(net: Net, src: string): Promise<string> {
  const r = await cli(SOURCES, ["backup", src, "--json", "--data", net.user]);
  if (r.code !== 0) throw new Error(`backup failed: ${r.stderr}`);
  return JSON.parse(r.stdout).versionId;
}

/** The daemon's running job as `status --json` shows it (also on code before `jobs`). */
async function runningJob(net: Net): Promise<{ jobId: string; bytesDone: number } | null> {
  const r = await cli(SOURCES, ["status", "--json", "--data", net.user]);
  if (r.code !== 0) throw new Error(`status: ${r.stderr}`);
  return JSON.parse(r.stdout).job;
}

/** Starts `bitdust backup` of the big folder and waits until bytes are moving. */
async function bigBackup(net: Net, big: string): Promise<Proc> {
  const p = net.procs.start("big backup", SOURCES, ["backup", big, "--data", net.user]);
  await until("the big backup to move bytes", async () => {
    const job = await runningJob(net);
    return job !== null && job.bytesDone > 0 ? true : undefined;
  }, 120_000);
  return p;
}

/** After a cancel: no job runs, no version is left uploading, the next backup works. */
async function cleanAfterCancel(net: Net, src: string, what: string): Promise<void> {
  await until(`${what}: the daemon's job to end`, async () => {
    return (await runningJob(net)) === null ? true : undefined;
  }, 20_000);
  const stuck = (await versions(net)).filter((v) => v.status !== "complete");
  if (stuck.length > 0) throw new Error(`${what}: versions left ${JSON.stringify(stuck)}`);
  await smallBackup(net, src);
}

Deno.test({
  name: "e2e jobs: ambiguous prefixes, delete --yes, cancel, Ctrl-C, jobs --json",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const net = await jobsNetwork(4, ["--ecc", "rs:2+2", "--block-size", "64KiB"]);
    const run = (...args: string[]) => cli(SOURCES, [...args, "--data", net.user]);
    try {
      const src = `${net.dir}/src`;
      await Deno.mkdir(src);
      await Deno.writeTextFile(`${src}/a.txt`, "hello\n");

      await t.step("(a) an ambiguous prefix names its candidates; delete wants --yes", async () => {
        // Back up until two versions share a first character (16 hex digits: at most 17).
        let shared: string | undefined;
        for (let i = 0; i < 17 && shared === undefined; i++) {
          await smallBackup(net, src);
          const firsts = (await versions(net)).map((v) => v.versionId[0]);
          shared = firsts.find((c, j) => firsts.indexOf(c) !== j);
        }
        if (shared === undefined) throw new Error("no two versions share a first character");
        const ambiguous = new RegExp(`ambiguous: ${shared} matches ${shared}\\w+\\.\\.\\., `);
        oneLine(await run("delete", shared), ambiguous, "delete on an ambiguous prefix");
        oneLine(
          await run("restore", shared, "--to", `${net.dir}/out`),
          ambiguous,
          "restore on an ambiguous prefix",
        );
        const victim = (await versions(net))[0].versionId;
        // No terminal to ask on (stdin is /dev/null) and no --yes: nothing is deleted.
        oneLine(await run("delete", victim.slice(0, 6)), /add --yes/, "delete without --yes");
        if (!(await versions(net)).some((v) => v.versionId === victim)) {
          throw new Error("delete without --yes deleted the version");
        }
        const yes = await run("delete", victim.slice(0, 8), "--yes");
        if (yes.code !== 0 || !yes.stdout.includes(`deleted version ${victim}`)) {
          throw new Error(`delete --yes: exit ${yes.code}: ${yes.stderr}`);
        }
        if ((await versions(net)).some((v) => v.versionId === victim)) {
          throw new Error("delete --yes left the version");
        }
      });

      // A long backup: 200 MiB of random data in 64 KiB blocks.
      const big = `${net.dir}/big`;
      await Deno.mkdir(big);
      const file = await Deno.open(`${big}/huge.bin`, { write: true, create: true });
      const chunk = new Uint8Array(1024 * 1024);
      for (let mib = 0; mib < 200; mib++) {
        for (let at = 0; at < chunk.length; at += 65536) {
          crypto.getRandomValues(chunk.subarray(at, at + 65536));
        }
        for (let at = 0; at < chunk.length;) at += await file.write(chunk.subarray(at));
      }
      file.close();

      await t.step("(b) bitdust cancel ends a running backup; the next one works", async () => {
        const backup = await bigBackup(net, big);
        const listed = await run("jobs", "--json");
        const jobs = JSON.parse(listed.stdout);
        if (
          listed.code !== 0 || jobs.length !== 1 || jobs[0].kind !== "backup" ||
          jobs[0].state !== "running" || !/^[0-9a-f]{32}$/.test(jobs[0].version) ||
          !(jobs[0].bytesTotal === 200 * 1024 * 1024)
        ) throw new Error(`jobs --json: ${listed.stdout} ${listed.stderr}`);
        const cancelled = await run("cancel");
        if (cancelled.code !== 0 || !/^cancelled backup job \d+/.test(cancelled.stdout)) {
          throw new Error(`cancel: exit ${cancelled.code}: ${cancelled.stdout}${cancelled.stderr}`);
        }
        await until("the backup CLI to say it was cancelled", () => {
          const said = backup.errors.some((l) => /^bitdust backup: cancelled by the user/.test(l));
          return Promise.resolve(said ? true : undefined);
        }, 20_000);
        await backup.stop();
        await cleanAfterCancel(net, src, "after bitdust cancel");
        const none = await run("jobs", "--json");
        if (none.code !== 0 || JSON.parse(none.stdout).length !== 0) {
          throw new Error(`jobs after the cancel: ${none.stdout}`);
        }
        oneLine(await run("cancel"), /no job is running/, "cancel with nothing running");
      });

      await t.step("(c) Ctrl-C on bitdust backup cancels its job in the daemon", async () => {
        const backup = await bigBackup(net, big);
        const code = await backup.stop("SIGINT");
        const said = backup.errors.filter((l) => l.trim() !== "");
        if (
          code !== 130 || said.length !== 1 || !/interrupted; cancelled backup job/.test(said[0])
        ) {
          throw new Error(`after SIGINT: exit ${code}, stderr: ${backup.errors.join("\n")}`);
        }
        await cleanAfterCancel(net, src, "after Ctrl-C");
      });

      await t.step(
        "(e) Ctrl-C on bitdust restore cancels it and leaves no destination",
        async () => {
          const mid = `${net.dir}/mid`;
          await Deno.mkdir(mid);
          await Deno.writeFile(
            `${mid}/part.bin`,
            (await Deno.readFile(`${big}/huge.bin`)).subarray(0, 64 << 20),
          );
          const id = await smallBackup(net, mid);
          const to = `${net.dir}/restored`;
          const restore = net.procs.start("restore", SOURCES, [
            "restore",
            id,
            "--to",
            to,
            "--data",
            net.user,
          ]);
          await until("the restore to move bytes", async () => {
            const job = await runningJob(net);
            return job !== null && job.bytesDone > 0 ? true : undefined;
          }, 60_000);
          const code = await restore.stop("SIGINT");
          const said = restore.errors.filter((l) => l.trim() !== "");
          if (
            code !== 130 || said.length !== 1 || !/interrupted; cancelled restore job/.test(said[0])
          ) {
            throw new Error(`after SIGINT: exit ${code}, stderr: ${restore.errors.join("\n")}`);
          }
          await until("the restore's destination to be removed", async () => {
            return (await runningJob(net)) === null && !(await exists(to)) ? true : undefined;
          }, 20_000);
        },
      );
    } finally {
      await net.procs.stopAll();
      await Deno.remove(net.dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "e2e jobs: a supplier killed right before a backup does not hang it",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // Probes far apart: the daemon still counts the killed supplier online when the backup
    // starts (as the issue's `8 online` between probes), so the backup really meets it.
    const timers = ["--probe-interval", "60s", "--fire-after", "10m", "--request-timeout", "2s"];
    const net = await jobsNetwork(4, ["--ecc", "rs:2+2", "--block-size", "64KiB"], timers);
    try {
      // The bound: far under the no-progress bound (10 min), well over three request timeouts.
      const { data, victim, backup, outcome } = await backupAfterKill(net, 8, 120_000);
      console.log(`outcome with ${victim} dead: ${outcome}`);
      if (outcome.startsWith("bitdust backup: ")) {
        // A failure is one line that names the supplier (or says the family is short).
        const said = backup.errors.filter((l) => l.trim() !== "");
        if (said.length !== 1 || !(said[0].includes(victim) || /only 3 of 4/.test(said[0]))) {
          throw new Error(`the failure is not one line naming ${victim}: ${said.join("\n")}`);
        }
        const stuck = (await versions(net)).filter((v) => v.status !== "complete");
        if (stuck.length > 0) throw new Error(`versions left ${JSON.stringify(stuck)}`);
        return;
      }
      // Done without the dead supplier: the version restores byte for byte.
      const id = /version ([0-9a-f]{32})$/.exec(outcome)![1];
      const listed = await versions(net);
      if (listed.length !== 1 || listed[0].versionId !== id || listed[0].status !== "complete") {
        throw new Error(`ls after the backup: ${JSON.stringify(listed)}`);
      }
      const r = await cli(SOURCES, ["restore", id, "--to", `${net.dir}/out`, "--data", net.user]);
      if (r.code !== 0) throw new Error(`restore: ${r.stderr}`);
      const back = await Deno.readFile(`${net.dir}/out/data.bin`);
      if (back.length !== data.length || back.some((x, i) => x !== data[i])) {
        throw new Error("restored bytes differ");
      }
    } finally {
      await net.procs.stopAll();
      await Deno.remove(net.dir, { recursive: true }).catch(() => {});
    }
  },
});
