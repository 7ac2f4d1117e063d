/**
 * Small byte helpers shared by the data path.
 *
 * @module
 */

import { FormatError } from "./errors.ts";

/** WebCrypto's `getRandomValues` refuses more than 64 KiB per call. */
const RANDOM_CHUNK_BYTES = 65536;

/** A source of random bytes: the CSPRNG by default, a seeded stream in the simulator. */
export type RandomBytes = (n: number) => Uint8Array;

/** `n` bytes from the platform CSPRNG. */
function cryptoRandomBytes(n: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += RANDOM_CHUNK_BYTES) {
    crypto.getRandomValues(out.subarray(i, Math.min(n, i + RANDOM_CHUNK_BYTES)));
  }
  return out;
}

/** `n` random bytes from `source`, checking that it returned exactly `n`. */
export function drawBytes(source: RandomBytes | undefined, n: number): Uint8Array {
  const out = (source ?? cryptoRandomBytes)(n);
  if (out.length !== n) throw new RangeError(`random source returned ${out.length} of ${n} bytes`);
  return out;
}

/** A plain `Uint8Array` view of the same memory (Node's `Buffer` has other `slice` rules). */
export function plain(b: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(b.buffer as ArrayBuffer, b.byteOffset, b.byteLength);
}

/** A copy backed by its own `ArrayBuffer`, as WebCrypto's `BufferSource` type wants. */
export function owned(b: Uint8Array): Uint8Array<ArrayBuffer> {
  return b.buffer instanceof ArrayBuffer && b.byteOffset === 0 &&
      b.byteLength === b.buffer.byteLength
    ? b as Uint8Array<ArrayBuffer>
    : new Uint8Array(b);
}

/** Concatenation of `parts` into one new array. */
export function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Throws `TypeError` unless `b` is a `Uint8Array` of exactly `size` bytes. */
export function checkLength(b: Uint8Array, size: number, what: string): void {
  if (!(b instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array`);
  if (b.length !== size) throw new TypeError(`${what} must be ${size} bytes, got ${b.length}`);
}

/** Constant-time equality of two byte strings (timing does not depend on where they differ). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** A format header: four ASCII magic bytes and one version byte. */
export interface Header {
  /** Four ASCII characters naming the format. */
  readonly magic: string;
  /** Format version this code writes. */
  readonly version: number;
}

/** Length of every format header: 4 magic bytes and a version byte. */
export const HEADER_BYTES = 5;

/** Writes `header` into the first five bytes of `out`. */
export function writeHeader(out: Uint8Array, header: Header): void {
  for (let i = 0; i < 4; i++) out[i] = header.magic.charCodeAt(i);
  out[4] = header.version;
}

/**
 * Checks the magic and returns the version byte; throws {@link FormatError} on anything else.
 * `versions` lists the versions this code can read.
 */
export function readHeader(bytes: Uint8Array, header: Header, what: string): number {
  if (bytes.length < HEADER_BYTES) {
    throw new FormatError(`${what}: ${bytes.length} bytes is too short for a header`);
  }
  for (let i = 0; i < 4; i++) {
    if (bytes[i] !== header.magic.charCodeAt(i)) {
      throw new FormatError(`${what}: bad magic, expected '${header.magic}'`);
    }
  }
  const version = bytes[4];
  if (version !== header.version) {
    throw new FormatError(
      `${what}: format version ${version} is not supported (this build reads ${header.version})`,
    );
  }
  return version;
}
