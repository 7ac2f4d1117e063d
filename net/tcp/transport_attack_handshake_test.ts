/**
 * Attacks before authentication (issue 10, findings 5, 6 and 11): forged hellos that never
 * finish, silent connections from many /24 blocks, authenticated connections from one block,
 * and an accept() that fails once. Attackers connect from 127.x.y.z addresses outside the
 * honest nodes' 127.0.0.0/24; each test asserts what an honest peer observes while the attack
 * runs.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { NodeId } from "../../core/actor.ts";
import { generateSigningKeyPair } from "../../data/signing.ts";
import { waitFor } from "../_transport_contract.ts";
import { attackerAddress, connectFrom, initiateOver, type RawClient } from "./_attack_util.ts";
import { localIdentityOf, makeIdentity, TestNet } from "./_test_util.ts";
import { FrameReader } from "./frames.ts";
import { initiate } from "./handshake.ts";
import type { TcpTransport } from "./transport.ts";

/** Waits for `cond`, or for `bad` to become true first (then fails with `why`). */
async function before(cond: () => boolean, bad: () => boolean, why: string, what: string) {
  await waitFor(() => cond() || bad(), 15_000, what);
  assert.ok(cond() && !bad(), why);
}

/**
 * A raw client sends `victim`'s public document as its hello and never signs the finish. Resolves
 * once the listener has answered the hello (so it has fully processed it).
 */
async function forgedHello(
  from: string,
  listener: TcpTransport,
  victim: ReturnType<typeof makeIdentity>,
  net: TestNet,
): Promise<RawClient> {
  const client = await connectFrom(from, listener.address!.port);
  const local = localIdentityOf(victim, generateSigningKeyPair().privateKey);
  const target = { name: listener.self, signingKey: net.peers.get(listener.self)!.signingKey };
  const { promise: replied, resolve } = Promise.withResolvers<void>();
  let writes = 0;
  const io = {
    reader: new FrameReader(client),
    write: (b: Uint8Array) => {
      if (writes++ === 0) return client.write(b).then(() => {});
      resolve(); // the reply came and checked out; the finish is never sent
      return Promise.resolve();
    },
  };
  void initiate(io, local, target).finally(resolve);
  await replied;
  return client;
}

Deno.test("attack: forged hellos naming a peer do not delay a real message to it", async () => {
  const net = new TestNet();
  const preauth = { preauthTimeoutMs: 4000, handshakeTimeoutMs: 4000 };
  const a = net.node("a");
  const b = net.node("b", preauth);
  const got: NodeId[] = [];
  a.onMessage((from) => got.push(from));
  const forged: RawClient[] = [];
  try {
    const victim = net.identities.get("a")!;
    for (let i = 0; i < 24; i++) {
      forged.push(await forgedHello(attackerAddress(1 + (i % 3), i), b, victim, net));
    }
    b.send("a", Uint8Array.of(1));
    await before(
      () => got.length === 1,
      () => forged.some((f) => f.ended) || b.counters.rejected.handshake_timeout > 0,
      "the message arrived while the forged handshakes still held their connections",
      "the message",
    );
    assert.equal(b.counters.connectionsOpened, 1, "only b's own dial became a connection");
    await waitFor(() => forged.every((f) => f.ended), 15_000, "the forged handshakes to end");
    assert.equal(b.counters.rejected.handshake_timeout, 24);
    assert.equal(b.counters.connectionsOpened, 1, "no forged hello was ever admitted");
    assert.deepEqual(b.connectedPeers(), ["a"]);
  } finally {
    for (const f of forged) f.close();
    await Promise.all([a.close(), b.close()]);
  }
});

