import fc from "fast-check";
import { createPublicKey, generateKeyPairSync, sign, verify } from "node:crypto";
import { assert, assertEquals, assertThrows } from "./_assert_test_util.ts";
import { check } from "./_fc_test_util.ts";
import { newFileSalt, randomKey } from "./aead.ts";
import { AuthenticationError, FormatError, IntegrityError } from "./errors.ts";
import {
  fragmentIndexOf,
  openFragmentIndex,
  signFragmentIndex,
  verifyAudit,
  verifyFragment,
} from "./fragment_index.ts";
import {
  blockOrdinals,
  decodeManifest,
  encodeManifest,
  fileEntryOf,
  type Manifest,
  newVersionId,
  openManifest,
  sealManifest,
} from "./manifest.ts";
import { merkleLeaf, merkleProof } from "./merkle.ts";
import { sealBytes } from "./pipeline.ts";

const fileKey = randomKey();
const keys = generateKeyPairSync("ed25519");
const owner = new Uint8Array(
  createPublicKey(keys.privateKey).export({ format: "der", type: "spki" }).subarray(12),
);
const signer = (bytes: Uint8Array) => new Uint8Array(sign(null, bytes, keys.privateKey));
const verifier = (pub: Uint8Array, bytes: Uint8Array, sig: Uint8Array) => {
  const der = new Uint8Array([
    ...Uint8Array.of(0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00),
    ...pub,
  ]);
  const key = createPublicKey({ key: der as unknown as string, format: "der", type: "spki" });
  return verify(null, bytes, key, sig);
};

/** A small real version: two files sealed with rs:3+2 and 1000-byte blocks. */
function sampleVersion() {
  const scheme = "rs:3+2";
  const blockBytes = 1000;
  const files = [
    { path: "docs/a.txt", bytes: new Uint8Array(2500).fill(1) },
    { path: "empty", bytes: new Uint8Array(0) },
    { path: "ünïcode/b", bytes: new Uint8Array(999).fill(2) },
  ];
  const sealed = files.map((f) => {
    const salt = newFileSalt();
    const blocks = sealBytes(f.bytes, {
      fileKey,
      fileSalt: salt,
      scheme,
      blockBytes,
      leafBytes: 64,
    });
    return { salt, blocks, entry: fileEntryOf({ path: f.path, salt, mtimeMs: -5 }, blocks) };
  });
  const manifest: Manifest = {
    versionId: newVersionId(),
    createdMs: 1_700_000_000_000,
    label: "nightly",
    scheme,
    blockBytes,
    leafBytes: 64,
    files: sealed.map((s) => s.entry),
  };
  return { manifest, sealed };
}

Deno.test("manifests round-trip, encode canonically, and open only with the file key", () => {
  const { manifest } = sampleVersion();
  const bytes = encodeManifest(manifest);
  assertEquals(decodeManifest(bytes), manifest);
  assertEquals(encodeManifest(decodeManifest(bytes)), bytes);
  const sealed = sealManifest(manifest, fileKey);
  assertEquals(openManifest(sealed, fileKey), manifest);
  assertThrows(() => openManifest(sealed, randomKey()), AuthenticationError);
  const v2 = sealed.slice();
  v2[4] = 2;
  assertThrows(() => openManifest(v2, fileKey), FormatError, "version 2");
  assertThrows(() => decodeManifest(bytes.subarray(0, bytes.length - 1)), FormatError);
  assertThrows(() => encodeManifest({ ...manifest, scheme: "rs:0+1" }), RangeError);
  assertEquals(blockOrdinals(manifest), [[0, 1, 2], [], [3]]);
});

Deno.test("property: any single flipped bit of a sealed manifest is detected", () => {
  const { manifest } = sampleVersion();
  const sealed = sealManifest(manifest, fileKey);
  check(
    fc.property(fc.nat(sealed.length * 8 - 1), (bit) => {
      const bad = sealed.slice();
      bad[bit >> 3] ^= 1 << (bit & 7);
      const e = assertThrows(() => openManifest(bad, fileKey));
      assert(e instanceof AuthenticationError || e instanceof FormatError, String(e));
    }),
    300,
  );
});

