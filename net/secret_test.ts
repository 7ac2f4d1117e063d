import assert from "node:assert/strict";
import { CsprngSource } from "./secret.ts";

Deno.test("CsprngSource: draws past getRandomValues' 64 KiB limit", () => {
  const s = new CsprngSource();
  const big = s.bytes(200_000);
  assert.equal(big.length, 200_000);
  // Every 64 KiB piece was filled: none of them is all zero.
  for (let i = 0; i < big.length; i += 65_536) {
    assert(big.subarray(i, i + 65_536).some((b) => b !== 0), `piece at ${i} is empty`);
  }
  assert.notDeepEqual(s.bytes(32), s.bytes(32));
});

Deno.test("CsprngSource: int(n) stays in range and reaches every value", () => {
  const s = new CsprngSource();
  const seen = new Set<number>();
  for (let i = 0; i < 2_000; i++) {
    const x = s.int(7);
    assert(x >= 0 && x < 7 && Number.isInteger(x));
    seen.add(x);
  }
  assert.equal(seen.size, 7);
  const wide = s.int(2 ** 40);
  assert(wide >= 0 && wide < 2 ** 40);
  assert.throws(() => s.int(0), RangeError);
  assert.throws(() => s.bytes(-1), RangeError);
});
