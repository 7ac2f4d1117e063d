import assert from "node:assert/strict";
import fc from "fast-check";
import { check } from "../data/_fc_test_util.ts";
import { generateSigningKeyPair, stepCryptoFor } from "../data/signing.ts";
import {
  checkIdentity,
  decodeIdentity,
  encodeIdentity,
  IDENTITY_MAGIC,
  IDENTITY_REJECT_REASONS,
  type IdentityBody,
  identityFromJson,
  type IdentityRejectReason,
  identitySignedBytes,
  identityToJson,
  identityUrl,
  isContactUrl,
  isSourceUrl,
  reviseIdentity,
  rotateSources,
  signIdentity,
  validateIdentityBody,
  verifyIdentity,
} from "./identity.ts";
import { IDENTITY_DOC_BYTES_MAX } from "./limits.ts";

const keys = generateSigningKeyPair();
const crypto = stepCryptoFor(keys.privateKey);

function body(over: Partial<IdentityBody> = {}): IdentityBody {
  return {
    name: "alice",
    signingKey: keys.publicKey,
    agreementKey: new Uint8Array(32).fill(7),
    contacts: ["tcp://10.0.0.1:7000", "relay://router-1"],
    sources: ["http://127.0.0.1:8080", "https://id.example.org/ids"],
    revision: 1,
    dateMs: 1_700_000_000_000,
    ...over,
  };
}

Deno.test("signIdentity() documents verify, round-trip in binary and JSON", () => {
  const doc = signIdentity(body(), crypto.sign);
  assert.ok(verifyIdentity(doc, crypto));
  const bytes = encodeIdentity(doc);
  assert.deepEqual(bytes.subarray(0, 5), IDENTITY_MAGIC);
  const checked = checkIdentity(bytes, crypto);
  assert.ok(checked.ok);
  assert.deepEqual(checked.doc, doc);
  const json = JSON.parse(JSON.stringify(identityToJson(doc)));
  const back = identityFromJson(json);
  assert.ok(back.ok);
  assert.deepEqual(back.bytes, bytes);
  assert.equal(identityUrl("http://h:1", "alice"), "http://h:1/alice.json");
});

Deno.test("the signature covers the keys and every other field", () => {
  const doc = signIdentity(body(), crypto.sign);
  const changes: Partial<IdentityBody>[] = [
    { name: "mallory" },
    { agreementKey: new Uint8Array(32).fill(8) },
    { signingKey: generateSigningKeyPair().publicKey },
    { contacts: ["tcp://6.6.6.6:1"] },
    { sources: ["http://evil:1"] },
    { revision: 2 },
    { dateMs: 1 },
  ];
  for (const change of changes) {
    const forged = { ...doc, ...change };
    assert.equal(verifyIdentity(forged, crypto), false, JSON.stringify(Object.keys(change)));
    assert.equal(checkIdentity(encodeIdentity(forged), crypto).ok, false);
  }
});

/** A byte string that reaches each rejection reason of `checkIdentity`. */
function rejectionCases(): Record<IdentityRejectReason, Uint8Array> {
  const good = encodeIdentity(signIdentity(body(), crypto.sign));
  const forge = (b: IdentityBody) => encodeIdentity({ ...b, signature: new Uint8Array(64) });
  const badSig = good.slice();
  badSig[badSig.length - 1] ^= 1;
  return {
    oversized: new Uint8Array(IDENTITY_DOC_BYTES_MAX + 1),
    malformed: good.subarray(0, good.length - 3),
    invalid_name: forge(body({ name: "has space" })),
    invalid_contacts: forge(body({ contacts: ["ftp://nope"] })),
    invalid_sources: forge(body({ sources: [] })),
    bad_signature: badSig,
  };
}

Deno.test("checkIdentity() reaches every rejection reason", () => {
  const cases = rejectionCases();
  for (const reason of IDENTITY_REJECT_REASONS) {
    const result = checkIdentity(cases[reason], crypto);
    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.reason, reason);
  }
});

