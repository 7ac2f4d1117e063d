/**
 * ECC schemes: how a block's ciphertext becomes fragments, one per supplier position.
 *
 * - `rs:K+M`: systematic Reed–Solomon, K data and M parity fragments on K + M suppliers; any K
 *   rebuild the block. K ≥ 1, M ≥ 0, K + M ≤ 256.
 * - `mirror:N`: N full copies; any one rebuilds the block. 1 ≤ N ≤ 256. (Byte for byte this is
 *   `rs:1+(N-1)`, whose parity rows are all ones, but it is named for what it is.)
 *
 * @module
 */

/** Most fragments per block: GF(2^8) has 256 evaluation points. */
export const FRAGMENTS_MAX = 256;

/** A parsed ECC scheme. `k` fragments rebuild a block of `n = k + m`. */
export type Scheme =
  | { readonly kind: "rs"; readonly k: number; readonly m: number; readonly n: number }
  | { readonly kind: "mirror"; readonly k: 1; readonly m: number; readonly n: number };

const USAGE = `expected rs:K+M (K ≥ 1, M ≥ 0, K+M ≤ ${FRAGMENTS_MAX}) ` +
  `or mirror:N (1 ≤ N ≤ ${FRAGMENTS_MAX}), e.g. rs:4+4 or mirror:2`;

/** The `rs:K+M` scheme; throws `RangeError` outside the limits. */
export function rsScheme(k: number, m: number): Scheme {
  if (!Number.isInteger(k) || !Number.isInteger(m) || k < 1 || m < 0 || k + m > FRAGMENTS_MAX) {
    throw new RangeError(`bad ECC scheme rs:${k}+${m}: ${USAGE}`);
  }
  return { kind: "rs", k, m, n: k + m };
}

/** The `mirror:N` scheme; throws `RangeError` outside the limits. */
export function mirrorScheme(n: number): Scheme {
  if (!Number.isInteger(n) || n < 1 || n > FRAGMENTS_MAX) {
    throw new RangeError(`bad ECC scheme mirror:${n}: ${USAGE}`);
  }
  return { kind: "mirror", k: 1, m: n - 1, n };
}

/**
 * Parses `rs:K+M` or `mirror:N` (canonical decimal, no spaces or leading zeros). Throws
 * `RangeError` with one sentence saying what is accepted.
 *
 * @example
 * ```ts
 * import { formatScheme, parseScheme } from "./scheme.ts";
 * const s = parseScheme("rs:10+20");
 * console.assert(s.k === 10 && s.n === 30 && formatScheme(s) === "rs:10+20");
 * ```
 */
export function parseScheme(text: string): Scheme {
  const number = "(0|[1-9][0-9]{0,2})";
  const rs = new RegExp(`^rs:${number}\\+${number}$`).exec(text);
  if (rs !== null) {
    const k = Number(rs[1]);
    const m = Number(rs[2]);
    if (k >= 1 && k + m <= FRAGMENTS_MAX) return rsScheme(k, m);
  }
  const mirror = new RegExp(`^mirror:${number}$`).exec(text);
  if (mirror !== null) {
    const n = Number(mirror[1]);
    if (n >= 1 && n <= FRAGMENTS_MAX) return mirrorScheme(n);
  }
  throw new RangeError(`bad ECC scheme '${text.slice(0, 40)}': ${USAGE}`);
}

/** The canonical text of a scheme: `rs:K+M` or `mirror:N`. */
export function formatScheme(scheme: Scheme): string {
  return scheme.kind === "rs" ? `rs:${scheme.k}+${scheme.m}` : `mirror:${scheme.n}`;
}

/** Accepts a scheme or its text; returns the parsed scheme. */
export function toScheme(scheme: Scheme | string): Scheme {
  if (typeof scheme === "string") return parseScheme(scheme);
  return scheme.kind === "rs" ? rsScheme(scheme.k, scheme.m) : mirrorScheme(scheme.n);
}

/** Bytes of each fragment of a `cipherSize`-byte ciphertext: ⌈cipherSize / K⌉. */
export function fragmentSize(scheme: Scheme, cipherSize: number): number {
  if (!Number.isSafeInteger(cipherSize) || cipherSize < 0) {
    throw new RangeError(`cipher size must be a non-negative integer, got ${cipherSize}`);
  }
  return Math.ceil(cipherSize / scheme.k);
}
