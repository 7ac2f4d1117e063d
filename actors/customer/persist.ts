/**
 * Loading the customer's records at start and writing them back as they change (see
 * `records.ts` for what is kept). Writes go through blob effects like everything else; a record
 * is rewritten whole, and the host makes each write atomic.
 *
 * @module
 */

import type { BlobResult, StepContext } from "../../core/actor.ts";
import { DecodeError } from "../../core/codec.ts";
import type { E } from "./protocol.ts";
import {
  CANCELS_KEY,
  decodeCancels,
  decodeFamily,
  decodeVersion,
  encodeCancels,
  encodeFamily,
  encodeVersion,
  FAMILY_KEY,
  META_PREFIX,
  versionKey,
} from "./records.ts";
import { afterLoad } from "./recovery.ts";
import { noticeWhenPublished } from "./publisher.ts";
import { CANCELS, FAMILY } from "./journal.ts";
import { loadCancels, loadFamily } from "./family.ts";
import { addVersion, sortVersions } from "./catalogue.ts";
import { continuation } from "./requests.ts";
import { rememberEpoch } from "./lease.ts";
import type { CustomerState } from "./state.ts";

/**
 * Writes changed records: urgent ones now, the rest at most once per `persistIntervalMs` (not
 * while `flush` is armed: it is the end of the batching delay, and its firing ends it).
 */
export function flush(s: CustomerState, ctx: StepContext, out: E[]): void {
  if (s.phase !== "ready" || s.journal.dirty.size === 0) return;
  const batch = s.deadlines.at("flush") === null;
  for (const key of [...s.journal.dirty]) {
    if (s.journal.writing.has(key) || (!batch && !s.journal.urgent.has(key))) continue;
    s.journal.dirty.delete(key);
    s.journal.urgent.delete(key);
    const data = recordOf(s, key);
    if (data === null) continue; // deleted meanwhile
    s.journal.writing.add(key);
    const blobKey = key === FAMILY ? FAMILY_KEY : key === CANCELS ? CANCELS_KEY : versionKey(key);
    const id = continuation(s, { kind: "meta_write", key });
    out.push({ kind: "io", id, op: { op: "write", key: blobKey, data } });
  }
  if (batch) s.deadlines.set("flush", ctx.nowMs + s.options.persistIntervalMs);
}

function recordOf(s: CustomerState, key: string): Uint8Array | null {
  if (key === FAMILY) return encodeFamily(s);
  if (key === CANCELS) return encodeCancels(s);
  const v = s.catalogue.versions.find((x) => x.id === key);
  return v === undefined ? null : encodeVersion(v, s.family.positions.map((p) => p.generation));
}

/** A record write finished: release held notices, or retry later on failure. */
export function onRecordWritten(s: CustomerState, out: E[], key: string, r: BlobResult): void {
  s.journal.writing.delete(key);
  if (!r.ok) {
    s.counters.recordWriteFailures++;
    s.journal.dirty.add(key);
    if (s.journal.held.has(key)) s.journal.urgent.add(key);
    return;
  }
  const notices = s.journal.held.get(key);
  if (notices === undefined || s.journal.dirty.has(key)) return;
  s.journal.held.delete(key);
  for (const notice of notices) noticeWhenPublished(s, out, key, notice);
}

/** Forgets a deleted version's record. */
export function dropRecord(s: CustomerState, out: E[], versionId: string): void {
  s.journal.dirty.delete(versionId);
  s.journal.urgent.delete(versionId);
  s.journal.held.delete(versionId);
  const id = continuation(s, { kind: "meta_delete" });
  out.push({ kind: "io", id, op: { op: "delete", key: versionKey(versionId) } });
}

/** Starts loading the records (first start). */
export function startLoad(s: CustomerState, out: E[]): void {
  s.phase = "loading";
  const id = continuation(s, { kind: "meta_list" });
  out.push({ kind: "io", id, op: { op: "list", prefix: META_PREFIX } });
}

/** The list of records arrived: read each. */
export function onRecordList(s: CustomerState, out: E[], r: BlobResult): void {
  const keys = r.ok ? r.keys ?? [] : [];
  if (!r.ok) s.counters.recordsCorrupt++;
  for (const key of keys) {
    const id = continuation(s, { kind: "meta_read", key });
    out.push({ kind: "io", id, op: { op: "read", key } });
    s.journal.loadPending++;
  }
  if (s.journal.loadPending === 0) afterLoad(s);
}

/** One record arrived: decode it into the state. Corrupt records are counted and skipped. */
export function onRecordRead(s: CustomerState, key: string, r: BlobResult): void {
  s.journal.loadPending--;
  try {
    if (!r.ok || r.data === undefined) throw new DecodeError(r.ok ? "empty" : r.error);
    if (key === FAMILY_KEY) applyFamily(s, r.data);
    else if (key === CANCELS_KEY) {
      loadCancels(s, decodeCancels(r.data));
    } else if (key.startsWith("meta/v/") && s.catalogue.versions.length < s.options.versionsMax) {
      const v = decodeVersion(r.data, s.scheme.n);
      if (v.id === key.slice("meta/v/".length)) addVersion(s, v);
      else s.counters.recordsCorrupt++;
    }
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
    s.counters.recordsCorrupt++;
  }
  if (s.journal.loadPending === 0) {
    sortVersions(s);
    afterLoad(s);
  }
}

function applyFamily(s: CustomerState, data: Uint8Array): void {
  const f = decodeFamily(data);
  if (f.positions.length !== s.family.positions.length) {
    throw new DecodeError(
      `family of ${f.positions.length}, the scheme has ${s.family.positions.length}`,
    );
  }
  // A record of the format before keys leaves its members unpinned: their next probe answers
  // pin them (see auth.ts), and each pin rewrites the record in the new format.
  loadFamily(s, f);
  rememberEpoch(s, f.epoch);
}
