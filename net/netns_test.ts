/**
 * The NAT harness of `_netns.ts` proven with real processes: a home host dials out through its
 * gateway (an ID server answers it, a TCP server sees the gateway's public address), nobody dials
 * in (neither the internet nor the other home), and every namespace and process is gone at the
 * end, also when the test body throws. Skipped, with the reason printed, where namespaces cannot
 * be built (not root, no `ip`/`nft`, or the kernel refuses).
 */

import assert from "node:assert/strict";
import {
  available,
  createTopology,
  listNamespaces,
  type NsProcess,
  sweepStale,
  type Topology,
  withTopology,
} from "./_netns.ts";

const DENO = Deno.execPath();
const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** How long a dial may take before it counts as failed (a dropped SYN never answers). */
const DIAL_TIMEOUT_MS = 2_000;

const support = await available();
if (!support.ok) console.log(`net/netns_test.ts: skipped: ${support.reason}`);
const ignore = !support.ok;

/** A TCP server on `host` that answers every connection with the caller's address, then closes. */
function echoServer(t: Topology, ns: string, host: string): NsProcess {
  const code = `
    const l = Deno.listen({ hostname: ${JSON.stringify(host)}, port: 0 });
    console.log("listening " + l.addr.port);
    for await (const c of l) {
      c.write(new TextEncoder().encode(c.remoteAddr.hostname + "\\n")).finally(() => c.close());
    }`;
  return t.spawn(ns, [DENO, "eval", code]);
}

/**
 * Dials every `host:port` of `targets` from `ns` at once; per target `reply <what the server
 * said>`, `timeout` or `error <name>`.
 */
