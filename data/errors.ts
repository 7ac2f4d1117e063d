/**
 * Errors of the data path that callers are expected to catch.
 *
 * Each one names a condition of the *data* (a wrong key, a damaged fragment, too few fragments,
 * bytes in an unknown format), never a bug of ours: bad arguments throw `TypeError` or
 * `RangeError`, and our own broken invariants throw `AssertionError`.
 *
 * @module
 */

/**
 * Decryption failed: the key is wrong, or the ciphertext, its tag, its nonce or its associated
 * data were altered. No plaintext is ever returned in that case.
 */
export class AuthenticationError extends Error {
  override name = "AuthenticationError";
}

/** Bytes do not match the SHA-256 hash or Merkle root they were promised to have. */
export class IntegrityError extends Error {
  override name = "IntegrityError";
  /** Position of the offending fragment when known, else `undefined`. */
  readonly fragmentIndex: number | undefined;

  /** Creates the error; `fragmentIndex` names the fragment position when there is one. */
  constructor(message: string, fragmentIndex?: number) {
    super(message);
    this.fragmentIndex = fragmentIndex;
  }
}

/** Fewer fragments are available than the erasure code needs to rebuild a block. */
export class TooFewFragmentsError extends Error {
  override name = "TooFewFragmentsError";
  /** Fragments needed (K of the scheme). */
  readonly needed: number;
  /** Usable fragments that were present. */
  readonly present: number;

  /** Creates the error from what the scheme needs and what was usable. */
  constructor(needed: number, present: number, detail = "") {
    const missing = needed - present;
    super(
      `too few fragments: have ${present}, need ${needed} (${missing} missing)` +
        (detail === "" ? "" : `; ${detail}`),
    );
    this.needed = needed;
    this.present = present;
  }

  /** How many more fragments would have been enough. */
  get missing(): number {
    return this.needed - this.present;
  }
}

/** Bytes are not in a format this version reads: wrong magic, unknown version, or malformed. */
export class FormatError extends Error {
  override name = "FormatError";
}
