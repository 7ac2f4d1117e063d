/**
 * End to end, real processes on 127.0.0.1: impostors (fresh keys under real names) against a
 * supplier and against a user daemon that has just restarted (issue 10, findings 1 and 2).
 *
 * - A fresh key claiming the user's name dials a supplier that has never dialed the user: the
 *   supplier's ID server binds "alice" to another key, so the handshake ends in a sealed
 *   `key_mismatch`; nothing it asks for (list, fetch, remove, cancel) is ever read, and the
 *   version restores byte-identical afterwards.
 * - Every supplier dies; fake "suppliers" under their names and fresh keys take over their ports;
 *   the user's daemon restarts (empty identity cache). It dials the old contacts, meets the fakes,
 *   and refuses them (the ID server says whose key each name is). A backup is refused: none of
 *   the eight suppliers is online, however eagerly the fakes would have answered. When the real
 *   suppliers come back on new ports, the family is whole again and the version restores.
 */

import type { IdentityDocument } from "../core/identity.ts";
import { encode, tryDecode } from "../core/codec.ts";
import { type Message, messageCodec } from "../core/protocol/mod.ts";
import { localIdentityOf, makeIdentity, rawHandshake } from "../net/tcp/_test_util.ts";
import { writeAll } from "../net/tcp/frames.ts";
import { TcpTransport } from "../net/tcp/mod.ts";
import { staticPeerResolver } from "../net/transport.ts";
import {
  assertSameTree,
  backup,
  familyReady,
  identityOf,
  makeTree,
  type Net,
  network,
  restore,
  startDaemon,
  startSupplier,
  status,
} from "./_e2e.ts";
import { cli, SOURCES, until } from "./_procs.ts";

function portOf(contact: string): number {
  return Number(/:(\d+)$/.exec(contact)![1]);
}

/** A fresh key claims the user's name to `supplier`; returns how the handshake ended. */
async function claimUser(net: Net, supplier: string): Promise<string> {
  const doc = await identityOf(net, supplier);
  const fake = makeIdentity("alice", 1, undefined, [net.ids]);
  const { conn, result } = await rawHandshake(portOf(doc.contacts[0]), localIdentityOf(fake), {
    name: supplier,
    signingKey: doc.signingKey,
  });
  try {
    if (result.ok) {
      // Admitted: ask for everything an impostor would want (the test fails below anyway).
      const asks: Message[] = [
        { type: "list", requestId: 1, prefix: "", after: "" },
        { type: "contract_cancel", requestId: 2, epoch: 0 },
      ];
      for (const m of asks) {
        await writeAll(conn, result.session.seal(encode(messageCodec, m).slice()));
      }
      return "admitted";
    }
    return result.reason;
  } finally {
    conn.close();
  }
}

/** A fake supplier: `name` under a fresh key, listening on `port`, acknowledging everything. */
function fakeSupplier(
  name: string,
  port: number,
  ids: string,
  user: IdentityDocument,
  heard: string[],
): TcpTransport {
  const me = makeIdentity(name, port, undefined, [ids]);
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  const peers = new Map([[user.name, { signingKey: user.signingKey, contacts: user.contacts }]]);
  const t = new TcpTransport({
    identity: me.doc,
    signingPrivateKey: me.keys.privateKey,
    resolver: staticPeerResolver(peers),
    listener,
    handshakeTimeoutMs: 2000,
  });
  // What a fake would answer if it were ever admitted: "all is well", "stored".
  t.onMessage((from, bytes) => {
    heard.push(name);
    const m = tryDecode(messageCodec, bytes);
    if (!m.ok) return;
    const reply: Message | null = m.value.type === "probe"
      ? {
        type: "probe_reply",
        requestId: m.value.requestId,
        contract: true,
        usedBytes: 0,
        epoch: 0,
        quotaBytes: 1 << 30,
      }
      : m.value.type === "store"
      ? { type: "store_reply", requestId: m.value.requestId, key: m.value.key, outcome: "stored" }
      : null;
    if (reply !== null) t.send(from, encode(messageCodec, reply));
  });
  return t;
}

