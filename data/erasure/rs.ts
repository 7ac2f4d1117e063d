/**
 * Systematic Reed–Solomon erasure coding over GF(2^8), parity-compatible with the
 * reed-solomon-erasure crate (and so with klauspost/reedsolomon and Backblaze's coder).
 *
 * A code `rs:K+M` turns K equal-size data shards into M parity shards; any K of the N = K + M
 * shards give back all of them. Shard r of the N is row r of {@link encodingMatrix} times the data
 * shards: rows 0..K-1 are the identity (the data itself), rows K..N-1 make the parity.
 *
 * Reconstruction picks the first K present shards, inverts those K rows of the encoding matrix
 * (cached per pattern of present shards) and multiplies, so only the wanted shards are computed:
 * a rebuilder that needs one lost fragment pays for one row.
 *
 * @module
 */

import { TooFewFragmentsError } from "../errors.ts";
import { defaultKernel, type Kernel } from "./kernel.ts";
import { encodingMatrix, invert, type Matrix, multiply, selectRows } from "./matrix.ts";

/** Most shards of one code (GF(2^8) has 256 distinct evaluation points). */
const SHARDS_MAX = 256;
/** Most decode matrices kept per code, one per pattern of present shards. */
const DECODE_CACHE_MAX = 64;

/** A Reed–Solomon code with K data and M parity shards. */
export class ReedSolomon {
  /** Data shards. */
  readonly k: number;
  /** Parity shards. */
  readonly m: number;
  /** All shards, K + M. */
  readonly n: number;
  /** The N × K encoding matrix. */
  readonly matrix: Matrix;
  readonly #parity: Uint8Array;
  readonly #kernel: Kernel;
  readonly #decode = new Map<string, Matrix>();

  /** A code with `k ≥ 1` data and `m ≥ 0` parity shards, `k + m ≤ 256`. */
  constructor(k: number, m: number, kernel: Kernel = defaultKernel) {
    if (!Number.isInteger(k) || k < 1) throw new RangeError(`data shards must be ≥ 1, got ${k}`);
    if (!Number.isInteger(m) || m < 0) throw new RangeError(`parity shards must be ≥ 0, got ${m}`);
    if (k + m > SHARDS_MAX) throw new RangeError(`at most ${SHARDS_MAX} shards, got ${k + m}`);
    this.k = k;
    this.m = m;
    this.n = k + m;
    this.matrix = encodingMatrix(k, k + m);
    this.#parity = this.matrix.data.slice(k * k);
    this.#kernel = kernel;
  }

  /** The kernel this code multiplies with. */
  get kernel(): Kernel {
    return this.#kernel;
  }

  /**
   * Computes the M parity shards of K data shards of equal length into `parity` (M arrays of at
   * least that length; a new array each when omitted) and returns them.
   */
  encode(data: readonly Uint8Array[], parity?: Uint8Array[]): Uint8Array[] {
    if (data.length !== this.k) {
      throw new RangeError(`need ${this.k} data shards, got ${data.length}`);
    }
    const size = shardLength(data);
    const out = parity ?? Array.from({ length: this.m }, () => new Uint8Array(size));
    if (out.length !== this.m) {
      throw new RangeError(`need ${this.m} parity shards, got ${out.length}`);
    }
    for (const p of out) if (p.length < size) throw new RangeError("parity shard too short");
    this.#kernel.mulMatrix(this.#parity, data, out, size);
    return out;
  }

  /**
   * Rebuilds the shards at the positions in `wanted` (all missing ones by default) from any K
   * present shards of `shards` (length N, `undefined` where missing). Returns the wanted shards in
   * the order asked; a wanted shard that is present is returned as it is. Throws
   * {@link TooFewFragmentsError} with fewer than K present.
   */
  reconstruct(
    shards: readonly (Uint8Array | undefined)[],
    wanted?: readonly number[],
  ): Uint8Array[] {
    if (shards.length !== this.n) {
      throw new RangeError(`need ${this.n} shard slots, got ${shards.length}`);
    }
    const present: number[] = [];
    for (let i = 0; i < this.n && present.length < this.k; i++) {
      if (shards[i] !== undefined) present.push(i);
    }
    const want = wanted ?? shards.flatMap((s, i) => (s === undefined ? [i] : []));
    for (const w of want) {
      if (!Number.isInteger(w) || w < 0 || w >= this.n) throw new RangeError(`no shard ${w}`);
    }
    const missing = want.filter((w) => shards[w] === undefined);
    if (missing.length === 0) return want.map((w) => shards[w]!);
    if (present.length < this.k) {
      const have = shards.filter((s) => s !== undefined).length;
      throw new TooFewFragmentsError(this.k, have);
    }
    const inputs = present.map((i) => shards[i]!);
    const size = shardLength(inputs);
    const rows = this.#rowsFor(present, missing);
    const rebuilt = missing.map(() => new Uint8Array(size));
    this.#kernel.mulMatrix(rows, inputs, rebuilt, size);
    const byIndex = new Map(missing.map((w, i) => [w, rebuilt[i]]));
    return want.map((w) => shards[w] ?? byIndex.get(w)!);
  }

  /** Whether the parity shards of a complete set agree with its data shards. */
  verify(shards: readonly Uint8Array[]): boolean {
    if (shards.length !== this.n) {
      throw new RangeError(`need ${this.n} shards, got ${shards.length}`);
    }
    const parity = this.encode(shards.slice(0, this.k));
    return parity.every((p, i) => equal(p, shards[this.k + i]));
  }

  /** Coefficient rows that turn the `present` shards into the `missing` ones. */
  #rowsFor(present: readonly number[], missing: readonly number[]): Uint8Array {
    const decode = this.#decodeMatrix(present);
    const out = new Uint8Array(missing.length * this.k);
    missing.forEach((w, i) => {
      // Data shard w is row w of the decode matrix; parity row p is (encoding row p) × decode.
      const row = w < this.k
        ? selectRows(decode, [w])
        : multiply(selectRows(this.matrix, [w]), decode);
      out.set(row.data, i * this.k);
    });
    return out;
  }

  #decodeMatrix(present: readonly number[]): Matrix {
    const key = present.join(",");
    let d = this.#decode.get(key);
    if (d === undefined) {
      d = invert(selectRows(this.matrix, present));
      if (this.#decode.size >= DECODE_CACHE_MAX) {
        this.#decode.delete(this.#decode.keys().next().value!);
      }
    } else {
      this.#decode.delete(key); // re-inserted below: the map's order is least recently used first
    }
    this.#decode.set(key, d);
    return d;
  }
}

function shardLength(shards: readonly Uint8Array[]): number {
  const size = shards[0].length;
  for (const s of shards) {
    if (s.length !== size) throw new RangeError(`shards differ in length: ${s.length} and ${size}`);
  }
  return size;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const codes = new Map<string, ReedSolomon>();

/** The shared code for `rs:k+m` with the default kernel (built once, kept for reuse). */
export function reedSolomon(k: number, m: number): ReedSolomon {
  const key = `${k}+${m}`;
  let code = codes.get(key);
  if (code === undefined) {
    code = new ReedSolomon(k, m);
    if (codes.size >= DECODE_CACHE_MAX) codes.delete(codes.keys().next().value!);
    codes.set(key, code);
  }
  return code;
}
