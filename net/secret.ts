/**
 * The real host's {@link SecretSource}: the platform CSPRNG (`crypto.getRandomValues`).
 *
 * Everything an adversary must not predict (version ids, salts, audit challenges) is drawn
 * from it; the seeded {@link Random} a host also lends its actor is for jitter and shuffles only.
 * `getRandomValues` fills at most 64 KiB per call, so larger draws are made in pieces.
 *
 * @module
 */

import type { SecretSource } from "../core/actor.ts";

/** Most bytes `crypto.getRandomValues` fills in one call. */
const CALL_BYTES_MAX = 65_536;

/** Secret entropy from the platform CSPRNG. */
export class CsprngSource implements SecretSource {
  readonly #word = new Uint32Array(1);

  bytes(n: number): Uint8Array<ArrayBuffer> {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`bytes(n) needs n >= 0, got ${n}`);
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += CALL_BYTES_MAX) {
      crypto.getRandomValues(out.subarray(i, Math.min(n, i + CALL_BYTES_MAX)));
    }
    return out;
  }

  int(n: number): number {
    if (!Number.isSafeInteger(n) || n <= 0) throw new RangeError(`int(n) needs n > 0, got ${n}`);
    if (n > 0x1_0000_0000) {
      // 53 bits from two words, then rejection over the largest multiple of n below 2^53.
      const limit = 2 ** 53 - (2 ** 53 % n);
      for (;;) {
        const hi = this.#u32() >>> 11;
        const x = hi * 0x1_0000_0000 + this.#u32();
        if (x < limit) return x % n;
      }
    }
    const limit = 0x1_0000_0000 - (0x1_0000_0000 % n);
    let x = this.#u32();
    while (x >= limit) x = this.#u32();
    return x % n;
  }

  #u32(): number {
    crypto.getRandomValues(this.#word);
    return this.#word[0];
  }
}
