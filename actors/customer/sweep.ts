/**
 * Sweeping the family: removing fragments of versions we no longer have. They are left behind
 * by deletions a member missed while offline, by backups a crash cut short, and by a lost
 * machine (its half-done backup); they hold quota on the suppliers and nobody would read them.
 *
 * Every `sweepIntervalMs`, and as soon as a recovery has read back every version listed in the
 * family record, each active member that is reachable is asked for the list of our keys, page by
 * page. A key is removed when its version is not in the catalogue: the record lists every
 * version the user was told is done (a backup is done only once a record naming it is stored).
 * When the record was cut at its size limit, or a local record could not be read, complete
 * versions may be missing from the catalogue, so then a version with a manifest fragment on that
 * supplier is kept. One supplier at a time; a
 * supplier that does not answer is skipped (this is housekeeping, not safety).
 *
 * The same lists show fragments of versions we have that a member holds but we do not credit to
 * it (a store answer lost after the backup moved on; swarm seed 3372 lost a durable file to
 * that): up to `SWEEP_RECHECKS_MAX` of them per member and sweep are audited on a secret leaf
 * and credited when the proof matches (`recheckListed` in family.ts); a failed or unanswered
 * recheck counts for nothing, for or against the member.
 *
 * @module
 */

import type { StepContext } from "../../core/actor.ts";
import { REMOVE_KEYS_MAX } from "../../core/limits.ts";
import type { MessageOf } from "../../core/protocol/mod.ts";
import type { E } from "./protocol.ts";
import { reachable, recheckListed } from "./family.ts";
import { findBlock, holds } from "./catalogue.ts";
import { request } from "./requests.ts";
import type { CustomerState } from "./state.ts";
import { fragmentOfKey, isManifestFragmentOf } from "../../parts/fragment_keys.ts";

/** Most listed but uncredited fragments audited per member and sweep (each is one request). */
const SWEEP_RECHECKS_MAX = 32;

/**
 * Of `keys` (a member's list, for a version we have), audits up to `room` fragments at the
 * member's own position that we do not credit to it, so a fragment whose store answer was lost
 * counts again once it proves itself (`recheckListed`). Returns how many were asked.
 */
function recheckUncredited(
  s: CustomerState,
  ctx: StepContext,
  out: E[],
  position: number,
  keys: readonly string[],
  room: number,
): number {
  let asked = 0;
  for (const key of keys) {
    if (asked >= room) break;
    const f = fragmentOfKey(key);
    if (f === null || f.position !== position) continue;
    const block = findBlock(s, f.block);
    if (block === null || block.cipherSize === 0 || block.storing[position] === 1) continue;
    if (holds(s, block, position)) continue;
    if (!recheckListed(s, ctx, out, position, block)) break;
    asked++;
  }
  return asked;
}

/**
 * The `sweep` timer fired: a sweep of every member is due. It is queued (unless one is still
 * running) and the timer stopped; {@link pumpSweep} starts it, and arms the next one, once the
 * catalogue is whole and this instance writes.
 */
export function onSweepTimer(s: CustomerState): void {
  if (s.sweep === null) s.sweep = { queue: s.family.positions.map((_, i) => i), current: null };
  s.deadlines.stop("sweep");
}

/**
 * Moves the queued or running sweep to its next member. The `sweep` timer is stopped only
 * before the first sweep is scheduled and while a due sweep waits to start: then the next one
 * is armed `sweepIntervalMs` from now.
 */
export function pumpSweep(s: CustomerState, ctx: StepContext, out: E[]): void {
  const rec = s.recovery;
  // Only with the whole catalogue known: a version still being read back is not an orphan.
  if (rec.pending.length > 0 || rec.active.length > 0) return;
  if (s.deadlines.at("sweep") === null) {
    s.deadlines.set("sweep", ctx.nowMs + s.options.sweepIntervalMs);
  }
  const sweep = s.sweep;
  if (sweep === null) return;
  while (sweep.current === null) {
    const position = sweep.queue.shift();
    if (position === undefined) {
      s.sweep = null;
      return;
    }
    const supplier = s.family.positions[position].supplier;
    if (supplier === null || !reachable(s, position, ctx.nowMs)) continue;
    sweep.current = { position, supplier, candidates: new Map(), manifests: new Set() };
    if (!askPage(s, ctx, out, "")) {
      sweep.queue.unshift(position); // the request table is full: try on a later step
      sweep.current = null;
      return;
    }
  }
}

/** Asks the current member for a page of our keys after `after`; false when the table is full. */
function askPage(s: CustomerState, ctx: StepContext, out: E[], after: string) {
  const c = s.sweep!.current!;
  const { position, supplier } = c;
  return request(s, ctx, out, supplier, { type: "list", prefix: "", after }, {
    kind: "sweep_list",
    position,
    supplier,
  });
}

/**
 * A page of keys arrived from `supplier` at `position` (`null`: no answer in time, and the
 * supplier is skipped). While a page is asked for, the sweep's current member is the one asked
 * (it moves on only on an answer or a timeout), so an answer for another one is stale.
 */
export function onSweepList(
  s: CustomerState,
  ctx: StepContext,
  out: E[],
  position: number,
  supplier: string,
  m: MessageOf<"list_reply"> | null,
): void {
  const sweep = s.sweep;
  const c = sweep?.current ?? null;
  if (sweep === null || c === null || c.position !== position || c.supplier !== supplier) return;
  if (m === null) {
    sweep.current = null;
    return;
  }
  for (const key of m.keys) {
    const slash = key.indexOf("/");
    if (slash <= 0) continue;
    const versionId = key.slice(0, slash);
    if (isManifestFragmentOf(key, versionId)) c.manifests.add(versionId);
    const list = c.candidates.get(versionId) ?? [];
    list.push(key);
    c.candidates.set(versionId, list);
  }
  const last = m.keys[m.keys.length - 1];
  if (m.more) {
    // Decide only on the whole list: a manifest key may come on a later page.
    if (last === undefined || !askPage(s, ctx, out, last)) sweep.current = null;
    return;
  }
  const known = new Set(s.catalogue.versions.map((v) => v.id));
  const orphans: string[] = [];
  let rechecks = 0;
  for (const [versionId, keys] of c.candidates) {
    if (known.has(versionId)) {
      rechecks += recheckUncredited(s, ctx, out, c.position, keys, SWEEP_RECHECKS_MAX - rechecks);
      continue;
    }
    // Unsure the catalogue is whole (a record cut at its limit, or local records that could
    // not be read): a version whose manifest is there may be a complete one; keep it.
    const unsure = !s.recovery.allVersions || s.counters.recordsCorrupt > 0;
    if (unsure && c.manifests.has(versionId)) continue;
    orphans.push(...keys);
  }
  for (let at = 0; at < orphans.length; at += REMOVE_KEYS_MAX) {
    const keys = orphans.slice(at, at + REMOVE_KEYS_MAX);
    if (!request(s, ctx, out, c.supplier, { type: "remove", keys }, { kind: "remove" })) break;
    s.counters.orphansRemoved += keys.length;
  }
  if (orphans.length > 0) {
    out.push({
      kind: "trace",
      event: "orphans_removed",
      detail: { supplier: c.supplier, keys: orphans.length },
    });
  }
  sweep.current = null;
}
