/**
 * How the ID server keeps a hosted identity on disk: blob `id/<name>` holds the document and the
 * last time its owner refreshed it.
 *
 * Format: the magic `"BDIR"` and version byte 1, then `{ refreshedMs: uint, document: bytes }`
 * (`core/codec.ts`). Blobs written before refresh times existed hold the bare document (which
 * starts with the identity magic `"BDID"`); they still load, as refreshed at load time, and are
 * rewritten in this format at their next refresh.
 *
 * @module
 */

import { bytes, encode, struct, tryDecode, uint } from "../../core/codec.ts";
import { IDENTITY_MAGIC } from "../../core/identity.ts";
import { bytesEqual } from "../../core/ids.ts";
import { IDENTITY_DOC_BYTES_MAX } from "../../core/limits.ts";

/** Magic and version of a hosted-identity record. */
const RECORD_MAGIC: Uint8Array<ArrayBuffer> = Uint8Array.from([0x42, 0x44, 0x49, 0x52, 1]);

const recordCodec = struct({ refreshedMs: uint, document: bytes(IDENTITY_DOC_BYTES_MAX) });

/** A record read back: the document's bytes and its refresh time (`null`: the old format). */
export interface StoredRecord {
  document: Uint8Array<ArrayBuffer>;
  refreshedMs: number | null;
}

/** The bytes of the record of `document`, refreshed at `refreshedMs`. */
export function encodeRecord(document: Uint8Array, refreshedMs: number): Uint8Array<ArrayBuffer> {
  const body = encode(recordCodec, { refreshedMs: Math.max(0, Math.floor(refreshedMs)), document });
  const out = new Uint8Array(RECORD_MAGIC.length + body.length);
  out.set(RECORD_MAGIC);
  out.set(body, RECORD_MAGIC.length);
  return out;
}

function startsWith(data: Uint8Array, magic: Uint8Array): boolean {
  return data.length >= magic.length && bytesEqual(data.subarray(0, magic.length), magic);
}

/** Parses a blob of `id/`: a record, a bare document of the old format, or `null` (damaged). */
export function decodeRecord(data: Uint8Array): StoredRecord | null {
  if (startsWith(data, IDENTITY_MAGIC)) return { document: data.slice(), refreshedMs: null };
  if (!startsWith(data, RECORD_MAGIC)) return null;
  const decoded = tryDecode(recordCodec, data.subarray(RECORD_MAGIC.length));
  if (!decoded.ok) return null;
  return { document: decoded.value.document.slice(), refreshedMs: decoded.value.refreshedMs };
}
