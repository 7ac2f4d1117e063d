/**
 * SHA-256 of fragments and Merkle trees over their fixed-size leaves, with audit proofs.
 *
 * Tree: leaves are consecutive `leafBytes`-byte slices of the fragment (the last may be shorter;
 * an empty fragment has one empty leaf). Leaf hash `SHA-256(0x00 ‖ leaf)`, inner node
 * `SHA-256(0x01 ‖ left ‖ right)`; at a level with an odd count the last node moves up unchanged
 * (never duplicated, so no two trees share a root). The distinct prefixes keep a leaf from posing
 * as an inner node.
 *
 * Root: `SHA-256(0x02 ‖ u64be(size) ‖ u32be(leafBytes) ‖ top)`. Committing to the size and the leaf
 * size lets a verifier that holds only the root check a proof: the prover states both, and the
 * root shows whether they are true. That is an audit: the owner keeps 32 bytes per fragment, asks
 * a supplier for a random leaf, and checks the leaf with its path.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { equalBytes, plain } from "./_bytes.ts";

/** Default leaf size: an audit answer carries one leaf, so it is kept modest. */
export const LEAF_BYTES_DEFAULT = 16 * 1024;
/** Length of a SHA-256 digest. */
export const HASH_BYTES = 32;

const LEAF = Uint8Array.of(0);
const NODE = Uint8Array.of(1);
const ROOT = Uint8Array.of(2);

/** SHA-256 of `data`. */
export function sha256(data: Uint8Array): Uint8Array<ArrayBuffer> {
  return plain(createHash("sha256").update(data).digest());
}

/** Number of leaves of a fragment of `size` bytes. */
export function leafCount(size: number, leafBytes: number = LEAF_BYTES_DEFAULT): number {
  checkLeafBytes(leafBytes);
  return Math.max(1, Math.ceil(size / leafBytes));
}

function checkLeafBytes(leafBytes: number): void {
  if (!Number.isInteger(leafBytes) || leafBytes < 1 || leafBytes > 0xffffffff) {
    throw new RangeError(`leaf size must be a positive 32-bit integer, got ${leafBytes}`);
  }
}

function leafHash(leaf: Uint8Array): Uint8Array {
  return plain(createHash("sha256").update(LEAF).update(leaf).digest());
}

function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return plain(createHash("sha256").update(NODE).update(left).update(right).digest());
}

function rootHash(size: number, leafBytes: number, top: Uint8Array): Uint8Array<ArrayBuffer> {
  const head = new Uint8Array(12);
  const view = new DataView(head.buffer);
  view.setUint32(0, Math.floor(size / 0x1_0000_0000));
  view.setUint32(4, size >>> 0);
  view.setUint32(8, leafBytes);
  return plain(createHash("sha256").update(ROOT).update(head).update(top).digest());
}

/** The next level up: pairs hashed, an odd last node carried up as it is. */
function levelUp(level: readonly Uint8Array[]): Uint8Array[] {
  const up: Uint8Array[] = [];
  for (let i = 0; i + 1 < level.length; i += 2) up.push(nodeHash(level[i], level[i + 1]));
  if (level.length % 2 === 1) up.push(level[level.length - 1]);
  return up;
}

/** Leaf hashes of `data`, and optionally its plain SHA-256 computed in the same pass. */
function leafHashes(data: Uint8Array, leafBytes: number, whole?: ReturnType<typeof createHash>) {
  const count = leafCount(data.length, leafBytes);
  const leaves = new Array<Uint8Array>(count);
  for (let i = 0; i < count; i++) {
    const leaf = data.subarray(i * leafBytes, Math.min(data.length, (i + 1) * leafBytes));
    whole?.update(leaf);
    leaves[i] = leafHash(leaf);
  }
  return leaves;
}

/** Every level of the tree of `data`, leaves first, the single top last. */
function merkleLevels(
  data: Uint8Array,
  leafBytes: number = LEAF_BYTES_DEFAULT,
): Uint8Array[][] {
  const levels = [leafHashes(data, leafBytes)];
  while (levels[levels.length - 1].length > 1) levels.push(levelUp(levels[levels.length - 1]));
  return levels;
}

function topOf(leaves: Uint8Array[]): Uint8Array {
  let level = leaves;
  while (level.length > 1) level = levelUp(level);
  return level[0];
}

