import { assert, assertEquals, assertThrows } from "./_assert_test_util.ts";
import { concat, HEADER_BYTES, writeHeader } from "./_bytes.ts";
import { BLOCK_NONCE, encryptSync, hkdf, KEY_BYTES, randomKey } from "./aead.ts";
import { array, bool, encode, optional, string, struct, uint } from "../core/codec.ts";
import { AuthenticationError, FormatError, TooFewFragmentsError } from "./errors.ts";
import { encodeFragments } from "./fragments.ts";
import { type Manifest, sealManifest } from "./manifest.ts";
import { hashFragment, LEAF_BYTES_DEFAULT } from "./merkle.ts";
import { openRecovery, recoverManifest, sealRecovery } from "./recovery.ts";
import type { RecoveryRecord } from "../core/storage.ts";

const fileKey = randomKey();
const salt = new Uint8Array(32).fill(7);
const keyOf = (i: number) => new Uint8Array(32).fill(i + 1);
const record: RecoveryRecord = {
  scheme: "rs:4+4",
  positions: ["alice-s1", undefined, "s3", "s4", "s5", "s6", "s7", "s8"],
  keys: [keyOf(0), undefined, keyOf(2), keyOf(3), keyOf(4), keyOf(5), undefined, keyOf(7)],
  versions: [{ id: "00ff", manifestCipherSize: 1234 }, { id: "abcd", manifestCipherSize: 99 }],
  allVersions: true,
};

/** A record sealed as format 1 (before keys) was, byte for byte. */
function sealV1(r: RecoveryRecord, key: Uint8Array): Uint8Array {
  const codec = struct({
    scheme: string(16),
    positions: array(optional(string(256)), 256),
    versions: array(struct({ id: string(64), manifestCipherSize: uint }), 400),
    allVersions: bool,
  });
  const head = new Uint8Array(HEADER_BYTES + 32);
  writeHeader(head, { magic: "BDRR", version: 1 });
  head.set(salt, HEADER_BYTES);
  const k = hkdf(key, salt, new TextEncoder().encode("bitdust/recovery/v1"), KEY_BYTES);
  const { keys: _, ...body } = r;
  const sealed = encryptSync(k, encode(codec, body).slice(), {
    nonce: BLOCK_NONCE,
    associatedData: head,
  });
  return concat(head, sealed);
}

Deno.test("recovery record: opens with the key only, and no flipped bit goes unnoticed", () => {
  const sealed = sealRecovery(record, fileKey, salt);
  assertEquals(openRecovery(sealed, fileKey), record);
  assertThrows(() => openRecovery(sealed, randomKey()), AuthenticationError);
  for (let i = 0; i < sealed.length; i += 7) {
    const bad = sealed.slice();
    bad[i] ^= 0x10;
    let threw = false;
    try {
      openRecovery(bad, fileKey);
    } catch (e) {
      threw = e instanceof AuthenticationError || e instanceof FormatError;
    }
    assert(threw, `a flipped bit at ${i} went unnoticed`);
  }
  assertThrows(() => openRecovery(sealed.subarray(0, 20), fileKey), FormatError);
});

Deno.test("recovery record: the pinned keys travel with the positions", () => {
  const opened = openRecovery(sealRecovery(record, fileKey, salt), fileKey);
  assertEquals(opened.keys, record.keys);
  // A record without keys seals every position unpinned.
  const { keys: _, ...bare } = record;
  const none = openRecovery(sealRecovery(bare, fileKey, salt), fileKey);
  assertEquals(none.keys, record.positions.map(() => undefined));
  const bad = { ...record, keys: [new Uint8Array(31)] };
  assertThrows(() => sealRecovery(bad, fileKey, salt), RangeError);
});

