import assert from "node:assert/strict";
import type { NodeId } from "../../core/actor.ts";
import { generateSigningKeyPair } from "../../data/signing.ts";
import { waitFor } from "../_transport_contract.ts";
import type { InboundReject } from "../transport.ts";
import { localIdentityOf, makeIdentity, rawHandshake, readToEnd, TestNet } from "./_test_util.ts";
import { frame, FrameReader, writeAll } from "./frames.ts";
import { type HandshakeFailure, respond, verdictFrame } from "./handshake.ts";
import { Session } from "./session.ts";
import type { TcpTransport, TcpTransportOptions } from "./transport.ts";

/** A listener `b`, a well-behaved peer `c`; after `attack`, `b` must still serve `c`. */
async function stillServing(
  options: Partial<TcpTransportOptions>,
  attack: (b: TcpTransport, net: TestNet) => Promise<void>,
) {
  const net = new TestNet();
  const b = net.node("b", options);
  const c = net.node("c");
  const got: NodeId[] = [];
  b.onMessage((from) => got.push(from));
  try {
    await attack(b, net);
    c.send("b", Uint8Array.of(1));
    await waitFor(() => got.length === 1, 5000, "c's message");
    assert.deepEqual(got, ["c"]);
  } finally {
    await Promise.all([b.close(), c.close()]);
  }
}

function expectRejected(b: TcpTransport, reason: InboundReject, failure?: HandshakeFailure) {
  const r = b.counters.rejected;
  assert.equal(r[reason], 1, JSON.stringify(r));
  assert.equal(Object.values(r).reduce((x, y) => x + y, 0), 1, JSON.stringify(r));
  if (failure !== undefined) assert.equal(b.handshakeFailures[failure], 1);
}

Deno.test("TCP: garbage instead of a hello is refused and counted", async () => {
  await stillServing({}, async (b) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: b.address!.port });
    const junk = crypto.getRandomValues(new Uint8Array(300));
    await writeAll(conn, frame(junk.map((x, i) => (i === 0 ? 7 : x)))); // not a hello
    await readToEnd(conn);
    conn.close();
    await waitFor(() => b.counters.rejected.handshake_failed === 1, 5000, "the refusal");
    expectRejected(b, "handshake_failed", "malformed");
  });
});

Deno.test("TCP: an oversized length prefix before the handshake closes at once", async () => {
  await stillServing({}, async (b) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: b.address!.port });
    await writeAll(conn, Uint8Array.of(0x7f, 0xff, 0xff, 0xff, 1, 2, 3));
    await readToEnd(conn);
    conn.close();
    await waitFor(() => b.counters.rejected.oversized === 1, 5000, "the refusal");
    expectRejected(b, "oversized", "oversized");
  });
});

Deno.test("TCP: an identity document signed by another key is refused", async () => {
  await stillServing({}, async (b, net) => {
    const other = generateSigningKeyPair();
    const mallory = makeIdentity("mallory", 1);
    const forged = makeIdentity("mallory", 1, { ...other, publicKey: mallory.keys.publicKey });
    const local = localIdentityOf(forged, other.privateKey);
    const target = { name: "b", signingKey: net.peers.get("b")!.signingKey };
    const { conn, result } = await rawHandshake(b.address!.port, local, target);
    conn.close();
    assert.equal(result.ok, false);
    await waitFor(() => b.counters.rejected.handshake_failed === 1, 5000, "the refusal");
    expectRejected(b, "handshake_failed", "bad_identity");
  });
});

Deno.test("TCP: a transcript signed by the wrong key is refused", async () => {
  await stillServing({}, async (b, net) => {
    const mallory = makeIdentity("mallory", 1);
    const local = localIdentityOf(mallory, generateSigningKeyPair().privateKey);
    const target = { name: "b", signingKey: net.peers.get("b")!.signingKey };
    const { conn, result } = await rawHandshake(b.address!.port, local, target);
    // The initiator sent its finish; the responder refuses it and closes: no verdict comes.
    assert.deepEqual(result.ok ? "ok" : result.reason, "eof");
    conn.close();
    await waitFor(() => b.counters.rejected.handshake_failed === 1, 5000, "the refusal");
    expectRejected(b, "handshake_failed", "bad_signature");
  });
});

Deno.test("TCP: a known name presented under another key is refused, sealed", async () => {
  await stillServing({}, async (b, net) => {
    const impostor = makeIdentity("c", 1); // the resolver knows "c" under c's real key
    const target = { name: "b", signingKey: net.peers.get("b")!.signingKey };
    const { conn, result } = await rawHandshake(b.address!.port, localIdentityOf(impostor), target);
    conn.close();
    assert.deepEqual(result.ok ? "ok" : [result.reason, result.refused], ["key_mismatch", true]);
    expectRejected(b, "key_mismatch");
    assert.equal(b.counters.connectionsOpened, 0);
  });
});

Deno.test("TCP: a name the resolver does not know is refused, sealed", async () => {
  await stillServing({}, async (b, net) => {
    const target = { name: "b", signingKey: net.peers.get("b")!.signingKey };
    const local = localIdentityOf(makeIdentity("mallory", 1));
    const { conn, result } = await rawHandshake(b.address!.port, local, target);
    conn.close();
    assert.deepEqual(result.ok ? "ok" : [result.reason, result.refused], ["unknown_peer", true]);
    expectRejected(b, "unknown_peer");
  });
});

