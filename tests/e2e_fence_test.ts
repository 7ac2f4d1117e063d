/**
 * End to end, real processes on 127.0.0.1: the suppliers' writer fence (issue 11, case 1).
 *
 * The writer lease keeps two daemons of one identity from writing at once, by time: an old
 * holder stops at its lease's end by its own clock. A clock that runs late, or a laptop that
 * slept between deciding to write and writing, still sends. This test plays that stale instance
 * with the user's real keys: it dials every supplier as alice (the handshake succeeds: it is
 * alice's key) and asks, at an epoch below the daemon's, to remove every fragment, to overwrite
 * one, and to cancel the contract. Every supplier answers `superseded` and changes nothing; the
 * daemon's version restores byte-identical, and each supplier's stop line counts the refusals.
 * Before the fence (5ad7844), the same requests deleted every fragment.
 */

import assert from "node:assert/strict";
import { encode, tryDecode } from "../core/codec.ts";
import { type Message, messageCodec } from "../core/protocol/mod.ts";
import { loadKeyFile } from "../net/keys.ts";
import { localIdentityOf, rawHandshake } from "../net/tcp/_test_util.ts";
import { writeAll } from "../net/tcp/frames.ts";
import { sha256 } from "../data/merkle.ts";
import {
  assertSameTree,
  backup,
  identityOf,
  makeTree,
  type Net,
  network,
  restore,
} from "./_e2e.ts";
import { SOURCES } from "./_procs.ts";

/**
 * Alice's stale instance talks to `supplier`: sends `asks` (after a `list` that learns her
 * keys there, whose keys `build` turns into requests) and returns every answer by request id.
 */
async function staleAlice(
  net: Net,
  supplier: string,
  build: (keys: string[]) => Message[],
): Promise<Map<number, Message>> {
  const keys = await loadKeyFile(`${net.user}/keys.json`);
  const alice = await identityOf(net, "alice");
  const doc = await identityOf(net, supplier);
  const port = Number(/:(\d+)$/.exec(doc.contacts[0])![1]);
  const local = localIdentityOf(
    {
      doc: alice,
      keys: {
        publicKey: keys.signingPublicKey.slice(),
        privateKey: keys.signingPrivateKey.slice(),
      },
    },
  );
  const { conn, reader, result } = await rawHandshake(port, local, {
    name: supplier,
    signingKey: doc.signingKey,
  });
  if (!result.ok) throw new Error(`handshake with ${supplier}: ${result.reason}`);
  const session = result.session;
  const answers = new Map<number, Message>();
  const send = (m: Message) => writeAll(conn, session.seal(encode(messageCodec, m).slice()));
  const receive = async (id: number) => {
    while (!answers.has(id)) {
      const frame = await reader.next(1 << 24);
      if (!frame.ok) throw new Error(`${supplier} closed: ${frame.reason}`);
      const opened = session.open(frame.body);
      if (!opened.ok) throw new Error(`${supplier}: a frame that does not open`);
      const m = tryDecode(messageCodec, opened.message);
      if (m.ok && "requestId" in m.value) answers.set(m.value.requestId, m.value);
    }
    return answers.get(id)!;
  };
  try {
    await send({ type: "list", requestId: 1, prefix: "", after: "" });
    const listed = await receive(1);
    assert.equal(listed.type, "list_reply");
    const asks = build((listed as Extract<Message, { type: "list_reply" }>).keys);
    for (const m of asks) await send(m);
    for (const m of asks) await receive((m as { requestId: number }).requestId);
    return answers;
  } finally {
    conn.close();
  }
}

Deno.test({
  name: "e2e: a stale instance of the user, with the real key, cannot remove or cancel anything",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const net = await network(SOURCES, 8);
    try {
      const src = `${net.dir}/src`;
      await makeTree(src);
      const version = await backup(net, src);
      const junk = new Uint8Array(64).fill(7);
      let held = 0;
      for (const name of net.suppliers.keys()) {
        const answers = await staleAlice(net, name, (keys) => {
          held += keys.length;
          assert.ok(keys.length > 0, `${name} holds alice's fragments`);
          return [
            { type: "remove", requestId: 2, epoch: 0, keys },
            { type: "store", requestId: 3, epoch: 0, key: keys[0], hash: sha256(junk), data: junk },
            { type: "contract_cancel", requestId: 4, epoch: 0 },
          ];
        });
        for (const id of [2, 3, 4]) {
          const a = answers.get(id)!;
          assert.equal(a.type, "superseded", `${name} answered request ${id} with ${a.type}`);
          assert.ok((a as { epoch: number }).epoch >= 1, "the daemon's epoch");
        }
      }
      assert.ok(held >= 8, "every supplier was asked to drop what it holds");
      const out = `${net.dir}/out`;
      const r = await restore(net, version, out);
      assert.equal(r.code, 0, r.stderr);
      await assertSameTree(src, out, "after the stale instance's requests");
      for (const [name, p] of net.suppliers) {
        assert.equal(await p.stop("SIGTERM"), 0);
        const line = p.errors.find((l) => l.includes("stopping:"));
        assert.match(line ?? "", /; 3 writes refused as superseded$/, `${name}'s stop line`);
      }
    } finally {
      await net.procs.stopAll();
      await Deno.remove(net.dir, { recursive: true }).catch(() => {});
    }
  },
});
