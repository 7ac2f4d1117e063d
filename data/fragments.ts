/**
 * Erasure coding of a whole byte string (a block's ciphertext) into fragments, and back.
 *
 * Fragment layout: a fragment is the raw shard, nothing else. The ciphertext is cut into K
 * shards of ⌈size / K⌉ bytes (the last one padded with zeros), followed by M parity shards of the
 * same size; fragment `p` goes to the supplier at position `p`. Raw shards keep the parity
 * byte-for-byte that of the reed-solomon-erasure crate, so other tools can read them, and keep
 * hashes and Merkle proofs over exactly the bytes a supplier stores. What a fragment is (which
 * block, which position, its true ciphertext size, its hashes) is said by the signed fragment
 * index (`fragment_index.ts`) and the encrypted manifest, not by a header a peer could forge.
 *
 * For `mirror:N` every fragment is a full copy of the ciphertext.
 *
 * @module
 */

import { IntegrityError, TooFewFragmentsError } from "./errors.ts";
import { reedSolomon } from "./erasure/rs.ts";
import { fragmentSize, type Scheme, toScheme } from "./scheme.ts";

/**
 * Cuts `bytes` into the N fragments of `scheme`. The fragments are views into one new buffer
 * (`N × ⌈size / K⌉` bytes), so one allocation serves the whole block.
 *
 * @example
 * ```ts
 * import { decodeFragments, encodeFragments } from "./fragments.ts";
 * const block = new TextEncoder().encode("ciphertext of a block");
 * const fragments = encodeFragments("rs:4+2", block);
 * const some = fragments.map((f, i) => (i === 0 || i === 3 ? undefined : f));
 * console.assert(decodeFragments("rs:4+2", some, block.length).length === block.length);
 * ```
 */
export function encodeFragments(scheme: Scheme | string, bytes: Uint8Array): Uint8Array[] {
  const s = toScheme(scheme);
  const size = fragmentSize(s, bytes.length);
  const all = new Uint8Array(s.n * size);
  const fragments = Array.from({ length: s.n }, (_, i) => all.subarray(i * size, (i + 1) * size));
  if (s.kind === "mirror") {
    for (const f of fragments) f.set(bytes);
    return fragments;
  }
  all.set(bytes); // data shards, zero padding after
  if (s.m > 0 && size > 0) {
    reedSolomon(s.k, s.m).encode(fragments.slice(0, s.k), fragments.slice(s.k));
  }
  return fragments;
}

/**
 * Like {@link encodeFragments} but takes ownership of `bytes`: the data fragments are views into
 * it where no padding is needed, so only the parity (and a padded last data shard) is allocated
 * and nothing is copied. For the pipeline, which owns its fresh ciphertext; `bytes` must not be
 * changed afterwards.
 */
export function encodeFragmentsAdopting(scheme: Scheme, bytes: Uint8Array): Uint8Array[] {
  if (scheme.kind === "mirror") return encodeFragments(scheme, bytes);
  const size = fragmentSize(scheme, bytes.length);
  const data: Uint8Array[] = [];
  for (let i = 0; i < scheme.k; i++) {
    const start = i * size;
    if (start + size <= bytes.length) {
      data.push(bytes.subarray(start, start + size));
    } else {
      const padded = new Uint8Array(size);
      if (start < bytes.length) padded.set(bytes.subarray(start));
      data.push(padded);
    }
  }
  const all = new Uint8Array(scheme.m * size);
  const parity = Array.from({ length: scheme.m }, (_, i) => all.subarray(i * size, (i + 1) * size));
  if (scheme.m > 0 && size > 0) reedSolomon(scheme.k, scheme.m).encode(data, parity);
  return [...data, ...parity];
}

/** Throws {@link IntegrityError} unless every present fragment has the expected size. */
function checkSizes(fragments: readonly (Uint8Array | undefined)[], s: Scheme, size: number) {
  if (fragments.length !== s.n) {
    throw new RangeError(
      `${s.kind === "rs" ? "rs" : "mirror"} needs ${s.n} slots, got ${fragments.length}`,
    );
  }
  fragments.forEach((f, i) => {
    if (f !== undefined && f.length !== size) {
      throw new IntegrityError(`fragment ${i} has ${f.length} bytes, expected ${size}`, i);
    }
  });
}

/**
 * Joins fragments back into the `cipherSize` bytes they were cut from, rebuilding missing data
 * fragments from any K present ones (`undefined` marks a missing fragment). Throws
 * {@link TooFewFragmentsError} with fewer than K present.
 */
export function decodeFragments(
  scheme: Scheme | string,
  fragments: readonly (Uint8Array | undefined)[],
  cipherSize: number,
): Uint8Array {
  const s = toScheme(scheme);
  const size = fragmentSize(s, cipherSize);
  checkSizes(fragments, s, size);
  if (s.kind === "mirror") {
    const copy = fragments.find((f) => f !== undefined);
    if (copy === undefined) throw new TooFewFragmentsError(1, 0);
    return copy.slice(0, cipherSize);
  }
  const data = size === 0
    ? Array.from({ length: s.k }, () => new Uint8Array(0))
    : reedSolomon(s.k, s.m).reconstruct(fragments, Array.from({ length: s.k }, (_, i) => i));
  const out = new Uint8Array(cipherSize);
  for (let i = 0; i < s.k; i++) {
    const at = i * size;
    const used = Math.max(0, Math.min(size, cipherSize - at));
    if (used > 0) out.set(data[i].subarray(0, used), at);
    // Padding is not covered by the ciphertext's tag: insist it is zero so no bit goes unchecked.
    for (let j = used; j < size; j++) {
      if (data[i][j] !== 0) throw new IntegrityError(`fragment ${i} has non-zero padding`, i);
    }
  }
  return out;
}

/**
 * Recomputes the fragments at positions `wanted` from any K present ones, without any key: what
 * suppliers and rebuilders do for an offline owner. Returns them in the order asked.
 */
export function reconstructFragments(
  scheme: Scheme | string,
  fragments: readonly (Uint8Array | undefined)[],
  wanted: readonly number[],
  cipherSize: number,
): Uint8Array[] {
  const s = toScheme(scheme);
  const size = fragmentSize(s, cipherSize);
  checkSizes(fragments, s, size);
  for (const w of wanted) {
    if (!Number.isInteger(w) || w < 0 || w >= s.n) {
      throw new RangeError(`no fragment position ${w} in ${s.n}`);
    }
  }
  if (s.kind === "mirror") {
    const copy = fragments.find((f) => f !== undefined);
    if (copy === undefined) throw new TooFewFragmentsError(1, 0);
    return wanted.map((w) => fragments[w] ?? copy.slice());
  }
  if (size === 0) {
    const present = fragments.filter((f) => f !== undefined).length;
    if (present < s.k) throw new TooFewFragmentsError(s.k, present);
    return wanted.map(() => new Uint8Array(0));
  }
  return reedSolomon(s.k, s.m).reconstruct(fragments, wanted);
}
