/**
 * A node's private keys on disk, and the passphrase-protected backup that outlives the disk.
 *
 * Losing the keys means losing every file stored with them, so two forms exist:
 * - the **key file** (JSON, `bitdust-keys/1`): the node's name and its raw Ed25519 and X25519
 *   private keys in hex. It is written with mode 0600 through a temporary file, synced, then
 *   renamed over the old one, so a crash leaves the old or the new file, never half of one. On
 *   load, a file that other users may read or write (any of the bits 0077) is refused, or
 *   repaired to 0600 when the caller asks ({@link LoadKeyFileOptions.repairMode}).
 * - the **key backup** (binary): the key file's bytes encrypted with AES-256-GCM under a key
 *   derived from a passphrase by scrypt (N = 2^17, r = 8, p = 1 by default: about 128 MiB and a
 *   fraction of a second, so guessing is slow). Everything before the ciphertext is authenticated:
 *
 * ```
 * "BDKB" | version 1 | kdf 1 (scrypt) | log2 N | r | p | salt (16) | nonce (12) | ciphertext+tag
 * ```
 *
 * A wrong passphrase and a damaged backup are indistinguishable by design; both raise
 * {@link KeyBackupError} with one clear sentence.
 *
 * @module
 */

import * as nodeCrypto from "node:crypto";
import type { NodeId } from "../core/actor.ts";
import { fromHex, isNodeId, toHex } from "../core/ids.ts";
import { decryptSync, encryptSync } from "../data/aead.ts";
import { generateX25519KeyPair, x25519PublicKey } from "../data/seal.ts";
import { generateSigningKeyPair, publicKeyOf } from "../data/signing.ts";

/** A node's key pairs, as raw bytes. */
export interface NodeKeys {
  name: NodeId;
  signingPublicKey: Uint8Array;
  signingPrivateKey: Uint8Array;
  agreementPublicKey: Uint8Array;
  agreementPrivateKey: Uint8Array;
}

/** A key file cannot be used (missing, unsafe permissions, damaged). */
export class KeyFileError extends Error {
  override name = "KeyFileError";
}

/** A key backup cannot be opened (wrong passphrase, damaged, or not a backup). */
export class KeyBackupError extends Error {
  override name = "KeyBackupError";
}

const KEY_FILE_FORMAT = "bitdust-keys/1";
const BACKUP_MAGIC = [0x42, 0x44, 0x4b, 0x42, 1];
const KDF_SCRYPT = 1;
const SALT_BYTES = 16;
const NONCE_BYTES = 12;
const HEADER_BYTES = BACKUP_MAGIC.length + 4 + SALT_BYTES + NONCE_BYTES;
/** Default scrypt cost, as log2 of N. */
const BACKUP_COST_LOG2_DEFAULT = 17;
/** Cheapest scrypt cost a backup may use. */
const BACKUP_COST_LOG2_MIN = 10;
/** Dearest scrypt cost a backup may ask for: bounds what opening a crafted file costs us. */
const BACKUP_COST_LOG2_MAX = 20;

/** Fresh keys for a node called `name`. */
export function generateNodeKeys(name: NodeId): NodeKeys {
  if (!isNodeId(name)) throw new RangeError(`not a valid node name: '${name}'`);
  const signing = generateSigningKeyPair();
  const agreement = generateX25519KeyPair();
  return {
    name,
    signingPublicKey: signing.publicKey,
    signingPrivateKey: signing.privateKey,
    agreementPublicKey: agreement.publicKey,
    agreementPrivateKey: agreement.privateKey,
  };
}

function keyFileBytes(keys: NodeKeys): Uint8Array {
  const json = {
    format: KEY_FILE_FORMAT,
    name: keys.name,
    signingPrivateKey: toHex(keys.signingPrivateKey),
    agreementPrivateKey: toHex(keys.agreementPrivateKey),
  };
  return new TextEncoder().encode(JSON.stringify(json, null, 2) + "\n");
}

/** Parses a key file's bytes; `null` when they are not a valid key file. */
function parseKeyFile(bytes: Uint8Array): NodeKeys | null {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return null;
  }
  const hex32 = (v: unknown) => typeof v === "string" && /^[0-9a-f]{64}$/.test(v);
  if (typeof o !== "object" || o === null || o.format !== KEY_FILE_FORMAT) return null;
  if (typeof o.name !== "string" || !isNodeId(o.name)) return null;
  if (!hex32(o.signingPrivateKey) || !hex32(o.agreementPrivateKey)) return null;
  const signingPrivateKey = fromHex(o.signingPrivateKey as string);
  const agreementPrivateKey = fromHex(o.agreementPrivateKey as string);
  return {
    name: o.name,
    signingPrivateKey,
    signingPublicKey: publicKeyOf(signingPrivateKey),
    agreementPrivateKey,
    agreementPublicKey: x25519PublicKey(agreementPrivateKey),
  };
}