Deno.test("the fragment index verifies fragments, rebuilt ones and audits without keys", () => {
  const { manifest, sealed } = sampleVersion();
  const signed = signFragmentIndex(fragmentIndexOf(manifest, owner), signer);
  const index = openFragmentIndex(signed, verifier, owner);
  assertEquals(index.blocks.length, 4);
  const block = sealed[0].blocks[1];
  for (let p = 0; p < 5; p++) assert(verifyFragment(index, 1, p, block.fragments[p]));
  assert(!verifyFragment(index, 1, 0, block.fragments[1]), "fragment at the wrong position");
  assert(!verifyFragment(index, 2, 0, block.fragments[0]), "fragment of another block");
  const fragment = block.fragments[4];
  const proof = merkleProof(fragment, 0, 64);
  assert(verifyAudit(index, 1, 4, merkleLeaf(fragment, 0, 64), proof));
  assert(!verifyAudit(index, 1, 3, merkleLeaf(fragment, 0, 64), proof));
  assertThrows(() => openFragmentIndex(signed, verifier, new Uint8Array(32)), IntegrityError);
  assertThrows(() => verifyFragment(index, 9, 0, fragment), RangeError);
});

Deno.test("property: any single flipped bit of a signed fragment index is detected", () => {
  const { manifest } = sampleVersion();
  const signed = signFragmentIndex(fragmentIndexOf(manifest, owner), signer);
  check(
    fc.property(fc.nat(signed.length * 8 - 1), (bit) => {
      const bad = signed.slice();
      bad[bit >> 3] ^= 1 << (bit & 7);
      const e = assertThrows(() => openFragmentIndex(bad, verifier));
      assert(e instanceof IntegrityError || e instanceof FormatError, String(e));
    }),
    300,
  );
});

Deno.test("property: random manifests round-trip through the codec", () => {
  const hash = fc.uint8Array({ minLength: 32, maxLength: 32 });
  check(
    fc.property(
      fc.array(
        fc.record({
          path: fc.string({ maxLength: 40 }),
          mode: fc.nat(0o7777),
          mtimeMs: fc.integer(),
          sizes: fc.array(fc.integer({ min: 1, max: 100 }), { maxLength: 3 }),
        }),
        { maxLength: 5 },
      ),
      hash,
      (files, h) => {
        const manifest: Manifest = {
          versionId: h.subarray(0, 16),
          createdMs: 5,
          label: "",
          scheme: "mirror:2",
          blockBytes: 100,
          leafBytes: 16,
          files: files.map((f) => {
            const sizes = f.sizes.map((s, i) => (i < f.sizes.length - 1 ? 100 : s));
            return {
              path: f.path,
              size: sizes.reduce((a, b) => a + b, 0),
              mode: f.mode,
              mtimeMs: f.mtimeMs,
              salt: new Uint8Array(32),
              blocks: sizes.map((s) => ({
                plainSize: s,
                cipherSize: s + 16,
                wrappedKey: s % 2 ? h.subarray(0, 5) : undefined,
                fragmentHashes: [h, h],
                merkleRoots: [h, h],
              })),
            };
          }),
        };
        assertEquals(decodeManifest(encodeManifest(manifest)), manifest);
      },
    ),
    100,
  );
});

// Regression for FC_SEED=834560280.
Deno.test("regression: an index whose owner key is not a curve point is refused", () => {
  const { manifest } = sampleVersion();
  const signed = signFragmentIndex(fragmentIndexOf(manifest, owner), signer);
  const bad = signed.slice();
  bad[46 >> 3] ^= 1 << (46 & 7); // bit 46: inside the owner's public key
  assertThrows(() => openFragmentIndex(bad, verifier), IntegrityError);
});
