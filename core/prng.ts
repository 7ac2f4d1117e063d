/**
 * Seedable, splittable pseudo-random numbers (xoshiro128**), the only entropy actors see.
 *
 * A run has one seed. Every consumer (a node, the network model, the churn model, the workload)
 * gets its own stream with {@link Random.stream}, derived from the run seed and a stream label by
 * hashing, never by drawing from a shared generator. Adding a node therefore does not shift the
 * draws of any other node, and a stream can be re-created from its label alone.
 *
 * Not for cryptography: keys and nonces in the real network come from the host's CSPRNG.
 *
 * @module
 */

import { assert } from "./assert.ts";

/** A run seed: a safe integer or any string (hashed). */
export type Seed = number | string;

const GOLDEN = 0x9e3779b9;

/** Finalizer of MurmurHash3: a bijective 32-bit mix with good avalanche. */
export function mix32(x: number): number {
  let h = x | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** 32-bit FNV-1a over the UTF-16 code units of a string, then mixed. */
export function hashString32(s: string, salt = 0): number {
  let h = (0x811c9dc5 ^ salt) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return mix32(h);
}

function seedWords(seed: Seed): [number, number] {
  if (typeof seed === "string") return [hashString32(seed, 1), hashString32(seed, 2)];
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer: ${seed}`);
  const lo = seed % 0x1_0000_0000;
  const hi = Math.floor(seed / 0x1_0000_0000);
  return [lo >>> 0, hi >>> 0];
}

function labelWord(label: Seed): number {
  return typeof label === "string" ? hashString32(label, 3) : mix32(label + GOLDEN);
}

/** Seedable generator. Construct with {@link Random.stream}; draws are reproducible per stream. */
export class Random {
  #a: number;
  #b: number;
  #c: number;
  #d: number;
  /** Identity of this stream, used only to derive child streams in {@link fork}. */
  #k0: number;
  #k1: number;

  private constructor(k0: number, k1: number) {
    this.#k0 = k0 >>> 0;
    this.#k1 = k1 >>> 0;
    this.#a = mix32(k0 ^ GOLDEN);
    this.#b = mix32(k1 + Math.imul(GOLDEN, 2));
    this.#c = mix32((k0 + k1) ^ Math.imul(GOLDEN, 3));
    this.#d = mix32(k0 - k1 + Math.imul(GOLDEN, 4));
    if ((this.#a | this.#b | this.#c | this.#d) === 0) this.#a = 1;
    for (let i = 0; i < 8; i++) this.nextU32(); // leave the seeding neighbourhood
  }

  /**
   * The stream named `label` of the run seeded by `seed`. Same arguments, same draws.
   *
   * @example
   * ```ts
   * import { Random } from "./prng.ts";
   * const a = Random.stream(7, "node:3");
   * const b = Random.stream(7, "node:3");
   * console.assert(a.nextU32() === b.nextU32());
   * ```
   */
  static stream(seed: Seed, label: Seed = 0): Random {
    const [s0, s1] = seedWords(seed);
    const l = labelWord(label);
    return new Random(mix32(s0 ^ mix32(l)), mix32(s1 + l) ^ mix32(l ^ 0x5bd1e995));
  }

  /** A child stream derived from this stream's identity and `label`; draws nothing from `this`. */
  fork(label: Seed): Random {
    const l = labelWord(label);
    return new Random(mix32(this.#k0 ^ l), mix32(this.#k1 + mix32(l ^ 0x27d4eb2f)));
  }

  /** Next 32 uniformly random bits as an unsigned integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.#b, 5), 7), 9);
    const t = this.#b << 9;
    this.#c ^= this.#a;
    this.#d ^= this.#b;
    this.#b ^= this.#c;
    this.#a ^= this.#d;
    this.#c ^= t;
    this.#d = rotl(this.#d, 11);
    return result >>> 0;
  }

  /** Uniform float in [0, 1) with 53 random bits. */
  float(): number {
    const hi = this.nextU32() >>> 5;
    const lo = this.nextU32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n), unbiased. `n` must be a positive safe integer. */
  int(n: number): number {
    assert(Number.isSafeInteger(n) && n > 0, `int(n) needs a positive integer, got ${n}`);
    if (n <= 0x1_0000_0000) {
      // Rejection on the top of the 32-bit range keeps the result unbiased.
      const limit = 0x1_0000_0000 - (0x1_0000_0000 % n);
      let x = this.nextU32();
      while (x >= limit) x = this.nextU32();
      return x % n;
    }
    return Math.floor(this.float() * n);
  }

  /** Uniform integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return p > 0 && (p >= 1 || this.float() < p);
  }

  /** Exponentially distributed value with the given mean. */
  exponential(mean: number): number {
    return -mean * Math.log(1 - this.float());
  }

  /** Standard normal value (Box–Muller; one draw per call keeps streams easy to reason about). */
  normal(): number {
    const u = 1 - this.float();
    const v = this.float();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Log-normal value with the given median and shape `sigma`. */
  logNormal(median: number, sigma: number): number {
    return median * Math.exp(sigma * this.normal());
  }

  /** A uniformly chosen element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    assert(items.length > 0, "pick() from an empty array");
    return items[this.int(items.length)];
  }

  /** Shuffles `items` in place (Fisher–Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = items[i];
      items[i] = items[j];
      items[j] = t;
    }
    return items;
  }

  /** Fills `out` with random bytes and returns it. */
  fill(out: Uint8Array): Uint8Array {
    let i = 0;
    for (; i + 4 <= out.length; i += 4) {
      const x = this.nextU32();
      out[i] = x;
      out[i + 1] = x >>> 8;
      out[i + 2] = x >>> 16;
      out[i + 3] = x >>> 24;
    }
    if (i < out.length) {
      let x = this.nextU32();
      for (; i < out.length; i++, x >>>= 8) out[i] = x;
    }
    return out;
  }

  /** `n` fresh random bytes. */
  bytes(n: number): Uint8Array<ArrayBuffer> {
    return this.fill(new Uint8Array(n)) as Uint8Array<ArrayBuffer>;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
