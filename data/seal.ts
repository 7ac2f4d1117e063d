/**
 * Key wrapping and sealing to another identity's X25519 key; synchronous, small, documented.
 *
 * **Wrapped key** (`wrapKey`): a key encrypted under a long-lived wrapping key (the user's file
 * key), with a random nonce because the wrapping key encrypts many keys. Random 96-bit nonces stay
 * safe for 2^32 wraps under one key (NIST SP 800-38D), far beyond what one user does.
 *
 * ```
 * "BDWK" | version 1 | nonce (12) | AES-256-GCM(key) (n) | tag (16)      AAD: header ‖ nonce ‖ ad
 * ```
 *
 * **Sealed box** (`sealTo`): ECIES over X25519. The sender draws an ephemeral X25519 key pair,
 * computes the shared secret with the recipient's public key, and derives a 32-byte AES key and a
 * 12-byte nonce by HKDF-SHA256 (salt: ephemeral public ‖ recipient public, info:
 * `"bitdust/seal/v1"`). The ephemeral key is used once, so the derived nonce never repeats. Only
 * the holder of the recipient's private key can open it; the sender stays anonymous (sign the
 * contents if the recipient must know who sealed them).
 *
 * ```
 * "BDSL" | version 1 | ephemeral public key (32) | AES-256-GCM(plaintext) | tag (16)
 *                                                  AAD: header ‖ ephemeral public ‖ ad
 * ```
 *
 * Keys are raw 32-byte X25519 values (RFC 7748), as WebCrypto's `raw` export gives them.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import {
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
} from "node:crypto";
import {
  checkLength,
  concat,
  drawBytes,
  HEADER_BYTES,
  plain,
  type RandomBytes,
  readHeader,
  writeHeader,
} from "./_bytes.ts";
import { decryptSync, encryptSync, hkdf, KEY_BYTES, NONCE_BYTES, TAG_BYTES } from "./aead.ts";
import { AuthenticationError, FormatError } from "./errors.ts";

/** Length of a raw X25519 public or private key. */
const X25519_KEY_BYTES = 32;
/** Bytes a sealed box adds to its plaintext. */
export const SEAL_OVERHEAD_BYTES = HEADER_BYTES + X25519_KEY_BYTES + TAG_BYTES;
/** Bytes a wrapped key adds to the key it wraps. */
export const WRAP_OVERHEAD_BYTES = HEADER_BYTES + NONCE_BYTES + TAG_BYTES;

const SEALED = { magic: "BDSL", version: 1 } as const;
const WRAPPED = { magic: "BDWK", version: 1 } as const;
const SEAL_INFO = new TextEncoder().encode("bitdust/seal/v1");
const EMPTY = new Uint8Array(0);

// DER prefixes that turn a raw X25519 key into PKCS#8 / SPKI (RFC 8410).
const PKCS8_X25519 = Uint8Array.from([
  0x30,
  0x2e,
  0x02,
  0x01,
  0x00,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x6e,
  0x04,
  0x22,
  0x04,
  0x20,
]);
const SPKI_X25519 = Uint8Array.from([
  0x30,
  0x2a,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x6e,
  0x03,
  0x21,
  0x00,
]);

/** A raw X25519 key pair. */
export interface X25519KeyPair {
  /** 32-byte public key, to publish. */
  publicKey: Uint8Array;
  /** 32-byte private key, to keep. */
  privateKey: Uint8Array;
}

function privateKeyObject(raw: Uint8Array): KeyObject {
  checkLength(raw, X25519_KEY_BYTES, "X25519 private key");
  return createPrivateKey({
    key: Buffer.from(concat(PKCS8_X25519, raw)),
    format: "der",
    type: "pkcs8",
  });
}

function publicKeyObject(raw: Uint8Array): KeyObject {
  checkLength(raw, X25519_KEY_BYTES, "X25519 public key");
  return createPublicKey({
    key: Buffer.from(concat(SPKI_X25519, raw)),
    format: "der",
    type: "spki",
  });
}

function rawPublic(key: KeyObject): Uint8Array {
  const der = key.export({ format: "der", type: "spki" });
  return new Uint8Array(der.subarray(der.length - X25519_KEY_BYTES));
}

/**
 * A new X25519 key pair as raw bytes. With `randomBytes` (e.g. a seeded stream in the simulator)
 * the private key is those 32 bytes, so the pair is reproducible; else the CSPRNG is used.
 */
export function generateX25519KeyPair(randomBytes?: RandomBytes): X25519KeyPair {
  if (randomBytes !== undefined) {
    const privateKey = new Uint8Array(drawBytes(randomBytes, X25519_KEY_BYTES));
    return { publicKey: x25519PublicKey(privateKey), privateKey };
  }
  const pair = generateKeyPairSync("x25519");
  const der = pair.privateKey.export({ format: "der", type: "pkcs8" });
  return {
    publicKey: rawPublic(pair.publicKey),
    privateKey: new Uint8Array(der.subarray(der.length - X25519_KEY_BYTES)),
  };
}

/** The raw public key of a raw X25519 private key. */
export function x25519PublicKey(privateKey: Uint8Array): Uint8Array {
  return rawPublic(createPublicKey(privateKeyObject(privateKey)));
}

/** X25519 shared secret; throws `AuthenticationError` for a low-order public key. */
function sharedSecret(privateKey: KeyObject, publicKey: KeyObject): Uint8Array {
  try {
    return plain(diffieHellman({ privateKey, publicKey }));
  } catch {
    // OpenSSL refuses an all-zero result, which only a low-order (malicious) point produces.
    throw new AuthenticationError("X25519 key agreement failed: invalid public key");
  }
}