Deno.test("recovery record: one of format 1 (before keys) still opens, with no keys", () => {
  const old = sealV1(record, fileKey);
  const opened = openRecovery(old, fileKey);
  assertEquals(opened.positions, record.positions);
  assertEquals(opened.versions, record.versions);
  assertEquals(opened.keys, undefined);
  // The version byte is bound to the contents: a format 1 record does not open as format 2.
  const relabeled = old.slice();
  relabeled[4] = 2;
  assertThrows(() => openRecovery(relabeled, fileKey), AuthenticationError);
  const future = old.slice();
  future[4] = 3;
  assertThrows(() => openRecovery(future, fileKey), FormatError);
});

Deno.test("recovery record: one too big for an ID server is refused when sealing", () => {
  const versions = Array.from({ length: 400 }, (_, i) => ({
    id: `${i}`.padStart(64, "0"),
    manifestCipherSize: i,
  }));
  const positions = Array.from({ length: 256 }, (_, i) => `${i}`.padStart(255, "s"));
  assertThrows(
    () =>
      sealRecovery(
        { scheme: "mirror:256", positions, versions, allVersions: false },
        fileKey,
        salt,
      ),
    RangeError,
  );
});

function sealedManifest(scheme: string, n = 8): { fragments: Uint8Array[]; cipherSize: number } {
  const manifest: Manifest = {
    versionId: new Uint8Array(16).fill(3),
    createdMs: 1_700_000_000_000,
    label: "nightly",
    scheme,
    blockBytes: 4 << 20,
    leafBytes: 16384,
    files: [{
      path: "a/b.txt",
      size: 5,
      mode: 0o644,
      mtimeMs: 1,
      salt: new Uint8Array(32).fill(1),
      blocks: [{
        plainSize: 5,
        cipherSize: 21,
        wrappedKey: undefined,
        fragmentHashes: Array.from({ length: n }, () => new Uint8Array(32)),
        merkleRoots: Array.from({ length: n }, () => new Uint8Array(32)),
      }],
    }],
  };
  const sealed = sealManifest(manifest, fileKey);
  return { fragments: encodeFragments(scheme, sealed), cipherSize: sealed.length };
}

Deno.test("recoverManifest: with no hashes, skips altered fragments and rebuilds all", () => {
  const { fragments, cipherSize } = sealedManifest("rs:4+4");
  const given: (Uint8Array | undefined)[] = fragments.map((f) => f.slice());
  given[1] = undefined;
  given[6] = undefined;
  given[0]![3] ^= 1; // a lying supplier
  const r = recoverManifest("rs:4+4", given, cipherSize, fileKey);
  assertEquals(r.manifest.label, "nightly");
  assertEquals(r.manifest.files[0].path, "a/b.txt");
  assertEquals(r.matched, [false, false, true, true, true, true, false, true]);
  fragments.forEach((f, i) => {
    assertEquals(r.fragmentHashes[i], hashFragment(f, LEAF_BYTES_DEFAULT).sha256);
  });
});

Deno.test("recoverManifest: too few fragments, or too many altered, is a clear error", () => {
  const { fragments, cipherSize } = sealedManifest("rs:4+4");
  const few = fragments.map((f, i) => (i < 3 ? f : undefined));
  assertThrows(() => recoverManifest("rs:4+4", few, cipherSize, fileKey), TooFewFragmentsError);
  const altered = fragments.map((f, i) => {
    const c = f.slice();
    if (i < 5) c[0] ^= 1;
    return c;
  });
  assertThrows(() => recoverManifest("rs:4+4", altered, cipherSize, fileKey), AuthenticationError);
  assertThrows(
    () => recoverManifest("rs:4+4", fragments, cipherSize, randomKey()),
    AuthenticationError,
  );
});

Deno.test("recoverManifest: a mirror copy that lies is passed over for an honest one", () => {
  const { fragments, cipherSize } = sealedManifest("mirror:3", 3);
  const given = fragments.map((f) => f.slice());
  given[0][10] ^= 0x80;
  const r = recoverManifest("mirror:3", given, cipherSize, fileKey);
  assertEquals(r.matched, [false, true, true]);
});
