import assert from "node:assert/strict";
import { backoffDelayMs } from "./backoff.ts";
import {
  type ByteSource,
  frame,
  FrameReader,
  LARGE_INITIAL_BYTES,
  STAGING_BYTES,
} from "./frames.ts";

/** A source that hands out `data` at most `step` bytes per read, then ends. */
function source(data: Uint8Array, step: number): ByteSource & { reads: number; offered: number } {
  const s = {
    at: 0,
    reads: 0,
    offered: 0,
    read(p: Uint8Array): Promise<number | null> {
      s.reads++;
      if (s.at >= data.length) return Promise.resolve(null);
      const n = Math.min(step, p.length, data.length - s.at);
      p.set(data.subarray(s.at, s.at + n));
      s.at += n;
      s.offered += n;
      return Promise.resolve(n);
    },
  };
  return s;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function roundTrip(sizes: number[], steps: number[]): Promise<void> {
  const bodies = sizes.map((n, k) => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i += 97) b[i] = (i + k) & 0xff;
    return b;
  });
  const wire = concat(bodies.map(frame));
  for (const step of steps) {
    const reader = new FrameReader(source(wire, step));
    for (const b of bodies) {
      const r = await reader.next(16 << 20);
      assert.ok(r.ok, `step ${step}, size ${b.length}`);
      assert.deepEqual(r.body, b);
    }
    assert.deepEqual(await reader.next(16 << 20), { ok: false, reason: "eof" });
  }
}

Deno.test("FrameReader: every frame size comes back whole, however bytes arrive", async () => {
  const small = [0, 1, 3, 4, 100, STAGING_BYTES - 4, STAGING_BYTES, STAGING_BYTES + 1, 300_000];
  await roundTrip(small, [1, 7, 4096, 1 << 20]);
  const big = LARGE_INITIAL_BYTES;
  await roundTrip([big - 1, big, 5, big + 1, 3 * big + 5], [4096, 65_537, 1 << 20, 16 << 20]);
});

Deno.test("FrameReader: an oversized prefix is refused before its body is read", async () => {
  const wire = concat([Uint8Array.of(0, 0x10, 0, 0), new Uint8Array(1 << 20)]);
  const src = source(wire, 4);
  const r = await new FrameReader(src).next(1000);
  assert.equal(r.ok ? "ok" : r.reason, "oversized");
  assert.equal(src.offered, 4, "only the length prefix was read");
});

Deno.test("FrameReader: a large announced frame costs what arrives, not what it says", async () => {
  const wire = concat([Uint8Array.of(0, 0xf0, 0, 0), new Uint8Array(1000)]);
  let largest = 0;
  const inner = source(wire, 1 << 30);
  const watching: ByteSource = {
    read(p) {
      largest = Math.max(largest, p.length);
      return inner.read(p);
    },
  };
  const r = await new FrameReader(watching).next(16 << 20);
  assert.equal(r.ok ? "ok" : r.reason, "truncated");
  assert.ok(largest <= LARGE_INITIAL_BYTES, `read into ${largest} bytes`);
});

Deno.test("FrameReader: a stream ending inside a frame is truncated, not eof", async () => {
  const whole = frame(new Uint8Array(100_000));
  for (const cut of [2, 10, 70_000]) {
    const r = await new FrameReader(source(whole.subarray(0, cut), 999)).next(1 << 20);
    assert.equal(r.ok ? "ok" : r.reason, "truncated", `cut at ${cut}`);
  }
  const failing: ByteSource = { read: () => Promise.reject(new Error("reset")) };
  const r = await new FrameReader(failing).next(10);
  assert.equal(r.ok ? "ok" : r.reason, "io_error");
});

Deno.test("backoffDelayMs grows exponentially up to its cap, with jitter in the upper half", () => {
  const at = (n: number, r: number) => backoffDelayMs(n, 100, 5000, () => r);
  assert.deepEqual([1, 2, 3, 4].map((n) => at(n, 0)), [50, 100, 200, 400]);
  assert.deepEqual([1, 2, 3, 4].map((n) => at(n, 0.999999)).map(Math.round), [100, 200, 400, 800]);
  assert.equal(at(50, 0), 2500);
  assert.ok(at(1000, 0.5) <= 5000);
  assert.throws(() => backoffDelayMs(0), RangeError);
});
