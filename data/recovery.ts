/**
 * What a new machine needs to find a user's data with only the user's key: the sealed recovery
 * record (published on ID servers inside a signed family record) and the rebuilding of a manifest
 * from fragments whose hashes are not known yet.
 *
 * Sealed record format: `"BDRR"`, version 2, a random 32-byte salt, then the canonical encoding of
 * the {@link RecoveryRecord} encrypted with AES-256-GCM under HKDF(file key, salt,
 * `"bitdust/recovery/v1"`) with the header and salt as associated data. One key seals one record
 * (a fresh salt each time), so the fixed nonce is never reused under a key, as for manifests.
 *
 * Version 2 adds, after the positions, each position's pinned Ed25519 key (32 bytes, or none),
 * so a new machine knows whom to believe under each name before it talks to anybody. Version 1
 * records (no keys) still open, with `keys` absent; the customer then pins each key from its
 * supplier's first probe answer. The key derivation label stays the same: the header, version
 * byte included, is associated data, so a record cannot be opened as the other version.
 *
 * @module
 */

import {
  array,
  bool,
  decode,
  DecodeError,
  encode,
  fixedBytes,
  optional,
  string,
  struct,
  uint,
} from "../core/codec.ts";
import {
  FAMILY_SEALED_BYTES_MAX,
  NODE_ID_BYTES_MAX,
  PUBLIC_KEY_BYTES,
  RECOVERY_VERSIONS_MAX,
} from "../core/limits.ts";
import type { Manifest } from "../core/manifest.ts";
import type { RecoveryRecord } from "../core/storage.ts";
import { concat, equalBytes, HEADER_BYTES, readHeader, writeHeader } from "./_bytes.ts";
import { BLOCK_NONCE, decryptSync, encryptSync, hkdf, KEY_BYTES, TAG_BYTES } from "./aead.ts";
import {
  AuthenticationError,
  FormatError,
  IntegrityError,
  TooFewFragmentsError,
} from "./errors.ts";
import { decodeFragments, encodeFragments } from "./fragments.ts";
import { openManifest } from "./manifest.ts";
import { hashFragment, LEAF_BYTES_DEFAULT } from "./merkle.ts";
import { fragmentSize, toScheme } from "./scheme.ts";

const SEALED_RECOVERY = { magic: "BDRR", version: 2 } as const;
const SEALED_RECOVERY_V1 = { magic: "BDRR", version: 1 } as const;
const RECOVERY_INFO = new TextEncoder().encode("bitdust/recovery/v1");
const SALT_BYTES = 32;

/** Most K-subsets of fragments tried when rebuilding a manifest without hashes. */
const RECOVER_TRIES_MAX = 256;

const positionsCodec = array(optional(string(NODE_ID_BYTES_MAX)), 256);
const versionsCodec = array(
  struct({ id: string(64), manifestCipherSize: uint }),
  RECOVERY_VERSIONS_MAX,
);

const recordCodec = struct({
  scheme: string(16),
  positions: positionsCodec,
  keys: array(optional(fixedBytes(PUBLIC_KEY_BYTES)), 256),
  versions: versionsCodec,
  allVersions: bool,
});

const recordCodecV1 = struct({
  scheme: string(16),
  positions: positionsCodec,
  versions: versionsCodec,
  allVersions: bool,
});

/** Sealed bytes of `record` under `fileKey`; `RangeError` if they would not fit a family record. */
export function sealRecovery(
  record: RecoveryRecord,
  fileKey: Uint8Array,
  salt: Uint8Array,
): Uint8Array<ArrayBuffer> {
  if (salt.length !== SALT_BYTES) throw new RangeError("a recovery salt is 32 bytes");
  const head = new Uint8Array(HEADER_BYTES + SALT_BYTES);
  writeHeader(head, SEALED_RECOVERY);
  head.set(salt, HEADER_BYTES);
  const key = hkdf(fileKey, salt, RECOVERY_INFO, KEY_BYTES);
  const keys = record.positions.map((_, i) => record.keys?.[i]);
  if (keys.some((k) => k !== undefined && k.length !== PUBLIC_KEY_BYTES)) {
    throw new RangeError("a pinned key is a 32-byte Ed25519 key");
  }
  const body = encryptSync(key, encode(recordCodec, { ...record, keys }).slice(), {
    nonce: BLOCK_NONCE,
    associatedData: head,
  });
  const sealed = concat(head, body);
  if (sealed.length > FAMILY_SEALED_BYTES_MAX) {
    throw new RangeError(`a recovery record of ${sealed.length} bytes is over the limit`);
  }
  return sealed;
}

