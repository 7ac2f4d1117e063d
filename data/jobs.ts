/**
 * Runs the storage roles' CPU jobs (`core/storage.ts`) with the data path, synchronously.
 *
 * Both hosts use it: the simulator inline, the real node on its workers. Failures that come from
 * the data (too few fragments, a bad hash, a wrong key) are results, never exceptions, so an actor
 * always gets an answer; a malformed job (our bug) throws.
 *
 * @module
 */

import type { StorageJob, StorageJobResult } from "../core/storage.ts";
import {
  AuthenticationError,
  FormatError,
  IntegrityError,
  TooFewFragmentsError,
} from "./errors.ts";
import { decodeFragments, encodeFragments } from "./fragments.ts";
import { openManifest, sealManifest } from "./manifest.ts";
import {
  hashFragment,
  LEAF_BYTES_DEFAULT,
  merkleLeaf,
  merkleProof,
  verifyMerkleProof,
} from "./merkle.ts";
import {
  corruptFragments,
  openBlock,
  openBlockAsync,
  rebuildFragments,
  rebuildVerified,
  sealBlock,
  sealBlockAsync,
} from "./pipeline.ts";
import { openRecovery, recoverManifest, sealRecovery } from "./recovery.ts";
import { fragmentSize, toScheme } from "./scheme.ts";

/** Runs one job and returns its result. */
export function runStorageJob(job: StorageJob): StorageJobResult {
  try {
    return run(job);
  } catch (e) {
    return failure(e);
  }
}

/**
 * {@link runStorageJob} with block encryption and decryption through WebCrypto, which runs AES-GCM
 * several times faster than the synchronous path here (`deno task bench data`). Same results,
 * byte for byte: the real node's job workers use it; the simulator keeps the synchronous one.
 */
export async function runStorageJobAsync(job: StorageJob): Promise<StorageJobResult> {
  try {
    if (job.type === "seal") return { type: "sealed", ...(await sealBlockAsync(job)) };
    if (job.type === "open") return { type: "opened", plaintext: await openBlockAsync(job) };
    return run(job);
  } catch (e) {
    return failure(e);
  }
}

function failure(e: unknown): StorageJobResult {
  if (e instanceof TooFewFragmentsError) {
    return { type: "failed", error: "too_few_fragments", message: e.message };
  }
  if (e instanceof IntegrityError) {
    return { type: "failed", error: "integrity", message: e.message };
  }
  if (e instanceof AuthenticationError) {
    return { type: "failed", error: "authentication", message: e.message };
  }
  if (e instanceof FormatError) return { type: "failed", error: "format", message: e.message };
  throw e;
}

function run(job: StorageJob): StorageJobResult {
  switch (job.type) {
    case "seal": {
      const sealed = sealBlock(job);
      return { type: "sealed", ...sealed };
    }
    case "open":
      return { type: "opened", plaintext: openBlock(job) };
    case "rebuild": {
      const { wantedHashes } = job;
      if (wantedHashes === undefined) return { type: "rebuilt", fragments: rebuildFragments(job) };
      return { type: "rebuilt", ...rebuildVerified({ ...job, wantedHashes }) };
    }
    case "prove": {
      const proof = merkleProof(job.data, job.leafIndex, job.leafBytes);
      const leaf = merkleLeaf(job.data, job.leafIndex, job.leafBytes).slice();
      return { type: "proved", size: job.data.length, leaf, path: proof.siblings };
    }
    case "verify_proof": {
      const ok = verifyMerkleProof(job.root, job.leaf, {
        size: job.size,
        leafBytes: job.leafBytes,
        leafIndex: job.leafIndex,
        siblings: job.path,
      });
      return { type: "verified", ok };
    }
    case "seal_manifest":
      return sealManifestJob(job.manifest, job.fileKey, job.salt, job.scheme);
    case "open_manifest": {
      const s = toScheme(job.scheme);
      let fragments = job.fragments;
      if (job.fragmentHashes !== undefined) {
        const bad = corruptFragments(
          fragments,
          job.fragmentHashes,
          fragmentSize(s, job.cipherSize),
        );
        fragments = fragments.map((f, i) => (bad.includes(i) ? undefined : f));
      }
      const present = fragments.filter((f) => f !== undefined).length;
      if (present < s.k) throw new TooFewFragmentsError(s.k, present);
      const sealed = decodeFragments(s, fragments, job.cipherSize);
      return { type: "manifest", manifest: openManifest(sealed, job.fileKey) };
    }
    case "seal_recovery":
      return { type: "recovery_sealed", sealed: sealRecovery(job.record, job.fileKey, job.salt) };
    case "open_recovery":
      return { type: "recovery_opened", record: openRecovery(job.sealed, job.fileKey) };
    case "recover_manifest": {
      const r = recoverManifest(job.scheme, job.fragments, job.cipherSize, job.fileKey);
      return { type: "manifest_recovered", ...r };
    }
  }
}

function sealManifestJob(
  manifest: Parameters<typeof sealManifest>[0],
  fileKey: Uint8Array,
  salt: Uint8Array,
  scheme: string,
): StorageJobResult {
  if (salt.length !== 32) throw new RangeError("a manifest salt is 32 bytes");
  const sealed = sealManifest(manifest, fileKey, { randomBytes: () => salt.slice() });
  const s = toScheme(scheme);
  const fragments = encodeFragments(s, sealed);
  const hashes = fragments.map((f) => hashFragment(f, LEAF_BYTES_DEFAULT));
  return {
    type: "sealed",
    fragments,
    fragmentHashes: hashes.map((h) => h.sha256),
    merkleRoots: hashes.map((h) => h.merkleRoot),
    cipherSize: sealed.length,
    plainSize: 0,
    fragmentSize: fragmentSize(s, sealed.length),
  };
}

/** A rough CPU cost of a job in ms, for the simulator's clock (throughputs measured here). */
export function storageJobCostMs(job: StorageJob): number {
  const mbPerMs = 1000; // 1 GB/s ≈ 1 MB per ms
  switch (job.type) {
    case "seal":
      return job.plaintext.length / (0.5 * mbPerMs * 1000);
    case "open":
    // A rebuild's check of its outputs (`wantedHashes`) is inside this figure: coding and
    // hashing up to K wanted fragments of a 4 MiB block stayed below it when measured here.
    case "rebuild":
      return job.cipherSize / (0.5 * mbPerMs * 1000);
    case "prove":
      return job.data.length / (1.5 * mbPerMs * 1000);
    case "verify_proof":
      return 0.01;
    case "seal_manifest":
      return 0.1;
    case "open_manifest":
      return job.cipherSize / (0.5 * mbPerMs * 1000);
    case "seal_recovery":
    case "open_recovery":
      return 0.05;
    case "recover_manifest":
      return 2 * job.cipherSize / (0.5 * mbPerMs * 1000);
  }
}
