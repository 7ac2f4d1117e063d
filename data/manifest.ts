/**
 * A version's manifest: what was backed up and how to get it back, encrypted under the file key.
 *
 * Contents (format version 1): the version's id, time and label, the ECC scheme, the block and
 * Merkle leaf sizes, and per file its path, size, mode, modification time and random salt, and
 * per block its sizes, its wrapped random key (when it has one rather than a derived key), and
 * the SHA-256 and Merkle root of each fragment. Encoded with `core/codec.ts` (canonical: one
 * value, one encoding), then sealed:
 *
 * ```
 * "BDMF" | format version 1 | salt (32) | AES-256-GCM(encoded manifest) | tag (16)
 * key = HKDF-SHA256(file key, salt, "bitdust/manifest/v1"), nonce = 0, AAD = the first 37 bytes
 * ```
 *
 * A fresh random salt per manifest gives a fresh single-use key, so the fixed nonce is safe. The
 * sealed manifest is then erasure-coded like a block (`encodeFragments`) to the same suppliers,
 * so a user holding only the file key can restore everything.
 *
 * Reading checks the magic and the format version first; a later format gets a new version byte
 * and this module keeps a reader for each old one.
 *
 * @module
 */

import {
  array,
  bytes,
  decode,
  DecodeError,
  encode,
  fixedBytes,
  int,
  optional,
  string,
  struct,
  uint,
} from "../core/codec.ts";
import {
  concat,
  drawBytes,
  HEADER_BYTES,
  type RandomBytes,
  readHeader,
  writeHeader,
} from "./_bytes.ts";
import {
  BLOCK_NONCE,
  decryptSync,
  encryptSync,
  FILE_SALT_BYTES,
  hkdf,
  KEY_BYTES,
  TAG_BYTES,
} from "./aead.ts";
import { BLOCK_BYTES_MAX } from "./blocks.ts";
import { FormatError } from "./errors.ts";
import type { FileEntry, Manifest } from "../core/manifest.ts";
import { HASH_BYTES } from "./merkle.ts";
import { FRAGMENTS_MAX, parseScheme } from "./scheme.ts";

/** Longest path in a manifest, in bytes of UTF-8. */
export const PATH_BYTES_MAX = 4096;
/** Most files in one version's manifest. */
export const MANIFEST_FILES_MAX = 1_000_000;
/** Most blocks of one file (64 TiB at 4 MiB blocks). */
export const FILE_BLOCKS_MAX = 1 << 24;
/** Longest wrapped block key. */
export const WRAPPED_KEY_BYTES_MAX = 128;
/** Length of a version id. */
export const VERSION_ID_BYTES = 16;
/** Longest free-text label of a version. */
export const LABEL_BYTES_MAX = 256;
/** Longest scheme text (`rs:255+1`). */
export const SCHEME_BYTES_MAX = 16;

const Hash = fixedBytes(HASH_BYTES);

/** Codec of one block of a file in the manifest. */
export const BlockEntryCodec = struct({
  plainSize: uint,
  cipherSize: uint,
  wrappedKey: optional(bytes(WRAPPED_KEY_BYTES_MAX)),
  fragmentHashes: array(Hash, FRAGMENTS_MAX),
  merkleRoots: array(Hash, FRAGMENTS_MAX),
});

/** Codec of one file in the manifest. */
export const FileEntryCodec = struct({
  path: string(PATH_BYTES_MAX),
  size: uint,
  mode: uint,
  mtimeMs: int,
  salt: fixedBytes(FILE_SALT_BYTES),
  blocks: array(BlockEntryCodec, FILE_BLOCKS_MAX),
});

/** Codec of a whole manifest (format version 1), before encryption. */
export const ManifestCodec = struct({
  versionId: fixedBytes(VERSION_ID_BYTES),
  createdMs: uint,
  label: string(LABEL_BYTES_MAX),
  scheme: string(SCHEME_BYTES_MAX),
  blockBytes: uint,
  leafBytes: uint,
  files: array(FileEntryCodec, MANIFEST_FILES_MAX),
});

export type { BlockEntry, FileEntry, Manifest } from "../core/manifest.ts";

const SEALED_MANIFEST = { magic: "BDMF", version: 1 } as const;
const MANIFEST_INFO = new TextEncoder().encode("bitdust/manifest/v1");

/** Semantic checks beyond the codec's; returns what is wrong, or `undefined`. */
export function manifestProblem(m: Manifest): string | undefined {
  let scheme;
  try {
    scheme = parseScheme(m.scheme);
  } catch {
    return `bad scheme '${m.scheme}'`;
  }
  if (m.blockBytes < 1 || m.blockBytes > BLOCK_BYTES_MAX) return `bad block size ${m.blockBytes}`;
  if (m.leafBytes < 1 || m.leafBytes > 0xffffffff) return `bad leaf size ${m.leafBytes}`;
  for (const f of m.files) {
    if (f.blocks.length !== Math.ceil(f.size / m.blockBytes)) {
      return `file '${f.path}' has ${f.blocks.length} blocks for ${f.size} bytes`;
    }
    let total = 0;
    for (const b of f.blocks) {
      if (b.plainSize > m.blockBytes || b.cipherSize !== b.plainSize + TAG_BYTES) {
        return `file '${f.path}' has a block of inconsistent sizes`;
      }
      if (b.fragmentHashes.length !== scheme.n || b.merkleRoots.length !== scheme.n) {
        return `file '${f.path}' has a block without ${scheme.n} fragment hashes`;
      }
      total += b.plainSize;
    }
    if (total !== f.size) return `file '${f.path}' blocks add up to ${total}, not ${f.size}`;
  }
  return undefined;
}

