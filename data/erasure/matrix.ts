/**
 * Small dense matrices over GF(2^8), row-major in one `Uint8Array`, and the encoding matrix of
 * the reed-solomon-erasure crate.
 *
 * @module
 */

import { inv, MUL_TABLE, pow } from "./gf256.ts";

/** A `rows × cols` matrix over GF(2^8), row-major. */
export interface Matrix {
  readonly rows: number;
  readonly cols: number;
  readonly data: Uint8Array;
}

/** The zero matrix. */
function zeros(rows: number, cols: number): Matrix {
  return { rows, cols, data: new Uint8Array(rows * cols) };
}

/** The identity matrix of size `n`. */
export function identity(n: number): Matrix {
  const m = zeros(n, n);
  for (let i = 0; i < n; i++) m.data[i * n + i] = 1;
  return m;
}

/** `a × b`. */
export function multiply(a: Matrix, b: Matrix): Matrix {
  if (a.cols !== b.rows) {
    throw new RangeError(`cannot multiply ${a.rows}×${a.cols} by ${b.rows}×${b.cols}`);
  }
  const out = zeros(a.rows, b.cols);
  const w = b.cols;
  for (let r = 0; r < a.rows; r++) {
    const o = out.data.subarray(r * w, (r + 1) * w);
    for (let i = 0; i < a.cols; i++) {
      const f = a.data[r * a.cols + i];
      if (f !== 0) addScaledRow(o, b.data.subarray(i * w, (i + 1) * w), f);
    }
  }
  return out;
}

/** `target += f · row`, element by element, through the product table row of `f`. */
function addScaledRow(target: Uint8Array, row: Uint8Array, f: number): void {
  const t = MUL_TABLE.subarray(f * 256, f * 256 + 256);
  for (let c = 0; c < target.length; c++) target[c] ^= t[row[c]];
}

/** The matrix made of the listed rows of `m`, in that order. */
export function selectRows(m: Matrix, rows: readonly number[]): Matrix {
  const out = zeros(rows.length, m.cols);
  rows.forEach((r, i) => out.data.set(m.data.subarray(r * m.cols, (r + 1) * m.cols), i * m.cols));
  return out;
}

/**
 * Inverse of a square matrix by Gauss–Jordan elimination; throws `RangeError` if it is singular
 * (which never happens for rows of an encoding matrix: any K of them are independent).
 */
export function invert(m: Matrix): Matrix {
  const n = m.rows;
  if (m.cols !== n) throw new RangeError(`cannot invert a ${m.rows}×${m.cols} matrix`);
  const w = 2 * n;
  const a = new Uint8Array(n * w); // [m | I]
  for (let r = 0; r < n; r++) {
    a.set(m.data.subarray(r * n, (r + 1) * n), r * w);
    a[r * w + n + r] = 1;
  }
  for (let col = 0; col < n; col++) {
    let pivot = col;
    while (pivot < n && a[pivot * w + col] === 0) pivot++;
    if (pivot === n) throw new RangeError("matrix is singular");
    if (pivot !== col) swapRows(a, w, pivot, col);
    const pivotRow = a.subarray(col * w, (col + 1) * w);
    const scale = MUL_TABLE.subarray(inv(pivotRow[col]) * 256, inv(pivotRow[col]) * 256 + 256);
    for (let c = 0; c < w; c++) pivotRow[c] = scale[pivotRow[c]];
    for (let r = 0; r < n; r++) {
      const f = a[r * w + col];
      if (r !== col && f !== 0) addScaledRow(a.subarray(r * w, (r + 1) * w), pivotRow, f);
    }
  }
  const out = zeros(n, n);
  for (let r = 0; r < n; r++) out.data.set(a.subarray(r * w + n, (r + 1) * w), r * n);
  return out;
}

function swapRows(a: Uint8Array, w: number, i: number, j: number): void {
  const t = a.slice(i * w, (i + 1) * w);
  a.copyWithin(i * w, j * w, (j + 1) * w);
  a.set(t, j * w);
}

/** Vandermonde matrix: `v[r][c] = r^c` in GF(2^8). */
function vandermonde(rows: number, cols: number): Matrix {
  const m = zeros(rows, cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) m.data[r * cols + c] = pow(r, c);
  }
  return m;
}

/**
 * The systematic encoding matrix of the reed-solomon-erasure crate (and klauspost/reedsolomon's
 * default): a `total × data` Vandermonde matrix times the inverse of its top `data × data` square.
 * Its top is the identity (data fragments are the data), and any `data` of its rows are
 * independent, so any `data` fragments rebuild the rest.
 */
export function encodingMatrix(dataShards: number, totalShards: number): Matrix {
  const v = vandermonde(totalShards, dataShards);
  const top = selectRows(v, Array.from({ length: dataShards }, (_, i) => i));
  return multiply(v, invert(top));
}
