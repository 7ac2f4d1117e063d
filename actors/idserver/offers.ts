/**
 * The ID server's directory of supplier offers: announce, query, expire.
 *
 * @module
 */

import type { NodeId, StepContext } from "../../core/actor.ts";
import { isNodeId } from "../../core/ids.ts";
import { CLOCK_SKEW_MS_MAX, OFFER_QUERY_RESULTS_MAX, OFFER_TTL_MS_MAX } from "../../core/limits.ts";
import { type OfferOutcome, type SignedOffer, verifyOffer } from "../../core/protocol/identity.ts";
import type { MessageOf } from "../../core/protocol/mod.ts";
import { count, type IdServerState, liveIdentity } from "./state.ts";

/** How often expired offers are swept out while any offer is held. */
export const OFFER_SWEEP_INTERVAL_MS = 60_000;

/**
 * A lower bound on the expiry of every offer in a directory (`state.offers`), kept beside it so
 * that nothing persists or compares it: a sweep before that time has nothing to drop and skips
 * its scan over every offer. Only this module stores offers, and storing one lowers the bound; a
 * directory without a bound (never swept, or built elsewhere) is scanned, which sets it.
 */
const earliestExpiry = new WeakMap<Map<NodeId, SignedOffer>, number>();

/** Judges and stores an announced offer; returns the outcome to answer with. */
export function announceOffer(
  state: IdServerState,
  offer: SignedOffer,
  ctx: StepContext,
): OfferOutcome {
  const outcome = judgeOffer(state, offer, ctx);
  count(state, `offer.${outcome}`);
  return outcome;
}

function judgeOffer(state: IdServerState, o: SignedOffer, ctx: StepContext): OfferOutcome {
  if (state.phase !== "ready") return "starting";
  if (!isNodeId(o.supplier) || o.expiresMs <= o.issuedMs) return "invalid";
  if (o.issuedMs > ctx.nowMs + CLOCK_SKEW_MS_MAX) return "invalid";
  if (o.expiresMs <= ctx.nowMs) return "expired";
  if (o.expiresMs - o.issuedMs > OFFER_TTL_MS_MAX) return "too_long";
  const hosted = liveIdentity(state, o.supplier, ctx.nowMs);
  if (hosted === undefined) return "unknown_supplier";
  if (!verifyOffer(o, hosted.signingKey, ctx.crypto)) return "bad_signature";
  const old = state.offers.get(o.supplier);
  if (old !== undefined && o.issuedMs <= old.issuedMs) return "stale";
  if (o.freeBytes === 0) {
    if (old !== undefined) removeOffer(state, o.supplier);
    return "withdrawn";
  }
  if (old === undefined) {
    if (state.offers.size >= state.limits.offersMax) return "full";
    state.offerSlot.set(o.supplier, state.offerOrder.length);
    state.offerOrder.push(o.supplier);
  }
  state.offers.set(o.supplier, { ...o, signature: o.signature.slice() });
  const bound = earliestExpiry.get(state.offers);
  if (bound !== undefined && o.expiresMs < bound) earliestExpiry.set(state.offers, o.expiresMs);
  if (state.timers.at("offer_sweep") === null) {
    state.timers.set("offer_sweep", ctx.nowMs + OFFER_SWEEP_INTERVAL_MS);
  }
  return "stored";
}

/** Removes `supplier`'s offer (it must have one). */
export function removeOffer(state: IdServerState, supplier: NodeId): void {
  const slot = state.offerSlot.get(supplier)!;
  const last = state.offerOrder.pop()!;
  if (last !== supplier) {
    state.offerOrder[slot] = last;
    state.offerSlot.set(last, slot);
  }
  state.offerSlot.delete(supplier);
  state.offers.delete(supplier);
}

/**
 * Up to `count` live offers with at least `minFreeBytes`, none from `exclude`. The scan starts at
 * a random slot, so customers asking at once are spread over different suppliers; it visits each
 * offer at most once, so a query costs at most {@link IdServerState.limits}`.offersMax` steps.
 */
export function queryOffers(
  state: IdServerState,
  query: MessageOf<"offer_query">,
  ctx: StepContext,
): SignedOffer[] {
  count(state, "query");
  const want = Math.min(query.count, OFFER_QUERY_RESULTS_MAX);
  const order = state.offerOrder;
  const out: SignedOffer[] = [];
  if (want === 0 || order.length === 0 || state.phase !== "ready") return out;
  const exclude = new Set(query.exclude);
  const start = ctx.random.int(order.length);
  for (let i = 0; i < order.length && out.length < want; i++) {
    const name = order[(start + i) % order.length];
    const offer = state.offers.get(name)!;
    if (offer.expiresMs <= ctx.nowMs || offer.freeBytes < query.minFreeBytes) continue;
    if (!exclude.has(name)) out.push(offer);
  }
  return out;
}

/** Drops expired offers and re-arms the sweep while offers remain. */
export function sweepOffers(state: IdServerState, nowMs: number): void {
  const offers = state.offers;
  const bound = earliestExpiry.get(offers);
  if (bound === undefined || bound <= nowMs) {
    const expired: NodeId[] = [];
    let next = Infinity;
    for (const name of state.offerOrder) {
      const expiresMs = offers.get(name)!.expiresMs;
      if (expiresMs <= nowMs) expired.push(name);
      else if (expiresMs < next) next = expiresMs;
    }
    for (const name of expired) removeOffer(state, name);
    earliestExpiry.set(offers, next);
    if (expired.length > 0) {
      state.counters["offer.expired_swept"] = (state.counters["offer.expired_swept"] ?? 0) +
        expired.length;
    }
  }
  if (state.offers.size > 0) state.timers.set("offer_sweep", nowMs + OFFER_SWEEP_INTERVAL_MS);
  else state.timers.stop("offer_sweep");
}
