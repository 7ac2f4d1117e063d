/**
 * End to end (issue 11, cases 4 and 5): with 5 of 8 suppliers stopped, `status`, `status --json`
 * and `ls` all say the version is not restorable now and name the offline suppliers, and a
 * restore fails at once with one line saying so; with the suppliers back, all say restorable and
 * the restore is byte-identical.
 */

import { assertSameTree, familyReady, type Net, network, startSupplier } from "./_e2e.ts";
import { cli, SOURCES, until } from "./_procs.ts";

/**
 * The daemon's timers, with firing far away (the stopped suppliers must not be replaced) and a
 * request timeout far longer than the probes' offline mark (3 probe intervals): a restore that
 * asked an offline supplier could only fail once a request timed out, which the daemon counts
 * (`requestsTimedOut`), so "fails at once" is observed as "fails with no request timed out".
 */
const TIMERS = ["--probe-interval", "1s", "--fire-after", "10m", "--request-timeout", "60s"];

interface Health {
  versionId: string;
  restorableNow: boolean;
  blocksNotRestorableNow: number;
  suppliersOnline: number;
  suppliersNeeded: number;
  offline: string[];
}

async function statusJson(
  net: Net,
): Promise<{ blocksAtRisk: number; health: Health[]; requestsTimedOut: number }> {
  const r = await cli(SOURCES, ["status", "--json", "--data", net.user]);
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

async function text(net: Net, ...args: string[]): Promise<string> {
  const r = await cli(SOURCES, [...args, "--data", net.user]);
  if (r.code !== 0) throw new Error(`${args[0]}: ${r.stderr}`);
  return r.stdout;
}

async function restartDaemon(net: Net): Promise<void> {
  await net.daemon.stop("SIGTERM");
  const p = net.procs.start("daemon2", SOURCES, ["daemon", "--data", net.user, ...TIMERS]);
  await p.waitFor(/^api http:\/\/127\.0\.0\.1:\d+$/);
  net.daemon = p;
}

Deno.test({
  name: "e2e: status, ls and restore agree on what is restorable with 5 of 8 suppliers offline",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const net = await network(SOURCES, 8);
    try {
      await restartDaemon(net);
      await familyReady(net);
      const src = `${net.dir}/src`;
      await Deno.mkdir(src);
      const bytes = new Uint8Array(300_000);
      crypto.getRandomValues(bytes.subarray(0, 65536));
      await Deno.writeFile(`${src}/a.bin`, bytes);
      await Deno.writeTextFile(`${src}/b.txt`, "hello\n");
      const b = await cli(SOURCES, ["backup", src, "--json", "--data", net.user]);
      if (b.code !== 0) throw new Error(`backup: ${b.stderr}`);
      const versionId: string = JSON.parse(b.stdout).versionId;
      await familyReady(net);
      const stopped = ["sup0", "sup2", "sup4", "sup5", "sup7"];
      for (const name of stopped) await net.suppliers.get(name)!.stop("SIGKILL");
      // Wait on the positions (fields older than this fix) so the test says what main gets wrong.
      await until("the daemon's probe notices five offline", async () => {
        const r = await cli(SOURCES, ["status", "--json", "--data", net.user]);
        const s: { positions: { online: boolean }[] } = JSON.parse(r.stdout);
        return s.positions.filter((p) => !p.online).length === 5 ? s : undefined;
      }, 60_000);
      // Every check is made and all failures reported together (so main shows them all).
      const problems: string[] = [];
      const st = await text(net, "status");
      const want = `version ${versionId}: NOT restorable now: 3 of 8 suppliers online, 4 needed`;
      if (!st.includes(want) || !stopped.every((n) => st.includes(n))) {
        problems.push(`status says:\n${st}`);
      }
      const down = await statusJson(net);
      const h = down.health?.find((x) => x.versionId === versionId) ?? ({} as Health);
      if (h.restorableNow !== false || h.suppliersOnline !== 3 || h.suppliersNeeded !== 4) {
        problems.push(`status --json: ${JSON.stringify(h)}`);
      }
      if ([...(h.offline ?? [])].sort().join() !== stopped.join() || down.blocksAtRisk === 0) {
        problems.push(`status --json offline/at risk: ${JSON.stringify(down)}`);
      }
      const ls = await text(net, "ls");
      if (!ls.includes("complete, NOT restorable now")) {
        problems.push(`ls says:\n${ls}`);
      }
      const lsJson = JSON.parse(await text(net, "ls", "--json"));
      if (lsJson[0].health?.restorableNow !== false) problems.push("ls --json disagrees");

      // A restore fails at once, with one line naming the offline suppliers: before any request
      // of the daemon has timed out (main asks the offline suppliers and waits for that).
      const timedOut = (await statusJson(net)).requestsTimedOut;
      if (typeof timedOut !== "number") problems.push("status --json has no requestsTimedOut");
      const restoring = net.procs.start("restore1", SOURCES, [
        "restore",
        versionId,
        "--to",
        `${net.dir}/out1`,
        "--data",
        net.user,
      ]);
      // Bounded past the request timeout, so a restore waiting on one is caught either way.
      const first = await until("the restore to end or a request to time out", async () => {
        if (restoring.errors.length > 0 || restoring.lines.length > 0) return "restore ended";
        const now = (await statusJson(net)).requestsTimedOut;
        return typeof now === "number" && now > timedOut ? "a request timed out" : undefined;
      }, 90_000).catch(() => "neither, within 90 s");
      const code = await restoring.stop("SIGTERM");
      if (first !== "restore ended") problems.push(`the restore did not fail at once: ${first}`);
      const after = (await statusJson(net)).requestsTimedOut;
      if (after !== timedOut) {
        problems.push(`requests timed out meanwhile: ${timedOut} -> ${after}`);
      }
      const r = { code, stderr: restoring.errors.join("\n") };
      const line = r.stderr.trim();
      if (r.code === 0 || line.split("\n").length !== 1 || !line.includes(want)) {
        problems.push(`restore: exit ${r.code}, stderr: ${r.stderr}`);
      }
      if (!stopped.every((n) => line.includes(n))) problems.push(`restore names: ${line}`);
      // The daemon logs the restore by its version, with the same line.
      const log = net.daemon.errors.join("\n");
      if (!new RegExp(`restore of version ${versionId} failed: version`).test(log)) {
        problems.push(`daemon log does not name the version: ${log}`);
      }

      if (problems.length > 0) throw new Error(problems.join("\n"));

      // Back online: restorable, and the restore is byte-identical.
      for (const name of stopped) await startSupplier(net, name);
      await until("all suppliers back online", async () => {
        const s = await statusJson(net);
        return s.health.every((x) => x.restorableNow) && s.blocksAtRisk === 0 ? s : undefined;
      }, 90_000);
      if (!(await text(net, "ls")).includes("complete, restorable now")) {
        throw new Error("ls does not say restorable after recovery");
      }
      const ok = await cli(SOURCES, [
        "restore",
        versionId,
        "--to",
        `${net.dir}/out2`,
        "--data",
        net.user,
      ]);
      if (ok.code !== 0) throw new Error(`restore after recovery: ${ok.stderr}`);
      await assertSameTree(src, `${net.dir}/out2`, "restored");
    } finally {
      await net.procs.stopAll();
      await Deno.remove(net.dir, { recursive: true }).catch(() => {});
    }
  },
});
