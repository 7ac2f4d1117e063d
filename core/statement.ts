/**
 * Signed statements: what a third party must be able to check later, or through somebody else
 * (supplier offers, family records; later storage contracts, care orders, grants).
 *
 * A statement is a value in a project codec, signed by its author's Ed25519 identity key over a
 * 4-byte domain tag, a version byte and the value's canonical encoding
 * ({@link statementBytes}). Each kind of statement has its own domain, so a signature made for
 * one kind never passes for another, and the encoding is canonical, so a verifier re-encodes the
 * fields it was handed and needs no copy of the signed bytes.
 *
 * Messages between two nodes are not signed one by one: a direct link is authenticated once by
 * its handshake and every frame after it is sealed with the session keys (`net/tcp/`); replay on
 * a link is stopped there, by the frame counter. Packets relayed by a router will need their own
 * signed envelope (a later issue); this module is for statements only.
 *
 * @module
 */

import type { StepCrypto } from "./actor.ts";
import { type Codec, encode } from "./codec.ts";

/**
 * The bytes a signature over a structured statement covers: a 4-byte ASCII `domain` tag and a
 * version byte, then `value` in `codec`'s canonical encoding. Distinct domains (`"BDOF"` supplier
 * offers, `"BDCT"` storage contracts, `"BDFM"` family records, ...) keep a signature made for one
 * kind of statement from passing for another.
 */
export function statementBytes<T>(
  domain: string,
  version: number,
  codec: Codec<T>,
  value: T,
): Uint8Array<ArrayBuffer> {
  if (!/^[A-Z]{4}$/.test(domain)) throw new RangeError(`domain must be 4 capitals: ${domain}`);
  if (!(version >= 0 && version <= 255)) throw new RangeError(`bad version ${version}`);
  const encoded = encode(codec, value);
  const out = new Uint8Array(5 + encoded.length);
  for (let i = 0; i < 4; i++) out[i] = domain.charCodeAt(i);
  out[4] = version;
  out.set(encoded, 5);
  return out;
}

/** Signs a statement (see {@link statementBytes}) with the signer's key. */
export function signStatement<T>(
  domain: string,
  version: number,
  codec: Codec<T>,
  value: T,
  sign: (data: Uint8Array) => Uint8Array,
): Uint8Array<ArrayBuffer> {
  return sign(statementBytes(domain, version, codec, value)).slice();
}

/** Whether `signature` signs the statement under the raw Ed25519 `publicKey`. */
export function verifyStatement<T>(
  domain: string,
  version: number,
  codec: Codec<T>,
  value: T,
  signature: Uint8Array,
  publicKey: Uint8Array,
  crypto: Pick<StepCrypto, "verify">,
): boolean {
  return crypto.verify(publicKey, statementBytes(domain, version, codec, value), signature);
}