/** Writes `keys` to `path` with mode 0600, atomically (temporary file, sync, rename). */
export async function saveKeyFile(path: string, keys: NodeKeys): Promise<void> {
  const tmp = `${path}.tmp-${toHex(crypto.getRandomValues(new Uint8Array(6)))}`;
  const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
  try {
    if (Deno.build.os !== "windows") await Deno.chmod(tmp, 0o600); // whatever the umask
    const data = keyFileBytes(keys);
    for (let at = 0; at < data.length;) at += await file.write(data.subarray(at));
    await file.syncData();
  } catch (e) {
    file.close();
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  file.close();
  await Deno.rename(tmp, path);
}

/** Options of {@link loadKeyFile}. */
export interface LoadKeyFileOptions {
  /** Fix a file other users can access to mode 0600 instead of refusing it. */
  repairMode?: boolean;
}

/**
 * Reads the key file at `path`. Throws {@link KeyFileError} when it is missing, belongs to
 * another user, is accessible to others (unless `repairMode`), or is not a valid key file.
 */
export async function loadKeyFile(
  path: string,
  options: LoadKeyFileOptions = {},
): Promise<NodeKeys> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new KeyFileError(`no key file at ${path}`);
    throw e;
  }
  if (info.mode !== null && Deno.build.os !== "windows") {
    const uid = Deno.uid();
    if (uid !== null && info.uid !== uid) {
      throw new KeyFileError(`key file ${path} belongs to another user; refusing to use it`);
    }
    const mode = info.mode & 0o777;
    if ((mode & 0o077) !== 0) {
      if (!options.repairMode) {
        const octal = mode.toString(8).padStart(4, "0");
        throw new KeyFileError(
          `key file ${path} is accessible to other users (mode ${octal}); run 'chmod 600 ${path}'`,
        );
      }
      await Deno.chmod(path, 0o600);
    }
  }
  const keys = parseKeyFile(await Deno.readFile(path));
  if (keys === null) throw new KeyFileError(`${path} is not a bitdust key file`);
  return keys;
}

function deriveKey(passphrase: string, salt: Uint8Array, log2N: number, r: number, p: number) {
  const N = 2 ** log2N;
  const maxmem = 128 * N * r * p + 32 * 1024 * 1024;
  return new Uint8Array(
    nodeCrypto.scryptSync(passphrase.normalize("NFC"), salt, 32, { N, r, p, maxmem }),
  );
}

/** Options of {@link exportKeyBackup}. */
export interface KeyBackupOptions {
  /** scrypt cost as log2 N (default {@link BACKUP_COST_LOG2_DEFAULT}). */
  costLog2?: number;
}

/** Encrypts `keys` under `passphrase`; the result can be kept anywhere. */
export function exportKeyBackup(
  keys: NodeKeys,
  passphrase: string,
  options: KeyBackupOptions = {},
): Uint8Array<ArrayBuffer> {
  if (passphrase.length === 0) throw new RangeError("the passphrase must not be empty");
  const log2N = options.costLog2 ?? BACKUP_COST_LOG2_DEFAULT;
  if (!(log2N >= BACKUP_COST_LOG2_MIN && log2N <= BACKUP_COST_LOG2_MAX)) {
    throw new RangeError(`costLog2 must be ${BACKUP_COST_LOG2_MIN}..${BACKUP_COST_LOG2_MAX}`);
  }
  const header = new Uint8Array(HEADER_BYTES);
  header.set(BACKUP_MAGIC);
  header.set([KDF_SCRYPT, log2N, 8, 1], BACKUP_MAGIC.length);
  const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
  header.set(salt, BACKUP_MAGIC.length + 4);
  header.set(nonce, BACKUP_MAGIC.length + 4 + SALT_BYTES);
  const key = deriveKey(passphrase, salt, log2N, 8, 1);
  const sealed = encryptSync(key, keyFileBytes(keys), { nonce, associatedData: header });
  const out = new Uint8Array(header.length + sealed.length);
  out.set(header);
  out.set(sealed, header.length);
  return out;
}

/** Opens a backup made by {@link exportKeyBackup}; throws {@link KeyBackupError} if it cannot. */
export function importKeyBackup(backup: Uint8Array, passphrase: string): NodeKeys {
  const magicOk = BACKUP_MAGIC.every((b, i) => backup[i] === b);
  if (backup.length < HEADER_BYTES + 16 || !magicOk) {
    throw new KeyBackupError("this is not a bitdust key backup (or a newer version of one)");
  }
  const [kdf, log2N, r, p] = backup.subarray(BACKUP_MAGIC.length, BACKUP_MAGIC.length + 4);
  const costOk = log2N >= BACKUP_COST_LOG2_MIN && log2N <= BACKUP_COST_LOG2_MAX;
  if (kdf !== KDF_SCRYPT || !costOk || r < 1 || r > 32 || p < 1 || p > 4) {
    throw new KeyBackupError("the key backup uses key-derivation settings this version refuses");
  }
  const salt = backup.subarray(BACKUP_MAGIC.length + 4, BACKUP_MAGIC.length + 4 + SALT_BYTES);
  const nonce = backup.subarray(HEADER_BYTES - NONCE_BYTES, HEADER_BYTES);
  const key = deriveKey(passphrase, salt, log2N, r, p);
  let plain: Uint8Array;
  try {
    plain = decryptSync(key, backup.subarray(HEADER_BYTES), {
      nonce,
      associatedData: backup.subarray(0, HEADER_BYTES),
    });
  } catch {
    throw new KeyBackupError("wrong passphrase, or the key backup is damaged");
  }
  const keys = parseKeyFile(plain);
  if (keys === null) throw new KeyBackupError("the key backup opened but holds no valid keys");
  return keys;
}
