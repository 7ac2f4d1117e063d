/**
 * AES-256-GCM, synchronous (`node:crypto`) and asynchronous (WebCrypto), with one format.
 *
 * Format: the ciphertext, then the 16-byte GCM tag (`ciphertext ‖ tag`), exactly what WebCrypto's
 * `encrypt` returns; so either implementation opens the other's output. The nonce (12 bytes) is
 * not part of the output: callers either derive it or store it beside (see `seal.ts`).
 *
 * Nonces. GCM breaks if one key ever encrypts two messages under one nonce. Block keys here are
 * single-use: {@link deriveBlockKey} gives a different key for every (file key, file salt, block
 * index), and a random block key is drawn for one block only; a key that encrypts exactly one
 * message cannot repeat a nonce, so blocks use the fixed {@link BLOCK_NONCE}. Re-encrypting a block
 * in a new version must therefore use a new salt (or a new random key): {@link newFileSalt}.
 * Long-lived keys that encrypt many messages (key wrapping) use random 96-bit nonces instead.
 *
 * Which is faster depends on the build: here WebCrypto runs AES-NI off the main thread while
 * `node:crypto`'s GCM is a software implementation (see `bench/data_bench.ts` for figures). The
 * simulator needs the synchronous one; the real node can use either.
 *
 * @module
 */

import { createCipheriv, createDecipheriv, hkdfSync } from "node:crypto";
import { checkLength, drawBytes, owned, type RandomBytes } from "./_bytes.ts";
import { AuthenticationError } from "./errors.ts";

/** AES-256 key length in bytes. */
export const KEY_BYTES = 32;
/** GCM nonce length in bytes. */
export const NONCE_BYTES = 12;
/** GCM tag length in bytes: what encryption adds to the plaintext. */
export const TAG_BYTES = 16;
/** Length of a per-file salt in bytes. */
export const FILE_SALT_BYTES = 32;
/** The nonce of every block: safe because a block key encrypts exactly one block. */
export const BLOCK_NONCE: Uint8Array = new Uint8Array(NONCE_BYTES);

/** Piece size for streaming through `node:crypto` (fits the L2 cache). */
const STREAM_CHUNK_BYTES = 256 * 1024;
const BLOCK_INFO_PREFIX = new TextEncoder().encode("bitdust/block-key/v1");

/** Options of an AES-GCM call. */
export interface AeadOptions {
  /** 12-byte nonce; defaults to {@link BLOCK_NONCE}, which is only safe for single-use keys. */
  nonce?: Uint8Array;
  /** Bytes authenticated but not encrypted; decryption must pass the same. */
  associatedData?: Uint8Array;
}

function checkKeyAndNonce(key: Uint8Array, nonce: Uint8Array): void {
  checkLength(key, KEY_BYTES, "AES-256-GCM key");
  checkLength(nonce, NONCE_BYTES, "AES-GCM nonce");
}

/**
 * Encrypts synchronously with AES-256-GCM; returns `ciphertext ‖ tag`.
 *
 * @example
 * ```ts
 * import { decryptSync, encryptSync, randomKey } from "./aead.ts";
 * const key = randomKey();
 * const sealed = encryptSync(key, new TextEncoder().encode("hi"));
 * console.assert(new TextDecoder().decode(decryptSync(key, sealed)) === "hi");
 * ```
 */
export function encryptSync(
  key: Uint8Array,
  plaintext: Uint8Array,
  options: AeadOptions = {},
): Uint8Array<ArrayBuffer> {
  const nonce = options.nonce ?? BLOCK_NONCE;
  checkKeyAndNonce(key, nonce);
  const cipher = createCipheriv("aes-256-gcm", key, nonce, { authTagLength: TAG_BYTES });
  if (options.associatedData !== undefined) cipher.setAAD(options.associatedData);
  // Stream through cache-sized pieces into one output: a single large allocation, not two.
  const out = new Uint8Array(plaintext.length + TAG_BYTES);
  let at = 0;
  for (let i = 0; i < plaintext.length; i += STREAM_CHUNK_BYTES) {
    const piece = cipher.update(plaintext.subarray(i, i + STREAM_CHUNK_BYTES));
    out.set(piece, at);
    at += piece.length;
  }
  out.set(cipher.final(), at);
  out.set(cipher.getAuthTag(), plaintext.length);
  return out;
}

/**
 * Decrypts `ciphertext ‖ tag` synchronously; throws {@link AuthenticationError} if the key is
 * wrong or any byte (ciphertext, tag, nonce, associated data) differs from what was encrypted.
 */
