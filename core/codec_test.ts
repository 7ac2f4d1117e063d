import fc from "fast-check";
import {
  array,
  bool,
  bytes,
  type Codec,
  decode,
  DecodeError,
  encode,
  f64,
  fixedBytes,
  int,
  oneOf,
  optional,
  string,
  struct,
  tryDecode,
  u16,
  u32,
  u8,
  uint,
  union,
} from "./codec.ts";

function assertEquals(actual: unknown, expected: unknown, msg = ""): void {
  const a = JSON.stringify(actual, replacer);
  const e = JSON.stringify(expected, replacer);
  if (a !== e) throw new Error(`${msg} expected ${e}, got ${a}`);
}

function replacer(_k: string, v: unknown): unknown {
  if (v instanceof Uint8Array) return { bytes: [...v] };
  if (typeof v === "number" && !Number.isFinite(v)) return String(v);
  if (Object.is(v, -0)) return "-0";
  return v;
}

function roundTrip<T>(codec: Codec<T>, value: T): T {
  return decode(codec, encode(codec, value));
}

const Sample = struct({
  a: u8,
  b: u16,
  c: u32,
  d: uint,
  e: int,
  f: f64,
  g: bool,
  h: string(64),
  i: bytes(32),
  j: array(uint, 8),
  k: optional(string(8)),
  l: oneOf(["red", "green"] as const),
  m: fixedBytes(4),
});

const sampleArb = fc.record({
  a: fc.integer({ min: 0, max: 255 }),
  b: fc.integer({ min: 0, max: 0xffff }),
  c: fc.integer({ min: 0, max: 0xffffffff }),
  d: fc.maxSafeNat(),
  e: fc.integer({ min: -(2 ** 52 - 1), max: 2 ** 52 - 1 }),
  f: fc.double(),
  g: fc.boolean(),
  h: fc.string({ maxLength: 16, unit: "binary" }),
  i: fc.uint8Array({ maxLength: 32 }),
  j: fc.array(fc.nat(), { maxLength: 8 }),
  k: fc.option(fc.string({ maxLength: 8, unit: "grapheme-ascii" }), { nil: undefined }),
  l: fc.constantFrom("red" as const, "green" as const),
  m: fc.uint8Array({ minLength: 4, maxLength: 4 }),
});

Deno.test("codec round-trips every field type (property)", () => {
  fc.assert(
    fc.property(sampleArb, (v) => {
      assertEquals(roundTrip(Sample, v), v);
    }),
    { numRuns: 500 },
  );
});

Deno.test("codec encoding is canonical: equal values give equal bytes", () => {
  fc.assert(
    fc.property(sampleArb, (v) => {
      const once = encode(Sample, v).slice();
      const twice = encode(Sample, decode(Sample, once)).slice();
      assertEquals(twice, once);
    }),
    { numRuns: 200 },
  );
});

Deno.test("codec rejects arbitrary bytes only with DecodeError (fuzz)", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (raw) => {
      const r = tryDecode(Sample, raw);
      if (r.ok) assertEquals(encode(Sample, r.value).slice(), raw, "accepted bytes re-encode");
    }),
    { numRuns: 2000 },
  );
});

Deno.test("codec rejects every truncation of a valid encoding", () => {
  fc.assert(
    fc.property(sampleArb, (v) => {
      const full = encode(Sample, v).slice();
      for (let n = 0; n < full.length; n++) {
        if (tryDecode(Sample, full.subarray(0, n)).ok) throw new Error(`prefix ${n} accepted`);
      }
    }),
    { numRuns: 100 },
  );
});

Deno.test("codec rejects trailing bytes, non-minimal varints, bad bools, over-limit sizes", () => {
  const reasons = [
    tryDecode(uint, new Uint8Array([1, 0])),
    tryDecode(uint, new Uint8Array([0x81, 0x00])),
    tryDecode(bool, new Uint8Array([2])),
    tryDecode(bytes(2), new Uint8Array([3, 1, 2, 3])),
    tryDecode(string(2), new Uint8Array([3, 65, 66, 67])),
    tryDecode(array(u8, 2), new Uint8Array([3, 1, 2, 3])),
    tryDecode(string(8), new Uint8Array([2, 0xc3, 0x28])),
    tryDecode(optional(u8), new Uint8Array([2, 1])),
    tryDecode(oneOf(["a"] as const), new Uint8Array([1])),
    tryDecode(array(u8, 1_000_000), new Uint8Array([0xff, 0xff, 0x3f])),
    tryDecode(uint, new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])),
  ];
  for (const r of reasons) {
    if (r.ok) throw new Error(`accepted: ${JSON.stringify(r)}`);
  }
});

Deno.test("codec write side refuses values over their limits with RangeError", () => {
  const cases: [Codec<never>, unknown][] = [
    [u8 as Codec<never>, 256],
    [u16 as Codec<never>, -1],
    [uint as Codec<never>, 1.5],
    [bytes(1) as Codec<never>, new Uint8Array(2)],
    [string(2) as Codec<never>, "héllo"],
    [array(u8, 1) as Codec<never>, [1, 2]],
    [fixedBytes(2) as Codec<never>, new Uint8Array(3)],
  ];
  for (const [codec, value] of cases) {
    let threw = false;
    try {
      encode(codec, value as never);
    } catch (e) {
      threw = e instanceof RangeError;
    }
    if (!threw) throw new Error(`${codec.name} accepted ${String(value)}`);
  }
  // A failed encode leaves the pool usable.
  assertEquals(decode(uint, encode(uint, 300)), 300);
});

Deno.test("codec union carries the member name and refuses unknown tags", () => {
  const Msg = union({
    hello: [1, struct({ name: string(16) })],
    bye: [7, struct({ code: uint })],
  });
  assertEquals(roundTrip(Msg, { type: "hello", name: "ann" }), { type: "hello", name: "ann" });
  assertEquals(roundTrip(Msg, { type: "bye", code: 3 }), { type: "bye", code: 3 });
  const r = tryDecode(Msg, new Uint8Array([2, 0]));
  if (r.ok || !r.reason.includes("unknown message tag")) throw new Error(JSON.stringify(r));
  let threw = false;
  try {
    union({ a: [1, struct({})], b: [1, struct({})] });
  } catch (e) {
    threw = e instanceof RangeError;
  }
  if (!threw) throw new Error("duplicate tags accepted");
});

Deno.test("codec keeps earlier encodings intact while the pool moves to new slabs", () => {
  const Big = bytes(1 << 20);
  const kept: [Uint8Array, number][] = [];
  for (let i = 0; i < 200; i++) {
    const size = (i * 7919) % 70_000;
    const value = new Uint8Array(size).fill(i & 0xff);
    kept.push([encode(Big, value), i]);
  }
  for (const [encoded, i] of kept) {
    const value = decode(Big, encoded);
    if (value.length !== (i * 7919) % 70_000) throw new Error(`length of ${i} changed`);
    if (value.some((b) => b !== (i & 0xff))) throw new Error(`bytes of ${i} changed`);
  }
});

Deno.test("codec errors from peers are DecodeError, never another exception type", () => {
  try {
    decode(u32, new Uint8Array(3));
    throw new Error("accepted");
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
  }
});
