/**
 * The reed-solomon-erasure crate, compiled to WebAssembly, as a test-only compatibility oracle.
 *
 * The package's own loaders reach for `__dirname`/`fetch` and fail under Deno, so this reads its
 * `.wasm` file next to the resolved module and instantiates it with `fromBytes`.
 *
 * Only its `encode` is used: its `reconstruct` (version 1.0.2) returns wrong bytes for some
 * patterns and traps in its allocator (`wee_alloc`) for others, so reconstruction is checked
 * against the original data instead, which is the stronger check anyway.
 *
 * @module
 */

import { ReedSolomonErasure } from "rs-erasure-oracle";

let instance: ReedSolomonErasure | undefined;

/** The oracle, loaded once. */
function oracle(): ReedSolomonErasure {
  if (instance === undefined) {
    const entry = new URL(import.meta.resolve("rs-erasure-oracle"));
    const wasm = Deno.readFileSync(new URL("reed_solomon_erasure_bg.wasm", entry));
    instance = ReedSolomonErasure.fromBytes(wasm);
  }
  return instance;
}

/** Parity shards of `data` (K equal shards) as the crate computes them; M ≥ 1. */
export function oracleParity(data: readonly Uint8Array[], m: number): Uint8Array[] {
  const k = data.length;
  const size = data[0].length;
  const all = new Uint8Array((k + m) * size);
  data.forEach((d, i) => all.set(d, i * size));
  const code = oracle().encode(all, k, m);
  if (code !== ReedSolomonErasure.RESULT_OK) {
    throw new Error(`oracle encode: ${ReedSolomonErasure.getResultMessage(code)}`);
  }
  return Array.from({ length: m }, (_, i) => all.slice((k + i) * size, (k + i + 1) * size));
}
