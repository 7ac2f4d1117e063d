/**
 * Arithmetic in GF(2^8) with the polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11d) and generator 2,
 * the field of the reed-solomon-erasure crate, klauspost/reedsolomon and Backblaze's coder.
 *
 * Addition is XOR. Multiplication goes through log/exp tables for scalars and through a full
 * 256×256 product table ({@link MUL_TABLE}) for the plain-TypeScript bulk kernel.
 *
 * @module
 */

/** The field polynomial, with its x^8 term. */
const FIELD_POLYNOMIAL = 0x11d;

/** `EXP[i] = 2^i` for i in [0, 510): doubled so `EXP[LOG[a] + LOG[b]]` needs no modulo. */
export const EXP: Uint8Array = new Uint8Array(510);
/** `LOG[a]` for a ≠ 0 (`LOG[0]` is unused and 0). */
export const LOG: Uint8Array = new Uint8Array(256);

{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    EXP[i + 255] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= FIELD_POLYNOMIAL;
  }
}

/** Product of two field elements. */
export function mul(a: number, b: number): number {
  return a === 0 || b === 0 ? 0 : EXP[LOG[a] + LOG[b]];
}

/** Quotient `a / b`; `b` must not be 0. */
export function div(a: number, b: number): number {
  if (b === 0) throw new RangeError("division by zero in GF(2^8)");
  return a === 0 ? 0 : EXP[LOG[a] + 255 - LOG[b]];
}

/** Multiplicative inverse of a non-zero element. */
export function inv(a: number): number {
  return div(1, a);
}

/** `a` to the power `n` (n ≥ 0), with `0^0 = 1` as in the reed-solomon-erasure crate. */
export function pow(a: number, n: number): number {
  if (n === 0) return 1;
  if (a === 0) return 0;
  return EXP[(LOG[a] * n) % 255];
}

/** `MUL_TABLE[a * 256 + b] = a·b`: 64 KiB, one row per coefficient for the bulk kernel. */
export const MUL_TABLE: Uint8Array = new Uint8Array(65536);
for (let a = 1; a < 256; a++) {
  for (let b = 1; b < 256; b++) MUL_TABLE[a * 256 + b] = EXP[LOG[a] + LOG[b]];
}

/**
 * Split-nibble product tables for SIMD kernels (the ISA-L / klauspost technique): for every
 * coefficient `c`, 16 bytes `c·x` for x in [0, 16) then 16 bytes `c·(x << 4)`; so
 * `c·v = low[v & 15] ^ high[v >> 4]`. 8 KiB in all.
 */
export const NIBBLE_TABLES: Uint8Array = new Uint8Array(256 * 32);
for (let c = 0; c < 256; c++) {
  for (let x = 0; x < 16; x++) {
    NIBBLE_TABLES[c * 32 + x] = mul(c, x);
    NIBBLE_TABLES[c * 32 + 16 + x] = mul(c, x << 4);
  }
}
