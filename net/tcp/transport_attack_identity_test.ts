/**
 * Attacks on who a peer is (issue 10, findings 1 and 2): a fresh key claiming an existing
 * node's name, a name nobody registered, and a fake "supplier" dialing a user's node that has
 * just restarted with an empty identity cache. The responder uses the resolver a real node uses
 * (`peerResolver` of `net/node_runtime.ts`) against an ID server running in this process, which
 * holds the real identities.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { NodeId } from "../../core/actor.ts";
import { peerResolver } from "../node_runtime.ts";
import { waitFor } from "../_transport_contract.ts";
import { startIdServer, type TestIdServer } from "./_attack_util.ts";
import { localIdentityOf, makeIdentity, rawHandshake, TEST_SETTINGS } from "./_test_util.ts";
import { writeAll } from "./frames.ts";
import { TcpTransport, type TcpTransportOptions } from "./transport.ts";

interface Node {
  transport: TcpTransport;
  id: ReturnType<typeof makeIdentity>;
  got: { from: NodeId; bytes: Uint8Array; key: Uint8Array }[];
}

/** A node named `name` whose resolver asks `ids` (its cache starts empty, as after a restart). */
function node(
  name: NodeId,
  ids: TestIdServer,
  options: Partial<TcpTransportOptions> = {},
  keys?: ReturnType<typeof makeIdentity>["keys"],
  port = 0,
): Node {
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  const id = makeIdentity(name, listener.addr.port, keys, [ids.url]);
  const transport = new TcpTransport({
    identity: id.doc,
    signingPrivateKey: id.keys.privateKey,
    resolver: peerResolver([ids.url]),
    listener,
    ...TEST_SETTINGS,
    ...options,
  });
  const got: Node["got"] = [];
  transport.onMessage((from, bytes, key) => got.push({ from, bytes, key }));
  return { transport, id, got };
}

/**
 * A raw client claiming `name` under a fresh key dials `to` and, if the handshake lets it in,
 * sends one message. Returns the handshake's outcome as the client saw it.
 */
async function impostorDials(to: Node, name: NodeId): Promise<string> {
  const fake = makeIdentity(name, 1);
  const target = { name: to.id.doc.name, signingKey: to.id.keys.publicKey };
  const { conn, result } = await rawHandshake(
    to.transport.address!.port,
    localIdentityOf(fake),
    target,
  );
  try {
    if (!result.ok) return result.reason;
    await writeAll(conn, result.session.seal(new TextEncoder().encode("remove everything")));
    return "ok";
  } finally {
    conn.close();
  }
}

Deno.test("attack: a fresh key claiming an existing name is refused (key_mismatch)", async () => {
  const ids = await startIdServer();
  const carol = makeIdentity("carol", 1, undefined, [ids.url]);
  await ids.publish(carol.doc);
  const bob = node("bob", ids);
  try {
    const seen = await impostorDials(bob, "carol");
    assert.equal(seen, "key_mismatch", "the impostor learns it was refused, and why");
    await waitFor(() => bob.transport.counters.rejected.key_mismatch === 1, 5000, "the count");
    assert.deepEqual(bob.got, [], "nothing from the impostor reached the node");
    assert.equal(bob.transport.counters.connectionsOpened, 0);
    assert.deepEqual(bob.transport.connectedPeers(), []);
  } finally {
    await bob.transport.close();
    await ids.close();
  }
});

Deno.test("attack: a name no ID server knows is refused (unknown_peer)", async () => {
  const ids = await startIdServer();
  const bob = node("bob", ids);
  try {
    assert.equal(await impostorDials(bob, "nobody-registered-me"), "unknown_peer");
    await waitFor(() => bob.transport.counters.rejected.unknown_peer === 1, 5000, "the count");
    assert.deepEqual(bob.got, []);
    assert.equal(bob.transport.counters.connectionsOpened, 0);
  } finally {
    await bob.transport.close();
    await ids.close();
  }
});

Deno.test("attack: a legitimate peer nobody cached is admitted after the lookup", async () => {
  const ids = await startIdServer();
  const bob = node("bob", ids);
  const carol = node("carol", ids);
  await ids.publish(bob.id.doc);
  await ids.publish(carol.id.doc);
  try {
    carol.transport.send("bob", Uint8Array.of(7));
    await waitFor(() => bob.got.length === 1, 5000, "carol's message");
    assert.equal(bob.got[0].from, "carol");
    assert.deepEqual(bob.got[0].key, carol.id.keys.publicKey);
    assert.equal(bob.transport.counters.rejected.unknown_peer, 0);
    // Now pinned: the impostor is refused without another lookup.
    assert.equal(await impostorDials(bob, "carol"), "key_mismatch");
    bob.transport.send("carol", Uint8Array.of(8));
    await waitFor(() => carol.got.length === 1, 5000, "bob's answer");
    assert.deepEqual(bob.got.map((g) => g.from), ["carol"]);
  } finally {
    await Promise.all([bob.transport.close(), carol.transport.close()]);
    await ids.close();
  }
});

Deno.test("attack: a user's node just restarted (empty cache) refuses a fake one", async () => {
  const ids = await startIdServer();
  const sup0 = node("sup0", ids);
  await ids.publish(sup0.id.doc);
  let alice = node("alice", ids);
  await ids.publish(alice.id.doc);
  try {
    alice.transport.send("sup0", Uint8Array.of(1));
    await waitFor(() => sup0.got.length === 1, 5000, "the first store");
    // The user's node restarts: same keys and port, nothing cached.
    await alice.transport.close();
    alice = node("alice", ids, {}, alice.id.keys, alice.transport.address!.port);
    // A fake "sup0" with a fresh key dials it first, before it has looked anybody up.
    assert.equal(await impostorDials(alice, "sup0"), "key_mismatch");
    assert.equal(alice.transport.counters.rejected.key_mismatch, 1);
    assert.equal(alice.got.length, 0, "the fake supplier's acknowledgement never reached the user");
    // The real supplier is still reached and still heard.
    alice.transport.send("sup0", Uint8Array.of(2));
    await waitFor(() => sup0.got.length === 2, 5000, "the store after the restart");
    sup0.transport.send("alice", Uint8Array.of(3));
    await waitFor(() => alice.got.length === 1, 5000, "the real supplier's answer");
    assert.deepEqual(alice.got[0].key, sup0.id.keys.publicKey);
  } finally {
    await Promise.all([alice.transport.close(), sup0.transport.close()]);
    await ids.close();
  }
});
