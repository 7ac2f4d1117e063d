/**
 * The fragment index: a key-free, owner-signed list of every fragment's position and hashes.
 *
 * Suppliers and rebuilders hold it to check fragments without being able to read anything: a
 * supplier checks a fragment on write, a rebuilder checks what it recomputed before storing it,
 * and an auditor checks a supplier's answer to a challenge against a Merkle root. It says nothing
 * about files: blocks are numbered across the version (`blockOrdinals` of the manifest).
 *
 * ```
 * "BDFI" | format version 1 | body | Ed25519 signature (64) over everything before it
 * body (core/codec.ts): owner public key (32), version id (16), created ms, scheme text,
 *   leaf size, blocks: [cipher size, fragments: [SHA-256 (32), Merkle root (32)]]
 * ```
 *
 * Signing is passed in as functions (`sign(bytes)`, `verify(publicKey, bytes, signature)`) so
 * this module does not depend on how identities keep their keys.
 *
 * @module
 */

import {
  array,
  decode,
  DecodeError,
  encode,
  fixedBytes,
  string,
  struct,
  uint,
} from "../core/codec.ts";
import { concat, equalBytes, HEADER_BYTES, readHeader, writeHeader } from "./_bytes.ts";
import { TAG_BYTES } from "./aead.ts";
import { FormatError, IntegrityError } from "./errors.ts";
import { type Manifest, SCHEME_BYTES_MAX, VERSION_ID_BYTES } from "./manifest.ts";
import { HASH_BYTES, type MerkleProof, sha256, verifyMerkleProof } from "./merkle.ts";
import { FRAGMENTS_MAX, fragmentSize, parseScheme, type Scheme } from "./scheme.ts";

/** Length of a raw Ed25519 public key. */
const OWNER_KEY_BYTES = 32;
/** Length of an Ed25519 signature. */
const SIGNATURE_BYTES = 64;
/** Most blocks one index lists (16 TiB of 4 MiB blocks). */
const INDEX_BLOCKS_MAX = 1 << 22;

const Hash = fixedBytes(HASH_BYTES);

/** Codec of the body of a fragment index (format version 1). */
const FragmentIndexCodec = struct({
  owner: fixedBytes(OWNER_KEY_BYTES),
  versionId: fixedBytes(VERSION_ID_BYTES),
  createdMs: uint,
  scheme: string(SCHEME_BYTES_MAX),
  leafBytes: uint,
  blocks: array(
    struct({
      cipherSize: uint,
      fragments: array(struct({ sha256: Hash, merkleRoot: Hash }), FRAGMENTS_MAX),
    }),
    INDEX_BLOCKS_MAX,
  ),
});

/** The hashes of one fragment. */
export interface IndexedFragment {
  /** SHA-256 of the fragment. */
  sha256: Uint8Array;
  /** Merkle root of the fragment (audits). */
  merkleRoot: Uint8Array;
}

/** One block: its ciphertext size (which fixes the fragment size) and its fragments by position. */
export interface IndexedBlock {
  /** Ciphertext bytes of the block. */
  cipherSize: number;
  /** N entries, by supplier position. */
  fragments: IndexedFragment[];
}

/** A fragment index. */
export interface FragmentIndex {
  /** The owner's raw Ed25519 public key; the signature must verify under it. */
  owner: Uint8Array;
  /** The version this index belongs to. */
  versionId: Uint8Array;
  /** When the version was made. */
  createdMs: number;
  /** ECC scheme text. */
  scheme: string;
  /** Merkle leaf size. */
  leafBytes: number;
  /** Blocks by ordinal. */
  blocks: IndexedBlock[];
}

/** Signs bytes with the owner's Ed25519 key; returns the 64-byte signature. */
export type Sign = (bytes: Uint8Array) => Uint8Array;
/** Checks an Ed25519 signature under a raw 32-byte public key. */
export type Verify = (publicKey: Uint8Array, bytes: Uint8Array, signature: Uint8Array) => boolean;

const INDEX = { magic: "BDFI", version: 1 } as const;

function indexProblem(index: FragmentIndex): string | undefined {
  let scheme: Scheme;
  try {
    scheme = parseScheme(index.scheme);
  } catch {
    return `bad scheme '${index.scheme}'`;
  }
  if (index.leafBytes < 1 || index.leafBytes > 0xffffffff) return `bad leaf size`;
  for (let i = 0; i < index.blocks.length; i++) {
    const b = index.blocks[i];
    if (b.fragments.length !== scheme.n) return `block ${i} lists ${b.fragments.length} fragments`;
    if (b.cipherSize < TAG_BYTES) return `block ${i} is smaller than a tag`;
  }
  return undefined;
}

/**
 * The index of a version from its manifest: hashes only, no keys, salts or paths. Blocks appear
 * in the order of the manifest's `blockOrdinals`.
 */
export function fragmentIndexOf(manifest: Manifest, owner: Uint8Array): FragmentIndex {
  const blocks: IndexedBlock[] = manifest.files.flatMap((f) =>
    f.blocks.map((b) => ({
      cipherSize: b.cipherSize,
      fragments: b.fragmentHashes.map((h, i) => ({ sha256: h, merkleRoot: b.merkleRoots[i] })),
    }))
  );
  return {
    owner,
    versionId: manifest.versionId,
    createdMs: manifest.createdMs,
    scheme: manifest.scheme,
    leafBytes: manifest.leafBytes,
    blocks,
  };
}

