/**
 * The plain-TypeScript bulk kernel: the fallback when WebAssembly SIMD is missing, and the
 * reference the SIMD kernel is tested against.
 *
 * @module
 */

import { MUL_TABLE } from "./gf256.ts";

/** Multiplies a matrix of coefficients by rows of bytes: the one operation erasure coding needs. */
export interface Kernel {
  /** Short name for benchmarks and logs. */
  readonly name: string;
  /**
   * `outputs[r][i] = XOR over j of coefficients[r·k + j] · inputs[j][i]` for i < `length`,
   * where k = `inputs.length`. Every input and output holds at least `length` bytes; outputs
   * are overwritten, not accumulated, and must not alias inputs.
   */
  mulMatrix(
    coefficients: Uint8Array,
    inputs: readonly Uint8Array[],
    outputs: readonly Uint8Array[],
    length: number,
  ): void;
}

function mulInto(c: number, input: Uint8Array, out: Uint8Array, n: number, first: boolean): void {
  if (c === 0) {
    if (first) out.fill(0, 0, n);
  } else if (c === 1) {
    if (first) out.set(input.subarray(0, n));
    else for (let i = 0; i < n; i++) out[i] ^= input[i];
  } else {
    const row = MUL_TABLE.subarray(c * 256, c * 256 + 256);
    if (first) { for (let i = 0; i < n; i++) out[i] = row[input[i]]; }
    else for (let i = 0; i < n; i++) out[i] ^= row[input[i]];
  }
}

/** Byte-at-a-time kernel through the 64 KiB product table (≈ hundreds of MB/s). */
export const tsKernel: Kernel = {
  name: "typescript",
  mulMatrix(coefficients, inputs, outputs, length) {
    const k = inputs.length;
    if (coefficients.length !== outputs.length * k) {
      throw new RangeError(`${coefficients.length} coefficients for ${outputs.length}×${k}`);
    }
    for (let r = 0; r < outputs.length; r++) {
      for (let j = 0; j < k; j++) {
        mulInto(coefficients[r * k + j], inputs[j], outputs[r], length, j === 0);
      }
      if (k === 0) outputs[r].fill(0, 0, length);
    }
  },
};
