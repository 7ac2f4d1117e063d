import assert from "node:assert/strict";
import { generateSigningKeyPair, stepCryptoFor } from "../data/signing.ts";
import { encodeIdentity, type IdentityBody, reviseIdentity, signIdentity } from "./identity.ts";
import {
  createIdentityCache,
  forgetIdentity,
  IDENTITY_CACHE_REJECT_REASONS,
  identityCacheInvariants,
  type IdentityCacheRejectReason,
  lookupIdentity,
  offerIdentity,
  signingKeyOf,
} from "./identity_cache.ts";

const owner = generateSigningKeyPair();
const thief = generateSigningKeyPair();
const ownerCrypto = stepCryptoFor(owner.privateKey);
const thiefCrypto = stepCryptoFor(thief.privateKey);

function body(name = "alice", over: Partial<IdentityBody> = {}): IdentityBody {
  return {
    name,
    signingKey: owner.publicKey,
    agreementKey: new Uint8Array(32).fill(1),
    contacts: [],
    sources: ["http://127.0.0.1:1"],
    revision: 3,
    dateMs: 1000,
    ...over,
  };
}

const rev = (n: number, over: Partial<IdentityBody> = {}) =>
  encodeIdentity(signIdentity(body("alice", { revision: n, ...over }), ownerCrypto.sign));

Deno.test("the cache keeps the highest revision and refuses older ones", () => {
  const cache = createIdentityCache();
  assert.equal(offerIdentity(cache, rev(3), ownerCrypto, 0).ok, true);
  const up = offerIdentity(cache, rev(5), ownerCrypto, 1);
  assert.ok(up.ok && up.status === "updated");
  const old = offerIdentity(cache, rev(4), ownerCrypto, 2);
  assert.ok(!old.ok && old.reason === "older_revision" && old.cached?.revision === 5);
  const same = offerIdentity(cache, rev(5), ownerCrypto, 3);
  assert.ok(same.ok && same.status === "unchanged");
  assert.equal(lookupIdentity(cache, "alice")?.revision, 5);
  assert.deepEqual(signingKeyOf(cache, "alice"), owner.publicKey);
  identityCacheInvariants(cache);
});

Deno.test("a rotated document (new sources, same key, higher revision) replaces the old", () => {
  const cache = createIdentityCache();
  const first = signIdentity(body(), ownerCrypto.sign);
  offerIdentity(cache, encodeIdentity(first), ownerCrypto, 0);
  const rotated = reviseIdentity(first, { sources: ["http://127.0.0.1:2"] }, 10);
  const result = offerIdentity(
    cache,
    encodeIdentity(signIdentity(rotated, ownerCrypto.sign)),
    ownerCrypto,
    10,
  );
  assert.ok(result.ok && result.status === "updated");
  assert.deepEqual(lookupIdentity(cache, "alice")?.sources, ["http://127.0.0.1:2"]);
});

Deno.test("every cache rejection reason is reached and counted", () => {
  const cache = createIdentityCache();
  offerIdentity(cache, rev(3), ownerCrypto, 0);
  const forged = rev(9).slice();
  forged[forged.length - 1] ^= 1;
  const cases: [IdentityCacheRejectReason, Uint8Array, string?][] = [
    ["oversized", new Uint8Array(100_000)],
    ["malformed", new Uint8Array(10)],
    ["invalid_name", encodeIdentity({ ...signIdentity(body(), ownerCrypto.sign), name: "a b" })],
    [
      "invalid_contacts",
      encodeIdentity({ ...signIdentity(body(), ownerCrypto.sign), contacts: ["x"] }),
    ],
    ["invalid_sources", encodeIdentity({ ...signIdentity(body(), ownerCrypto.sign), sources: [] })],
    ["bad_signature", forged],
    ["name_mismatch", rev(4), "bob"],
    [
      "key_changed",
      encodeIdentity(
        signIdentity(body("alice", { signingKey: thief.publicKey, revision: 9 }), thiefCrypto.sign),
      ),
    ],
    ["older_revision", rev(2)],
    ["conflict", rev(3, { dateMs: 2000 })],
  ];
  assert.deepEqual(cases.map((c) => c[0]), IDENTITY_CACHE_REJECT_REASONS);
  for (const [reason, bytes, name] of cases) {
    const result = offerIdentity(cache, bytes, ownerCrypto, 1, name);
    assert.ok(!result.ok && result.reason === reason, reason);
    assert.equal(cache.counters[reason], 1, reason);
  }
  assert.equal(lookupIdentity(cache, "alice")?.revision, 3);
});

Deno.test("a full cache drops the least recently used entry", () => {
  const cache = createIdentityCache(2);
  const doc = (name: string) => encodeIdentity(signIdentity(body(name), ownerCrypto.sign));
  offerIdentity(cache, doc("a"), ownerCrypto, 0);
  offerIdentity(cache, doc("b"), ownerCrypto, 0);
  lookupIdentity(cache, "a");
  offerIdentity(cache, doc("c"), ownerCrypto, 0);
  assert.deepEqual([...cache.entries.keys()].sort(), ["a", "c"]);
  assert.equal(cache.counters.evicted, 1);
  assert.ok(forgetIdentity(cache, "a"));
  identityCacheInvariants(cache);
});
