/**
 * End to end from the sources: what a user sees when something goes wrong, a daemon killed in
 * the middle of a backup, and suppliers fed garbage, oversized and replayed frames.
 */

import { decodeIdentity } from "../core/identity.ts";
import { encode } from "../core/codec.ts";
import { messageCodec } from "../core/protocol/mod.ts";
import { fetchIdentity, publishIdentity } from "../net/identity_client.ts";
import { localIdentityOf, makeIdentity, rawHandshake, readToEnd } from "../net/tcp/_test_util.ts";
import { writeAll } from "../net/tcp/frames.ts";
import {
  assertSameTree,
  backup,
  exists,
  familyReady,
  makeTree,
  type Net,
  network,
  restore,
  startDaemon,
  startSupplier,
  status,
} from "./_e2e.ts";
import { cli, sleep, SOURCES, until } from "./_procs.ts";

function oneLine(r: { code: number; stderr: string }, pattern: RegExp, what: string): void {
  const text = r.stderr.trim();
  if (r.code === 0 || text.split("\n").length !== 1 || !pattern.test(text)) {
    throw new Error(`${what}: exit ${r.code}, stderr: ${r.stderr}`);
  }
}

Deno.test({
  name: "e2e: clear one-line errors (no daemon, too few suppliers, unknown version, ...)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const net = await network(SOURCES, 4, false);
    try {
      const run = (...args: string[]) => cli(SOURCES, [...args, "--data", net.user]);
      // Too few suppliers: rs:4+4 needs eight, only four exist.
      await until("four suppliers hired", async () => {
        const s = await status(net);
        return s.positions.filter((p) => p.state === "active").length === 4 ? s : undefined;
      });
      await Deno.mkdir(`${net.dir}/src`);
      await Deno.writeTextFile(`${net.dir}/src/a.txt`, "a");
      oneLine(await run("backup", `${net.dir}/src`), /only 4 of 8 suppliers/, "too few suppliers");
      oneLine(await run("restore", "deadbeef", "--to", `${net.dir}/x`), /no version/, "unknown");
      await Deno.mkdir(`${net.dir}/taken`);
      oneLine(
        await run("restore", "deadbeef", "--to", `${net.dir}/taken`),
        /already exists/,
        "destination exists",
      );
      oneLine(await run("delete", "deadbeef"), /no version/, "delete unknown");
      oneLine(await run("backup", `${net.dir}/nowhere`), /does not exist/, "missing path");
      oneLine(await run("restore", "x"), /--to DIR is required/, "usage");
      // Keys: a wrong passphrase is refused, the keys are not changed.
      const pass = `${net.dir}/pass`;
      await Deno.writeTextFile(pass, "correct horse\n");
      const exported = await run(
        "key",
        "export",
        "--to",
        `${net.dir}/keys.bak`,
        "--passphrase-file",
        pass,
      );
      if (exported.code !== 0) throw new Error(exported.stderr);
      await Deno.writeTextFile(pass, "wrong horse\n");
      const imported = await cli(SOURCES, [
        "key",
        "import",
        "--from",
        `${net.dir}/keys.bak`,
        "--passphrase-file",
        pass,
        "--data",
        `${net.dir}/elsewhere`,
        "--idserver",
        net.ids,
      ]);
      oneLine(imported, /passphrase/, "wrong passphrase");
      // A second daemon on the same directory is refused.
      oneLine(await run("daemon"), /another bitdust daemon is already running/, "two daemons");
      // No daemon: one line that says how to start it.
      await net.daemon.stop("SIGTERM");
      oneLine(
        await run("ls"),
        /daemon is not running; start it with 'bitdust daemon'/,
        "no daemon",
      );
      oneLine(await run("status"), /daemon is not running/, "no daemon (status)");
    } finally {
      await net.procs.stopAll();
      await Deno.remove(net.dir, { recursive: true }).catch(() => {});
    }
  },
});

