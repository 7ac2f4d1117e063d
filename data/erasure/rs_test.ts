import fc from "fast-check";
import { assert, assertEquals, assertThrows } from "../_assert_test_util.ts";
import { check } from "../_fc_test_util.ts";
import { TooFewFragmentsError } from "../errors.ts";
import { div, EXP, inv, LOG, mul, pow } from "./gf256.ts";
import { relaxedSimdKernel, simdKernel, tsKernel } from "./kernel.ts";
import { encodingMatrix, identity, invert, multiply } from "./matrix.ts";
import { ReedSolomon } from "./rs.ts";
import { oracleParity } from "./_oracle_test_util.ts";

const kernels = [tsKernel, simdKernel, relaxedSimdKernel].filter((k) => k !== undefined);

Deno.test("GF(2^8) tables: field laws hold for every element", () => {
  assertEquals(EXP[0], 1);
  assertEquals(EXP[8], 0x1d); // 2^8 reduced by 0x11d
  for (let a = 1; a < 256; a++) {
    assertEquals(EXP[LOG[a]], a);
    assertEquals(mul(a, inv(a)), 1);
    assertEquals(div(mul(a, 77), 77), a);
    assertEquals(pow(a, 255), 1);
  }
  assertEquals(pow(0, 0), 1);
  assertEquals(pow(0, 3), 0);
  assertThrows(() => div(1, 0), RangeError);
});

Deno.test("encodingMatrix() is systematic and inverts", () => {
  for (const [k, n] of [[1, 1], [1, 5], [4, 8], [10, 30], [29, 80], [128, 256], [256, 256]]) {
    const e = encodingMatrix(k, n);
    const top = { rows: k, cols: k, data: e.data.slice(0, k * k) };
    assertEquals(top.data, identity(k).data, `top of ${k}×${n}`);
  }
  const m = encodingMatrix(5, 12);
  const rows = { rows: 5, cols: 5, data: m.data.slice(7 * 5) };
  assertEquals(multiply(rows, invert(rows)).data, identity(5).data);
});

function randomShards(k: number, size: number, seed: number): Uint8Array[] {
  let x = seed | 1;
  return Array.from({ length: k }, () =>
    Uint8Array.from({ length: size }, () => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return x & 0xff;
    }));
}

Deno.test("parity equals the reed-solomon-erasure crate's for wide codes", () => {
  for (const [k, m] of [[1, 1], [2, 1], [4, 4], [10, 20], [29, 51], [17, 3], [200, 56], [1, 255]]) {
    const data = randomShards(k, 97, k * 1000 + m);
    const want = oracleParity(data, m);
    for (const kernel of kernels) {
      assertEquals(new ReedSolomon(k, m, kernel).encode(data), want, `${kernel.name} ${k}+${m}`);
    }
  }
});

Deno.test("property: parity equals the oracle's for random K, M and sizes", () => {
  check(
    fc.property(
      fc.integer({ min: 1, max: 40 }),
      fc.integer({ min: 1, max: 40 }),
      fc.integer({ min: 1, max: 3000 }),
      fc.integer(),
      (k, m, size, seed) => {
        const data = randomShards(k, size, seed);
        const want = oracleParity(data, m);
        for (const kernel of kernels) {
          assertEquals(new ReedSolomon(k, m, kernel).encode(data), want, kernel.name);
        }
      },
    ),
    60,
  );
});

Deno.test("property: reconstruction from any K shards gives back every shard", () => {
  check(
    fc.property(
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: 0, max: 12 }),
      fc.integer({ min: 0, max: 700 }),
      fc.integer(),
      fc.infiniteStream(fc.boolean()),
      (k, m, size, seed, coin) => {
        const code = new ReedSolomon(k, m);
        const data = randomShards(k, size, seed);
        const all = [...data, ...code.encode(data)];
        // Drop a random subset of at most m shards.
        const drop = new Set<number>();
        const it = coin[Symbol.iterator]();
        for (let i = 0; i < code.n && drop.size < m; i++) if (it.next().value) drop.add(i);
        const holed = all.map((s, i) => (drop.has(i) ? undefined : s));
        assertEquals(code.reconstruct(holed, all.map((_, i) => i)), all);
      },
    ),
    150,
  );
});

Deno.test("every erasure pattern of at most M shards rebuilds rs:4+4 and rs:3+2", () => {
  for (const [k, m] of [[4, 4], [3, 2], [1, 3]]) {
    const code = new ReedSolomon(k, m);
    const data = randomShards(k, 33, k + m);
    const all = [...data, ...code.encode(data)];
    for (let mask = 0; mask < 1 << code.n; mask++) {
      let lost = 0;
      for (let b = mask; b; b >>= 1) lost += b & 1;
      const holed = all.map((s, i) => (mask & (1 << i) ? undefined : s));
      if (lost > m) {
        const e = assertThrows(() => code.reconstruct(holed), TooFewFragmentsError);
        assertEquals((e as TooFewFragmentsError).missing, lost - m);
        continue;
      }
      const all2 = code.reconstruct(holed, all.map((_, i) => i));
      assertEquals(all2, all, `${k}+${m} mask ${mask}`);
    }
  }
});

Deno.test("reconstruct() computes only the wanted shards and says how many are missing", () => {
  const code = new ReedSolomon(3, 3);
  const data = randomShards(3, 10, 5);
  const all = [...data, ...code.encode(data)];
  const [p1] = code.reconstruct([all[0], undefined, all[2], all[3], undefined, undefined], [4]);
  assertEquals(p1, all[4]);
  const e = assertThrows(
    () => code.reconstruct([all[0], undefined, undefined, undefined, undefined, all[5]]),
    TooFewFragmentsError,
    "have 2, need 3 (1 missing)",
  );
  assert(e instanceof TooFewFragmentsError && e.missing === 1);
  assert(code.verify(all));
  all[4][0] ^= 1;
  assert(!code.verify(all));
});

Deno.test("ReedSolomon() refuses impossible codes", () => {
  assertThrows(() => new ReedSolomon(0, 1), RangeError);
  assertThrows(() => new ReedSolomon(1, -1), RangeError);
  assertThrows(() => new ReedSolomon(200, 57), RangeError);
  new ReedSolomon(256, 0);
});

Deno.test("SIMD kernels agree with the TypeScript kernel on odd lengths and chunk edges", () => {
  const k = 7;
  const rows = 9;
  const coeffs = Uint8Array.from(randomShards(1, rows * k, 99)[0]);
  for (const length of [0, 1, 15, 16, 17, 1023, 4097, 70001]) {
    const inputs = randomShards(k, length, length + 1);
    const want = Array.from({ length: rows }, () => new Uint8Array(length));
    tsKernel.mulMatrix(coeffs, inputs, want, length);
    for (const kernel of kernels) {
      const got = Array.from({ length: rows }, () => new Uint8Array(length).fill(0xaa));
      kernel.mulMatrix(coeffs, inputs, got, length);
      assertEquals(got, want, `${kernel.name} length ${length}`);
    }
  }
});
