/**
 * Rebuilding a block's lost fragments without any key, the half of "gather + rebuild" that
 * follows `gather.ts`: from K fragments in hand, a `rebuild` job recomputes the wanted positions,
 * and only those that match the block's fragment index may be stored. The customer's repairs and
 * a keyless rebuilder (issue 14) run on it.
 *
 * Theory of operation. {@link rebuildJob} turns what the caller knows (scheme, cipher size, the
 * fragments in hand by position, the wanted positions and the block's per-position SHA-256 from
 * the signed fragment index) into a `rebuild` {@link StorageJob} that carries the wanted
 * positions' hashes. The job checks its own outputs, size and SHA-256, where it codes them (a
 * host's worker, or inline in the simulator, whose job-time model covers it), and names the
 * positions that did not match; an actor's step never hashes fragment bytes. {@link rebuildOutcome}
 * reads the job's answer into what the caller stores (by position, matched fragments only) and
 * what it counts (the positions that failed, or why the whole job failed). It trusts nothing
 * the job did not vouch for: a `rebuilt` answer without the job's verdict stores nothing.
 *
 * The part sends nothing and keeps no state: the caller emits the job and routes its result
 * back.
 *
 * @example
 * ```ts
 * const h = (v: number) => new Uint8Array(32).fill(v);
 * const job = rebuildJob({
 *   scheme: "rs:2+2",
 *   cipherSize: 8,
 *   fragments: [new Uint8Array(4), new Uint8Array(4), undefined, undefined],
 *   wanted: [2, 3],
 *   fragmentHashes: [h(0), h(1), h(2), h(3)],
 * });
 * console.assert(job.wantedHashes?.[1][0] === 3);
 * const out = rebuildOutcome(
 *   { type: "rebuilt", fragments: [new Uint8Array(4), new Uint8Array(4)], unmatched: [3] },
 *   job.wanted,
 *   4,
 * );
 * console.assert(out.kind === "rebuilt" && out.bad.join() === "3");
 * console.assert(out.kind === "rebuilt" && out.fragments[2] !== undefined);
 * ```
 *
 * @module
 */

import {
  eccScheme,
  type JobFailure,
  type StorageJob,
  type StorageJobResult,
} from "../core/storage.ts";

/** The `rebuild` storage job. */
export type RebuildJob = Extract<StorageJob, { type: "rebuild" }>;

/** What {@link rebuildJob} needs to know of the block. */
export interface RebuildRequest {
  /** The block's ECC scheme as text: `rs:4+4`, `mirror:2`. */
  scheme: string;
  /** The block's ciphertext size (from the fragment index); it fixes the fragment size. */
  cipherSize: number;
  /**
   * N slots, by position, `undefined` where not in hand. Each present one must already have been
   * checked against its hash (as `gatherAnswered` does): the job does not hash its inputs again.
   */
  fragments: (Uint8Array | undefined)[];
  /** Positions to rebuild, distinct, each in `[0, N)`. */
  wanted: readonly number[];
  /** The block's SHA-256 per position (N entries), from the fragment index. */
  fragmentHashes: readonly Uint8Array[];
}

/**
 * The `rebuild` job for `request`: the wanted positions recomputed from the fragments in hand,
 * each checked by the job against its hash in the index. Throws `RangeError` on a request that
 * does not fit its scheme (our bug, not a peer's).
 */
export function rebuildJob(request: RebuildRequest): RebuildJob {
  const { fragments, wanted, fragmentHashes } = request;
  const s = eccScheme(request.scheme);
  if (s === null) throw new RangeError(`not an ECC scheme: ${request.scheme}`);
  if (fragments.length !== s.n || fragmentHashes.length !== s.n) {
    const got = `${fragments.length} fragment slots and ${fragmentHashes.length} hashes`;
    throw new RangeError(`${s.text} needs ${s.n} fragment slots and hashes, got ${got}`);
  }
  if (!Number.isSafeInteger(request.cipherSize) || request.cipherSize < 0) {
    throw new RangeError(`cipher size must be a non-negative integer, got ${request.cipherSize}`);
  }
  checkPositions(wanted, s.n);
  return {
    type: "rebuild",
    scheme: s.text,
    fragments,
    wanted: [...wanted],
    cipherSize: request.cipherSize,
    wantedHashes: wanted.map((p) => fragmentHashes[p]),
  };
}

/** Why a rebuild gave nothing to store: the job's own failure, or an answer that is unusable. */
export type RebuildFailure =
  | JobFailure
  /** A `rebuilt` answer without the job's verdict on its outputs (a job made without hashes). */
  | "unverified"
  /** An answer that does not fit the job (the wrong type, or not one fragment per position). */
  | "malformed";

/** What a rebuild job's answer means to its caller. */
export type RebuildOutcome =
  | {
    kind: "rebuilt";
    /** N slots, by position: a rebuilt fragment only where it matched the index. */
    fragments: (Uint8Array | undefined)[];
    /** The wanted positions whose rebuilt fragment did not match (in `wanted`'s order). */
    bad: number[];
  }
  | { kind: "failed"; reason: RebuildFailure; message: string };

/**
 * Reads the answer to a job made by {@link rebuildJob} for `wanted` positions of an `n`-position
 * block: the fragments to store, by position, and the positions that failed their check; or, when
 * the job itself failed (too few fragments, say), why. Cheap: it compares positions, never bytes.
 */
export function rebuildOutcome(
  result: StorageJobResult,
  wanted: readonly number[],
  n: number,
): RebuildOutcome {
  if (result.type === "failed") {
    return { kind: "failed", reason: result.error, message: result.message };
  }
  if (result.type !== "rebuilt" || result.fragments.length !== wanted.length) {
    const what = result.type === "rebuilt" ? `${result.fragments.length} fragments` : result.type;
    return { kind: "failed", reason: "malformed", message: `${what} for ${wanted.length} wanted` };
  }
  const { unmatched } = result;
  if (unmatched === undefined) {
    return { kind: "failed", reason: "unverified", message: "the job did not check its outputs" };
  }
  const fragments: (Uint8Array | undefined)[] = new Array(n).fill(undefined);
  const bad: number[] = [];
  wanted.forEach((p, i) => {
    if (unmatched.includes(p)) bad.push(p);
    else fragments[p] = result.fragments[i];
  });
  return { kind: "rebuilt", fragments, bad };
}

function checkPositions(wanted: readonly number[], n: number): void {
  const seen = new Set<number>();
  for (const p of wanted) {
    if (!Number.isInteger(p) || p < 0 || p >= n) {
      throw new RangeError(`no fragment position ${p} in ${n}`);
    }
    if (seen.has(p)) throw new RangeError(`position ${p} is wanted twice`);
    seen.add(p);
  }
}
