/**
 * The storage pipeline for one block, synchronous: what the storage actors' hosts run as CPU jobs.
 *
 * Sealing: encrypt (AES-256-GCM under the block's own key) → cut the ciphertext into fragments by
 * the ECC scheme → hash every fragment (SHA-256 and Merkle root). Opening: check the hash of every
 * fragment at hand → rebuild from any K good ones → decrypt. Rebuilding: recompute lost fragments
 * from any K others, with no key at all.
 *
 * The block key is derived from the user's file key, the file's random salt and the block index
 * (`deriveBlockKey`), or given as `blockKey` (a random key per block, wrapped in the manifest).
 * Either way a key encrypts exactly one block, so the fixed nonce is safe (see `aead.ts`).
 *
 * @module
 */

import {
  decrypt,
  decryptSync,
  deriveBlockKey,
  encrypt,
  encryptSync,
  encryptWith,
  hkdf,
  importEncryptionKey,
  KEY_BYTES,
  randomKey,
  TAG_BYTES,
} from "./aead.ts";
import { BLOCK_BYTES_DEFAULT, type ByteSource, readBlocks, splitBlocks } from "./blocks.ts";
import type { FileEntry } from "./manifest.ts";
import type { RandomBytes } from "./_bytes.ts";
import { unwrapKey, wrapKey } from "./seal.ts";
import { AuthenticationError, IntegrityError, TooFewFragmentsError } from "./errors.ts";
import { decodeFragments, encodeFragmentsAdopting, reconstructFragments } from "./fragments.ts";
import { hashFragment, LEAF_BYTES_DEFAULT, merkleRoot, sha256 } from "./merkle.ts";
import { fragmentSize, type Scheme, toScheme } from "./scheme.ts";

/** Which key encrypts a block: derived from the file key, or a random one given as is. */
export interface BlockKeyInput {
  /** The user's 32-byte file key. */
  fileKey?: Uint8Array;
  /** The file's random salt (new for every version). */
  fileSalt?: Uint8Array;
  /** Index of the block in its file, from 0. */
  blockIndex?: number;
  /** A random per-block key; when given, the three fields above are not used. */
  blockKey?: Uint8Array;
}

function blockKeyOf(input: BlockKeyInput): Uint8Array {
  if (input.blockKey !== undefined) return input.blockKey;
  if (input.fileKey === undefined || input.fileSalt === undefined) {
    throw new TypeError("a block needs either blockKey or fileKey, fileSalt and blockIndex");
  }
  return deriveBlockKey(input.fileKey, input.fileSalt, input.blockIndex ?? 0);
}

/** Arguments of {@link sealBlock}. */
export interface SealBlockInput extends BlockKeyInput {
  /** The block's plaintext (up to the block size). */
  plaintext: Uint8Array;
  /** ECC scheme, parsed or as text (`rs:4+4`, `mirror:2`). */
  scheme: Scheme | string;
  /** Merkle leaf size; {@link LEAF_BYTES_DEFAULT} by default. */
  leafBytes?: number;
}

/** A sealed block: its fragments and what is needed to check and open them. */
export interface SealedBlock {
  /** One fragment per supplier position, N in all, each {@link SealedBlock.fragmentSize} bytes. */
  fragments: Uint8Array[];
  /** SHA-256 of each fragment. */
  fragmentHashes: Uint8Array[];
  /** Merkle root of each fragment, for audits. */
  merkleRoots: Uint8Array[];
  /** Ciphertext bytes (plaintext + 16-byte tag) before padding into fragments. */
  cipherSize: number;
  /** Plaintext bytes. */
  plainSize: number;
  /** Bytes of every fragment: ⌈cipherSize / K⌉. */
  fragmentSize: number;
}

/** Erasure-codes and hashes a block's ciphertext (the part after encryption). */
function codeCiphertext(
  ciphertext: Uint8Array,
  plainSize: number,
  scheme: Scheme | string,
  leafBytes: number,
): SealedBlock {
  const s = toScheme(scheme);
  const fragments = encodeFragmentsAdopting(s, ciphertext);
  const fragmentHashes: Uint8Array[] = [];
  const merkleRoots: Uint8Array[] = [];
  for (const f of fragments) {
    const h = hashFragment(f, leafBytes);
    fragmentHashes.push(h.sha256);
    merkleRoots.push(h.merkleRoot);
  }
  return sealedOf(s, ciphertext.length, plainSize, fragments, fragmentHashes, merkleRoots);
}