/**
 * Opens a sealed recovery record (of either version; one of version 1 has no `keys`). Throws
 * `AuthenticationError` for another key or any altered byte, {@link FormatError} for an unknown
 * format or malformed contents.
 */
export function openRecovery(sealed: Uint8Array, fileKey: Uint8Array): RecoveryRecord {
  const v1 = sealed.length > 4 && sealed[4] === SEALED_RECOVERY_V1.version;
  readHeader(sealed, v1 ? SEALED_RECOVERY_V1 : SEALED_RECOVERY, "recovery record");
  const headBytes = HEADER_BYTES + SALT_BYTES;
  if (sealed.length < headBytes + TAG_BYTES) {
    throw new FormatError(`recovery record: ${sealed.length} bytes is too short`);
  }
  const head = sealed.subarray(0, headBytes);
  const key = hkdf(fileKey, head.subarray(HEADER_BYTES), RECOVERY_INFO, KEY_BYTES);
  const plain = decryptSync(key, sealed.subarray(headBytes), {
    nonce: BLOCK_NONCE,
    associatedData: head,
  });
  try {
    if (v1) return decode(recordCodecV1, plain);
    const record = decode(recordCodec, plain);
    if (record.keys.length !== record.positions.length) {
      throw new FormatError("recovery record: keys and positions differ in number");
    }
    record.keys = record.keys.map((k) => k?.slice());
    return record;
  } catch (e) {
    if (e instanceof DecodeError) throw new FormatError(`recovery record: ${e.message}`);
    throw e;
  }
}

/** A manifest rebuilt without recorded hashes, with what the catalogue needs to keep it. */
export interface RecoveredManifest {
  manifest: Manifest;
  fragmentHashes: Uint8Array[];
  merkleRoots: Uint8Array[];
  fragmentSize: number;
  /** Per position: whether the fragment given there was right. */
  matched: boolean[];
}

/**
 * Rebuilds a manifest from the fragments that came back (`undefined`: none), trying K-subsets in
 * order until one decodes and decrypts: the AEAD tag is the only check, since the hashes are in
 * the manifest itself. Throws {@link TooFewFragmentsError} with fewer than K fragments of the
 * right size, `AuthenticationError` when no subset (of the first {@link RECOVER_TRIES_MAX})
 * opens.
 */
export function recoverManifest(
  scheme: string,
  fragments: readonly (Uint8Array | undefined)[],
  cipherSize: number,
  fileKey: Uint8Array,
): RecoveredManifest {
  const s = toScheme(scheme);
  const size = fragmentSize(s, cipherSize);
  const present: number[] = [];
  fragments.forEach((f, i) => {
    if (f !== undefined && f.length === size && i < s.n) present.push(i);
  });
  if (present.length < s.k) throw new TooFewFragmentsError(s.k, present.length);
  let tries = 0;
  for (const subset of combinations(present, s.k)) {
    if (tries >= RECOVER_TRIES_MAX) break;
    tries++;
    const chosen: (Uint8Array | undefined)[] = new Array(s.n).fill(undefined);
    for (const i of subset) chosen[i] = fragments[i];
    let sealed: Uint8Array;
    let manifest: Manifest;
    try {
      sealed = decodeFragments(s, chosen, cipherSize);
      manifest = openManifest(sealed, fileKey);
    } catch (e) {
      if (e instanceof AuthenticationError || e instanceof FormatError) continue;
      if (e instanceof IntegrityError) continue;
      throw e;
    }
    const all = encodeFragments(s, sealed);
    const hashes = all.map((f) => hashFragment(f, LEAF_BYTES_DEFAULT));
    return {
      manifest,
      fragmentHashes: hashes.map((h) => h.sha256),
      merkleRoots: hashes.map((h) => h.merkleRoot),
      fragmentSize: size,
      matched: all.map((f, i) => {
        const given = fragments[i];
        return given !== undefined && equalBytes(given, f);
      }),
    };
  }
  throw new AuthenticationError(
    `no ${s.k} of the ${present.length} manifest fragments open it (${tries} tried)`,
  );
}

/** The k-element subsets of `items`, in lexicographic order of positions. */
function* combinations(items: readonly number[], k: number): Generator<number[]> {
  const n = items.length;
  const at = Array.from({ length: k }, (_, i) => i);
  while (true) {
    yield at.map((i) => items[i]);
    let j = k - 1;
    while (j >= 0 && at[j] === n - k + j) j--;
    if (j < 0) return;
    at[j]++;
    for (let q = j + 1; q < k; q++) at[q] = at[q - 1] + 1;
  }
}
