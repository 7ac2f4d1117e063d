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
import { AuthenticationError, IntegrityError, TooFewFragmentsError } from "./errors.ts";
import { merkleLeaf, merkleProof, verifyMerkleProof } from "./merkle.ts";
import { openBlock, rebuildFragments, sealBlock } from "./pipeline.ts";

/** Runs one job and returns its result. */
export function runStorageJob(job: StorageJob): StorageJobResult {
  try {
    return run(job);
  } catch (e) {
    if (e instanceof TooFewFragmentsError) {
      return { type: "failed", error: "too_few_fragments", message: e.message };
    }
    if (e instanceof IntegrityError) {
      return { type: "failed", error: "integrity", message: e.message };
    }
    if (e instanceof AuthenticationError) {
      return { type: "failed", error: "authentication", message: e.message };
    }
    throw e;
  }
}

function run(job: StorageJob): StorageJobResult {
  switch (job.type) {
    case "seal": {
      const sealed = sealBlock(job);
      return { type: "sealed", ...sealed };
    }
    case "open":
      return { type: "opened", plaintext: openBlock(job) };
    case "rebuild":
      return { type: "rebuilt", fragments: rebuildFragments(job) };
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
  }
}

/** A rough CPU cost of a job in ms, for the simulator's clock (throughputs measured here). */
export function storageJobCostMs(job: StorageJob): number {
  const mbPerMs = 1000; // 1 GB/s ≈ 1 MB per ms
  switch (job.type) {
    case "seal":
      return job.plaintext.length / (0.5 * mbPerMs * 1000);
    case "open":
    case "rebuild":
      return job.cipherSize / (0.5 * mbPerMs * 1000);
    case "prove":
      return job.data.length / (1.5 * mbPerMs * 1000);
    case "verify_proof":
      return 0.01;
  }
}
