import assert from "node:assert/strict";
import type { NodeId } from "../../core/actor.ts";
import { sleep, transportContract, waitFor } from "../_transport_contract.ts";
import { TestNet } from "./_test_util.ts";
import type { TcpTransport } from "./transport.ts";

transportContract("TcpTransport", {
  create(n, limits) {
    const net = new TestNet();
    return Promise.resolve(
      Array.from({ length: n }, (_, i) => net.node(`node-${i}`, limits ?? {})),
    );
  },
  nowhere: "nobody",
  timeoutMs: 15_000,
});

Deno.test("TCP: a node reconnects to a peer that restarted on the same port", async () => {
  const net = new TestNet();
  const a = net.node("a");
  let b = net.node("b");
  const port = b.address!.port;
  const keys = net.identities.get("b")!.keys;
  const got: number[] = [];
  const listen = (t: TcpTransport) => t.onMessage((_, m) => got.push(m[0]));
  listen(b);
  const downs: NodeId[] = [];
  a.onPeer((peer, up) => up || downs.push(peer));
  try {
    a.send("b", Uint8Array.of(1));
    await waitFor(() => got.length === 1, 5000, "the first message");
    await b.close();
    await waitFor(() => downs.length === 1, 5000, "a to see b go");
    b = net.node("b", {}, port, keys);
    listen(b);
    a.send("b", Uint8Array.of(2));
    await waitFor(() => got.length === 2, 5000, "the message after the restart");
    assert.deepEqual(got, [1, 2]);
    assert.equal(a.counters.connectionsOpened, 2);
    assert.equal(a.counters.framesDropped, 0);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

Deno.test("TCP: messages queued while the peer is down go out when it comes back", async () => {
  const net = new TestNet();
  const a = net.node("a", { backoffBaseMs: 20, backoffMaxMs: 40, dialAttemptsMax: 50 });
  let b = net.node("b");
  const port = b.address!.port;
  const keys = net.identities.get("b")!.keys;
  await b.close();
  let got = 0;
  try {
    for (let i = 0; i < 5; i++) a.send("b", Uint8Array.of(i));
    await waitFor(() => a.counters.dialFailures >= 2, 5000, "failed dials");
    b = net.node("b", {}, port, keys);
    b.onMessage(() => got++);
    await waitFor(() => got === 5, 5000, "the queued messages");
    assert.equal(a.counters.framesDropped, 0);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

Deno.test("TCP: idle connections close, and the next message opens a new one", async () => {
  const net = new TestNet();
  const a = net.node("a", { idleTimeoutMs: 150 });
  const b = net.node("b", { idleTimeoutMs: 150 });
  let got = 0;
  b.onMessage(() => got++);
  const events: string[] = [];
  b.onPeer((peer, up) => events.push(`${peer} ${up ? "up" : "down"}`));
  try {
    a.send("b", Uint8Array.of(1));
    await waitFor(() => got === 1, 5000, "the first message");
    await waitFor(() => events.length === 2, 5000, "the idle close");
    assert.deepEqual(a.connectedPeers(), []);
    a.send("b", Uint8Array.of(2));
    await waitFor(() => got === 2, 5000, "the second message");
    assert.deepEqual(events.slice(0, 3), ["a up", "a down", "a up"]);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

Deno.test("TCP: simultaneous dials settle on one connection per pair", async () => {
  for (let round = 0; round < 10; round++) {
    const net = new TestNet();
    const a = net.node(`a${round}`);
    const b = net.node(`b${round}`);
    const got: string[] = [];
    a.onMessage((from) => got.push(`${from}>a`));
    b.onMessage((from) => got.push(`${from}>b`));
    try {
      for (let i = 0; i < 3; i++) {
        a.send(b.self, Uint8Array.of(i));
        b.send(a.self, Uint8Array.of(i));
      }
      await waitFor(() => got.length === 6, 5000, "both ways");
      await sleep(20);
      for (const t of [a, b]) {
        assert.equal(t.counters.connectionsOpened - t.counters.connectionsClosed, 1);
        assert.equal(t.counters.connectionsOpened, 1, "the loser never became active");
        assert.equal(t.counters.dialFailures, 0);
        assert.equal(t.counters.framesDropped, 0);
      }
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  }
});

Deno.test("TCP: close drops what is queued and counts it", async () => {
  const net = new TestNet();
  const a = net.node("a");
  const b = net.node("b");
  b.pause();
  try {
    a.send("b", Uint8Array.of(1));
    await waitFor(() => a.counters.framesSent === 1, 5000, "the connection");
    let accepted = 1;
    for (let round = 0; round < 3; round++) {
      while (a.send("b", new Uint8Array(1 << 20)).ok) accepted++;
      await sleep(50);
    }
    const queued = a.pending("b").frames;
    assert.ok(queued >= 2);
    await a.close();
    const c = a.counters;
    assert.equal(c.framesDropped, queued, JSON.stringify(c));
    assert.equal(c.framesSent + c.framesDropped, accepted);
    assert.equal(c.refused.queue_full, 3);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

Deno.test("TCP: a handler that throws is reported, and the connection keeps going", async () => {
  const net = new TestNet();
  const errors: unknown[] = [];
  const a = net.node("a");
  const b = net.node("b", { onFatal: (e) => errors.push(e) });
  let got = 0;
  b.onMessage((_, m) => {
    got++;
    if (m[0] === 1) throw new Error("handler bug");
  });
  try {
    for (let i = 0; i < 3; i++) a.send("b", Uint8Array.of(i));
    await waitFor(() => got === 3, 5000, "three messages");
    assert.equal(errors.length, 1);
    assert.equal(b.counters.connectionsClosed, 0);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

Deno.test("TCP: a resolver that throws counts as an unknown name", async () => {
  const net = new TestNet();
  const errors: unknown[] = [];
  const a = net.node("a", {
    resolver: { resolve: () => Promise.reject(new Error("resolver down")) },
    onFatal: (e) => errors.push(e),
  });
  try {
    a.send("b", Uint8Array.of(1));
    await waitFor(() => a.counters.framesDropped === 1, 5000, "the drop");
    assert.deepEqual(errors, []);
    assert.equal(a.counters.dialFailures, 3);
  } finally {
    await a.close();
  }
});
