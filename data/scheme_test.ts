import fc from "fast-check";
import { assertEquals, assertThrows } from "./_assert_test_util.ts";
import { check } from "./_fc_test_util.ts";
import { formatScheme, fragmentSize, mirrorScheme, parseScheme, rsScheme } from "./scheme.ts";

Deno.test("parseScheme() reads rs:K+M and mirror:N", () => {
  assertEquals(parseScheme("rs:4+4"), { kind: "rs", k: 4, m: 4, n: 8 });
  assertEquals(parseScheme("rs:1+0"), { kind: "rs", k: 1, m: 0, n: 1 });
  assertEquals(parseScheme("rs:255+1"), { kind: "rs", k: 255, m: 1, n: 256 });
  assertEquals(parseScheme("mirror:2"), { kind: "mirror", k: 1, m: 1, n: 2 });
  assertEquals(fragmentSize(parseScheme("rs:4+4"), 17), 5);
  assertEquals(fragmentSize(parseScheme("mirror:3"), 17), 17);
});

Deno.test("parseScheme() refuses anything else with one clear sentence", () => {
  for (
    const bad of [
      "",
      "rs:0+4",
      "rs:4-4",
      "rs:4+",
      "rs:200+57",
      "rs:04+4",
      " rs:4+4",
      "RS:4+4",
      "mirror:0",
      "mirror:257",
      "mirror:-1",
      "raid5",
    ]
  ) {
    assertThrows(() => parseScheme(bad), RangeError, "expected rs:K+M");
  }
  assertThrows(() => rsScheme(0, 1), RangeError);
  assertThrows(() => mirrorScheme(1.5), RangeError);
});

Deno.test("property: formatScheme() and parseScheme() are inverse", () => {
  check(
    fc.property(fc.integer({ min: 1, max: 256 }), fc.nat(255), fc.boolean(), (k, m, mirror) => {
      const s = mirror ? mirrorScheme(k) : rsScheme(k, Math.min(m, 256 - k));
      assertEquals(parseScheme(formatScheme(s)), s);
    }),
    200,
  );
});