Deno.test({
  name: "e2e: impostors under the user's and the suppliers' names are refused; data untouched",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const net = await network(SOURCES, 8);
    const fakes: TcpTransport[] = [];
    try {
      const src = `${net.dir}/src`;
      await makeTree(src);
      const version = await backup(net, src);
      const family = (await status(net)).positions.map((p) => p.supplier!);

      // 1. A fresh key claiming "alice" to two of her suppliers.
      for (const s of family.slice(0, 2)) {
        const outcome = await claimUser(net, s);
        if (outcome !== "key_mismatch") throw new Error(`impostor "alice" at ${s}: ${outcome}`);
      }
      const r1 = await restore(net, version, `${net.dir}/out1`);
      if (r1.code !== 0) throw new Error(`restore after the impostor: ${r1.stderr}`);
      await assertSameTree(src, `${net.dir}/out1`, "after an impostor claimed the user's name");

      // 2. The suppliers die, fakes take their ports, the daemon restarts.
      const ports = new Map<string, number>();
      for (const s of family) ports.set(s, portOf((await identityOf(net, s)).contacts[0]));
      await Promise.all(family.map((s) => net.suppliers.get(s)!.stop("SIGKILL")));
      const heard: string[] = [];
      await net.daemon.stop("SIGTERM");
      await startDaemon(net);
      const user = await identityOf(net, "alice");
      for (const s of family) fakes.push(fakeSupplier(s, ports.get(s)!, net.ids, user, heard));
      // The fakes also dial the daemon, as suppliers it has never dialed since its restart.
      const hello = encode(messageCodec, {
        type: "probe_reply",
        requestId: 1,
        contract: true,
        usedBytes: 0,
        epoch: 0,
        quotaBytes: 0,
      });
      for (const f of fakes) f.send("alice", hello.slice());
      // Wait until the daemon has dialed every fake at least twice (each time refused).
      const dialsSeen = () =>
        fakes.reduce((n, f) => n + Object.values(f.handshakeFailures).reduce((a, b) => a + b), 0);
      await until(
        "the daemon to dial the fakes",
        () => Promise.resolve(dialsSeen() >= 16 || heard.length > 0 ? true : undefined),
      );
      if (heard.length > 0) throw new Error(`fakes heard from the daemon: ${heard}`);
      // A restarted daemon assumes its suppliers online until they miss their probes.
      await until("every position to go offline", async () => {
        const s2 = await status(net);
        return s2.positions.every((p) => !p.online) ? true : undefined;
      });
      const b = await cli(SOURCES, ["backup", src, "--data", net.user]);
      if (b.code === 0 || !/0 of 8 suppliers/.test(b.stderr)) {
        throw new Error(`a backup with only fake suppliers: exit ${b.code}, ${b.stderr}`);
      }
      for (const f of fakes) {
        if (f.counters.connectionsOpened !== 0) throw new Error("a fake got a connection");
      }
      if (heard.length > 0) throw new Error(`fakes heard from the daemon: ${heard}`);

      // 3. The real suppliers come back (new ports): the family is whole and restores.
      await Promise.all(fakes.splice(0).map((f) => f.close()));
      await Promise.all(family.map((s) => startSupplier(net, s)));
      await familyReady(net);
      const r2 = await restore(net, version, `${net.dir}/out2`);
      if (r2.code !== 0) throw new Error(`restore after the fakes: ${r2.stderr}`);
      await assertSameTree(src, `${net.dir}/out2`, "after fake suppliers");
    } finally {
      await Promise.all(fakes.map((f) => f.close()));
      await net.procs.stopAll();
      await Deno.remove(net.dir, { recursive: true }).catch(() => {});
    }
  },
});
