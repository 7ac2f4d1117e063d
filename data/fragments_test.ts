import fc from "fast-check";
import { assertEquals, assertThrows } from "./_assert_test_util.ts";
import { check } from "./_fc_test_util.ts";
import { IntegrityError, TooFewFragmentsError } from "./errors.ts";
import {
  decodeFragments,
  encodeFragments,
  encodeFragmentsAdopting,
  reconstructFragments,
} from "./fragments.ts";
import { oracleParity } from "./erasure/_oracle_test_util.ts";
import { mirrorScheme, rsScheme } from "./scheme.ts";

Deno.test("property: fragments are the padded data shards and the oracle's parity", () => {
  check(
    fc.property(
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: 1, max: 12 }),
      fc.uint8Array({ minLength: 1, maxLength: 2000 }),
      (k, m, bytes) => {
        const scheme = rsScheme(k, m);
        const fragments = encodeFragments(scheme, bytes);
        const size = Math.ceil(bytes.length / k);
        const padded = new Uint8Array(k * size);
        padded.set(bytes);
        const data = Array.from({ length: k }, (_, i) => padded.slice(i * size, (i + 1) * size));
        assertEquals(fragments, [...data, ...oracleParity(data, m)]);
        assertEquals(encodeFragmentsAdopting(scheme, bytes.slice()), fragments);
      },
    ),
    100,
  );
});

Deno.test("decodeFragments() checks sizes, padding and counts", () => {
  const scheme = rsScheme(3, 1);
  const bytes = new Uint8Array(10).fill(9); // 4-byte shards, 2 bytes of padding
  const fragments = encodeFragments(scheme, bytes);
  assertEquals(decodeFragments(scheme, fragments, 10), bytes);
  const badPadding = fragments.map((f) => f.slice());
  badPadding[2][3] = 1;
  assertThrows(() => decodeFragments(scheme, badPadding, 10), IntegrityError, "padding");
  const short = [fragments[0].subarray(1), ...fragments.slice(1)];
  assertThrows(() => decodeFragments(scheme, short, 10), IntegrityError, "fragment 0");
  assertThrows(
    () => decodeFragments(scheme, [undefined, undefined, fragments[2], fragments[3]], 10),
    TooFewFragmentsError,
    "1 missing",
  );
  assertThrows(() => decodeFragments(scheme, fragments.slice(1), 10), RangeError);
});

Deno.test("mirror:N fragments are copies; any one restores, none is an error", () => {
  const scheme = mirrorScheme(3);
  const bytes = new Uint8Array(33).map((_, i) => i);
  const fragments = encodeFragments(scheme, bytes);
  assertEquals(fragments, [bytes, bytes, bytes]);
  assertEquals(decodeFragments(scheme, [undefined, undefined, fragments[2]], 33), bytes);
  assertEquals(reconstructFragments(scheme, [fragments[0], undefined, undefined], [1, 2], 33), [
    bytes,
    bytes,
  ]);
  assertThrows(
    () => decodeFragments(scheme, [undefined, undefined, undefined], 33),
    TooFewFragmentsError,
  );
});

Deno.test("empty input gives empty fragments that still count", () => {
  const scheme = rsScheme(2, 2);
  const fragments = encodeFragments(scheme, new Uint8Array(0));
  assertEquals(fragments.map((f) => f.length), [0, 0, 0, 0]);
  assertEquals(
    decodeFragments(scheme, [undefined, fragments[1], undefined, fragments[3]], 0),
    new Uint8Array(0),
  );
  assertThrows(
    () => reconstructFragments(scheme, [fragments[0], undefined, undefined, undefined], [1], 0),
    TooFewFragmentsError,
  );
});

Deno.test("property: every erasure pattern of at most M fragments decodes (random K, M)", () => {
  check(
    fc.property(
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 0, max: 4 }),
      fc.uint8Array({ maxLength: 300 }),
      (k, m, bytes) => {
        const scheme = rsScheme(k, m);
        const fragments = encodeFragments(scheme, bytes);
        for (let mask = 0; mask < 1 << scheme.n; mask++) {
          const holed = fragments.map((f, i) => (mask & (1 << i) ? undefined : f));
          const lost = holed.filter((f) => f === undefined).length;
          if (lost > m) continue;
          assertEquals(decodeFragments(scheme, holed, bytes.length), bytes, `mask ${mask}`);
          const all = fragments.map((_, i) => i);
          assertEquals(reconstructFragments(scheme, holed, all, bytes.length), fragments);
        }
      },
    ),
    40,
  );
});