/** Canonical bytes of a manifest (owned). Throws `RangeError` if it is inconsistent. */
export function encodeManifest(manifest: Manifest): Uint8Array<ArrayBuffer> {
  const problem = manifestProblem(manifest);
  if (problem !== undefined) throw new RangeError(`manifest: ${problem}`);
  return encode(ManifestCodec, manifest).slice();
}

/** The manifest in canonical bytes; throws {@link FormatError} if they are malformed. */
export function decodeManifest(bytes: Uint8Array): Manifest {
  let m: Manifest;
  try {
    m = decode(ManifestCodec, bytes);
  } catch (e) {
    if (e instanceof DecodeError) throw new FormatError(`manifest: ${e.message}`);
    throw e;
  }
  const problem = manifestProblem(m);
  if (problem !== undefined) throw new FormatError(`manifest: ${problem}`);
  return m;
}

/**
 * Encodes and encrypts a manifest under the user's file key.
 *
 * @example
 * ```ts
 * import { randomKey } from "./aead.ts";
 * import { openManifest, sealManifest } from "./manifest.ts";
 * const fileKey = randomKey();
 * const manifest = { versionId: new Uint8Array(16), createdMs: 0, label: "", scheme: "rs:4+4",
 *   blockBytes: 4 << 20, leafBytes: 16384, files: [] };
 * console.assert(openManifest(sealManifest(manifest, fileKey), fileKey).scheme === "rs:4+4");
 * ```
 */
export function sealManifest(
  manifest: Manifest,
  fileKey: Uint8Array,
  options: { randomBytes?: RandomBytes } = {},
): Uint8Array<ArrayBuffer> {
  const head = new Uint8Array(HEADER_BYTES + FILE_SALT_BYTES);
  writeHeader(head, SEALED_MANIFEST);
  const salt = drawBytes(options.randomBytes, FILE_SALT_BYTES);
  head.set(salt, HEADER_BYTES);
  const key = hkdf(fileKey, salt, MANIFEST_INFO, KEY_BYTES);
  const body = encryptSync(key, encodeManifest(manifest), {
    nonce: BLOCK_NONCE,
    associatedData: head,
  });
  return concat(head, body);
}

/**
 * Decrypts and decodes a sealed manifest. Throws `AuthenticationError` for the wrong key or any
 * altered byte, {@link FormatError} for an unknown format or malformed contents.
 */
export function openManifest(sealed: Uint8Array, fileKey: Uint8Array): Manifest {
  readHeader(sealed, SEALED_MANIFEST, "manifest");
  const headBytes = HEADER_BYTES + FILE_SALT_BYTES;
  if (sealed.length < headBytes + TAG_BYTES) {
    throw new FormatError(`manifest: ${sealed.length} bytes is too short`);
  }
  const head = sealed.subarray(0, headBytes);
  const key = hkdf(fileKey, head.subarray(HEADER_BYTES), MANIFEST_INFO, KEY_BYTES);
  const plain = decryptSync(key, sealed.subarray(headBytes), {
    nonce: BLOCK_NONCE,
    associatedData: head,
  });
  return decodeManifest(plain);
}

/** A new random version id. */
export function newVersionId(randomBytes?: RandomBytes): Uint8Array {
  return drawBytes(randomBytes, VERSION_ID_BYTES);
}

/**
 * Ordinal of every block of the version across files (file 0's blocks first), the number by
 * which the fragment index and the suppliers know a block: `ordinals[file][block]`.
 */
export function blockOrdinals(manifest: Manifest): number[][] {
  let next = 0;
  return manifest.files.map((f) => f.blocks.map(() => next++));
}

/** What {@link fileEntryOf} needs to know about a file besides its sealed blocks. */
export interface FileFacts {
  /** Path relative to the backed-up root. */
  path: string;
  /** POSIX mode bits (0o644 by default). */
  mode?: number;
  /** Modification time, ms since the epoch (0 by default). */
  mtimeMs?: number;
  /** The salt the blocks were sealed with. */
  salt: Uint8Array;
}

/** A manifest entry for a file from the blocks `sealBytes`/`sealStream` produced, in order. */
export function fileEntryOf(
  facts: FileFacts,
  blocks: readonly {
    plainSize: number;
    cipherSize: number;
    fragmentHashes: Uint8Array[];
    merkleRoots: Uint8Array[];
    wrappedKey?: Uint8Array;
  }[],
): FileEntry {
  return {
    path: facts.path,
    size: blocks.reduce((n, b) => n + b.plainSize, 0),
    mode: facts.mode ?? 0o644,
    mtimeMs: facts.mtimeMs ?? 0,
    salt: facts.salt,
    blocks: blocks.map((b) => ({
      plainSize: b.plainSize,
      cipherSize: b.cipherSize,
      wrappedKey: b.wrappedKey,
      fragmentHashes: b.fragmentHashes,
      merkleRoots: b.merkleRoots,
    })),
  };
}
