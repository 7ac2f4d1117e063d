/**
 * What a supplier keeps on its disk: blob keys and the contract record.
 *
 * - `contract/<customer>`: the customer's contract ({@link encodeContract}): its quota, the key
 *   it was granted to, its last renewal written and the highest writer epoch seen from it (the
 *   fence of `core/protocol/storage.ts`). Written before the contract is granted, again when the
 *   quota changes, the epoch rises or a renewal is due to be kept (about daily), deleted first
 *   when the contract ends. Format 3; format 2 (before epochs) is read with epoch 0 and format 1
 *   (before keys) as unpinned.
 * - `frag/<customer>/<key>`: one fragment's bytes, as the customer sent them.
 *
 * Customer names are node names (no `/`) and fragment keys have no dots, so a blob key maps back
 * to exactly one customer and key, and no key can reach outside its customer's folder.
 *
 * @module
 */

import type { NodeId } from "../../core/actor.ts";
import { bytesEqual, isNodeId } from "../../core/ids.ts";
import { encode, fixedBytes, string, struct, tryDecode, uint } from "../../core/codec.ts";
import {
  NODE_ID_BYTES_MAX,
  PUBLIC_KEY_BYTES,
  SUPPLIER_CONTRACT_RECORD_BYTES_MAX,
} from "../../core/limits.ts";
import { isFragmentKey } from "../../core/storage.ts";
import { STORED_FRAGMENT_PREFIX, storedFragmentBlob } from "../../parts/fragment_keys.ts";

/** Blob-key prefix of contract records. */
export const CONTRACT_PREFIX = "contract/";
/** Blob-key prefix of fragments (see `parts/fragment_keys.ts`). */
export const FRAGMENT_PREFIX = STORED_FRAGMENT_PREFIX;

/** Leading bytes of every contract record: `"BDCT"`, then one byte of format version. */
const CONTRACT_TAG = [0x42, 0x44, 0x43, 0x54];
/** Leading bytes of a contract record in the current format (3: with the writer epoch). */
const CONTRACT_MAGIC: Uint8Array<ArrayBuffer> = Uint8Array.from([...CONTRACT_TAG, 3]);
/** Leading bytes of a record of the format before epochs (2), which is still read. */
const KEYED_MAGIC: Uint8Array<ArrayBuffer> = Uint8Array.from([...CONTRACT_TAG, 2]);
/** Leading bytes of a record of the format before keys (1), which is still read. */
const LEGACY_MAGIC: Uint8Array<ArrayBuffer> = Uint8Array.from([...CONTRACT_TAG, 1]);

const legacyCodec = struct({
  customer: string(NODE_ID_BYTES_MAX),
  quotaBytes: uint,
  sinceMs: uint,
});

const keyedFields = {
  customer: string(NODE_ID_BYTES_MAX),
  quotaBytes: uint,
  sinceMs: uint,
  key: fixedBytes(PUBLIC_KEY_BYTES),
  renewedMs: uint,
};
const keyedCodec = struct(keyedFields);
const contractCodec = struct({ ...keyedFields, epoch: uint });

/**
 * A storage contract as the supplier keeps it. `key` is the customer's Ed25519 key, pinned when
 * the contract was granted; `renewedMs` the last renewal written (renewals in between live in
 * memory); `epoch` the highest writer epoch the customer's requests carried (0 in a record of
 * the format before epochs). A record of the format before keys decodes with both `null`.
 */
export interface ContractRecord {
  customer: NodeId;
  quotaBytes: number;
  sinceMs: number;
  key: Uint8Array | null;
  renewedMs: number | null;
  epoch: number;
}

/** The blob key of `customer`'s contract. */
export function contractKey(customer: NodeId): string {
  return CONTRACT_PREFIX + customer;
}

/** The blob key of `customer`'s fragment `key`. */
export function fragmentBlobKey(customer: NodeId, key: string): string {
  return storedFragmentBlob(customer, key);
}

/** The customer and fragment key of a fragment blob key, or `null` if it names none. */
export function parseFragmentBlobKey(blobKey: string): { customer: NodeId; key: string } | null {
  if (!blobKey.startsWith(FRAGMENT_PREFIX)) return null;
  const slash = blobKey.indexOf("/", FRAGMENT_PREFIX.length);
  if (slash < 0) return null;
  const customer = blobKey.slice(FRAGMENT_PREFIX.length, slash);
  const key = blobKey.slice(slash + 1);
  return isNodeId(customer) && isFragmentKey(key) ? { customer, key } : null;
}

function framed(magic: Uint8Array, body: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(magic.length + body.length);
  out.set(magic);
  out.set(body, magic.length);
  return out;
}

/**
 * The encoded contract record (current format), in a buffer of its own. Throws `RangeError`
 * for a record without a key or a renewal time: only the format before keys lacked them.
 */
export function encodeContract(record: ContractRecord): Uint8Array<ArrayBuffer> {
  const { customer, quotaBytes, sinceMs, key, renewedMs, epoch } = record;
  if (key === null || renewedMs === null) {
    throw new RangeError("a contract record needs the customer's key and a renewal time");
  }
  return framed(
    CONTRACT_MAGIC,
    encode(contractCodec, { customer, quotaBytes, sinceMs, key, renewedMs, epoch }),
  );
}

/** A record in the format before epochs (2): what suppliers wrote before fencing; for tests. */
export function encodeKeyedContract(record: ContractRecord): Uint8Array<ArrayBuffer> {
  const { customer, quotaBytes, sinceMs, key, renewedMs } = record;
  if (key === null || renewedMs === null) throw new RangeError("a keyed record needs its key");
  return framed(KEYED_MAGIC, encode(keyedCodec, { customer, quotaBytes, sinceMs, key, renewedMs }));
}

/**
 * A record in the format before keys (no key, no renewal): what suppliers wrote before keys
 * were pinned. Only tests write it, to stand for an old disk.
 */
export function encodeLegacyContract(
  record: Pick<ContractRecord, "customer" | "quotaBytes" | "sinceMs">,
): Uint8Array<ArrayBuffer> {
  const { customer, quotaBytes, sinceMs } = record;
  return framed(LEGACY_MAGIC, encode(legacyCodec, { customer, quotaBytes, sinceMs }));
}

/** Decodes a contract record read from blob `blobKey`; `null` if damaged or misfiled. */
export function decodeContract(blobKey: string, bytes: Uint8Array): ContractRecord | null {
  const n = CONTRACT_MAGIC.length;
  if (bytes.length < n || bytes.length > SUPPLIER_CONTRACT_RECORD_BYTES_MAX) return null;
  const head = bytes.subarray(0, n);
  let record: ContractRecord;
  if (bytesEqual(head, CONTRACT_MAGIC)) {
    const decoded = tryDecode(contractCodec, bytes.subarray(n));
    if (!decoded.ok) return null;
    record = decoded.value;
  } else if (bytesEqual(head, KEYED_MAGIC)) {
    const decoded = tryDecode(keyedCodec, bytes.subarray(n));
    if (!decoded.ok) return null;
    record = { ...decoded.value, epoch: 0 };
  } else if (bytesEqual(head, LEGACY_MAGIC)) {
    const decoded = tryDecode(legacyCodec, bytes.subarray(n));
    if (!decoded.ok) return null;
    record = { ...decoded.value, key: null, renewedMs: null, epoch: 0 };
  } else {
    return null;
  }
  if (!isNodeId(record.customer) || contractKey(record.customer) !== blobKey) return null;
  return record;
}