/** Sends garbage, an oversized frame and a replayed frame to a supplier's port. */
async function attack(net: Net, supplier: string): Promise<void> {
  const fetched = await fetchIdentity(net.ids, supplier);
  if (!fetched.ok) throw new Error("no identity for the supplier");
  const decoded = decodeIdentity(fetched.bytes);
  if (!decoded.ok) throw new Error("bad identity");
  const port = Number(/:(\d+)$/.exec(decoded.doc.contacts[0])![1]);
  // Garbage instead of a handshake.
  const garbage = await Deno.connect({ hostname: "127.0.0.1", port });
  await writeAll(garbage, crypto.getRandomValues(new Uint8Array(4096)));
  await readToEnd(garbage);
  garbage.close();
  // A length prefix announcing a frame far over the limit.
  const big = await Deno.connect({ hostname: "127.0.0.1", port });
  await writeAll(big, Uint8Array.of(0x7f, 0xff, 0xff, 0xff, 1, 2, 3));
  await readToEnd(big);
  big.close();
  // A real session, then the same sealed frame twice: the replay must close it.
  // A registered name (suppliers admit only names their ID servers bind to the key).
  const me = makeIdentity(`mallory-${supplier}`, 1, undefined, [net.ids]);
  const registered = await publishIdentity(net.ids, me.doc);
  if (!registered.ok) throw new Error(`mallory was not registered: ${registered.reason}`);
  const { conn, result } = await rawHandshake(port, localIdentityOf(me), {
    name: supplier,
    signingKey: decoded.doc.signingKey,
  });
  if (!result.ok) throw new Error(`handshake failed: ${result.reason}`);
  const frame = result.session.seal(
    encode(messageCodec, { type: "probe", requestId: 1, epoch: 0 }).slice(),
  );
  await writeAll(conn, frame);
  await writeAll(conn, frame);
  await readToEnd(conn);
  conn.close();
}

Deno.test({
  name: "e2e: a daemon killed mid-backup keeps its versions; suppliers survive hostile peers",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const net = await network(SOURCES, 8);
    try {
      const src = `${net.dir}/src`;
      await makeTree(src);
      const first = await backup(net, src);
      // A large file, and the daemon dies while backing it up.
      const big = `${net.dir}/big`;
      await Deno.mkdir(big);
      const data = new Uint8Array(96 * 1024 * 1024);
      for (let at = 0; at < data.length; at += 65536) {
        crypto.getRandomValues(data.subarray(at, at + 65536));
      }
      await Deno.writeFile(`${big}/huge.bin`, data);
      const running = net.procs.start("backup", SOURCES, ["backup", big, "--data", net.user]);
      await until("the backup to start uploading", async () => {
        const s = await cli(SOURCES, ["status", "--json", "--data", net.user]);
        const job = JSON.parse(s.stdout).job;
        return job !== null && job.bytesDone > 0 ? true : undefined;
      });
      await net.daemon.stop("SIGKILL");
      await running.stop("SIGKILL");
      await startDaemon(net);
      const versions = JSON.parse(
        (await cli(SOURCES, ["ls", "--json", "--data", net.user])).stdout,
      );
      const states = versions.map((v: { versionId: string; status: string }) =>
        v.versionId === first ? `first:${v.status}` : `second:${v.status}`
      );
      if (states[0] !== "first:complete" || !/^second:(incomplete|complete)$/.test(states[1])) {
        throw new Error(`after the crash: ${states}`);
      }
      const r1 = await restore(net, first, `${net.dir}/out1`);
      if (r1.code !== 0) throw new Error(r1.stderr);
      await assertSameTree(src, `${net.dir}/out1`, "after a crash mid-backup");

      // Hostile peers hit two suppliers; they keep serving.
      const family = (await status(net)).positions.map((p) => p.supplier!);
      await attack(net, family[0]);
      await attack(net, family[1]);
      await sleep(1500);
      for (const name of family.slice(2, 6)) await net.suppliers.get(name)!.stop("SIGKILL");
      const r2 = await restore(net, first, `${net.dir}/out2`);
      if (r2.code !== 0) throw new Error(`restore through attacked suppliers: ${r2.stderr}`);
      await assertSameTree(src, `${net.dir}/out2`, "through attacked suppliers");
      if (await exists(`${net.dir}/out3`)) throw new Error("unexpected");
      void startSupplier;
      void familyReady;
    } finally {
      await net.procs.stopAll();
      await Deno.remove(net.dir, { recursive: true }).catch(() => {});
    }
  },
});
