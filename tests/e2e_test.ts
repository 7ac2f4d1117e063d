/**
 * End to end: real processes on 127.0.0.1 (an ID server, suppliers, a user's daemon) and the
 * `bitdust` command line, as a user would run them. This story runs from the bundle
 * (`dist/bitdust.js` as `deno task bundle` makes it); `e2e_daemon_test.ts` runs from sources.
 */

import { bundle, cli, until } from "./_procs.ts";
import {
  assertSameTree,
  backup,
  exists,
  familyReady,
  makeTree,
  network,
  restore,
  startDaemon,
  startSupplier,
  status,
} from "./_e2e.ts";

Deno.test({
  name: "e2e (bundle): back up, lose suppliers, repair, restore byte-identical",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const work = await Deno.makeTempDir({ prefix: "bitdust-bundle-" });
    const net = await network(await bundle(work), 8);
    try {
      const src = `${net.dir}/src`;
      await makeTree(src);
      const version = await backup(net, src);
      const r1 = await restore(net, version, `${net.dir}/out1`);
      if (r1.code !== 0) throw new Error(`restore failed: ${r1.stderr}`);
      await assertSameTree(src, `${net.dir}/out1`, "first restore");

      // Four suppliers die: the other four still hold enough.
      const family = (await status(net)).positions.map((p) => p.supplier!);
      for (const name of family.slice(0, 4)) await net.suppliers.get(name)!.stop("SIGKILL");
      const r2 = await restore(net, version, `${net.dir}/out2`);
      if (r2.code !== 0) throw new Error(`restore with 4 dead failed: ${r2.stderr}`);
      await assertSameTree(src, `${net.dir}/out2`, "four suppliers dead");

      // A fifth dies: one clear line, a non-zero exit, nothing left behind.
      await net.suppliers.get(family[4])!.stop("SIGKILL");
      const r3 = await restore(net, version, `${net.dir}/out3`);
      const line = r3.stderr.trim();
      if (
        r3.code === 0 || line.split("\n").length !== 1 ||
        !/NOT restorable now: .*offline: |missing/.test(line)
      ) {
        throw new Error(`unclear failure (exit ${r3.code}): ${r3.stderr}`);
      }
      if (await exists(`${net.dir}/out3`)) throw new Error("a failed restore left files behind");

      // The fifth comes back (its disk intact) and four fresh suppliers join: the daemon fires
      // the dead, hires the fresh ones and rebuilds their fragments.
      await startSupplier(net, family[4]);
      for (let i = 8; i < 12; i++) await startSupplier(net, `sup${i}`);
      await familyReady(net, family.slice(0, 4));

      // Then four more may die, and the data is still whole.
      const second = (await status(net)).positions.map((p) => p.supplier!);
      for (const name of second.slice(0, 4)) await net.suppliers.get(name)!.stop("SIGKILL");
      const r4 = await restore(net, version, `${net.dir}/out4`);
      if (r4.code !== 0) throw new Error(`restore after repair failed: ${r4.stderr}`);
      await assertSameTree(src, `${net.dir}/out4`, "after repair and four more deaths");

      // The machine is lost; only the exported key is left. A new machine imports it: its
      // daemon finds the family on the ID server and reads the catalogue back from it.
      const pass = `${net.dir}/pass`;
      await Deno.writeTextFile(pass, "correct horse battery staple\n");
      const keyFile = `${net.dir}/alice.key`;
      const exported = await cli(net.entry, [
        "key",
        "export",
        "--to",
        keyFile,
        "--passphrase-file",
        pass,
        "--data",
        net.user,
      ]);
      if (exported.code !== 0) throw new Error(`key export failed: ${exported.stderr}`);
      await net.daemon.stop("SIGKILL");
      await Deno.remove(net.user, { recursive: true });
      net.user = `${net.dir}/alice-new-machine`;
      const imported = await cli(net.entry, [
        "key",
        "import",
        "--from",
        keyFile,
        "--passphrase-file",
        pass,
        "--idserver",
        net.ids,
        "--data",
        net.user,
      ]);
      if (imported.code !== 0) throw new Error(`key import failed: ${imported.stderr}`);
      await startDaemon(net);
      await until("the version to be read back on the new machine", async () => {
        const r = await cli(net.entry, ["ls", "--json", "--data", net.user]);
        const versions = JSON.parse(r.stdout) as { versionId: string; status: string }[];
        return versions.some((v) => v.versionId === version && v.status === "complete")
          ? true
          : undefined;
      });
      const r5 = await restore(net, version, `${net.dir}/out5`);
      if (r5.code !== 0) throw new Error(`restore on the new machine failed: ${r5.stderr}`);
      await assertSameTree(src, `${net.dir}/out5`, "on a new machine with only the key");
    } finally {
      await net.procs.stopAll();
      await Deno.remove(net.dir, { recursive: true }).catch(() => {});
      await Deno.remove(work, { recursive: true }).catch(() => {});
    }
  },
});