export function decryptSync(
  key: Uint8Array,
  sealed: Uint8Array,
  options: AeadOptions = {},
): Uint8Array<ArrayBuffer> {
  const nonce = options.nonce ?? BLOCK_NONCE;
  checkKeyAndNonce(key, nonce);
  if (sealed.length < TAG_BYTES) {
    throw new AuthenticationError(`ciphertext of ${sealed.length} bytes is shorter than its tag`);
  }
  const bodyBytes = sealed.length - TAG_BYTES;
  const decipher = createDecipheriv("aes-256-gcm", key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAuthTag(sealed.subarray(bodyBytes));
  if (options.associatedData !== undefined) decipher.setAAD(options.associatedData);
  const body = new Uint8Array(bodyBytes);
  let at = 0;
  for (let i = 0; i < bodyBytes; i += STREAM_CHUNK_BYTES) {
    const piece = decipher.update(sealed.subarray(i, Math.min(bodyBytes, i + STREAM_CHUNK_BYTES)));
    body.set(piece, at);
    at += piece.length;
  }
  try {
    body.set(decipher.final(), at);
  } catch {
    body.fill(0); // never let unauthenticated plaintext escape
    throw new AuthenticationError("decryption failed: wrong key or altered data");
  }
  return body;
}

function webParams(options: AeadOptions): AesGcmParams {
  const nonce = options.nonce ?? BLOCK_NONCE;
  const params: AesGcmParams = { name: "AES-GCM", iv: owned(nonce), tagLength: TAG_BYTES * 8 };
  if (options.associatedData !== undefined) params.additionalData = owned(options.associatedData);
  return params;
}

async function webKey(key: Uint8Array, usage: KeyUsage): Promise<CryptoKey> {
  return await crypto.subtle.importKey("raw", owned(key), "AES-GCM", false, [usage]);
}

/** Imports a raw 32-byte key for {@link encryptWith}. */
export async function importEncryptionKey(key: Uint8Array): Promise<CryptoKey> {
  checkLength(key, KEY_BYTES, "AES-256-GCM key");
  return await webKey(key, "encrypt");
}

/**
 * Starts a WebCrypto encryption with an imported key. The work is handed to a worker thread at
 * once, so the caller can compute something else before awaiting the result.
 */
export function encryptWith(
  key: CryptoKey,
  plaintext: Uint8Array,
  options: AeadOptions = {},
): Promise<Uint8Array<ArrayBuffer>> {
  checkLength(options.nonce ?? BLOCK_NONCE, NONCE_BYTES, "AES-GCM nonce");
  return crypto.subtle.encrypt(webParams(options), key, owned(plaintext))
    .then((out) => new Uint8Array(out));
}

/** Same as {@link encryptSync} through WebCrypto: same output, computed off the main thread. */
export async function encrypt(
  key: Uint8Array,
  plaintext: Uint8Array,
  options: AeadOptions = {},
): Promise<Uint8Array<ArrayBuffer>> {
  checkKeyAndNonce(key, options.nonce ?? BLOCK_NONCE);
  const k = await webKey(key, "encrypt");
  return new Uint8Array(await crypto.subtle.encrypt(webParams(options), k, owned(plaintext)));
}

/** Same as {@link decryptSync} through WebCrypto; throws {@link AuthenticationError} likewise. */
export async function decrypt(
  key: Uint8Array,
  sealed: Uint8Array,
  options: AeadOptions = {},
): Promise<Uint8Array<ArrayBuffer>> {
  checkKeyAndNonce(key, options.nonce ?? BLOCK_NONCE);
  if (sealed.length < TAG_BYTES) {
    throw new AuthenticationError(`ciphertext of ${sealed.length} bytes is shorter than its tag`);
  }
  const k = await webKey(key, "decrypt");
  try {
    return new Uint8Array(await crypto.subtle.decrypt(webParams(options), k, owned(sealed)));
  } catch {
    throw new AuthenticationError("decryption failed: wrong key or altered data");
  }
}

/** A fresh random 32-byte key (from `randomBytes`, the CSPRNG by default). */
export function randomKey(randomBytes?: RandomBytes): Uint8Array {
  return drawBytes(randomBytes, KEY_BYTES);
}

/** A fresh random per-file salt; every new version of a file must get a new one. */
export function newFileSalt(randomBytes?: RandomBytes): Uint8Array {
  return drawBytes(randomBytes, FILE_SALT_BYTES);
}

/**
 * The key of block `blockIndex` of a file: HKDF-SHA256 with the user's file key as input key
 * material, the file's random salt as salt, and `"bitdust/block-key/v1" ‖ u64be(blockIndex)` as
 * info. Distinct (salt, index) pairs give independent keys, so each key encrypts one block only.
 */
export function deriveBlockKey(
  fileKey: Uint8Array,
  fileSalt: Uint8Array,
  blockIndex: number,
): Uint8Array {
  checkLength(fileKey, KEY_BYTES, "file key");
  if (fileSalt.length < 16) throw new TypeError(`file salt must be at least 16 bytes`);
  if (!Number.isSafeInteger(blockIndex) || blockIndex < 0) {
    throw new RangeError(`block index must be a non-negative safe integer, got ${blockIndex}`);
  }
  const info = new Uint8Array(BLOCK_INFO_PREFIX.length + 8);
  info.set(BLOCK_INFO_PREFIX);
  const view = new DataView(info.buffer);
  view.setUint32(BLOCK_INFO_PREFIX.length, Math.floor(blockIndex / 0x1_0000_0000));
  view.setUint32(BLOCK_INFO_PREFIX.length + 4, blockIndex >>> 0);
  return new Uint8Array(hkdfSync("sha256", fileKey, fileSalt, info, KEY_BYTES));
}

/** HKDF-SHA256 of `length` bytes; a thin synchronous wrapper for other key derivations. */
export function hkdf(
  inputKey: Uint8Array,
  salt: Uint8Array,
  info: Uint8Array,
  length: number,
): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", inputKey, salt, info, length));
}

/** Random bytes to use as a nonce for a long-lived key (see the module notes). */
export function randomNonce(randomBytes?: RandomBytes): Uint8Array {
  return drawBytes(randomBytes, NONCE_BYTES);
}
