/**
 * The contract every {@link Transport} implementation passes (run from each one's test file), in
 * the manner of libp2p's interface-compliance-tests: a factory makes N endpoints that can reach
 * each other, and each test checks one promise of `transport.ts` from the outside.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { NodeId } from "../core/actor.ts";
import type { QueueLimits, Transport } from "./transport.ts";

/** What the contract needs from an implementation's test. */
export interface TransportFactory {
  /** `n` fresh endpoints that can reach each other, each with `limits`. */
  create(n: number, limits?: QueueLimits): Promise<Transport[]>;
  /** Releases what `create` made besides the endpoints; runs after they are closed. */
  cleanup?(): Promise<void>;
  /** A name no endpoint answers to (sends to it must be dropped and counted). */
  nowhere: NodeId;
  /** How long a test waits for deliveries before failing. */
  timeoutMs: number;
}

/** Resolves once `cond()` holds; rejects after `timeoutMs` with `what`. */
export async function waitFor(cond: () => boolean, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

/** Waits `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function message(from: number, seq: number, size = 12): Uint8Array {
  const out = new Uint8Array(Math.max(size, 8));
  const view = new DataView(out.buffer);
  view.setUint32(0, from);
  view.setUint32(4, seq);
  for (let i = 8; i < out.length; i++) out[i] = (i * 7 + seq) & 0xff;
  return out;
}

function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 4096) out[i] = (i / 4096 + seed) & 0xff;
  out[n - 1] = seed & 0xff;
  return out;
}

type Received = Map<NodeId, Uint8Array[]>;

function collect(t: Transport): Received {
  const got: Received = new Map();
  t.onMessage((from, bytes) => {
    let list = got.get(from);
    if (list === undefined) got.set(from, list = []);
    list.push(bytes);
  });
  return got;
}

const count = (got: Received) => [...got.values()].reduce((n, l) => n + l.length, 0);

/** Registers the contract's tests for one implementation. */
export function transportContract(name: string, factory: TransportFactory): void {
  const test = (what: string, n: number, fn: (t: Transport[]) => Promise<void>, l?: QueueLimits) =>
    Deno.test(`${name}: ${what}`, async () => {
      const endpoints = await factory.create(n, l);
      try {
        await fn(endpoints);
      } finally {
        await Promise.all(endpoints.map((t) => t.close()));
        await factory.cleanup?.();
      }
    });
  const wait = (cond: () => boolean, what: string) => waitFor(cond, factory.timeoutMs, what);

  test("delivers every message exactly once and in order per pair", 4, async (t) => {
    const got = t.map(collect);
    const perPair = 150;
    for (let seq = 0; seq < perPair; seq++) {
      for (let i = 0; i < t.length; i++) {
        for (let j = 0; j < t.length; j++) {
          if (i !== j) assert.deepEqual(t[i].send(t[j].self, message(i, seq)), { ok: true });
        }
      }
    }
    const want = perPair * (t.length - 1);
    await wait(() => got.every((g) => count(g) === want), "every message");
    await sleep(20); // nothing more may arrive
    for (let j = 0; j < t.length; j++) {
      assert.equal(count(got[j]), want);
      for (let i = 0; i < t.length; i++) {
        if (i === j) continue;
        const list = got[j].get(t[i].self)!;
        list.forEach((m, seq) => assert.deepEqual(m, message(i, seq), `${i}->${j} #${seq}`));
      }
      assert.equal(t[j].counters.framesReceived, want);
      assert.equal(t[j].counters.framesSent, want);
    }
  });

  test("carries empty and largest messages; refuses larger ones as a value", 2, async (t) => {
    const [a, b] = t;
    const got = collect(b);
    const max = a.messageBytesMax;
    assert.deepEqual(a.send(b.self, new Uint8Array(0)), { ok: true });
    assert.deepEqual(a.send(b.self, pattern(max, 3)), { ok: true });
    assert.deepEqual(a.send(b.self, pattern(max + 1, 4)), { ok: false, reason: "oversized" });
    assert.deepEqual(a.send(b.self, pattern(1000, 5)), { ok: true });
    await wait(() => count(got) === 3, "three messages");
    const list = got.get(a.self)!;
    assert.equal(list[0].length, 0);
    assert.deepEqual(list[1], pattern(max, 3));
    assert.deepEqual(list[2], pattern(1000, 5));
    assert.equal(a.counters.refused.oversized, 1);
  });

  test("the sender a handler sees is the node that sent", 6, async (t) => {
    const seen: [NodeId, string][] = [];
    t[0].onMessage((from, bytes) => seen.push([from, new TextDecoder().decode(bytes)]));
    for (const s of t.slice(1)) s.send(t[0].self, new TextEncoder().encode(s.self));
    await wait(() => seen.length === t.length - 1, "a message from every sender");
    for (const [from, claimed] of seen) assert.equal(from, claimed);
    assert.deepEqual(seen.map((s) => s[0]).sort(), t.slice(1).map((s) => s.self).sort());
  });

  test("sends to itself or to invalid names are refused", 1, async ([a]) => {
    assert.deepEqual(a.send(a.self, new Uint8Array(1)), { ok: false, reason: "invalid_peer" });
    assert.deepEqual(a.send("no spaces", new Uint8Array(1)), {
      ok: false,
      reason: "invalid_peer",
    });
    assert.equal(a.counters.refused.invalid_peer, 2);
    await Promise.resolve();
  });

  refusalsAndScale(test, wait, factory.nowhere);
  backPressure(test, wait);
}

type TestFn = (
  what: string,
  n: number,
  fn: (t: Transport[]) => Promise<void>,
  l?: QueueLimits,
) => void;
type WaitFn = (cond: () => boolean, what: string) => Promise<void>;

/** Drops, close, many peers, answers from a handler. */
function refusalsAndScale(test: TestFn, wait: WaitFn, nowhere: NodeId) {
  test("a message for a node that is nowhere is dropped and counted", 1, async ([a]) => {
    assert.deepEqual(a.send(nowhere, new Uint8Array(5)), { ok: true });
    await wait(() => a.counters.framesDropped === 1, "the drop");
    assert.equal(a.pending(nowhere).frames, 0);
  });

  test("after close, sends are refused and peers see the connection go", 2, async (t) => {
    const [a, b] = t;
    const got = collect(b);
    const downs: NodeId[] = [];
    b.onPeer((peer, up) => up || downs.push(peer));
    a.send(b.self, new Uint8Array(10));
    await wait(() => count(got) === 1, "the first message");
    await a.close();
    assert.deepEqual(a.send(b.self, new Uint8Array(1)), { ok: false, reason: "closed" });
    assert.equal(a.counters.refused.closed, 1);
    await wait(() => downs.includes(a.self), "b to see a go");
    assert.deepEqual(b.send(a.self, new Uint8Array(3)), { ok: true });
    await wait(() => b.counters.framesDropped === 1, "b to drop its message to a");
    assert.equal(a.counters.framesReceived, 0);
  });

  test("many peers at once, every pair in both directions", 12, async (t) => {
    const got = t.map(collect);
    const perPair = 10;
    for (let seq = 0; seq < perPair; seq++) {
      for (let i = 0; i < t.length; i++) {
        for (let j = 0; j < t.length; j++) if (i !== j) t[i].send(t[j].self, message(i, seq, 300));
      }
    }
    const want = perPair * (t.length - 1);
    await wait(() => got.every((g) => count(g) === want), "every message");
    for (let j = 0; j < t.length; j++) {
      for (let i = 0; i < t.length; i++) {
        if (i === j) continue;
        got[j].get(t[i].self)!.forEach((m, seq) => assert.deepEqual(m, message(i, seq, 300)));
      }
    }
  });

  test("a handler may answer at once", 2, async ([a, b]) => {
    b.onMessage((from, bytes) => b.send(from, bytes.map((x) => x + 1)));
    const got = collect(a);
    for (let i = 0; i < 50; i++) a.send(b.self, Uint8Array.of(i));
    await wait(() => count(got) === 50, "fifty answers");
    assert.deepEqual(got.get(b.self)!.map((m) => m[0]), [...Array(50).keys()].map((i) => i + 1));
  });
}

function backPressure(test: TestFn, wait: WaitFn) {
  const limits = { peerQueueBytesMax: 1024 * 1024, peerQueueFramesMax: 64 };
  test("a peer that does not read cannot make the sender buffer beyond its bound", 2, async (t) => {
    const [a, b] = t;
    const got = collect(b);
    b.pause();
    const size = 64 * 1024;
    let accepted = 0;
    // Send until refused, twice, with time in between for writes the kernel still takes.
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 100_000; i++) {
        const r = a.send(b.self, message(0, accepted, size));
        if (!r.ok) {
          assert.equal(r.reason, "queue_full");
          break;
        }
        accepted++;
        if (i % 16 === 15) await sleep(0);
      }
      await sleep(100);
    }
    const pending = a.pending(b.self);
    assert.ok(pending.bytes <= limits.peerQueueBytesMax, `${pending.bytes} bytes queued`);
    assert.ok(pending.frames <= limits.peerQueueFramesMax);
    assert.ok(a.counters.refused.queue_full >= 2);
    assert.ok(count(got) === 0, "a paused endpoint delivers nothing");
    b.resume();
    await wait(() => count(got) === accepted, `${accepted} messages after resume`);
    got.get(a.self)!.forEach((m, seq) => assert.deepEqual(m, message(0, seq, size)));
    assert.deepEqual(a.pending(b.self), { frames: 0, bytes: 0 });
  }, limits);
}
