import assert from "node:assert/strict";
import { backoffDelayMs } from "./backoff.ts";
import { FrameBufferPool, POOL_GRANULE_BYTES } from "./budget.ts";
import { type ByteSource, frame, FrameReader, STAGING_BYTES } from "./frames.ts";

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
  const big = 2 * 1024 * 1024;
  await roundTrip([big - 1, big, 5, big + 1, 3 * big + 5], [4096, 65_537, 1 << 20, 16 << 20]);
});

Deno.test("FrameReader: an oversized prefix is refused before its body is read", async () => {
  const wire = concat([Uint8Array.of(0, 0x10, 0, 0), new Uint8Array(1 << 20)]);
  const src = source(wire, 4);
  const r = await new FrameReader(src).next(1000);
  assert.equal(r.ok ? "ok" : r.reason, "oversized");
  assert.equal(src.offered, 4, "only the length prefix was read");
});

Deno.test("FrameReader: a large frame comes in a pool buffer, held until released", async () => {
  const pool = new FrameBufferPool(1 << 20);
  const bodies = [10, 600_000, 5].map((n) => new Uint8Array(n).map((_, i) => i & 0xff));
  const reader = new FrameReader(source(concat(bodies.map(frame)), 1 << 16), { pool });
  assert.ok((await reader.next(1 << 20)).ok);
  assert.equal(pool.usedBytes, 0, "a small frame costs the pool nothing");
  const large = await reader.next(1 << 20);
  assert.ok(large.ok && !large.owned);
  assert.deepEqual(large.body, bodies[1]);
  const charged = Math.ceil(600_000 / POOL_GRANULE_BYTES) * POOL_GRANULE_BYTES;
  assert.equal(pool.usedBytes, charged, "charged what is allocated");
  assert.equal(reader.heldBytes, 600_000);
  reader.release();
  assert.deepEqual([pool.usedBytes, pool.freeBytes], [0, charged]);
  assert.ok((await reader.next(1 << 20)).ok);
  assert.equal(pool.usedBytes, 0);
});

Deno.test("FrameReader: with the pool spent, a large frame waits, then is refused", async () => {
  const pool = new FrameBufferPool(1 << 20);
  const hog = pool.tryTake(900_000)!;
  const src = source(frame(new Uint8Array(200_000)), 1 << 20);
  const reader = new FrameReader(src, { pool, waitMs: 30 });
  const r = await reader.next(1 << 20);
  assert.equal(r.ok ? "ok" : r.reason, "memory_full");
  assert.ok(src.offered <= STAGING_BYTES, "while it waited it read no more than its own share");
  assert.deepEqual([pool.waits, pool.timeouts], [1, 1]);
  // Room made while it waits: the frame goes through.
  const again = new FrameReader(source(frame(new Uint8Array(200_000)), 1 << 20), { pool });
  const pending = again.next(1 << 20);
  pool.give(hog);
  const ok = await pending;
  assert.ok(ok.ok && ok.body.length === 200_000);
  assert.equal(pool.usedBytes, POOL_GRANULE_BYTES);
  again.dispose();
  assert.equal(pool.usedBytes, 0);
});

Deno.test("FrameReader: a frame cut short gives its buffer back", async () => {
  const pool = new FrameBufferPool(1 << 20);
  const whole = frame(new Uint8Array(500_000));
  const r = await new FrameReader(source(whole.subarray(0, 100_000), 4096), { pool })
    .next(1 << 20);
  assert.equal(r.ok ? "ok" : r.reason, "truncated");
  assert.equal(pool.usedBytes, 0);
});

Deno.test("FrameReader: disposed mid-read, it gives its buffer back as the read ends", async () => {
  const pool = new FrameBufferPool(1 << 20);
  const { promise: gone, resolve: end } = Promise.withResolvers<number | null>();
  let reads = 0;
  const stalled: ByteSource = {
    read(p) {
      if (reads++ === 0) {
        const head = frame(new Uint8Array(100_000)).subarray(0, 1000);
        p.set(head);
        return Promise.resolve(head.length);
      }
      return gone;
    },
  };
  const reader = new FrameReader(stalled, { pool });
  const pending = reader.next(1 << 20);
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(pool.usedBytes, POOL_GRANULE_BYTES);
  reader.dispose();
  assert.equal(pool.usedBytes, POOL_GRANULE_BYTES, "a read may still write into it");
  end(null);
  assert.equal((await pending).ok, false);
  assert.equal(pool.usedBytes, 0);
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
