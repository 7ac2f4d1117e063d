/**
 * A running 64-bit fingerprint of everything that happened in a run.
 *
 * The simulator feeds it every delivered message (time, endpoints, bytes) and every
 * state-changing event; two runs with the same seed must end with the same hash. Not
 * cryptographic: it only has to make accidental collisions between different runs unlikely.
 *
 * @module
 */

const f64 = new Float64Array(1);
/**
 * Frames above this size are sampled: their length, first and last {@link SAMPLE_BYTES} bytes.
 * Large frames carry fragments; their headers include the fragment's SHA-256 where it is stored,
 * and every fetched fragment is checked against its hash by the receiver, so a difference in the
 * middle of a fragment still changes what happens next, and with it the hash.
 */
const SAMPLE_ABOVE_BYTES = 2048;
const SAMPLE_BYTES = 512;
const f64Words = new Uint32Array(f64.buffer);

/** Two 32-bit multiply-rotate lanes, fed words, numbers, strings and bytes. */
export class TraceHash {
  #a = 0x6a09e667;
  #b = 0xbb67ae85;
  #count = 0;

  /** Mixes one 32-bit word. */
  word(x: number): void {
    let a = this.#a ^ Math.imul(x, 0xcc9e2d51);
    a = Math.imul((a << 15) | (a >>> 17), 0x1b873593);
    this.#a = Math.imul((a << 13) | (a >>> 19), 5) + 0xe6546b64;
    let b = this.#b ^ Math.imul(x ^ 0x85ebca6b, 0x27d4eb2f);
    b = Math.imul((b << 17) | (b >>> 15), 0x165667b1);
    this.#b = Math.imul((b << 11) | (b >>> 21), 9) + 0x7f4a7c15;
    this.#count++;
  }

  /** Mixes a number exactly (all 64 bits of its IEEE-754 form). */
  number(x: number): void {
    if ((x | 0) === x) {
      this.word(x);
      return;
    }
    f64[0] = x;
    this.word(f64Words[0]);
    this.word(f64Words[1]);
  }

  /** Mixes a string's UTF-16 code units and its length. */
  string(s: string): void {
    let i = 0;
    for (; i + 1 < s.length; i += 2) this.word(s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16));
    if (i < s.length) this.word(s.charCodeAt(i));
    this.word(s.length);
  }

  /** Mixes bytes and their length. */
  bytes(data: Uint8Array): void {
    const n = data.length;
    if (n > SAMPLE_ABOVE_BYTES) {
      this.bytes(data.subarray(0, SAMPLE_BYTES));
      this.bytes(data.subarray(n - SAMPLE_BYTES));
      this.word(n);
      return;
    }
    let i = 0;
    if (n >= 64 && data.byteOffset % 4 === 0) {
      const words = new Uint32Array(data.buffer, data.byteOffset, n >>> 2);
      for (let w = 0; w < words.length; w++) this.word(words[w]);
      i = words.length * 4;
    } else {
      for (; i + 4 <= n; i += 4) {
        this.word(data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24));
      }
    }
    let tail = 0;
    for (let shift = 0; i < n; i++, shift += 8) tail |= data[i] << shift;
    this.word(tail);
    this.word(n);
  }

  /** Number of words mixed so far. */
  get count(): number {
    return this.#count;
  }

  /** The fingerprint as 16 hex digits. */
  hex(): string {
    let a = this.#a ^ this.#count;
    let b = this.#b ^ Math.imul(this.#count, 0x9e3779b1);
    a ^= a >>> 16;
    a = Math.imul(a, 0x85ebca6b) ^ b;
    b ^= b >>> 13;
    b = Math.imul(b, 0xc2b2ae35) ^ a;
    a ^= a >>> 16;
    b ^= b >>> 16;
    return (a >>> 0).toString(16).padStart(8, "0") + (b >>> 0).toString(16).padStart(8, "0");
  }
}

/** A 32-bit checksum of `data` (the simulated link's frame check). */
export function checksum32(data: Uint8Array): number {
  let h = 0x811c9dc5 ^ data.length;
  for (let i = 0; i < data.length; i++) h = Math.imul(h ^ data[i], 0x01000193);
  return h >>> 0;
}