/** The Merkle root of `data` (see the module notes for what it commits to). */
export function merkleRoot(
  data: Uint8Array,
  leafBytes: number = LEAF_BYTES_DEFAULT,
): Uint8Array<ArrayBuffer> {
  return rootHash(data.length, leafBytes, topOf(leafHashes(data, leafBytes)));
}

/** Both hashes of a fragment: plain SHA-256 and Merkle root, reading it once. */
export function hashFragment(
  data: Uint8Array,
  leafBytes: number = LEAF_BYTES_DEFAULT,
): { sha256: Uint8Array<ArrayBuffer>; merkleRoot: Uint8Array<ArrayBuffer> } {
  const whole = createHash("sha256");
  const leaves = leafHashes(data, leafBytes, whole);
  return {
    sha256: plain(whole.digest()),
    merkleRoot: rootHash(data.length, leafBytes, topOf(leaves)),
  };
}

/** What a prover sends with a leaf: enough for a verifier holding only the root. */
export interface MerkleProof {
  /** Size of the whole fragment in bytes. */
  size: number;
  /** Leaf size the tree was built with. */
  leafBytes: number;
  /** Which leaf, from 0. */
  leafIndex: number;
  /** Sibling hashes from the leaf's level upward (levels where the node moves up have none). */
  siblings: Uint8Array[];
}

/**
 * The proof for leaf `leafIndex` of `data`.
 *
 * @example
 * ```ts
 * import { merkleProof, merkleRoot, verifyMerkleProof } from "./merkle.ts";
 * const fragment = new Uint8Array(100_000).fill(7);
 * const root = merkleRoot(fragment, 4096);
 * const proof = merkleProof(fragment, 5, 4096);
 * console.assert(verifyMerkleProof(root, fragment.subarray(5 * 4096, 6 * 4096), proof));
 * ```
 */
export function merkleProof(
  data: Uint8Array,
  leafIndex: number,
  leafBytes: number = LEAF_BYTES_DEFAULT,
): MerkleProof {
  const count = leafCount(data.length, leafBytes);
  if (!Number.isInteger(leafIndex) || leafIndex < 0 || leafIndex >= count) {
    throw new RangeError(`leaf ${leafIndex} out of range: the fragment has ${count} leaves`);
  }
  const levels = merkleLevels(data, leafBytes);
  const siblings: Uint8Array[] = [];
  let i = leafIndex;
  for (let l = 0; l < levels.length - 1; l++, i >>= 1) {
    const sibling = i ^ 1;
    if (sibling < levels[l].length) siblings.push(levels[l][sibling]);
  }
  return { size: data.length, leafBytes, leafIndex, siblings };
}

/** The bytes of leaf `leafIndex` of `data`. */
export function merkleLeaf(
  data: Uint8Array,
  leafIndex: number,
  leafBytes: number = LEAF_BYTES_DEFAULT,
): Uint8Array {
  return data.subarray(leafIndex * leafBytes, Math.min(data.length, (leafIndex + 1) * leafBytes));
}

/**
 * Whether `leaf` with `proof` belongs to the fragment whose root is `root`. False for any altered
 * leaf, sibling, index, size or leaf size; never throws on malformed proofs.
 */
export function verifyMerkleProof(root: Uint8Array, leaf: Uint8Array, proof: MerkleProof): boolean {
  const { size, leafBytes, leafIndex, siblings } = proof;
  if (!Number.isSafeInteger(size) || size < 0) return false;
  if (!Number.isInteger(leafBytes) || leafBytes < 1 || leafBytes > 0xffffffff) return false;
  const count = leafCount(size, leafBytes);
  if (!Number.isInteger(leafIndex) || leafIndex < 0 || leafIndex >= count) return false;
  const expected = Math.min(leafBytes, size - leafIndex * leafBytes);
  if (leaf.length !== Math.max(0, expected)) return false;
  let hash = leafHash(leaf);
  let used = 0;
  for (let width = count, i = leafIndex; width > 1; width = Math.ceil(width / 2), i >>= 1) {
    const sibling = i ^ 1;
    if (sibling >= width) continue; // the odd last node moves up as it is
    if (used >= siblings.length || siblings[used].length !== HASH_BYTES) return false;
    hash = i & 1 ? nodeHash(siblings[used], hash) : nodeHash(hash, siblings[used]);
    used++;
  }
  if (used !== siblings.length) return false;
  return equalBytes(rootHash(size, leafBytes, hash), root);
}