/**
 * Encodes and signs an index; returns the signed bytes.
 *
 * @example
 * ```ts
 * import { generateKeyPairSync, sign, verify, createPublicKey } from "node:crypto";
 * import { openFragmentIndex, signFragmentIndex } from "./fragment_index.ts";
 * const { privateKey, publicKey } = generateKeyPairSync("ed25519");
 * const owner = new Uint8Array(publicKey.export({ format: "der", type: "spki" }).subarray(12));
 * const signed = signFragmentIndex(
 *   { owner, versionId: new Uint8Array(16), createdMs: 0, scheme: "rs:4+4", leafBytes: 16384,
 *     blocks: [] },
 *   (bytes) => new Uint8Array(sign(null, bytes, privateKey)),
 * );
 * const check = (_key: Uint8Array, bytes: Uint8Array, sig: Uint8Array) =>
 *   verify(null, bytes, publicKey, sig);
 * const index = openFragmentIndex(signed, check);
 * console.assert(index.scheme === "rs:4+4");
 * ```
 */
export function signFragmentIndex(index: FragmentIndex, sign: Sign): Uint8Array<ArrayBuffer> {
  const problem = indexProblem(index);
  if (problem !== undefined) throw new RangeError(`fragment index: ${problem}`);
  const head = new Uint8Array(HEADER_BYTES);
  writeHeader(head, INDEX);
  const signed = concat(head, encode(FragmentIndexCodec, index));
  const signature = sign(signed);
  if (signature.length !== SIGNATURE_BYTES) {
    throw new RangeError(`signature must be ${SIGNATURE_BYTES} bytes, got ${signature.length}`);
  }
  return concat(signed, signature);
}

/**
 * Checks the signature of signed index bytes under the owner key they name (and, if given, that
 * the owner is `expectedOwner`), then decodes them. Throws {@link FormatError} for malformed bytes
 * and {@link IntegrityError} for a bad signature or another owner.
 */
export function openFragmentIndex(
  bytes: Uint8Array,
  verify: Verify,
  expectedOwner?: Uint8Array,
): FragmentIndex {
  readHeader(bytes, INDEX, "fragment index");
  if (bytes.length < HEADER_BYTES + SIGNATURE_BYTES) {
    throw new FormatError(`fragment index: ${bytes.length} bytes is too short`);
  }
  const signed = bytes.subarray(0, bytes.length - SIGNATURE_BYTES);
  const signature = bytes.subarray(bytes.length - SIGNATURE_BYTES);
  let index: FragmentIndex;
  try {
    index = decode(FragmentIndexCodec, signed.subarray(HEADER_BYTES));
  } catch (e) {
    if (e instanceof DecodeError) throw new FormatError(`fragment index: ${e.message}`);
    throw e;
  }
  if (expectedOwner !== undefined && !equalBytes(index.owner, expectedOwner)) {
    throw new IntegrityError("fragment index is signed by another owner");
  }
  let valid = false;
  try {
    valid = verify(index.owner, signed, signature);
  } catch {
    valid = false; // e.g. an owner key that is not a point on the curve
  }
  if (!valid) throw new IntegrityError("fragment index signature does not verify");
  const problem = indexProblem(index);
  if (problem !== undefined) throw new FormatError(`fragment index: ${problem}`);
  return index;
}

function entryOf(index: FragmentIndex, block: number, position: number) {
  const b = index.blocks[block];
  if (b === undefined) throw new RangeError(`the index has no block ${block}`);
  const f = b.fragments[position];
  if (f === undefined) throw new RangeError(`block ${block} has no position ${position}`);
  return { size: fragmentSize(parseScheme(index.scheme), b.cipherSize), fragment: f };
}

/** Bytes of the fragments of block `block` according to the index. */
export function indexedFragmentSize(index: FragmentIndex, block: number): number {
  return entryOf(index, block, 0).size;
}

/**
 * Whether `fragment` is the one the index lists at (`block`, `position`): right size and SHA-256.
 * Needs no key: this is how a supplier checks a write and a rebuilder checks its own output.
 */
export function verifyFragment(
  index: FragmentIndex,
  block: number,
  position: number,
  fragment: Uint8Array,
): boolean {
  const { size, fragment: entry } = entryOf(index, block, position);
  return fragment.length === size && equalBytes(sha256(fragment), entry.sha256);
}

/**
 * Whether a supplier's answer to an audit of (`block`, `position`) holds: the leaf and its proof
 * lead to the Merkle root in the index, for the fragment size and leaf size the index implies.
 */
export function verifyAudit(
  index: FragmentIndex,
  block: number,
  position: number,
  leaf: Uint8Array,
  proof: MerkleProof,
): boolean {
  const { size, fragment: entry } = entryOf(index, block, position);
  if (proof.size !== size || proof.leafBytes !== index.leafBytes) return false;
  return verifyMerkleProof(entry.merkleRoot, leaf, proof);
}