/**
 * {@link codeCiphertext} with the plain SHA-256 of the fragments computed by WebCrypto on worker
 * threads while this thread builds the Merkle trees: the two hash passes run side by side.
 */
async function codeCiphertextAsync(
  ciphertext: Uint8Array,
  plainSize: number,
  scheme: Scheme,
  leafBytes: number,
): Promise<SealedBlock> {
  const fragments = encodeFragmentsAdopting(scheme, ciphertext);
  const digests = Promise.all(
    fragments.map((f) => crypto.subtle.digest("SHA-256", f as Uint8Array<ArrayBuffer>)),
  );
  const merkleRoots = fragments.map((f) => merkleRoot(f, leafBytes));
  const fragmentHashes = (await digests).map((d) => new Uint8Array(d));
  return sealedOf(scheme, ciphertext.length, plainSize, fragments, fragmentHashes, merkleRoots);
}

function sealedOf(
  scheme: Scheme,
  cipherSize: number,
  plainSize: number,
  fragments: Uint8Array[],
  fragmentHashes: Uint8Array[],
  merkleRoots: Uint8Array[],
): SealedBlock {
  return {
    fragments,
    fragmentHashes,
    merkleRoots,
    cipherSize,
    plainSize,
    fragmentSize: fragmentSize(scheme, cipherSize),
  };
}

/**
 * Encrypts, erasure-codes and hashes one block, synchronously.
 *
 * @example
 * ```ts
 * import { newFileSalt, randomKey } from "./aead.ts";
 * import { openBlock, sealBlock } from "./pipeline.ts";
 * const fileKey = randomKey();
 * const fileSalt = newFileSalt();
 * const plaintext = new TextEncoder().encode("hello, suppliers");
 * const sealed = sealBlock({ fileKey, fileSalt, blockIndex: 0, plaintext, scheme: "rs:4+4" });
 * const fragments = sealed.fragments.map((f, i) => (i < 4 ? undefined : f)); // 4 lost
 * const back = openBlock({ fileKey, fileSalt, blockIndex: 0, scheme: "rs:4+4", fragments,
 *   cipherSize: sealed.cipherSize, fragmentHashes: sealed.fragmentHashes });
 * console.assert(new TextDecoder().decode(back) === "hello, suppliers");
 * ```
 */
export function sealBlock(input: SealBlockInput): SealedBlock {
  const ciphertext = encryptSync(blockKeyOf(input), input.plaintext);
  return codeCiphertext(
    ciphertext,
    input.plaintext.length,
    input.scheme,
    input.leafBytes ?? LEAF_BYTES_DEFAULT,
  );
}

/**
 * {@link sealBlock} with the encryption done by WebCrypto, off the main thread; the bytes are the
 * same. While it awaits, the caller's thread is free to code and hash the previous block, which is
 * how `sealStream` keeps encryption and the rest side by side.
 */
export async function sealBlockAsync(input: SealBlockInput): Promise<SealedBlock> {
  const ciphertext = await encrypt(blockKeyOf(input), input.plaintext);
  return codeCiphertext(
    ciphertext,
    input.plaintext.length,
    input.scheme,
    input.leafBytes ?? LEAF_BYTES_DEFAULT,
  );
}

/** Arguments of {@link openBlock}. */
export interface OpenBlockInput extends BlockKeyInput {
  /** N slots, `undefined` where a fragment is missing. */
  fragments: readonly (Uint8Array | undefined)[];
  /** ECC scheme the block was sealed with. */
  scheme: Scheme | string;
  /** Ciphertext size recorded when sealing. */
  cipherSize: number;
  /** SHA-256 of each fragment, recorded when sealing (N entries). */
  fragmentHashes: readonly Uint8Array[];
  /**
   * What to do with a fragment whose hash is wrong: `"skip"` (default) treats it as missing and
   * goes on if K good ones remain; `"throw"` stops with an {@link IntegrityError}. Fragments are
   * checked in position order until K good ones are found; the rest are not read (use
   * {@link corruptFragments} to check them all).
   */
  onHashMismatch?: "skip" | "throw";
}

/**
 * Positions of fragments that are present but do not match their recorded SHA-256 (or size).
 * Those are the suppliers to distrust.
 */
