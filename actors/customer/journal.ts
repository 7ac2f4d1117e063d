/**
 * The journal: which of the customer's local records changed and must be written (`persist.ts`
 * writes them), and whether the published family record must be sealed again (an internal
 * `record_changed` event, which step.ts routes to `publisher.ts`). Every sub-machine that
 * changes what a record holds says so here; the marks are the whole interface, so this file
 * imports nothing of the customer but its state's type.
 *
 * @module
 */

import type { CustomerNotice } from "./protocol.ts";
import type { BlockRec, CustomerState } from "./state.ts";
import { versionOfKey } from "../../parts/fragment_keys.ts";

/** Name of the family record in the dirty sets. */
export const FAMILY = "family";
/** Name of the list of cancels still to send in the dirty sets. */
export const CANCELS = "cancels";

/** Marks the list of fired suppliers still to be told as changed (batched). */
export function cancelsChanged(s: CustomerState): void {
  s.journal.dirty.add(CANCELS);
}

/**
 * Marks the family record as changed; it is written at once, not batched: after a restart the
 * customer must know who holds each position before anything else.
 */
export function familyChanged(s: CustomerState): void {
  familyRecorded(s);
  recordChanged(s);
}

/** The family or the list of complete versions changed: publish a new family record soon. */
export function recordChanged(s: CustomerState): void {
  s.events.push({ kind: "record_changed" });
}

/** Writes the local family record at once (without publishing a new one to the ID servers). */
export function familyRecorded(s: CustomerState): void {
  s.journal.dirty.add(FAMILY);
  s.journal.urgent.add(FAMILY);
}

/** Marks the record of the version holding `block` as changed. */
export function blockChanged(s: CustomerState, block: BlockRec): void {
  s.journal.dirty.add(versionOfKey(block.key));
}

/** Marks a version's record as changed; `urgent` writes it without waiting for the batch. */
export function versionChanged(s: CustomerState, versionId: string, urgent = false): void {
  s.journal.dirty.add(versionId);
  if (urgent) s.journal.urgent.add(versionId);
}

/** Holds `notice` until the record of `versionId` is on disk. */
export function noticeWhenRecorded(s: CustomerState, versionId: string, notice: CustomerNotice) {
  const list = s.journal.held.get(versionId) ?? [];
  list.push(notice);
  s.journal.held.set(versionId, list);
  versionChanged(s, versionId, true);
}