Deno.test("TCP: a hello for another node is closed before any reply", async () => {
  await stillServing({}, async (b, net) => {
    const target = { name: "zed", signingKey: net.peers.get("b")!.signingKey };
    const local = localIdentityOf(makeIdentity("mallory", 1));
    const { conn, result } = await rawHandshake(b.address!.port, local, target);
    conn.close();
    assert.deepEqual(result.ok ? "ok" : result.reason, "eof");
    await waitFor(() => b.counters.rejected.handshake_failed === 1, 5000, "the refusal");
    expectRejected(b, "handshake_failed", "wrong_peer");
  });
});

Deno.test("TCP: a refusal forged on the path fails its tag; the dial just fails", async () => {
  const net = new TestNet();
  const a = net.node("a");
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const b = makeIdentity("b", listener.addr.port);
  net.publish(b, listener.addr.port);
  // The real b's handshake, but its verdict replaced by a "busy" sealed under other keys.
  const served = (async () => {
    const conn = await listener.accept();
    const io = { reader: new FrameReader(conn), write: (x: Uint8Array) => writeAll(conn, x) };
    const r = await respond(io, localIdentityOf(b));
    assert.ok(r.ok);
    const other = new Session(new Uint8Array(32).fill(9), new Uint8Array(32).fill(9));
    await writeAll(conn, verdictFrame(other, "busy"));
    await readToEnd(conn);
    conn.close();
  })();
  try {
    a.send("b", Uint8Array.of(1));
    await waitFor(() => a.counters.dialFailures >= 1, 5000, "the failed dial");
    assert.equal(a.handshakeFailures.bad_verdict, 1);
    assert.equal(a.handshakeFailures.busy, 0);
    await served;
  } finally {
    listener.close();
    await a.close();
  }
});

Deno.test("TCP: a dialer refuses a listener that is not the node it dialed", async () => {
  const net = new TestNet();
  const a = net.node("a");
  // An impostor holds a valid, self-signed document named "b" under its own key.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const realB = makeIdentity("b", listener.addr.port);
  net.publish(realB, listener.addr.port);
  const impostor = localIdentityOf(makeIdentity("b", listener.addr.port));
  const served = (async () => {
    const conn = await listener.accept();
    const io = { reader: new FrameReader(conn), write: (x: Uint8Array) => writeAll(conn, x) };
    const r = await respond(io, impostor);
    if (r.ok) await writeAll(conn, verdictFrame(r.session, "ok")).catch(() => {});
    conn.close();
    return r;
  })();
  try {
    a.send("b", Uint8Array.of(1));
    await waitFor(() => a.counters.dialFailures >= 1, 5000, "the failed dial");
    assert.equal(a.handshakeFailures.key_mismatch, 1);
    assert.equal(a.counters.rejected.handshake_failed, 1);
    assert.equal((await served).ok, false, "a never signed the finish");
  } finally {
    listener.close();
    await a.close();
  }
});

Deno.test("TCP: a peer that says nothing is cut off at the pre-auth deadline", async () => {
  await stillServing({ preauthTimeoutMs: 200 }, async (b) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: b.address!.port });
    await readToEnd(conn);
    conn.close();
    await waitFor(() => b.counters.rejected.handshake_timeout === 1, 5000, "the count");
    expectRejected(b, "handshake_timeout", "timeout");
  });
});

Deno.test("TCP: unauthenticated connections are limited in number", async () => {
  await stillServing({ preauthTimeoutMs: 300, handshakesMax: 2 }, async (b) => {
    const port = b.address!.port;
    const silent = [];
    for (let i = 0; i < 3; i++) silent.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    assert.equal(await readToEnd(silent[2]), 0);
    assert.equal(b.counters.rejected.handshakes_full, 1, "the third is closed at once");
    assert.equal(b.counters.rejected.handshake_timeout, 0);
    await Promise.all(silent.slice(0, 2).map(readToEnd));
    for (const c of silent) c.close();
    await waitFor(() => b.counters.rejected.handshake_timeout === 2, 5000, "two timeouts");
    assert.equal(b.handshakesInProgress, 0);
  });
});

Deno.test("TCP: one address block cannot hold every handshake slot", async () => {
  const options = { preauthTimeoutMs: 300, handshakesMax: 8, handshakesPerBlockMax: 2 };
  await stillServing(options, async (b) => {
    const port = b.address!.port;
    const silent = [];
    for (let i = 0; i < 3; i++) silent.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    assert.equal(await readToEnd(silent[2]), 0);
    assert.equal(b.counters.rejected.block_handshakes_full, 1, "the third is closed at once");
    assert.equal(b.counters.rejected.handshake_timeout, 0);
    await Promise.all(silent.slice(0, 2).map(readToEnd));
    for (const c of silent) c.close();
    await waitFor(() => b.counters.rejected.handshake_timeout === 2, 5000, "two timeouts");
    assert.equal(b.counters.rejected.handshakes_full, 0);
  });
});