Deno.test("identityFromJson() refuses anything but the exact rendering", () => {
  const json = identityToJson(signIdentity(body(), crypto.sign));
  const bad: unknown[] = [
    null,
    [],
    "x",
    { ...json, extra: 1 },
    { ...json, format: "other" },
    { ...json, signingKey: json.signingKey.toUpperCase() },
    { ...json, signature: json.signature.slice(2) },
    { ...json, revision: -1 },
    { ...json, revision: 1.5 },
    { ...json, contacts: [1] },
    { ...json, sources: "http://a" },
  ];
  for (const value of bad) assert.equal(identityFromJson(value).ok, false, JSON.stringify(value));
  const { name: _, ...noName } = json;
  assert.equal(identityFromJson(noName).ok, false);
});

Deno.test("URL rules for sources and contacts", () => {
  for (const s of ["http://127.0.0.1:1", "https://a.b/c", "sim://n3"]) assert.ok(isSourceUrl(s), s);
  for (const s of ["http://a/", "ftp://a", "http://a b", "sim://", "http://a:1/x?y"]) {
    assert.equal(isSourceUrl(s), false, s);
  }
  for (const c of ["tcp://1.2.3.4:5", "relay://r1", "sim://n1"]) assert.ok(isContactUrl(c), c);
  for (const c of ["tcp://host", "udp://a:1", "relay://"]) assert.equal(isContactUrl(c), false, c);
  assert.equal(
    validateIdentityBody(body({ sources: ["http://a:1", "http://a:1"] })),
    "invalid_sources",
  );
  assert.throws(() => signIdentity(body({ name: "" }), crypto.sign), RangeError);
});

Deno.test("reviseIdentity() and rotateSources() make the next revision", () => {
  const doc = signIdentity(body(), crypto.sign);
  const sources = rotateSources(doc.sources, ["http://127.0.0.1:8080"], [
    "http://127.0.0.1:8080",
    "https://id.example.org/ids",
    "http://new:1",
  ]);
  assert.deepEqual(sources, ["https://id.example.org/ids", "http://new:1"]);
  const next = signIdentity(reviseIdentity(doc, { sources: sources! }, 5), crypto.sign);
  assert.equal(next.revision, 2);
  assert.equal(next.dateMs, doc.dateMs);
  assert.ok(verifyIdentity(next, crypto));
  assert.equal(rotateSources(["http://a:1"], ["http://a:1"], []), null);
});

Deno.test("property: every mutation of a valid document is refused", () => {
  const good = encodeIdentity(signIdentity(body(), crypto.sign));
  const signedLength = identitySignedBytes(body()).length;
  assert.equal(signedLength + 64, good.length);
  check(
    fc.property(
      fc.integer({ min: 0, max: good.length - 1 }),
      fc.integer({ min: 1, max: 255 }),
      (at, flip) => {
        const bad = good.slice();
        bad[at] ^= flip;
        assert.equal(checkIdentity(bad, crypto).ok, false);
      },
    ),
    300,
  );
  check(
    fc.property(fc.integer({ min: 0, max: good.length - 1 }), (cut) => {
      assert.equal(checkIdentity(good.subarray(0, cut), crypto).ok, false);
    }),
    100,
  );
  check(
    fc.property(fc.uint8Array({ maxLength: 64 }), (extra) => {
      if (extra.length === 0) return;
      const longer = new Uint8Array(good.length + extra.length);
      longer.set(good);
      longer.set(extra, good.length);
      assert.equal(checkIdentity(longer, crypto).ok, false);
    }),
    100,
  );
});

Deno.test("property: arbitrary bytes never throw from checkIdentity()", () => {
  check(
    fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
      const withMagic = new Uint8Array(5 + bytes.length);
      withMagic.set(IDENTITY_MAGIC);
      withMagic.set(bytes, 5);
      assert.equal(decodeIdentity(bytes).ok, false);
      checkIdentity(withMagic, crypto);
    }),
    300,
  );
});
