/**
 * Shared vocabulary of the storage roles: fragment keys, ECC schemes as numbers, and the CPU jobs
 * (encryption, erasure coding, hashing, proofs) that customer and supplier actors hand to their
 * host. Hosts run the jobs with `data/` (inline in the simulator, on workers in the real node);
 * actors only see requests and results.
 *
 * @module
 */

import { FRAGMENT_KEY_BYTES_MAX } from "./limits.ts";
import type { Manifest } from "./manifest.ts";

/** An ECC scheme in numbers: `rs:K+M` has k data and m parity fragments; `mirror:N` has k = 1. */
export interface EccScheme {
  /** The scheme as text: `rs:4+4`, `mirror:2`. */
  text: string;
  kind: "rs" | "mirror";
  /** Fragments needed to read a block. */
  k: number;
  /** Fragments that may be lost. */
  m: number;
  /** Fragments per block, one per supplier position: k + m. */
  n: number;
}

/** Parses `rs:K+M` or `mirror:N`; returns `null` when malformed or out of range. */
export function eccScheme(text: string): EccScheme | null {
  const rs = /^rs:(\d{1,3})\+(\d{1,3})$/.exec(text);
  if (rs !== null) {
    const k = Number(rs[1]);
    const m = Number(rs[2]);
    if (k < 1 || k + m > 256) return null;
    return { text, kind: "rs", k, m, n: k + m };
  }
  const mirror = /^mirror:(\d{1,3})$/.exec(text);
  if (mirror !== null) {
    const n = Number(mirror[1]);
    if (n < 1 || n > 256) return null;
    return { text, kind: "mirror", k: 1, m: n - 1, n };
  }
  return null;
}

const KEY_PART = /^[A-Za-z0-9_-]+$/;

/**
 * Whether `key` is an acceptable fragment key: 1–128 bytes, parts of letters, digits, `_` and
 * `-` joined by `/`. No dots, so no key can climb out of a supplier's folder.
 */
export function isFragmentKey(key: string): boolean {
  if (key.length === 0 || key.length > FRAGMENT_KEY_BYTES_MAX) return false;
  const parts = key.split("/");
  return parts.every((p) => KEY_PART.test(p));
}

/**
 * What a user's family record says once opened (the ID server only ever sees it sealed): the
 * scheme, who holds each position, and the versions whose manifests sit on the family, newest
 * first, with the manifest's ciphertext size so its fragments can be decoded without any other
 * record. A new machine with only the user's key rebuilds its catalogue from it.
 */
export interface RecoveryRecord {
  scheme: string;
  positions: (string | undefined)[];
  /**
   * The Ed25519 key pinned for each position's supplier (a record of format 1 has none): a new
   * machine believes only these keys under those names.
   */
  keys?: (Uint8Array | undefined)[];
  versions: { id: string; manifestCipherSize: number }[];
  /** False when older complete versions did not fit the record. */
  allVersions: boolean;
}

