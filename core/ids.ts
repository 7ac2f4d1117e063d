/**
 * Names and identifiers: node names, hex helpers, random ids drawn from an actor's stream.
 *
 * @module
 */

import type { NodeId } from "./actor.ts";
import { NODE_ID_BYTES_MAX } from "./limits.ts";

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Lower-case hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]];
  return s;
}

/** Bytes of a hex string; throws `TypeError` on odd length or a non-hex digit. */
export function fromHex(hex: string): Uint8Array<ArrayBuffer> {
  const bad = () => new TypeError(`not a hex string: ${hex.slice(0, 16)}`);
  if (hex.length % 2 !== 0) throw bad();
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = NIBBLE[hex.charCodeAt(2 * i)] ?? -1;
    const lo = NIBBLE[hex.charCodeAt(2 * i + 1)] ?? -1;
    if (hi < 0 || lo < 0) throw bad();
    out[i] = (hi << 4) | lo;
  }
  return out;
}

/** Value of each hex digit by its char code (-1: not a digit); a table, not `parseInt`. */
const NIBBLE: Int8Array = (() => {
  const t = new Int8Array(128).fill(-1);
  for (let d = 0; d < 10; d++) t[48 + d] = d;
  for (let d = 0; d < 6; d++) {
    t[65 + d] = 10 + d;
    t[97 + d] = 10 + d;
  }
  return t;
})();

/** The simulator's name for its `index`-th node. */
export function simNodeId(index: number): NodeId {
  return `n${index}`;
}

/** A valid node name: 1–256 bytes of letters, digits and `._:@-`. */
export function isNodeId(s: string): boolean {
  return s.length > 0 && s.length <= NODE_ID_BYTES_MAX && /^[A-Za-z0-9._:@-]+$/.test(s);
}

/** Byte-wise equality of two arrays. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