export function corruptFragments(
  fragments: readonly (Uint8Array | undefined)[],
  fragmentHashes: readonly Uint8Array[],
  expectedSize: number,
): number[] {
  if (fragmentHashes.length !== fragments.length) {
    throw new RangeError(`${fragmentHashes.length} hashes for ${fragments.length} fragments`);
  }
  const bad: number[] = [];
  fragments.forEach((f, i) => {
    if (f === undefined) return;
    if (f.length !== expectedSize || !sameHash(sha256(f), fragmentHashes[i])) bad.push(i);
  });
  return bad;
}

function sameHash(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

/**
 * Checks, rebuilds and decrypts one block, synchronously; returns its plaintext. Throws
 * {@link TooFewFragmentsError} (saying how many are missing, and how many of those were dropped
 * for a bad hash), {@link IntegrityError} for a bad hash under `onHashMismatch: "throw"`, and
 * {@link AuthenticationError} when the key is wrong or the recorded hashes themselves were forged.
 */
export function openBlock(input: OpenBlockInput): Uint8Array {
  const s = toScheme(input.scheme);
  if (input.cipherSize < TAG_BYTES) {
    throw new AuthenticationError(`cipher size ${input.cipherSize} is below the tag size`);
  }
  const usable = pickGood(s, input, input.onHashMismatch === "throw", new Set());
  const ciphertext = decodeFragments(s, usable, input.cipherSize);
  return decryptSync(blockKeyOf(input), ciphertext);
}

/**
 * {@link openBlock} with the decryption done by WebCrypto (faster than the synchronous path on
 * most machines, and off the calling thread); same checks, same errors, same plaintext.
 */
export async function openBlockAsync(input: OpenBlockInput): Promise<Uint8Array> {
  const s = toScheme(input.scheme);
  if (input.cipherSize < TAG_BYTES) {
    throw new AuthenticationError(`cipher size ${input.cipherSize} is below the tag size`);
  }
  const usable = pickGood(s, input, input.onHashMismatch === "throw", new Set());
  const ciphertext = decodeFragments(s, usable, input.cipherSize);
  return await decrypt(blockKeyOf(input), ciphertext);
}

/**
 * The first K fragments, in position order (data fragments first: they need no decoding), whose
 * size and SHA-256 are right; the others become `undefined`. Only as many fragments are hashed as
 * are needed. Positions in `skip` are never used. Throws {@link TooFewFragmentsError} when fewer
 * than K good ones exist, or {@link IntegrityError} at the first bad one when `strict`.
 */
function pickGood(
  s: Scheme,
  input: {
    fragments: readonly (Uint8Array | undefined)[];
    fragmentHashes: readonly Uint8Array[];
    cipherSize: number;
  },
  strict: boolean,
  skip: ReadonlySet<number>,
): (Uint8Array | undefined)[] {
  const { fragments, fragmentHashes } = input;
  if (fragments.length !== s.n || fragmentHashes.length !== s.n) {
    throw new RangeError(`need ${s.n} fragment slots and hashes, got ${fragments.length}`);
  }
  const size = fragmentSize(s, input.cipherSize);
  const usable: (Uint8Array | undefined)[] = new Array(s.n).fill(undefined);
  const bad: number[] = [];
  let good = 0;
  for (let p = 0; p < s.n && good < s.k; p++) {
    const f = fragments[p];
    if (f === undefined || skip.has(p)) continue;
    if (f.length === size && sameHash(sha256(f), fragmentHashes[p])) {
      usable[p] = f;
      good++;
    } else if (strict) {
      throw new IntegrityError(`fragment ${p} does not match its hash`, p);
    } else {
      bad.push(p);
    }
  }
  if (good < s.k) {
    const detail = bad.length > 0 ? `${bad.length} dropped for a bad hash: ${bad.join(", ")}` : "";
    throw new TooFewFragmentsError(s.k, good, detail);
  }
  return usable;
}

/** Arguments of {@link rebuildFragments}. */
export interface RebuildInput {
  /** ECC scheme of the block. */
  scheme: Scheme | string;
  /** N slots, `undefined` where a fragment is missing. */
  fragments: readonly (Uint8Array | undefined)[];
  /** Positions to recompute. */
  wanted: readonly number[];
  /** Ciphertext size of the block (from the fragment index). */
  cipherSize: number;
  /** When given, present fragments are checked first and bad ones treated as missing. */
  fragmentHashes?: readonly Uint8Array[];
}

/**
 * Keyless repair: recomputes the fragments at `wanted` from any K good ones. Callers should
 * check the results against the fragment index ({@link rebuildVerified} does) before storing
 * them.
 */
export function rebuildFragments(input: RebuildInput): Uint8Array[] {
  const s = toScheme(input.scheme);
  let fragments = input.fragments;
  if (input.fragmentHashes !== undefined) {
    // Recompute every wanted position from K checked others, even one that is at hand.
    const checked = { ...input, fragmentHashes: input.fragmentHashes };
    fragments = pickGood(s, checked, false, new Set(input.wanted));
  }
  return reconstructFragments(s, fragments, input.wanted, input.cipherSize).map((f) =>
    f.byteOffset === 0 && f.byteLength === f.buffer.byteLength ? f : f.slice()
  );
}

/** What {@link rebuildVerified} gives back. */
export interface VerifiedRebuild {
  /** One per `wanted` position, in its order, matched or not. */
  fragments: Uint8Array[];
  /** The wanted positions whose rebuilt fragment has the wrong SHA-256 or size. */
  unmatched: number[];
}

/**
 * {@link rebuildFragments}, then every rebuilt fragment checked against `wantedHashes` (the
 * SHA-256 the fragment index records for each wanted position, in `wanted`'s order) and against
 * the block's fragment size. With K good fragments in hand and a right index every one matches;
 * one that does not means the inputs, the index or the coder are wrong, and it must not be
 * stored. Throws like {@link rebuildFragments}, and `RangeError` when the hashes do not pair up
 * with `wanted`.
 *
 * @example
 * ```ts
 * import { newFileSalt, randomKey } from "./aead.ts";
 * import { rebuildVerified, sealBlock } from "./pipeline.ts";
 * const plaintext = new TextEncoder().encode("kept without a key");
 * const sealed = sealBlock({ fileKey: randomKey(), fileSalt: newFileSalt(), blockIndex: 0,
 *   plaintext, scheme: "rs:2+2" });
 * const r = rebuildVerified({ scheme: "rs:2+2", wanted: [0, 3], cipherSize: sealed.cipherSize,
 *   fragments: [undefined, sealed.fragments[1], sealed.fragments[2], undefined],
 *   wantedHashes: [sealed.fragmentHashes[0], sealed.fragmentHashes[3]] });
 * console.assert(r.unmatched.length === 0);
 * ```
 */
export function rebuildVerified(
  input: RebuildInput & { wantedHashes: readonly Uint8Array[] },
): VerifiedRebuild {
  const { wanted, wantedHashes } = input;
  if (wantedHashes.length !== wanted.length) {
    throw new RangeError(`${wantedHashes.length} hashes for ${wanted.length} wanted fragments`);
  }
  const fragments = rebuildFragments(input);
  const size = fragmentSize(toScheme(input.scheme), input.cipherSize);
  const unmatched: number[] = [];
  fragments.forEach((f, i) => {
    if (f.length !== size || !sameHash(sha256(f), wantedHashes[i])) unmatched.push(wanted[i]);
  });
  return { fragments, unmatched };
}

/** Arguments of the whole-file sealers. */
export interface SealFileOptions {
  /** The user's 32-byte file key. */
  fileKey: Uint8Array;
  /** This file version's random salt (`newFileSalt()`). */
  fileSalt: Uint8Array;
  /** ECC scheme. */
  scheme: Scheme | string;
  /** Block size; 4 MiB by default. */
  blockBytes?: number;
  /** Merkle leaf size; {@link LEAF_BYTES_DEFAULT} by default. */
  leafBytes?: number;
}

/** A sealed block and its index in the file. */
export interface SealedFileBlock extends SealedBlock {
  /** Index of the block in its file, from 0. */
  blockIndex: number;
}

/** Seals a whole in-memory file, block by block, synchronously (the simulator's way). */
export function sealBytes(bytes: Uint8Array, options: SealFileOptions): SealedFileBlock[] {
  return splitBlocks(bytes, options.blockBytes ?? BLOCK_BYTES_DEFAULT).map((plaintext, i) => ({
    ...sealBlock({ ...options, blockIndex: i, plaintext }),
    blockIndex: i,
  }));
}

/**
 * Seals a stream block by block in constant memory (the real node's way). Encryption of block
 * i + 1 runs on a WebCrypto worker thread while this thread erasure-codes and hashes block i, so
 * on two cores the coding hides beside the encryption.
 */
export async function* sealStream(
  source: ByteSource,
  options: SealFileOptions,
): AsyncGenerator<SealedFileBlock> {
  const leafBytes = options.leafBytes ?? LEAF_BYTES_DEFAULT;
  const scheme = toScheme(options.scheme);
  let pending: { blockIndex: number; plainSize: number; cipher: Promise<Uint8Array> } | undefined;
  let blockIndex = 0;
  for await (const plaintext of readBlocks(source, options.blockBytes ?? BLOCK_BYTES_DEFAULT)) {
    const key = await importEncryptionKey(
      deriveBlockKey(options.fileKey, options.fileSalt, blockIndex),
    );
    const started = {
      blockIndex,
      plainSize: plaintext.length,
      cipher: encryptWith(key, plaintext),
    };
    if (pending !== undefined) {
      const ciphertext = await pending.cipher;
      yield {
        ...await codeCiphertextAsync(ciphertext, pending.plainSize, scheme, leafBytes),
        blockIndex: pending.blockIndex,
      };
    }
    pending = started;
    blockIndex++;
  }
  if (pending !== undefined) {
    const ciphertext = await pending.cipher;
    yield {
      ...await codeCiphertextAsync(ciphertext, pending.plainSize, scheme, leafBytes),
      blockIndex: pending.blockIndex,
    };
  }
}

const WRAP_INFO = new TextEncoder().encode("bitdust/block-wrap-key/v1");

/**
 * The key that wraps random block keys: HKDF of the file key, so the file key itself is only ever
 * used as HKDF input, never directly as an AES key.
 */
export function blockWrappingKey(fileKey: Uint8Array): Uint8Array {
  return hkdf(fileKey, new Uint8Array(0), WRAP_INFO, KEY_BYTES);
}

/**
 * A random key for one block and the same key wrapped under {@link blockWrappingKey}, for the
 * manifest's `wrappedKey`: the alternative to derived block keys.
 */
export function newWrappedBlockKey(
  fileKey: Uint8Array,
  randomBytes?: RandomBytes,
): { blockKey: Uint8Array; wrappedKey: Uint8Array } {
  const blockKey = randomKey(randomBytes);
  return { blockKey, wrappedKey: wrapKey(blockWrappingKey(fileKey), blockKey, { randomBytes }) };
}

/** Fragments of block `blockIndex` of a file, N slots with `undefined` where missing. */
export type FragmentSource<R> = (blockIndex: number) => R;

function openEntryBlock(
  entry: FileEntry,
  fileKey: Uint8Array,
  scheme: Scheme | string,
  blockIndex: number,
  fragments: readonly (Uint8Array | undefined)[],
): Uint8Array {
  const b = entry.blocks[blockIndex];
  const key = b.wrappedKey === undefined
    ? { fileKey, fileSalt: entry.salt, blockIndex }
    : { blockKey: unwrapKey(blockWrappingKey(fileKey), b.wrappedKey) };
  return openBlock({
    ...key,
    scheme,
    fragments,
    cipherSize: b.cipherSize,
    fragmentHashes: b.fragmentHashes,
  });
}

/**
 * Restores a whole file described by a manifest entry, synchronously, fetching each block's
 * fragments from `fragmentsOf`. Throws like {@link openBlock} for the first block that fails.
 */
export function openBytes(
  entry: FileEntry,
  fileKey: Uint8Array,
  scheme: Scheme | string,
  fragmentsOf: FragmentSource<readonly (Uint8Array | undefined)[]>,
): Uint8Array {
  const out = new Uint8Array(entry.size);
  let at = 0;
  for (let i = 0; i < entry.blocks.length; i++) {
    const plain = openEntryBlock(entry, fileKey, scheme, i, fragmentsOf(i));
    out.set(plain, at);
    at += plain.length;
  }
  return out;
}

/** Restores a file as a stream, one block in memory at a time, fragments from `fragmentsOf`. */
export function openStream(
  entry: FileEntry,
  fileKey: Uint8Array,
  scheme: Scheme | string,
  fragmentsOf: FragmentSource<Promise<readonly (Uint8Array | undefined)[]>>,
): ReadableStream<Uint8Array> {
  let next = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (next >= entry.blocks.length) {
        controller.close();
        return;
      }
      const i = next++;
      controller.enqueue(openEntryBlock(entry, fileKey, scheme, i, await fragmentsOf(i)));
    },
  });
}
