/**
 * Chooses the bulk kernel: the WebAssembly SIMD one when the runtime has SIMD, else TypeScript.
 *
 * The SIMD kernel works on its own linear memory, so each call streams the rows through it in
 * chunks sized to stay in the L1/L2 cache: copy a chunk of every input in, run four output rows
 * at a time (then single rows for the rest), copy the outputs out. The lookup tables of a
 * coefficient matrix are built once and cached beside the matrix.
 *
 * @module
 */

import { NIBBLE_TABLES } from "./gf256.ts";
import { type Kernel, tsKernel } from "./kernel_ts.ts";
import { KERNEL_RELAXED_WASM, KERNEL_WASM } from "./kernel_wasm.ts";

export type { Kernel } from "./kernel_ts.ts";
export { tsKernel } from "./kernel_ts.ts";

/** Bytes of input rows the SIMD kernel keeps in flight per chunk (fits the L1/L2 cache). */
const CHUNK_INPUT_BYTES = 32 * 1024;
const CHUNK_BYTES_MIN = 1024;
const CHUNK_BYTES_MAX = 64 * 1024;
const PAGE_BYTES = 65536;

interface SimdExports {
  memory: WebAssembly.Memory;
  mul4(tbl: number, k: number, src: number, dst: number, len: number): void;
  mul1(tbl: number, k: number, src: number, dst: number, len: number): void;
}

/** Tables of one coefficient matrix, laid out as `mul4`/`mul1` read them. */
function buildTables(coefficients: Uint8Array, rows: number, k: number): Uint8Array {
  const out = new Uint8Array(rows * k * 32);
  const groups = rows >> 2;
  let at = 0;
  for (let g = 0; g < groups; g++) {
    for (let j = 0; j < k; j++) {
      for (let r = 4 * g; r < 4 * g + 4; r++, at += 32) {
        const c = coefficients[r * k + j];
        out.set(NIBBLE_TABLES.subarray(c * 32, c * 32 + 32), at);
      }
    }
  }
  for (let r = 4 * groups; r < rows; r++) {
    for (let j = 0; j < k; j++, at += 32) {
      const c = coefficients[r * k + j];
      out.set(NIBBLE_TABLES.subarray(c * 32, c * 32 + 32), at);
    }
  }
  return out;
}

function chunkBytes(k: number, length: number): number {
  const fit = Math.floor(CHUNK_INPUT_BYTES / Math.max(1, k) / 16) * 16;
  const chunk = Math.min(CHUNK_BYTES_MAX, Math.max(CHUNK_BYTES_MIN, fit));
  return Math.min(chunk, (length + 15) & ~15);
}

class SimdKernel implements Kernel {
  readonly name: string;
  readonly #exports: SimdExports;
  #memory: Uint8Array;
  readonly #tables = new WeakMap<Uint8Array, Uint8Array>();

  constructor(name: string, exports: SimdExports) {
    this.name = name;
    this.#exports = exports;
    this.#memory = new Uint8Array(exports.memory.buffer);
  }

  #reserve(bytes: number): Uint8Array {
    const have = this.#exports.memory.buffer.byteLength;
    if (bytes > have) this.#exports.memory.grow(Math.ceil((bytes - have) / PAGE_BYTES));
    if (this.#memory.buffer !== this.#exports.memory.buffer) {
      this.#memory = new Uint8Array(this.#exports.memory.buffer);
    }
    return this.#memory;
  }

  #tablesOf(coefficients: Uint8Array, rows: number, k: number): Uint8Array {
    let t = this.#tables.get(coefficients);
    if (t === undefined || t.length !== rows * k * 32) {
      t = buildTables(coefficients, rows, k);
      this.#tables.set(coefficients, t);
    }
    return t;
  }

  mulMatrix(
    coefficients: Uint8Array,
    inputs: readonly Uint8Array[],
    outputs: readonly Uint8Array[],
    length: number,
  ): void {
    const k = inputs.length;
    const rows = outputs.length;
    if (coefficients.length !== rows * k) {
      throw new RangeError(`${coefficients.length} coefficients for ${rows}×${k}`);
    }
    if (rows === 0 || length === 0) return;
    if (k === 0) {
      for (const out of outputs) out.fill(0, 0, length);
      return;
    }
    const tables = this.#tablesOf(coefficients, rows, k);
    const chunk = chunkBytes(k, length);
    const src = tables.length;
    const dst = src + k * chunk;
    const mem = this.#reserve(dst + rows * chunk);
    mem.set(tables, 0);
    for (let off = 0; off < length; off += chunk) {
      const n = Math.min(chunk, length - off);
      const padded = (n + 15) & ~15;
      this.#runChunk(mem, inputs, outputs, off, n, padded, src, dst);
    }
  }

  #runChunk(
    mem: Uint8Array,
    inputs: readonly Uint8Array[],
    outputs: readonly Uint8Array[],
    off: number,
    n: number,
    padded: number,
    src: number,
    dst: number,
  ): void {
    const k = inputs.length;
    const rows = outputs.length;
    for (let j = 0; j < k; j++) {
      const at = src + j * padded;
      mem.set(inputs[j].subarray(off, off + n), at);
      if (n < padded) mem.fill(0, at + n, at + padded);
    }
    const groups = rows >> 2;
    const { mul4, mul1 } = this.#exports;
    for (let g = 0; g < groups; g++) mul4(g * k * 128, k, src, dst + 4 * g * padded, padded);
    for (let r = 4 * groups; r < rows; r++) mul1(r * k * 32, k, src, dst + r * padded, padded);
    for (let r = 0; r < rows; r++) {
      const at = dst + r * padded;
      outputs[r].set(mem.subarray(at, at + n), off);
    }
  }
}

/** Whether `kernel` computes a small random product exactly as the TypeScript kernel does. */
function selfTest(kernel: Kernel): boolean {
  const k = 5;
  const rows = 6;
  const length = 100;
  const coefficients = Uint8Array.from({ length: rows * k }, (_, i) => (i * 37 + 11) & 0xff);
  const inputs = Array.from(
    { length: k },
    (_, j) => Uint8Array.from({ length }, (_, i) => (i * 131 + j * 71 + 3) & 0xff),
  );
  const want = Array.from({ length: rows }, () => new Uint8Array(length));
  const got = Array.from({ length: rows }, () => new Uint8Array(length));
  tsKernel.mulMatrix(coefficients, inputs, want, length);
  kernel.mulMatrix(coefficients, inputs, got, length);
  return want.every((w, r) => w.every((b, i) => b === got[r][i]));
}

function loadSimd(name: string, bytes: Uint8Array<ArrayBuffer>): Kernel | undefined {
  try {
    if (!WebAssembly.validate(bytes)) return undefined;
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes));
    const kernel = new SimdKernel(name, instance.exports as unknown as SimdExports);
    return selfTest(kernel) ? kernel : undefined;
  } catch {
    return undefined;
  }
}

/** The WebAssembly SIMD kernel (`i8x16.swizzle`), or `undefined` where the runtime lacks SIMD. */
export const simdKernel: Kernel | undefined = loadSimd("wasm-simd", KERNEL_WASM);

/** The same kernel with relaxed SIMD's `i8x16.relaxed_swizzle`, where the runtime has it. */
export const relaxedSimdKernel: Kernel | undefined = loadSimd(
  "wasm-relaxed-simd",
  KERNEL_RELAXED_WASM,
);

/** The fastest kernel available here: relaxed SIMD, else SIMD, else TypeScript. */
export const defaultKernel: Kernel = relaxedSimdKernel ?? simdKernel ?? tsKernel;