function sealKeys(secret: Uint8Array, ephemeral: Uint8Array, recipient: Uint8Array) {
  const okm = hkdf(secret, concat(ephemeral, recipient), SEAL_INFO, KEY_BYTES + NONCE_BYTES);
  return { key: okm.subarray(0, KEY_BYTES), nonce: okm.subarray(KEY_BYTES) };
}

/** Options of {@link sealTo}. */
export interface SealOptions {
  /** Extra bytes bound to the box (e.g. a purpose label); opening must pass the same. */
  associatedData?: Uint8Array;
  /** Entropy for the ephemeral key; the CSPRNG by default. */
  randomBytes?: RandomBytes;
}

/**
 * Seals `plaintext` so that only the holder of the X25519 private key matching
 * `recipientPublicKey` (raw, 32 bytes) can open it.
 *
 * @example
 * ```ts
 * import { generateX25519KeyPair, openSealed, sealTo } from "./seal.ts";
 * const bob = generateX25519KeyPair();
 * const box = sealTo(bob.publicKey, new TextEncoder().encode("file key"));
 * console.assert(new TextDecoder().decode(openSealed(bob.privateKey, box)) === "file key");
 * ```
 */
export function sealTo(
  recipientPublicKey: Uint8Array,
  plaintext: Uint8Array,
  options: SealOptions = {},
): Uint8Array<ArrayBuffer> {
  const recipient = publicKeyObject(recipientPublicKey);
  const ephemeral = generateX25519KeyPair(options.randomBytes);
  const secret = sharedSecret(privateKeyObject(ephemeral.privateKey), recipient);
  const { key, nonce } = sealKeys(secret, ephemeral.publicKey, recipientPublicKey);
  const head = new Uint8Array(HEADER_BYTES + X25519_KEY_BYTES);
  writeHeader(head, SEALED);
  head.set(ephemeral.publicKey, HEADER_BYTES);
  const associatedData = concat(head, options.associatedData ?? EMPTY);
  return concat(head, encryptSync(key, plaintext, { nonce, associatedData }));
}

/**
 * Opens a box made by {@link sealTo} with the recipient's raw private key. Throws
 * {@link AuthenticationError} for the wrong key or any altered byte, {@link FormatError} for
 * bytes that are not a sealed box of a known version.
 */
export function openSealed(
  recipientPrivateKey: Uint8Array,
  sealed: Uint8Array,
  options: { associatedData?: Uint8Array } = {},
): Uint8Array<ArrayBuffer> {
  readHeader(sealed, SEALED, "sealed box");
  const headBytes = HEADER_BYTES + X25519_KEY_BYTES;
  if (sealed.length < headBytes + TAG_BYTES) {
    throw new FormatError(`sealed box: ${sealed.length} bytes is too short`);
  }
  const privateKey = privateKeyObject(recipientPrivateKey);
  const recipientPublic = rawPublic(createPublicKey(privateKey));
  const ephemeral = sealed.subarray(HEADER_BYTES, headBytes);
  const secret = sharedSecret(privateKey, publicKeyObject(ephemeral));
  const { key, nonce } = sealKeys(secret, ephemeral, recipientPublic);
  const associatedData = concat(sealed.subarray(0, headBytes), options.associatedData ?? EMPTY);
  return decryptSync(key, sealed.subarray(headBytes), { nonce, associatedData });
}

/** Options of {@link wrapKey}. */
export interface WrapOptions {
  /** Extra bytes bound to the wrapped key (e.g. file and block); unwrapping must pass the same. */
  associatedData?: Uint8Array;
  /** Entropy for the nonce; the CSPRNG by default. */
  randomBytes?: RandomBytes;
}

/**
 * Encrypts `key` (any length, usually 32 bytes) under the 32-byte `wrappingKey`.
 *
 * @example
 * ```ts
 * import { randomKey } from "./aead.ts";
 * import { unwrapKey, wrapKey } from "./seal.ts";
 * const fileKey = randomKey();
 * const blockKey = randomKey();
 * const wrapped = wrapKey(fileKey, blockKey);
 * console.assert(unwrapKey(fileKey, wrapped).every((b, i) => b === blockKey[i]));
 * ```
 */
export function wrapKey(
  wrappingKey: Uint8Array,
  key: Uint8Array,
  options: WrapOptions = {},
): Uint8Array<ArrayBuffer> {
  const head = new Uint8Array(HEADER_BYTES + NONCE_BYTES);
  writeHeader(head, WRAPPED);
  const nonce = drawBytes(options.randomBytes, NONCE_BYTES);
  head.set(nonce, HEADER_BYTES);
  const associatedData = concat(head, options.associatedData ?? EMPTY);
  return concat(head, encryptSync(wrappingKey, key, { nonce, associatedData }));
}

/**
 * Recovers a key wrapped by {@link wrapKey}; throws {@link AuthenticationError} for the wrong
 * wrapping key or altered bytes, {@link FormatError} for an unknown format.
 */
export function unwrapKey(
  wrappingKey: Uint8Array,
  wrapped: Uint8Array,
  options: { associatedData?: Uint8Array } = {},
): Uint8Array<ArrayBuffer> {
  readHeader(wrapped, WRAPPED, "wrapped key");
  const headBytes = HEADER_BYTES + NONCE_BYTES;
  if (wrapped.length < headBytes + TAG_BYTES) {
    throw new FormatError(`wrapped key: ${wrapped.length} bytes is too short`);
  }
  const nonce = wrapped.subarray(HEADER_BYTES, headBytes);
  const associatedData = concat(wrapped.subarray(0, headBytes), options.associatedData ?? EMPTY);
  return decryptSync(wrappingKey, wrapped.subarray(headBytes), { nonce, associatedData });
}
