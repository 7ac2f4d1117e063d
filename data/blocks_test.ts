import fc from "fast-check";
import { assertEquals, assertThrows } from "./_assert_test_util.ts";
import { check } from "./_fc_test_util.ts";
import { blockCount, blocksToStream, readBlocks, splitBlocks } from "./blocks.ts";

Deno.test("property: readBlocks() cuts any chunking like splitBlocks()", async () => {
  const cases = fc.sample(
    fc.record({
      chunks: fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 12 }),
      blockBytes: fc.integer({ min: 1, max: 400 }),
    }),
    { numRuns: 200, seed: 42 },
  );
  for (const { chunks, blockBytes } of cases) {
    const whole = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of chunks) {
      whole.set(c, at);
      at += c.length;
    }
    const blocks: Uint8Array[] = [];
    for await (const b of readBlocks(chunks, blockBytes)) blocks.push(b);
    assertEquals(blocks, splitBlocks(whole, blockBytes));
    assertEquals(blocks.length, blockCount(whole.length, blockBytes));
    const back = new Uint8Array(await new Response(blocksToStream(blocks)).arrayBuffer());
    assertEquals(back, whole);
  }
});

Deno.test("readBlocks() reads a ReadableStream and refuses silly block sizes", async () => {
  const stream = blocksToStream([new Uint8Array(10).fill(1), new Uint8Array(3).fill(2)]);
  const sizes: number[] = [];
  for await (const b of readBlocks(stream, 4)) sizes.push(b.length);
  assertEquals(sizes, [4, 4, 4, 1]);
  assertThrows(() => blockCount(10, 0), RangeError);
  assertThrows(() => splitBlocks(new Uint8Array(1), 2 ** 30), RangeError);
  check(fc.property(fc.nat(1 << 20), (n) => blockCount(n, 4096) === Math.ceil(n / 4096)), 50);
});
