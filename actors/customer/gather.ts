/**
 * Gathering K fragments of a block from the family, for a restore or a repair.
 *
 * Only positions that acknowledged the fragment are asked, suppliers believed online first and
 * the lowest positions first (with systematic Reed–Solomon the data fragments decode for free).
 * Each answer is checked against the fragment's recorded SHA-256 before it is used: a supplier
 * serving altered bytes is caught here, counted, and (with repair on) fired, and another position
 * is asked instead. The gather fails when too few positions are left to ask.
 *
 * @module
 */

import type { NodeId, StepContext } from "../../core/actor.ts";
import { bytesEqual } from "../../core/ids.ts";
import type { MessageOf } from "../../core/protocol/mod.ts";
import { brokePromise, markSeen, markSilent } from "./family.ts";
import type { E } from "./protocol.ts";
import { request } from "./requests.ts";
import type { BlockRec, CustomerState, Gather, GatherBase } from "./state.ts";
import { fragmentKey } from "../../parts/fragment_keys.ts";
import { missed } from "../../parts/liveness.ts";

const NOT_ASKED = 0;
const ASKED = 1;
const GOT = 2;
const FAILED = 3;

/** The common part of a fresh gather for `block`. */
export function newGather(s: CustomerState, block: BlockRec): GatherBase {
  const n = s.scheme.n;
  return {
    block,
    fragments: new Array(n).fill(undefined),
    asked: new Uint8Array(n),
    inFlight: 0,
    got: 0,
    failed: 0,
    working: true,
  };
}

/** Positions that should hold the block's fragment, in the order to ask them. */
function candidates(s: CustomerState, g: Gather): number[] {
  const online: number[] = [];
  const offline: number[] = [];
  for (let p = 0; p < s.positions.length; p++) {
    const pos = s.positions[p];
    if (g.asked[p] !== NOT_ASKED || g.block.held[p] !== 1 || pos.state !== "active") continue;
    if (pos.key === null) continue; // its answer could not be checked (see auth.ts)
    (pos.online ? online : offline).push(p);
  }
  return online.concat(offline);
}

/**
 * How many positions could still deliver without asking a supplier known to be offline: a
 * restore fails at once below K rather than wait a request timeout on each offline one.
 */
export function possibleOnline(s: CustomerState, g: Gather): number {
  return g.got + g.inFlight + candidates(s, g).filter((p) => s.positions[p].online).length;
}

/** Asks more positions until K fragments are in hand or in flight; false if that is impossible. */
export function askMore(s: CustomerState, ctx: StepContext, out: E[], g: Gather): boolean {
  const k = s.scheme.k;
  const list = candidates(s, g);
  if (g.got + g.inFlight + list.length < k) return false;
  for (const p of list) {
    if (g.got + g.inFlight >= k) break;
    const supplier = s.positions[p].supplier!;
    const sent = request(s, ctx, out, supplier, {
      type: "fetch",
      key: fragmentKey(g.block.key, p),
    }, { kind: "fetch", position: p, gather: g });
    if (!sent) break; // the request table is full: try again on a later step
    g.asked[p] = ASKED;
    g.inFlight++;
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
  g.inFlight--;
  const isMember = s.positions[p].supplier === from;
  if (isMember) markSeen(s, p, ctx.nowMs);
  if (m.outcome === "found" && verifies(ctx, g.block, p, m.data)) {
    g.asked[p] = GOT;
    g.fragments[p] = m.data;
    g.got++;
    return g.got >= s.scheme.k;
  }
  g.asked[p] = FAILED;
  g.failed++;
  if (!isMember) return false;
  if (m.outcome === "found") {
    s.counters.corruptFragments++;
    brokePromise(s, ctx, out, p, g.block, "served a fragment that does not match its hash");
  } else if (m.outcome === "not_found" || m.outcome === "no_contract") {
    brokePromise(s, ctx, out, p, g.block, `lost a fragment it had stored (${m.outcome})`);
  }
  return false;
}

function verifies(
  ctx: StepContext,
  block: BlockRec,
  p: number,
  data: Uint8Array,
): boolean {
  return data.length === block.fragmentSize && bytesEqual(ctx.crypto.sha256(data), block.hashes[p]);
}

/** A fetch got no answer. */
export function onFetchTimeout(s: CustomerState, ctx: StepContext, g: Gather, p: number): void {
  g.inFlight--;
  g.asked[p] = FAILED;
  g.failed++;
  if (s.positions[p].state === "active") {
    markSilent(s, p, ctx.nowMs);
    // Fresh evidence it is offline (sent a request timeout ago): a restore does not wait on a
    // probe of it (see `probeStaleOffline`).
    missed(s.positions[p], Math.max(0, ctx.nowMs - s.options.requestTimeoutMs));
  }
}