async function dial(t: Topology, ns: string, targets: [string, number][]): Promise<string[]> {
  const code = `
    const one = async ([hostname, port]) => {
      const timeout = new Promise((r) => setTimeout(() => r("timeout"), ${DIAL_TIMEOUT_MS}));
      const attempt = (async () => {
        const c = await Deno.connect({ hostname, port });
        const buf = new Uint8Array(100);
        const n = await c.read(buf);
        c.close();
        return "reply " + new TextDecoder().decode(buf.subarray(0, n ?? 0)).trim();
      })().catch((e) => "error " + e.name);
      return await Promise.race([attempt, timeout]);
    };
    console.log(JSON.stringify(await Promise.all(${JSON.stringify(targets)}.map(one))));
    Deno.exit(0);`;
  const r = await t.run(ns, [DENO, "eval", code]);
  assert.equal(r.code, 0, `dial from ${ns} failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** An HTTP GET from `ns`: the status line's code. */
async function httpGet(t: Topology, ns: string, url: string): Promise<number> {
  const code = `const r = await fetch(${JSON.stringify(url)}); await r.body?.cancel();
    console.log(r.status);`;
  const r = await t.run(ns, [DENO, "eval", code]);
  assert.equal(r.code, 0, `GET ${url} from ${ns} failed: ${r.stderr}`);
  return Number(r.stdout.trim());
}

const port = async (p: NsProcess) => Number((await p.waitFor(/^listening (\d+)$/))[1]);

Deno.test({
  name: "netns: a home host dials out through NAT and is seen as its gateway; nobody dials in",
  ignore,
  fn: async () => {
    const data = await Deno.makeTempDir({ prefix: "bitdust-netns-" });
    try {
      await withTopology({ homes: 2 }, async (t) => {
        const [h1, h2] = t.homes;
        const ids = t.spawn(t.public, [
          ...[DENO, "run", "-A", MAIN, "idserver", "--data", `${data}/ids`],
          ...["--host", t.publicAddress, "--port", "0"],
        ]);
        const echoes = [
          echoServer(t, t.public, t.publicAddress),
          echoServer(t, h1.host, "0.0.0.0"),
          echoServer(t, h2.host, "0.0.0.0"),
        ];
        const [pub, home1, home2] = await Promise.all(echoes.map(port));
        const url = (await ids.waitFor(/^listening (http:\/\/10\.99\.0\.1:\d+)$/))[1];

        assert.equal(await httpGet(t, h1.host, `${url}/`), 200);
        const [fromHome1, fromPublic, fromHome2] = await Promise.all([
          dial(t, h1.host, [
            [t.publicAddress, pub], // out through NAT
            [h1.privateAddress, home1], // its own listener: it does listen
            [h2.privateAddress, home2], // the other home's private address
            [h2.publicAddress, home2], // the other home's gateway
          ]),
          dial(t, t.public, [
            [t.publicAddress, pub],
            [h1.privateAddress, home1], // routed to gateway 1, which must not forward it
            [h1.publicAddress, home1], // gateway 1's own address: no port forwarding
          ]),
          dial(t, h2.host, [[t.publicAddress, pub]]),
        ]);
        assert.deepEqual(fromHome1.slice(0, 2), [
          `reply ${h1.publicAddress}`,
          `reply ${h1.privateAddress}`,
        ]);
        assert.deepEqual(fromPublic[0], `reply ${t.publicAddress}`);
        assert.deepEqual(fromHome2, [`reply ${h2.publicAddress}`]);
        for (const r of [...fromHome1.slice(2), ...fromPublic.slice(1)]) {
          assert.doesNotMatch(r, /^reply/, `a dial in got through: ${fromHome1} / ${fromPublic}`);
        }
      });
    } finally {
      await Deno.remove(data, { recursive: true });
    }
  },
});

Deno.test({
  name: "netns: a failing test body still leaves no namespace and no process behind",
  ignore,
  fn: async () => {
    let seen: Topology | undefined;
    let orphan = 0;
    await assert.rejects(
      withTopology({ homes: 1 }, async (t) => {
        seen = t;
        t.spawn(t.homes[0].host, ["sleep", "60"]);
        // A grandchild that no handle of ours holds: cleanup must find it inside the namespace.
        const sh = t.spawn(t.homes[0].gateway, ["sh", "-c", "sleep 60 & echo $!; wait"]);
        orphan = Number((await sh.waitFor(/^(\d+)$/))[1]);
        throw new Error("deliberate failure");
      }),
      /deliberate failure/,
    );
    assert.ok(seen !== undefined);
    assert.deepEqual((await listNamespaces()).filter((n) => n.startsWith(seen!.id)), []);
    assert.ok(orphan > 0 && !(await runningWithin(orphan, 5_000)), `pid ${orphan} still runs`);
    await seen.cleanup(); // a second call is harmless
  },
});

Deno.test({
  name: "netns: cleanup twice is safe; the sweep takes only a dead run's namespaces",
  ignore,
  fn: async () => {
    const t = await createTopology({ homes: 1 });
    await Promise.all([t.cleanup(), t.cleanup()]);
    await t.cleanup();
    assert.deepEqual((await listNamespaces()).filter((n) => n.startsWith(t.id)), []);

    const pidMax = Number(await Deno.readTextFile("/proc/sys/kernel/pid_max"));
    const suffix = t.id.slice(-3);
    const dead = `bd${(pidMax + 1).toString(36).padStart(5, "0")}${suffix}-pub`;
    const live = `${t.id}-gw1`; // this process's pid: a live run
    const foreign = `bdx${suffix}-pub`; // not of our form
    for (const ns of [dead, live, foreign]) await ip("add", ns);
    try {
      await sweepStale(); // (another run's sweep may take the dead one first: the same)
      const left = await listNamespaces();
      assert.ok(!left.includes(dead), `the sweep left ${dead}`);
      assert.ok(left.includes(live) && left.includes(foreign), `the sweep took too much`);
    } finally {
      for (const ns of [dead, live, foreign]) await ip("del", ns).catch(() => {});
    }
  },
});

async function ip(verb: "add" | "del", ns: string): Promise<void> {
  const r = await new Deno.Command("ip", { args: ["netns", verb, ns], stdout: "null" }).output();
  if (r.code !== 0) {
    throw new Error(`ip netns ${verb} ${ns}: ${new TextDecoder().decode(r.stderr)}`);
  }
}

/** Whether `pid` still runs (a zombie does not count) after waiting up to `ms` for it to end. */
async function runningWithin(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    let state = "gone";
    try {
      state = (await Deno.readTextFile(`/proc/${pid}/stat`)).replace(/^.*\) /s, "")[0];
    } catch {
      // gone
    }
    if (state === "gone" || state === "Z") return false;
    if (Date.now() > deadline) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
}
