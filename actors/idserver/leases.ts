/**
 * The ID server's writer leases (issue 11): at most one daemon of an identity writes at a time.
 *
 * A writer lease is a signed statement (`core/protocol/identity.ts`, domain `"BDWL"`) by which an
 * owner's daemon says "instance I on machine M writes, at epoch E, until `expiresMs`". The server
 * keeps at most one per owner, in memory only, and judges a claim:
 * - the owner's identity must be hosted here (`unknown_owner`) and the lease verify under its
 *   signing key (`bad_signature`); before loading finished, `starting`;
 * - `expiresMs` must be in the future and at most `WRITER_LEASE_SPAN_MAX_MS` away (`bad_span`);
 * - with no current lease, or an expired one: granted if the claim's epoch is above the current
 *   one's (or equal, from the same instance); else `stale_epoch`;
 * - with an unexpired lease of the same instance (a renewal): granted at the same or a higher
 *   epoch; else `stale_epoch`;
 * - with an unexpired lease of another instance: granted only as a take-over (`takeOver`) at a
 *   higher epoch; else `held` (or `stale_epoch` for a take-over at a lower epoch);
 * - a new owner beyond `leasesMax` is `full`.
 *
 * Every reply carries the lease held after the claim (`current`), so a refused claimant learns
 * which machine holds it, until when and at which epoch; a grant that replaces another
 * instance's lease (a take-over, or after that lease ended) carries it (`replaced`): its holder
 * may write until its `expiresMs`, so the new holder waits that long before writing, and a new
 * holder with a catalogue of its own learns that another instance wrote in between.
 *
 * Leases are not written to disk: after a restart the server holds none, and the first claim
 * wins; the old holder's renewal is then refused as `held` and it stops writing. The server's
 * own clock judges expiry; the holder stops writing a margin before its lease ends.
 *
 * @module
 */

import type { NodeId, StepContext } from "../../core/actor.ts";
import { WRITER_LEASE_SPAN_MAX_MS } from "../../core/limits.ts";
import { type LeaseOutcome, type SignedLease, verifyLease } from "../../core/protocol/identity.ts";
import type { MessageOf } from "../../core/protocol/mod.ts";
import { count, type IdServerAnswer, type IdServerState, liveIdentity } from "./state.ts";

/** Judges a lease claim and answers it (the caller sends the answer). */
export function claimLease(
  state: IdServerState,
  request: MessageOf<"lease_claim">,
  ctx: StepContext,
): MessageOf<"lease_claim_reply"> {
  const { lease, requestId } = request;
  const owner: NodeId = lease.owner;
  const now = ctx.nowMs;
  let replaced: SignedLease | undefined;
  const reply = (outcome: LeaseOutcome): MessageOf<"lease_claim_reply"> => {
    count(state, `lease.${outcome}`);
    const current = state.phase === "ready" ? state.leases.get(owner) : undefined;
    return { type: "lease_claim_reply", requestId, owner, outcome, current, replaced };
  };
  if (state.phase !== "ready") return reply("starting");
  const identity = liveIdentity(state, owner, now);
  if (identity === undefined) return reply("unknown_owner");
  if (!verifyLease(lease, identity.signingKey, ctx.crypto)) return reply("bad_signature");
  if (lease.expiresMs <= now || lease.expiresMs - now > WRITER_LEASE_SPAN_MAX_MS) {
    return reply("bad_span");
  }
  const current = state.leases.get(owner);
  if (current === undefined) {
    if (state.leases.size >= state.limits.leasesMax) return reply("full");
  } else {
    const same = current.instance === lease.instance;
    const live = current.expiresMs > now;
    if (same && lease.epoch < current.epoch) return reply("stale_epoch");
    if (!same && live && !lease.takeOver) return reply("held");
    if (!same && lease.epoch <= current.epoch) return reply("stale_epoch");
    if (!same) replaced = current;
  }
  state.leases.set(owner, copyLease(lease));
  return reply("granted");
}

/** Answers a local lease fetch: the unexpired lease of `owner`, if any. */
export function fetchLease(
  state: IdServerState,
  requestId: number,
  owner: NodeId,
  nowMs: number,
): IdServerAnswer {
  const held = state.leases.get(owner);
  const current = held !== undefined && held.expiresMs > nowMs ? held : undefined;
  count(state, current === undefined ? "lease.fetch.not_found" : "lease.fetch.found");
  return { type: "lease_fetch_reply", requestId, owner, current };
}

/** A lease of our own: a received one may be a view of a packet. */
function copyLease(l: SignedLease): SignedLease {
  return { ...l, signature: l.signature.slice() };
}
