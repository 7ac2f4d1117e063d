/**
 * Gathering K fragments of a block from the family, for a restore or a repair.
 *
 * The keyless part (whom to ask, in what order, what an answer means) is `parts/gather.ts`;
 * this file is the customer's side: its positions as the part's view, fetch requests, and what
 * a broken promise costs a member (a strike, see `brokePromise`). Only positions that
 * acknowledged the fragment are asked, suppliers believed online first, the lowest positions
 * first; each answer is checked against the fragment's recorded SHA-256 before it is used.
 *
 * @module
 */

import type { NodeId, StepContext } from "../../core/actor.ts";
import type { MessageOf } from "../../core/protocol/mod.ts";
import { brokePromise, markSeen, markSilent } from "./family.ts";
import { holds } from "./catalogue.ts";
import type { E } from "./protocol.ts";
import { request } from "./requests.ts";
import type { BlockRec, CustomerState, Gather, GatherBase, GatherRef } from "./state.ts";
import { fragmentKey } from "../../parts/fragment_keys.ts";
import { missed } from "../../parts/liveness.ts";
import {
  gatherAnswered,
  gatherAsked,
  gatherComplete,
  gatherMissed,
  gatherNext,
  type GatherView,
  newGatherProgress,
  possibleOnline as gatherPossibleOnline,
} from "../../parts/gather.ts";

/** The gather of `block`, fresh. */
export function newGather(s: CustomerState, block: BlockRec): GatherBase {
  return { block, ...newGatherProgress(s.scheme.n) };
}

/** What the customer knows of its positions, for the gather of `g`'s block. */
function viewOf(s: CustomerState, g: Gather): GatherView {
  return {
    holds: (p) => holds(s, g.block, p),
    // An unpinned member's answer could not be checked (see auth.ts).
    askable: (p) => s.family.positions[p].state === "active" && s.family.positions[p].key !== null,
    online: (p) => s.family.positions[p].online,
  };
}

/**
 * How many positions could still deliver without asking a supplier known to be offline: a
 * restore fails at once below K rather than wait a request timeout on each offline one.
 */
export function possibleOnline(s: CustomerState, g: Gather): number {
  return gatherPossibleOnline(g, viewOf(s, g));
}

/** How requests and continuations name gather `g`. */
function refOf(g: Gather): GatherRef {
  return g.role === "restore"
    ? { role: "restore", restoreId: g.run.restoreId, block: g.block.key }
    : { role: "repair", id: g.id };
}

/** The gather `ref` names if it is still working, else null (ended, or its restore failed). */
export function findGather(s: CustomerState, ref: GatherRef): Gather | null {
  const g = ref.role === "restore"
    ? s.restores.find((r) => r.restoreId === ref.restoreId)?.active
      .find((a) => a.block.key === ref.block)
    : s.repairs.tasks.find((t) => t.id === ref.id);
  return g !== undefined && g.working ? g : null;
}

/** Asks more positions until K fragments are in hand or in flight; false if that is impossible. */
export function askMore(s: CustomerState, ctx: StepContext, out: E[], g: Gather): boolean {
  const next = gatherNext(g, viewOf(s, g), s.scheme.k);
  if (next === null) return false;
  for (const p of next) {
    const supplier = s.family.positions[p].supplier!;
    const sent = request(s, ctx, out, supplier, {
      type: "fetch",
      key: fragmentKey(g.block.key, p),
    }, { kind: "fetch", position: p, gather: refOf(g) });
    if (!sent) break; // the request table is full: try again on a later step
    gatherAsked(g, p);
  }
  return true;
}

/** Handles a fetch answer; returns whether the gather has its K fragments now. */
export function onFetchReply(
  s: CustomerState,
  ctx: StepContext,
  out: E[],
  g: Gather,
  p: number,
  from: NodeId,
  m: MessageOf<"fetch_reply">,
): boolean {
  const isMember = s.family.positions[p].supplier === from;
  if (isMember) markSeen(s, p, ctx.nowMs);
  const outcome = gatherAnswered(g, p, m.outcome === "found" ? m.data : null, {
    fragmentSize: g.block.fragmentSize,
    expectedHash: g.block.hashes[p],
    sha256: (d) => ctx.crypto.sha256(d),
  });
  if (outcome === "got") return gatherComplete(g, s.scheme.k);
  if (!isMember) return false;
  if (outcome === "corrupt") {
    s.counters.corruptFragments++;
    brokePromise(s, ctx, out, p, g.block, "served a fragment that does not match its hash");
  } else if (m.outcome === "not_found" || m.outcome === "no_contract") {
    brokePromise(s, ctx, out, p, g.block, `lost a fragment it had stored (${m.outcome})`);
  }
  return false;
}

/** A fetch for `g` (null: ended meanwhile) got no answer. */
export function onFetchTimeout(
  s: CustomerState,
  ctx: StepContext,
  g: Gather | null,
  p: number,
): void {
  if (g !== null) gatherMissed(g, p);
  if (s.family.positions[p].state === "active") {
    markSilent(s, p, ctx.nowMs);
    // Fresh evidence it is offline (sent a request timeout ago): a restore does not wait on a
    // probe of it (see `probeStaleOffline`).
    missed(s.family.positions[p], Math.max(0, ctx.nowMs - s.options.requestTimeoutMs));
  }
}
