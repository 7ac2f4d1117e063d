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
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new TypeError(`not a hex string: ${hex.slice(0, 16)}`);
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

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
