/**
 * What a supplier keeps on its disk: blob keys and the contract record.
 *
 * - `contract/<customer>`: the customer's contract ({@link encodeContract}), written before the
 *   contract is granted, deleted first when it is cancelled.
 * - `frag/<customer>/<key>`: one fragment's bytes, as the customer sent them.
 *
 * Customer names are node names (no `/`) and fragment keys have no dots, so a blob key maps back
 * to exactly one customer and key, and no key can reach outside its customer's folder.
 *
 * @module
 */

import type { NodeId } from "../../core/actor.ts";
import { bytesEqual, isNodeId } from "../../core/ids.ts";
import { encode, string, struct, tryDecode, uint } from "../../core/codec.ts";
import { NODE_ID_BYTES_MAX, SUPPLIER_CONTRACT_RECORD_BYTES_MAX } from "../../core/limits.ts";
import { isFragmentKey } from "../../core/storage.ts";

/** Blob-key prefix of contract records. */
export const CONTRACT_PREFIX = "contract/";
/** Blob-key prefix of fragments. */
export const FRAGMENT_PREFIX = "frag/";

/** Leading bytes of a contract record: `"BDCT"` and the format version. */
export const CONTRACT_MAGIC: Uint8Array<ArrayBuffer> = Uint8Array.from([0x42, 0x44, 0x43, 0x54, 1]);

const contractCodec = struct({
  customer: string(NODE_ID_BYTES_MAX),
  quotaBytes: uint,
  sinceMs: uint,
});

/** A storage contract as the supplier keeps it. */
export interface ContractRecord {
  customer: NodeId;
  quotaBytes: number;
  sinceMs: number;
}

/** The blob key of `customer`'s contract. */
export function contractKey(customer: NodeId): string {
  return CONTRACT_PREFIX + customer;
}

/** The blob key of `customer`'s fragment `key`. */
export function fragmentBlobKey(customer: NodeId, key: string): string {
  return `${FRAGMENT_PREFIX}${customer}/${key}`;
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

/** The encoded contract record, in a buffer of its own. */
export function encodeContract(record: ContractRecord): Uint8Array<ArrayBuffer> {
  const body = encode(contractCodec, record);
  const out = new Uint8Array(CONTRACT_MAGIC.length + body.length);
  out.set(CONTRACT_MAGIC);
  out.set(body, CONTRACT_MAGIC.length);
  return out;
}

/** Decodes a contract record read from blob `blobKey`; `null` if damaged or misfiled. */
export function decodeContract(blobKey: string, bytes: Uint8Array): ContractRecord | null {
  const m = CONTRACT_MAGIC;
  if (bytes.length < m.length || bytes.length > SUPPLIER_CONTRACT_RECORD_BYTES_MAX) return null;
  if (!bytesEqual(bytes.subarray(0, m.length), m)) return null;
  const decoded = tryDecode(contractCodec, bytes.subarray(m.length));
  if (!decoded.ok) return null;
  const record = decoded.value;
  if (!isNodeId(record.customer) || contractKey(record.customer) !== blobKey) return null;
  return record;
}
