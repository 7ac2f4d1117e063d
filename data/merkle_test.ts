import fc from "fast-check";
import { assert, assertEquals, assertThrows } from "./_assert_test_util.ts";
import { check } from "./_fc_test_util.ts";
import {
  hashFragment,
  leafCount,
  merkleLeaf,
  merkleProof,
  merkleRoot,
  sha256,
  verifyMerkleProof,
} from "./merkle.ts";

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

Deno.test("sha256() matches the FIPS 180-2 test vector", () => {
  assertEquals(
    hex(sha256(new TextEncoder().encode("abc"))),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
});

Deno.test("hashFragment() gives the plain SHA-256 and the Merkle root in one pass", () => {
  const data = new Uint8Array(100_003).map((_, i) => i * 7);
  const h = hashFragment(data, 4096);
  assertEquals(h.sha256, sha256(data));
  assertEquals(h.merkleRoot, merkleRoot(data, 4096));
});

Deno.test("roots commit to size and leaf size", () => {
  const data = new Uint8Array(10);
  const roots = new Set([
    hex(merkleRoot(data, 4)),
    hex(merkleRoot(data, 5)),
    hex(merkleRoot(data.subarray(0, 9), 4)),
    hex(merkleRoot(new Uint8Array(0), 4)),
  ]);
  assertEquals(roots.size, 4);
  assertEquals(leafCount(0, 4), 1);
  assertEquals(leafCount(8, 4), 2);
  assertEquals(leafCount(9, 4), 3);
  assertThrows(() => merkleProof(data, 3, 4), RangeError);
});

Deno.test("property: every leaf's proof verifies; any altered part fails", () => {
  check(
    fc.property(
      fc.uint8Array({ maxLength: 700 }),
      fc.integer({ min: 1, max: 64 }),
      fc.nat(),
      fc.nat(),
      (data, leafBytes, pick, flip) => {
        const root = merkleRoot(data, leafBytes);
        const count = leafCount(data.length, leafBytes);
        const index = pick % count;
        const leaf = merkleLeaf(data, index, leafBytes);
        const proof = merkleProof(data, index, leafBytes);
        assert(verifyMerkleProof(root, leaf, proof), "valid proof rejected");
        // An altered leaf.
        if (leaf.length > 0) {
          const bad = leaf.slice();
          bad[flip % bad.length] ^= 1 << (flip % 8);
          assert(!verifyMerkleProof(root, bad, proof), "altered leaf accepted");
        }
        // An altered sibling.
        if (proof.siblings.length > 0) {
          const siblings = proof.siblings.map((s) => s.slice());
          const s = siblings[flip % siblings.length];
          s[flip % 32] ^= 1 << (flip % 8);
          assert(!verifyMerkleProof(root, leaf, { ...proof, siblings }), "altered sibling");
        }
        // Another index, another size, another leaf size, an altered root.
        if (count > 1) {
          const other = (index + 1 + (flip % (count - 1))) % count;
          // Claiming the leaf sits elsewhere fails, unless that leaf holds the same bytes and
          // the path happens to match (FC_SEED=1728505886: [216, 216] in 1-byte leaves).
          const moved = verifyMerkleProof(root, leaf, { ...proof, leafIndex: other });
          const same = merkleProof(data, other, leafBytes);
          const twin = same.siblings.length === proof.siblings.length &&
            same.siblings.every((x, i) => x.every((b, j) => b === proof.siblings[i][j])) &&
            merkleLeaf(data, other, leafBytes).every((b, i) => b === leaf[i]) &&
            merkleLeaf(data, other, leafBytes).length === leaf.length;
          assert(moved === twin, "moved leaf");
        }
        assert(!verifyMerkleProof(root, leaf, { ...proof, size: proof.size + 1 }), "size");
        assert(!verifyMerkleProof(root, leaf, { ...proof, leafBytes: leafBytes + 1 }), "leaf size");
        const badRoot = root.slice();
        badRoot[flip % 32] ^= 1 << (flip % 8);
        assert(!verifyMerkleProof(badRoot, leaf, proof), "altered root");
      },
    ),
    300,
  );
});

Deno.test("regression: proofs of twin leaves verify at both places (FC_SEED=1728505886)", () => {
  const data = Uint8Array.of(216, 216);
  const root = merkleRoot(data, 1);
  const proof = merkleProof(data, 0, 1);
  assert(verifyMerkleProof(root, data.subarray(0, 1), proof));
  assert(verifyMerkleProof(root, data.subarray(1, 2), { ...proof, leafIndex: 1 }));
  assert(!verifyMerkleProof(root, Uint8Array.of(217), { ...proof, leafIndex: 1 }));
});
