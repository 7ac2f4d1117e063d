/**
 * Synchronous Ed25519 signing and SHA-256 for hosts, on `node:crypto`.
 *
 * Actors check signatures inside `step`, which cannot await, so hosts lend them a synchronous
 * {@link StepCrypto}, and the hosts use `node:crypto` for it. WebCrypto has Ed25519 but only
 * behind promises. Measured here (`deno task bench idserver`, 300-byte messages, two runs on a
 * shared machine): `node:crypto` signs about 54,000/s, 1.7–2.6× WebCrypto awaited one by one,
 * and verifies about 26,000/s, 1.7–2.6× WebCrypto. WebCrypto only comes close with 256
 * verifications in flight (20,000–31,000/s, spread over threads), which a synchronous `step`
 * cannot use. Both produce and accept the same RFC 8032 signatures (the bench checks it).
 *
 * Keys cross our API as raw bytes (32-byte public and private keys, 64-byte signatures). Turning
 * raw bytes into a `KeyObject` costs about a fifth of a verification (26,000/s cached against
 * 19,000–21,000/s importing each time), so public keys are kept in a bounded cache
 * ({@link VERIFY_KEY_CACHE_MAX}); an evicted key is simply imported again.
 *
 * @module
 */

import * as nodeCrypto from "node:crypto";
import { Buffer } from "node:buffer";
import type { StepCrypto } from "../core/actor.ts";
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES } from "../core/limits.ts";
import { toHex } from "../core/ids.ts";

/** Most public keys kept imported for verification. */
const VERIFY_KEY_CACHE_MAX = 4096;

const SPKI_PREFIX = Uint8Array.from([
  0x30,
  0x2a,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x70,
  0x03,
  0x21,
  0x00,
]);
const PKCS8_PREFIX = Uint8Array.from([
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
  0x70,
  0x04,
  0x22,
  0x04,
  0x20,
]);

/** An Ed25519 key pair as raw bytes. */
export interface SigningKeyPair {
  /** 32-byte public key. */
  publicKey: Uint8Array<ArrayBuffer>;
  /** 32-byte private key (the RFC 8032 seed). */
  privateKey: Uint8Array<ArrayBuffer>;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function checkLength(bytes: Uint8Array, n: number, what: string): void {
  if (bytes.length !== n) throw new RangeError(`${what} must be ${n} bytes, got ${bytes.length}`);
}

/** A fresh Ed25519 key pair from the operating system's entropy. */
export function generateSigningKeyPair(): SigningKeyPair {
  const { publicKey, privateKey } = nodeCrypto.generateKeyPairSync("ed25519");
  const spki = publicKey.export({ format: "der", type: "spki" });
  const pkcs8 = privateKey.export({ format: "der", type: "pkcs8" });
  return {
    publicKey: new Uint8Array(spki.subarray(SPKI_PREFIX.length)),
    privateKey: new Uint8Array(pkcs8.subarray(PKCS8_PREFIX.length)),
  };
}

/** Imports a raw 32-byte Ed25519 private key for {@link signWith}. */
export function importPrivateKey(privateKey: Uint8Array): nodeCrypto.KeyObject {
  checkLength(privateKey, 32, "Ed25519 private key");
  return nodeCrypto.createPrivateKey({
    key: Buffer.from(concat(PKCS8_PREFIX, privateKey)),
    format: "der",
    type: "pkcs8",
  });
}

/** Imports a raw 32-byte Ed25519 public key; throws `RangeError` if it is not one. */
function importPublicKey(publicKey: Uint8Array): nodeCrypto.KeyObject {
  checkLength(publicKey, PUBLIC_KEY_BYTES, "Ed25519 public key");
  return nodeCrypto.createPublicKey({
    key: Buffer.from(concat(SPKI_PREFIX, publicKey)),
    format: "der",
    type: "spki",
  });
}

/** The raw public key of a raw private key. */
export function publicKeyOf(privateKey: Uint8Array): Uint8Array<ArrayBuffer> {
  const spki = nodeCrypto.createPublicKey(importPrivateKey(privateKey))
    .export({ format: "der", type: "spki" });
  return new Uint8Array(spki.subarray(SPKI_PREFIX.length));
}

/** Signs `data` with an imported private key; returns the 64-byte signature. */
export function signWith(key: nodeCrypto.KeyObject, data: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(nodeCrypto.sign(null, data, key));
}

const verifyKeys = new Map<string, nodeCrypto.KeyObject | null>();

function cachedPublicKey(publicKey: Uint8Array): nodeCrypto.KeyObject | null {
  const id = toHex(publicKey);
  let key = verifyKeys.get(id);
  if (key !== undefined) return key;
  try {
    key = importPublicKey(publicKey);
  } catch {
    key = null; // not a point on the curve: every signature under it is invalid
  }
  if (verifyKeys.size >= VERIFY_KEY_CACHE_MAX) {
    verifyKeys.delete(verifyKeys.keys().next().value!);
  }
  verifyKeys.set(id, key);
  return key;
}

/**
 * Whether `signature` is a valid Ed25519 signature of `data` under raw `publicKey`. Malformed keys
 * and signatures are simply invalid: this never throws on a peer's input.
 */
export function verifySignature(
  publicKey: Uint8Array,
  data: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (publicKey.length !== PUBLIC_KEY_BYTES || signature.length !== SIGNATURE_BYTES) return false;
  const key = cachedPublicKey(publicKey);
  if (key === null) return false;
  try {
    return nodeCrypto.verify(null, data, key, signature);
  } catch {
    return false;
  }
}

/** Verifies without the key cache, importing the key every time (the benchmark's baseline). */
export function verifySignatureUncached(
  publicKey: Uint8Array,
  data: Uint8Array,
  signature: Uint8Array,
): boolean {
  try {
    return nodeCrypto.verify(null, data, importPublicKey(publicKey), signature);
  } catch {
    return false;
  }
}

/** SHA-256 of `data`. */
function sha256(data: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(nodeCrypto.createHash("sha256").update(data).digest());
}

/**
 * The {@link StepCrypto} a host lends to its actor: `sign` uses the node's own raw private key;
 * without one (an ID server has no identity of its own) `sign` throws, since an actor that signs
 * without a key is our bug.
 *
 * @example
 * ```ts
 * import { generateSigningKeyPair, stepCryptoFor } from "./signing.ts";
 * const keys = generateSigningKeyPair();
 * const crypto = stepCryptoFor(keys.privateKey);
 * const data = new Uint8Array([1, 2, 3]);
 * console.assert(crypto.verify(keys.publicKey, data, crypto.sign(data)));
 * ```
 */
export function stepCryptoFor(privateKey?: Uint8Array): StepCrypto {
  const key = privateKey === undefined ? undefined : importPrivateKey(privateKey);
  return {
    sha256,
    sign(data) {
      if (key === undefined) throw new Error("this node has no signing key");
      return signWith(key, data);
    },
    verify: verifySignature,
  };
}
