import assert from "node:assert/strict";
import { FrameBufferPool, POOL_GRANULE_BYTES } from "./budget.ts";

const G = POOL_GRANULE_BYTES;

Deno.test("FrameBufferPool charges whole granules and hands out what fits", () => {
  const pool = new FrameBufferPool(4 * G);
  const a = pool.tryTake(1)!;
  assert.equal(a.length, 1);
  assert.equal(a.buffer.byteLength, G);
  const b = pool.tryTake(2 * G + 1)!;
  assert.equal(pool.usedBytes, 4 * G);
  assert.equal(pool.tryTake(1), null, "full");
  pool.give(a);
  assert.deepEqual([pool.usedBytes, pool.freeBytes], [3 * G, G]);
  const c = pool.tryTake(G)!;
  assert.equal(c.buffer, a.buffer, "a free buffer of the right size is reused");
  pool.give(b);
  pool.give(c);
  assert.deepEqual([pool.usedBytes, pool.freeBytes, pool.peakBytes], [0, 4 * G, 4 * G]);
  // Room for a size not kept free: free buffers of other sizes are dropped for it.
  const d = pool.tryTake(4 * G)!;
  assert.deepEqual([pool.usedBytes, pool.freeBytes], [4 * G, 0]);
  assert.throws(() => pool.give(new Uint8Array(new ArrayBuffer(8 * G))), RangeError);
  pool.give(d);
});

Deno.test("FrameBufferPool: waiters in order; small ones never starve a big one", async () => {
  const pool = new FrameBufferPool(4 * G);
  const held = [pool.tryTake(2 * G)!, pool.tryTake(2 * G)!];
  const order: string[] = [];
  const big = pool.take(4 * G, 10_000).then((b) => (order.push("big"), b));
  const small = pool.take(G, 10_000).then((b) => (order.push("small"), b));
  assert.equal(pool.tryTake(1), null, "nobody jumps the line");
  pool.give(held[0]);
  await Promise.resolve();
  assert.deepEqual(order, [], "the head does not fit yet, and blocks the one behind it");
  pool.give(held[1]);
  const bigBuffer = (await big)!;
  assert.deepEqual(order, ["big"]);
  pool.give(bigBuffer);
  assert.ok((await small) !== null);
  assert.deepEqual(order, ["big", "small"]);
  assert.equal(pool.waits, 2);
});

Deno.test("FrameBufferPool refuses at the deadline, on abort, and what can never fit", async () => {
  const pool = new FrameBufferPool(2 * G);
  const hog = pool.tryTake(2 * G)!;
  assert.equal(await pool.take(G, 10), null);
  assert.equal(pool.timeouts, 1);
  const abort = new AbortController();
  const aborted = pool.take(G, 10_000, abort.signal);
  const behind = pool.take(G, 10_000);
  abort.abort();
  assert.equal(await aborted, null);
  assert.equal(pool.waiting, 1);
  assert.equal(await pool.take(3 * G, 10_000), null, "larger than the pool");
  pool.give(hog);
  assert.ok((await behind) !== null);
  assert.equal(pool.waiting, 0);
});
