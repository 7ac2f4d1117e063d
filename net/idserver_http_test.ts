import assert from "node:assert/strict";
import fc from "fast-check";
import { FAMILY_SEALED_BYTES_MAX, SIGNATURE_BYTES } from "../core/limits.ts";
import type { SignedFamilyRecord } from "../core/protocol/identity.ts";
import { FAMILY_JSON_BYTES_MAX, familyFromJson, familyToJson } from "./idserver_http.ts";

const record: fc.Arbitrary<SignedFamilyRecord> = fc.record({
  owner: fc.stringMatching(/^[A-Za-z0-9._:@-]{1,40}$/),
  revision: fc.maxSafeNat(),
  issuedMs: fc.maxSafeNat(),
  sealed: fc.uint8Array({ maxLength: 256 }),
  signature: fc.uint8Array({ minLength: SIGNATURE_BYTES, maxLength: SIGNATURE_BYTES }),
});

Deno.test("familyFromJson() reads back familyToJson(), also through JSON text", () => {
  fc.assert(
    fc.property(record, (r) => {
      const text = JSON.stringify(familyToJson(r));
      assert.deepEqual(familyFromJson(JSON.parse(text)), { ...r });
    }),
  );
});

Deno.test("familyFromJson() refuses wrong types, bad hex, sizes and names", () => {
  const good = familyToJson({
    owner: "alice",
    revision: 1,
    issuedMs: 2,
    sealed: new Uint8Array([1]),
    signature: new Uint8Array(SIGNATURE_BYTES),
  });
  assert.notEqual(familyFromJson(good), null);
  const bad: unknown[] = [
    null,
    [good],
    "alice",
    { ...good, owner: "a b" },
    { ...good, owner: "" },
    { ...good, revision: -1 },
    { ...good, revision: 1.5 },
    { ...good, issuedMs: "2" },
    { ...good, sealed: "0" },
    { ...good, sealed: "0G" },
    { ...good, sealed: "AB" },
    { ...good, sealed: undefined },
    { ...good, signature: good.signature.slice(2) },
    { ...good, signature: good.signature + "00" },
    { ...good, sealed: "00".repeat(FAMILY_SEALED_BYTES_MAX + 1) },
  ];
  for (const v of bad) assert.equal(familyFromJson(v), null, JSON.stringify(v)?.slice(0, 80));
  const largest = { ...good, sealed: "ff".repeat(FAMILY_SEALED_BYTES_MAX), owner: "a".repeat(64) };
  assert.notEqual(familyFromJson(largest), null);
  assert.ok(JSON.stringify(largest).length < FAMILY_JSON_BYTES_MAX, "the largest record fits");
});
