import assert from "node:assert/strict";
import type { NodeId } from "../../core/actor.ts";
import { sleep, waitFor } from "../_transport_contract.ts";
import {
  type Direction,
  FrameProxy,
  HANDSHAKE_FRAMES,
  type Tamper,
  TestNet,
} from "./_test_util.ts";
import { COUNTER_BYTES, SEAL_OVERHEAD_BYTES, Session, TAG_BYTES } from "./session.ts";
import type { TcpTransport } from "./transport.ts";
import type { InboundReject } from "../transport.ts";

const k1 = new Uint8Array(32).fill(1);
const k2 = new Uint8Array(32).fill(2);
const body = (frame: Uint8Array) => frame.subarray(4);

Deno.test("Session: sealed frames open in order on the other side", () => {
  const a = new Session(k1, k2);
  const b = new Session(k2, k1);
  for (const size of [0, 1, 1000, 200_000]) {
    const m = new Uint8Array(size).map((_, i) => i & 0xff);
    const frame = a.seal(m);
    assert.equal(frame.length, size + SEAL_OVERHEAD_BYTES);
    assert.equal(new DataView(frame.buffer).getUint32(0), size + COUNTER_BYTES + TAG_BYTES);
    assert.deepEqual(b.open(body(frame)), { ok: true, message: m });
  }
  assert.equal(a.sent, 4);
});

Deno.test("Session: altered, replayed, reordered and short frames are refused", () => {
  const a = new Session(k1, k2);
  const f0 = a.seal(Uint8Array.of(1, 2, 3));
  const f1 = a.seal(Uint8Array.of(4));
  const f2 = a.seal(Uint8Array.of(5));
  const flip = (f: Uint8Array, at: number) => {
    const g = f.slice();
    g[at] ^= 1;
    return g;
  };
  assert.deepEqual(new Session(k2, k1).open(body(flip(f0, 13))), { ok: false, reason: "bad_tag" });
  assert.deepEqual(new Session(k2, k1).open(body(flip(f0, 20))), { ok: false, reason: "bad_tag" });
  const wrongKey = new Session(k1, k2);
  assert.deepEqual(wrongKey.open(body(f0)), { ok: false, reason: "bad_tag" });
  assert.deepEqual(new Session(k2, k1).open(body(f1)), { ok: false, reason: "out_of_order" });
  assert.deepEqual(new Session(k2, k1).open(new Uint8Array(10)), {
    ok: false,
    reason: "malformed",
  });
  const b = new Session(k2, k1);
  assert.ok(b.open(body(f0)).ok);
  assert.deepEqual(b.open(body(f0)), { ok: false, reason: "replayed" });
  assert.ok(b.open(body(f1)).ok);
  // A counter forged to the expected value fails the tag: the nonce is part of the MAC.
  const forged = f0.slice();
  forged.set(f2.subarray(4, 12), 4);
  assert.deepEqual(b.open(body(forged)), { ok: false, reason: "bad_tag" });
  assert.ok(b.open(body(f2)).ok);
});

/** A pair of nodes where `a` reaches `b` through a tampering proxy, and a third node `c`. */
async function tampered(tamper: Tamper, run: (n: Net) => Promise<void>) {
  const net = new TestNet();
  const a = net.node("a");
  const b = net.node("b");
  const c = net.node("c");
  const proxy = new FrameProxy(b.address!.port, tamper);
  net.peers.set("b", { ...net.peers.get("b")!, contacts: [`tcp://127.0.0.1:${proxy.port}`] });
  const got: [NodeId, number][] = [];
  b.onMessage((from, m) => got.push([from, m[0]]));
  try {
    await run({ a, b, c, got });
  } finally {
    await Promise.all([a.close(), b.close(), c.close()]);
    await proxy.close();
  }
}

interface Net {
  a: TcpTransport;
  b: TcpTransport;
  c: TcpTransport;
  got: [NodeId, number][];
}

/** Tamper with the `n`-th data frame going up on the first connection only. */
function onData(n: number, fn: (frame: Uint8Array, held: Uint8Array[]) => Uint8Array[] | "cut") {
  const held: Uint8Array[] = [];
  let done = false;
  return (dir: Direction, index: number, frame: Uint8Array): Uint8Array[] | "cut" => {
    const data = index - HANDSHAKE_FRAMES.up;
    if (dir === "down" || data < 0 || done) return [frame];
    if (data < n) {
      held.push(frame);
      return [frame];
    }
    done = true;
    return fn(frame, held);
  };
}

async function rejectedOnTheWire(reason: InboundReject, tamper: Tamper, delivered: number[]) {
  await tampered(tamper, async ({ a, b, c, got }) => {
    for (let i = 1; i <= 3; i++) a.send("b", Uint8Array.of(i));
    await waitFor(() => b.counters.rejected[reason] === 1, 5000, reason);
    await waitFor(() => a.connectedPeers().length === 0, 5000, "a to see the connection go");
    await sleep(20);
    assert.deepEqual(got.map((g) => g[1]), delivered);
    const total = Object.values(b.counters.rejected).reduce((x, y) => x + y, 0);
    assert.equal(total, 1, JSON.stringify(b.counters.rejected));
    // b keeps serving: c directly, and a again on a new connection.
    c.send("b", Uint8Array.of(42));
    a.send("b", Uint8Array.of(9));
    await waitFor(() => got.length === delivered.length + 2, 5000, "later messages");
    assert.deepEqual(got.slice(-2).sort(), [["a", 9], ["c", 42]]);
  });
}

Deno.test("TCP: a bit flipped in the ciphertext on the wire fails the tag", async () => {
  await rejectedOnTheWire(
    "bad_tag",
    onData(1, (f) => {
      const g = f.slice();
      g[4 + COUNTER_BYTES] ^= 0x10;
      return [g];
    }),
    [1],
  );
});

Deno.test("TCP: a frame replayed on the wire is refused as a replay", async () => {
  await rejectedOnTheWire("replayed", onData(1, (f, held) => [f, held[0]]), [1, 2]);
});

Deno.test("TCP: frames swapped on the wire are refused as out of order", async () => {
  let held: Uint8Array | undefined;
  let done = false;
  const swap: Tamper = (dir, index, f) => {
    const data = index - HANDSHAKE_FRAMES.up;
    if (dir === "down" || data < 0 || done) return [f];
    if (data === 0) {
      held = f;
      return [];
    }
    done = true;
    return [f, held!];
  };
  await rejectedOnTheWire("out_of_order", swap, []);
});

Deno.test("TCP: a frame cut short on the wire is counted as truncated", async () => {
  await rejectedOnTheWire("truncated", onData(1, () => "cut"), [1]);
});

Deno.test("TCP: an oversized length prefix after the handshake closes the connection", async () => {
  await rejectedOnTheWire(
    "oversized",
    onData(1, (f) => {
      const g = f.slice();
      new DataView(g.buffer).setUint32(0, 0xffff_fff0);
      return [g];
    }),
    [1],
  );
});
