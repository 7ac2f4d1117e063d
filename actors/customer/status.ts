/**
 * What can be restored right now: per version, how many blocks have at least K fragments on
 * suppliers the customer currently believes online, and which suppliers holding its fragments
 * are offline. `status`, `ls` and the restore's fail-fast check all read this one computation,
 * so they cannot disagree.
 *
 * A fragment counts only when its position is active, its supplier is online (answered within
 * the probe timeout) and its key is pinned (an answer could be checked). Counting fragments on
 * offline suppliers is what made `status` say "0 at risk" while every restore failed.
 *
 * @module
 */

import type { NodeId } from "../../core/actor.ts";
import { blocksOf, holds } from "./catalogue.ts";
import type { BlockRec, CustomerState, VersionRec } from "./state.ts";

/** The health of one version as `status` and `ls` show it. */
export interface VersionHealth {
  versionId: string;
  /** The catalogue's state: `uploading`, `complete` or `incomplete`. */
  state: VersionRec["status"];
  /** Blocks of the version (its manifest included). */
  blocks: number;
  /** Blocks with at least K fragments on suppliers online now. */
  blocksRestorableNow: number;
  /** Blocks with fewer than K fragments on suppliers online now. */
  blocksNotRestorableNow: number;
  /** Every block restorable now (and the version complete). */
  restorableNow: boolean;
  /** Suppliers holding fragments of the version that are online now, and how many in all. */
  suppliersOnline: number;
  suppliersHolding: number;
  /** Fragments needed per block (K). */
  suppliersNeeded: number;
  /** Suppliers holding fragments of the version that are offline now. */
  offline: NodeId[];
  /**
   * Every fragment is stored but no ID server keeps the family record that lists it yet: its
   * backup job is still running (`status` shows it as running, `ls` as recording).
   */
  recording: boolean;
}

/** Whether position `p` can serve a fragment now. */
function usable(s: CustomerState, p: number): boolean {
  const pos = s.family.positions[p];
  return pos.state === "active" && pos.online && pos.key !== null;
}

/** Fragments of `b` on suppliers online now. */
export function onlineFragments(s: CustomerState, b: BlockRec): number {
  let n = 0;
  for (let p = 0; p < b.heldAt.length; p++) if (holds(s, b, p) && usable(s, p)) n++;
  return n;
}

/** The health of version `v`, or of only the blocks `blocks` of it when given. */
export function versionHealth(
  s: CustomerState,
  v: VersionRec,
  blocks = blocksOf(v),
): VersionHealth {
  const holding = new Set<number>();
  let ok = 0;
  for (const b of blocks) {
    for (let p = 0; p < b.heldAt.length; p++) {
      if (holds(s, b, p) && s.family.positions[p].state === "active") holding.add(p);
    }
    if (onlineFragments(s, b) >= s.scheme.k) ok++;
  }
  const offline: NodeId[] = [];
  let online = 0;
  for (const p of [...holding].sort((a, b) => a - b)) {
    if (usable(s, p)) online++;
    else offline.push(s.family.positions[p].supplier!);
  }
  return {
    versionId: v.id,
    state: v.status,
    blocks: blocks.length,
    blocksRestorableNow: ok,
    blocksNotRestorableNow: blocks.length - ok,
    restorableNow: v.status === "complete" && ok === blocks.length,
    suppliersOnline: online,
    suppliersHolding: holding.size,
    suppliersNeeded: s.scheme.k,
    offline,
    recording: s.publisher.waiting.has(v.id),
  };
}

/** The health of every version, in catalogue order. */
export function catalogueHealth(s: CustomerState): VersionHealth[] {
  return s.catalogue.versions.map((v) => versionHealth(s, v));
}

/**
 * One line for a version that cannot be restored now, e.g.
 * `version X: NOT restorable now: 3 of 8 suppliers online, 4 needed (offline: a, b, c, d, e)`.
 */
export function notRestorableLine(h: VersionHealth): string {
  const off = h.offline.length === 0 ? "" : ` (offline: ${h.offline.join(", ")})`;
  const blocks = h.suppliersOnline >= h.suppliersNeeded
    ? `; ${h.blocksNotRestorableNow} of ${h.blocks} blocks have fewer than ` +
      `${h.suppliersNeeded} fragments on them`
    : "";
  return `version ${h.versionId}: NOT restorable now: ${h.suppliersOnline} of ` +
    `${h.suppliersHolding} suppliers online, ${h.suppliersNeeded} needed${off}${blocks}`;
}

/**
 * What `ls` and `status` show for a version: its state and whether it can be restored now,
 * e.g. `complete, restorable now` or `complete, NOT restorable now`.
 */
export function healthWord(h: VersionHealth): string {
  if (h.state !== "complete") return h.state;
  const now = h.restorableNow ? "restorable now" : "NOT restorable now";
  return h.recording
    ? `complete, ${now}, recording (its backup is still running)`
    : `complete, ${now}`;
}