/** CPU jobs of the storage roles. Byte arrays are handed over, not copied. */
export type StorageJob =
  | {
    type: "seal";
    fileKey: Uint8Array;
    fileSalt: Uint8Array;
    blockIndex: number;
    plaintext: Uint8Array;
    scheme: string;
  }
  | {
    type: "open";
    fileKey: Uint8Array;
    fileSalt: Uint8Array;
    blockIndex: number;
    scheme: string;
    fragments: (Uint8Array | undefined)[];
    cipherSize: number;
    fragmentHashes: Uint8Array[];
  }
  | {
    type: "rebuild";
    scheme: string;
    fragments: (Uint8Array | undefined)[];
    wanted: number[];
    cipherSize: number;
    /** When given, fragments are checked against them first and bad ones treated as missing. */
    fragmentHashes?: Uint8Array[];
    /**
     * When given, the SHA-256 each rebuilt fragment must have (from the fragment index), one per
     * `wanted` entry, in its order: the job checks its own outputs (and their size) and says in
     * its result which did not match, so the hashing runs where the coding does, not in a step.
     */
    wantedHashes?: Uint8Array[];
  }
  | { type: "prove"; data: Uint8Array; leafIndex: number; leafBytes: number }
  | {
    type: "verify_proof";
    root: Uint8Array;
    leaf: Uint8Array;
    size: number;
    leafIndex: number;
    leafBytes: number;
    path: Uint8Array[];
  }
  /** Encode, encrypt (under a key derived with the actor's 32-byte `salt`) and erasure-code a
   * manifest; answered like `seal`. The salt comes from the actor so runs stay reproducible. */
  | {
    type: "seal_manifest";
    manifest: Manifest;
    fileKey: Uint8Array;
    salt: Uint8Array;
    scheme: string;
  }
  /** Rebuild, decrypt and decode a manifest from its fragments (hashes optional). */
  | {
    type: "open_manifest";
    fileKey: Uint8Array;
    scheme: string;
    fragments: (Uint8Array | undefined)[];
    cipherSize: number;
    fragmentHashes?: Uint8Array[];
  }
  /** Seal a recovery record under the user's file key (with the actor's 32-byte `salt`). */
  | { type: "seal_recovery"; record: RecoveryRecord; fileKey: Uint8Array; salt: Uint8Array }
  /** Open a sealed recovery record. */
  | { type: "open_recovery"; sealed: Uint8Array; fileKey: Uint8Array }
  /**
   * Rebuild a manifest from whatever fragments came back, with no recorded hashes: K-subsets
   * are tried until one decrypts (the AEAD tag is the check); then every fragment is re-derived,
   * so the answer carries the hashes and roots the catalogue needs, and which of the given
   * fragments were right.
   */
  | {
    type: "recover_manifest";
    fileKey: Uint8Array;
    scheme: string;
    fragments: (Uint8Array | undefined)[];
    cipherSize: number;
  };

/** Why a job failed. */
export type JobFailure =
  | "too_few_fragments"
  | "integrity"
  | "authentication"
  | "format"
  /** The host could not run the job (a worker died); the actor treats it like any failure. */
  | "crashed";

/** Results of {@link StorageJob}s, by the job's type. */
export type StorageJobResult =
  | {
    type: "sealed";
    fragments: Uint8Array[];
    fragmentHashes: Uint8Array[];
    merkleRoots: Uint8Array[];
    cipherSize: number;
    plainSize: number;
    fragmentSize: number;
  }
  | { type: "opened"; plaintext: Uint8Array }
  | {
    type: "rebuilt";
    /** One per `wanted` position of the job, in its order. */
    fragments: Uint8Array[];
    /**
     * Only when the job carried `wantedHashes`: the wanted positions whose rebuilt fragment has
     * the wrong SHA-256 or size (empty when all match). Those must not be stored.
     */
    unmatched?: number[];
  }
  | { type: "proved"; size: number; leaf: Uint8Array; path: Uint8Array[] }
  | { type: "verified"; ok: boolean }
  | { type: "manifest"; manifest: Manifest }
  | { type: "recovery_sealed"; sealed: Uint8Array }
  | { type: "recovery_opened"; record: RecoveryRecord }
  | {
    type: "manifest_recovered";
    manifest: Manifest;
    fragmentHashes: Uint8Array[];
    merkleRoots: Uint8Array[];
    fragmentSize: number;
    /** Per position: whether the fragment given was the right one. */
    matched: boolean[];
  }
  | { type: "failed"; error: JobFailure; message: string };

/** Merkle leaf size used for audits (matches the data path's default). */
export const AUDIT_LEAF_BYTES = 16 * 1024;

/** Number of Merkle leaves of a fragment of `size` bytes (at least one). */
export function leafCountOf(size: number, leafBytes = AUDIT_LEAF_BYTES): number {
  return Math.max(1, Math.ceil(size / leafBytes));
}
