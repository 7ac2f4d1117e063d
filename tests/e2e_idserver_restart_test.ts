/**
 * Restarting the ID server (issue 11, case 3), on real processes: it comes back on the same URL
 * although it was started with `--port 0`, it still lists the suppliers' offers (which they
 * announce only hourly), a new user hires a whole family from it at once, a backup that waited
 * for it while it was down completes, and the operator sees start, summary and stop lines.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DAEMON_TIMERS, makeTree, network } from "./_e2e.ts";
import { cli, type Proc, SOURCES, until } from "./_procs.ts";

async function offers(url: string): Promise<string[]> {
  const res = await fetch(`${url}/offers?count=64`);
  const body = await res.json() as { offers: { supplier: string }[] };
  return body.offers.map((o) => o.supplier).sort();
}

function startIdServer(net: Awaited<ReturnType<typeof network>>, args: string[]): Proc {
  return net.procs.start("idserver", SOURCES, ["idserver", "--data", `${net.dir}/ids`, ...args]);
}

Deno.test({
  name: "e2e: a restarted ID server keeps its URL and its supplier offers",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const net = await network(SOURCES, 8);
    try {
      const first = net.procs.all[0];
      const suppliers = [...net.suppliers.keys()].sort();
      const sup0 = net.suppliers.get("sup0")!;
      assert.ok(
        sup0.errors.some((l) => /bitdust supplier sup0: data \S+, lending \d+ bytes/.test(l)),
      );
      assert.deepEqual(await offers(net.ids), suppliers);

      // Stopped cleanly: exit 0 and one line saying so.
      assert.equal(await first.stop("SIGTERM"), 0);
      assert.ok(
        first.errors.some((l) => /bitdust idserver: stopped: \d+ identities/.test(l)),
        first.errors.join("\n"),
      );

      // While it is down, a backup waits for it (the family record cannot be stored).
      const src = `${net.dir}/src`;
      await makeTree(src);
      const waiting = net.procs.start("backup", SOURCES, [
        "backup",
        src,
        "--json",
        "--data",
        net.user,
      ]);

      // It really waits: everything is uploaded, and only the family record is missing.
      await until("the backup to say what it waits for", () =>
        Promise.resolve(
          waiting.errors.find((l) => /^waiting for an ID server to keep the family record/.test(l)),
        ), 90_000);

      // Back with `--port 0`, as at first: the same URL, and every offer at once.
      const second = startIdServer(net, ["--port", "0"]);
      const url = (await second.waitFor(/^listening (http:\/\/\S+)$/))[1];
      assert.equal(url, net.ids, "the restarted ID server moved");
      assert.deepEqual(await offers(url), suppliers, "the offers were lost in the restart");
      await until("the start line", () =>
        Promise.resolve(
          second.errors.find((l) => /8 of 8 saved offers still valid/.test(l)),
        ));

      // The waiting backup completes within a few probe rounds (1 s each, DAEMON_TIMERS) of the
      // server's return: a request that went unanswered is retried on the next round, not
      // after the hiring back-off. The bound allows for one request timeout (3 s) and the seal.
      await waiting.waitFor(/"versionId"/, 15_000);
      assert.equal(await waiting.stop("SIGTERM"), 0, waiting.errors.join("\n"));

      // A new user hires a whole family from the restarted server without waiting for the
      // suppliers' next announcement.
      const bob = `${net.dir}/bob`;
      const init = await cli(SOURCES, ["init", "--name", "bob", "--idserver", url, "--data", bob]);
      assert.equal(init.code, 0, init.stderr);
      const daemon = net.procs.start("bob", SOURCES, ["daemon", "--data", bob, ...DAEMON_TIMERS]);
      await daemon.waitFor(/^api http:\/\/127\.0\.0\.1:\d+$/);
      await until("bob's family to be hired", async () => {
        const r = await cli(SOURCES, ["status", "--json", "--data", bob]);
        const s = JSON.parse(r.stdout) as { positions: { state: string }[] };
        return s.positions.every((p) => p.state === "active") ? true : undefined;
      }, 90_000);

      // A supplier restarted without --port listens where it did: customers dial the contact
      // they have.
      const contact = (await sup0.waitFor(/^listening (tcp:\/\/\S+)$/))[1];
      assert.equal(await sup0.stop("SIGTERM"), 0);
      const again = net.procs.start("sup0", SOURCES, [
        "supplier",
        "--data",
        `${net.dir}/sup0`,
        "--idserver",
        url,
      ]);
      assert.equal((await again.waitFor(/^listening (tcp:\/\/\S+)$/))[1], contact);

      // Only an explicit --port moves it, and it says so.
      assert.equal(await second.stop("SIGTERM"), 0);
      const third = startIdServer(net, ["--port", "0", "--host", "127.0.0.2"]);
      await third.waitFor(/^listening http:\/\/127\.0\.0\.2:\d+$/);
      assert.ok(third.errors.some((l) => /moving from 127\.0\.0\.1:\d+ to 127\.0\.0\.2/.test(l)));
    } finally {
      await net.procs.stopAll();
      await Deno.remove(net.dir, { recursive: true }).catch(() => {});
    }
  },
});