Deno.test("attack: silent connections from many /24s; an honest peer still connects", async () => {
  const net = new TestNet();
  const b = net.node("b", { preauthTimeoutMs: 1500, handshakeTimeoutMs: 1500 });
  const c = net.node("c");
  const got: NodeId[] = [];
  b.onMessage((from) => got.push(from));
  const silent: RawClient[] = [];
  const blocks = 6;
  const perBlock = 20;
  try {
    for (let block = 1; block <= blocks; block++) {
      for (let i = 0; i < perBlock; i++) {
        silent.push(await connectFrom(attackerAddress(10 + block, i), b.address!.port));
      }
    }
    c.send("b", Uint8Array.of(1));
    await before(
      () => got.length === 1,
      () => b.counters.rejected.handshake_timeout > 0,
      "c connected while the attackers held their slots",
      "c's message",
    );
    // Every block beyond its cap was turned away at once.
    await waitFor(() => silent.filter((s) => s.ended).length === blocks * 4, 5000, "the refusals");
    assert.equal(b.counters.rejected.block_handshakes_full, blocks * 4);
    assert.equal(b.handshakesInProgress, blocks * 16);
    // The pre-auth deadline frees every slot the attackers held.
    await waitFor(() => silent.every((s) => s.ended), 10_000, "the deadline");
    assert.equal(b.counters.rejected.handshake_timeout, blocks * 16);
    assert.equal(b.handshakesInProgress, 0);
    assert.deepEqual(b.connectedPeers(), ["c"]);
  } finally {
    for (const s of silent) s.close();
    await Promise.all([b.close(), c.close()]);
  }
});

Deno.test("attack: authenticated connections per /24 block and per key are capped", async () => {
  const net = new TestNet();
  const b = net.node("b");
  const c = net.node("c");
  const got: NodeId[] = [];
  b.onMessage((from) => got.push(from));
  const target = { name: "b", signingKey: net.peers.get("b")!.signingKey };
  const clients: RawClient[] = [];
  const outcomes: string[] = [];
  try {
    // 70 registered names, each with its own key, all from 127.21.0.0/24.
    for (let i = 0; i < 70; i++) {
      const id = makeIdentity(`sybil-${i}`, 1);
      net.publish(id, 1);
      const client = await connectFrom(attackerAddress(21, i), b.address!.port);
      clients.push(client);
      const { result } = await initiateOver(client, localIdentityOf(id), target);
      outcomes.push(result.ok ? "ok" : result.reason);
    }
    assert.equal(outcomes.filter((o) => o === "ok").length, 64, outcomes.join());
    assert.equal(outcomes.filter((o) => o === "busy").length, 6);
    assert.equal(b.counters.rejected.block_connections_full, 6);
    // Six names under one key, from another block: four get in.
    const shared = generateSigningKeyPair();
    for (let i = 0; i < 6; i++) {
      const id = makeIdentity(`puppet-${i}`, 1, shared);
      net.publish(id, 1);
      const client = await connectFrom(attackerAddress(22, i), b.address!.port);
      clients.push(client);
      const { result } = await initiateOver(client, localIdentityOf(id), target);
      outcomes.push(result.ok ? "ok" : result.reason);
    }
    assert.equal(b.counters.rejected.key_connections_full, 2);
    c.send("b", Uint8Array.of(1));
    await waitFor(() => got.length === 1, 5000, "c's message");
    assert.deepEqual(got, ["c"]);
  } finally {
    for (const s of clients) s.close();
    await Promise.all([b.close(), c.close()]);
  }
});

/** A listener whose first accept() fails as when the process is out of descriptors. */
function failingOnce(inner: Deno.TcpListener): Deno.TcpListener {
  let failed = false;
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === "accept") {
        return () => {
          if (!failed) {
            failed = true;
            return Promise.reject(new Error("Too many open files (os error 24)"));
          }
          return target.accept();
        };
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

Deno.test("attack: the accept loop keeps accepting after a transient accept() error", async () => {
  const net = new TestNet();
  const a = net.node("a");
  const listener = failingOnce(Deno.listen({ hostname: "127.0.0.1", port: 0 }));
  const b = net.node("b", { listener });
  net.publish(net.identities.get("b")!, listener.addr.port);
  const got: NodeId[] = [];
  b.onMessage((from) => got.push(from));
  try {
    a.send("b", Uint8Array.of(1));
    await waitFor(() => got.length === 1, 10_000, "a's message");
    assert.equal(b.counters.acceptErrors, 1);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});
