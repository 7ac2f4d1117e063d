/**
 * The writer lease (issue 11): one daemon of an identity writes at a time.
 *
 * Two daemons on one key (a new machine set up while the old one still runs) would each keep
 * their own catalogue and fire the other's suppliers, telling them to drop the data. So a
 * customer configured with a lease (`CustomerConfig.lease`) only writes while it holds a writer
 * lease from a majority of its ID servers (`actors/idserver/leases.ts`), and stands by otherwise.
 *
 * Standing by means: no hiring, no firing, no cancels, no removals, no backups, no repairs, no
 * family-record publishing, no sweeps and no recovery (recovery starts when the lease is held,
 * so that the catalogue read is the latest one the last writer published). Probes still run
 * (they renew contracts and change nothing) and restores still run (they only read); a supplier
 * that misbehaves while we stand by is not fired for it.
 *
 * Claims. A round claims the lease from every ID server at once with a lease signed by our key:
 * our instance id (`CustomerConfig.lease.instance`, kept by the host across restarts), our
 * machine label, the epoch, `expiresMs = now + leaseMs`. A majority of `granted` makes us the
 * holder; the next round renews at a third of the lease. A refusal carries the lease held
 * (`holder`): we learn the machine, the end and the epoch; a holder that loses its lease stops
 * writing at once. A standby claims again when the holder's lease ends (then at a higher epoch)
 * or, when asked to take over (`takeOver`), at once at an epoch above the holder's. A granted
 * take-over waits until the replaced lease's end plus the margin before writing: the old holder
 * writes only until its lease's end minus the margin, by its own clock, even when it cannot
 * reach an ID server to learn that it lost it.
 *
 * A customer with a catalogue of its own that learns another instance held the lease since it
 * started (a refusal naming it, or a grant that replaced its lease) never writes again: its
 * catalogue may be out of date, and writing with it (publishing its family record, sweeping
 * keys it does not know, firing suppliers it no longer has) would destroy the other's work. A
 * customer without records recovers the newest family record once it holds the lease.
 *
 * Unanswered or transient refusals (`starting`, `unknown_owner` while our identity is being
 * published) retry soon; a lease already held stays valid until its end.
 *
 * @module
 */

import type { StepContext } from "../../core/actor.ts";
import { LEASE_CLAIM_WAIT_MS } from "../../core/limits.ts";
import { signLease } from "../../core/protocol/identity.ts";
import type { MessageOf } from "../../core/protocol/mod.ts";
import type { E } from "./protocol.ts";
import { canRequest, request } from "./requests.ts";
import type { CustomerState } from "./state.ts";
import { leaseMarginMs, type LeaseState } from "./lease_state.ts";

export { type LeaseConfig, leaseMarginMs, type LeaseState } from "./lease_state.ts";

/** Whether this customer may change its storage now (always, without a lease). */
export function isWriter(s: CustomerState): boolean {
  const l = s.lease;
  if (l === null) return true;
  if (l.held === null || isDiverged(s)) return false;
  return s.nowMs < l.held.expiresMs - leaseMarginMs(l) && s.nowMs >= l.writableFromMs;
}

/**
 * Whether this customer's own catalogue may be out of date because another instance held the
 * lease since it started: then it never writes (a user moves the home aside and imports the key
 * again, which recovers the network's catalogue). A customer without records (`recovering`)
 * reads the newest family record once it holds the lease, so for it the flag is cleared.
 */
export function isDiverged(s: CustomerState): boolean {
  const l = s.lease;
  if (l === null) return false;
  if (s.phase === "recovering") l.otherSeen = false;
  return l.otherSeen && s.phase === "ready";
}

function retryMs(l: LeaseState): number {
  return Math.min(60_000, Math.max(1_000, Math.floor(l.leaseMs / 100)));
}

/**
 * The `lease` timer fired: start a claim round when one is due (the other deadlines it holds,
 * the end of a take-over's wait and of the lease held, only wake the customer), then hold the
 * timer at the next deadline.
 */
export function onLeaseTimer(s: CustomerState, ctx: StepContext, out: E[]): void {
  claimIfDue(s, ctx, out);
  armLease(s);
}

/** Holds the `lease` timer at {@link leaseDeadlineMs}, or stops it. */
function armLease(s: CustomerState): void {
  const t = leaseDeadlineMs(s);
  if (t === null) s.deadlines.stop("lease");
  else s.deadlines.set("lease", t);
}

/** Starts a claim round when one is due. */
function claimIfDue(s: CustomerState, ctx: StepContext, out: E[]): void {
  const l = s.lease;
  if (l === null || l.round !== null || ctx.nowMs < l.nextClaimAtMs) return;
  // One that will never write again lets its lease lapse: holding it would block the writer.
  if (isDiverged(s) && !l.askHolder) return;
  if (!canRequest(s, s.idServers.length)) {
    // No room for the claim's requests now: try again shortly. Left due, the lease timer was
    // re-armed at a time already passed and the node would wake at one instant forever.
    l.nextClaimAtMs = ctx.nowMs + LEASE_CLAIM_WAIT_MS;
    return;
  }
  l.askHolder = false;
  const holderLive = l.holder !== null && l.holder.expiresMs > ctx.nowMs;
  // A renewal keeps its epoch; any other claim goes above every epoch seen.
  const renewing = l.held !== null && !holderLive;
  const epoch = renewing ? Math.max(l.held!.epoch, 1) : l.epoch + 1;
  const takeOver = !renewing && holderLive && l.takeOver;
  const expiresMs = ctx.nowMs + l.leaseMs;
  const lease = signLease({
    owner: s.name,
    epoch,
    instance: l.instance,
    machine: l.machine,
    issuedMs: ctx.nowMs,
    expiresMs,
    takeOver,
  }, (data) => ctx.crypto.sign(data));
  l.round = {
    epoch,
    takeOver,
    expiresMs,
    answers: 0,
    granted: 0,
    transient: false,
    stale: false,
    replacedUntilMs: 0,
  };
  for (const server of s.idServers) {
    request(s, ctx, out, server, { type: "lease_claim", lease }, { kind: "lease_claim" });
  }
}

/** An ID server answered a claim (`m`), or did not (`null`). */
export function onLeaseReply(
  s: CustomerState,
  ctx: StepContext,
  out: E[],
  m: MessageOf<"lease_claim_reply"> | null,
): void {
  countAnswer(s, ctx, out, m);
  // A round that ended may make the next claim due at once (a take-over, a stale epoch).
  onLeaseTimer(s, ctx, out);
}

function countAnswer(
  s: CustomerState,
  ctx: StepContext,
  out: E[],
  m: MessageOf<"lease_claim_reply"> | null,
): void {
  const l = s.lease;
  const r = l?.round;
  if (l === null || r === null || r === undefined) return;
  r.answers++;
  if (m === null || m.outcome === "starting" || m.outcome === "unknown_owner") r.transient = true;
  else if (m.outcome === "granted") {
    r.granted++;
    if (m.replaced !== undefined && m.replaced.instance !== l.instance) {
      r.replacedUntilMs = Math.max(r.replacedUntilMs, m.replaced.expiresMs);
      l.otherSeen = true;
    }
  } else {
    l.refused++;
    if (m.outcome === "stale_epoch") r.stale = true;
    const c = m.current;
    if (c !== undefined) {
      l.epoch = Math.max(l.epoch, c.epoch);
      if (c.instance !== l.instance) l.otherSeen = true;
      if (c.instance !== l.instance && c.expiresMs > ctx.nowMs) {
        if (l.holder === null || c.epoch >= l.holder.epoch) l.holder = c;
      }
    }
  }
  if (r.answers < s.idServers.length) return;
  l.round = null;
  const now = ctx.nowMs;
  if (2 * r.granted > s.idServers.length) {
    // The last round of one that will never write again only asked who holds the lease.
    if (isDiverged(s)) return;
    const first = l.held === null;
    l.held = { epoch: r.epoch, expiresMs: r.expiresMs };
    l.epoch = Math.max(l.epoch, r.epoch);
    l.holder = null;
    l.takeOver = false;
    if (r.replacedUntilMs > 0) {
      l.writableFromMs = Math.max(l.writableFromMs, r.replacedUntilMs + leaseMarginMs(l));
    }
    l.nextClaimAtMs = now + Math.floor(l.leaseMs / 3);
    if (first) {
      const detail = { epoch: r.epoch, writableFromMs: l.writableFromMs };
      out.push({ kind: "trace", event: "lease.granted", detail });
    }
    return;
  }
  const holderLive = l.holder !== null && l.holder.expiresMs > now;
  if (holderLive) {
    if (l.held !== null) {
      // Another instance holds it now: stop writing at once.
      l.held = null;
      l.lost++;
      const detail = { machine: l.holder!.machine, epoch: l.holder!.epoch };
      out.push({ kind: "trace", event: "lease.lost", detail });
    }
    // A take-over claims again at once, above the holder's epoch; else when its lease ends.
    l.nextClaimAtMs = l.takeOver && !r.takeOver
      ? now
      : Math.min(l.holder!.expiresMs, now + Math.floor(l.leaseMs / 3));
    if (l.takeOver && r.takeOver) l.nextClaimAtMs = now + retryMs(l);
    return;
  }
  // A stale epoch is corrected at once (l.epoch was raised); other failures retry soon.
  l.nextClaimAtMs = now + (r.stale && !r.transient ? 0 : retryMs(l));
}

/** Suppliers remembered as reporting a newer epoch (a family has at most 256 positions). */
const SUPERSEDED_SUPPLIERS_MAX = 256;

/**
 * Supplier `supplier` has seen this identity at writer epoch `epoch` (its `superseded` answer
 * to one of our writes, or its probe answer). Above the epoch we hold, that means another
 * instance wrote under a newer lease than ours (our clock runs late, or this machine slept
 * through a take-over), so our catalogue may be out of date. One supplier could lie, so we wait
 * for more of them than the scheme may lose (its parity; the newer writer's probes reach every
 * member within a round): then, like a customer that learns another instance held the lease,
 * we never write again, and we let our lease go so the other one can hold it. Our own earlier
 * writes never count: the epoch is kept in the local family record and every claim goes above
 * it. Meanwhile each supplier refuses our writes below its epoch by itself.
 */
export function onNewerEpoch(s: CustomerState, out: E[], supplier: string, epoch: number): void {
  const l = s.lease;
  if (l === null || l.held === null || epoch <= l.held.epoch) return;
  s.counters.superseded++;
  if (!l.newer.has(supplier)) {
    if (l.newer.size >= SUPERSEDED_SUPPLIERS_MAX) return;
    out.push({ kind: "trace", event: "lease.newer_epoch", detail: { supplier, epoch } });
  }
  l.newer.set(supplier, Math.max(epoch, l.newer.get(supplier) ?? 0));
  let reports = 0;
  for (const e of l.newer.values()) if (e > l.held.epoch) reports++;
  if (reports <= s.scheme.m) return;
  l.superseded = { supplier, epoch, suppliers: reports };
  l.otherSeen = true;
  l.held = null;
  l.lost++;
  l.askHolder = true; // a last claim learns who holds the lease now, for the user's line
  l.nextClaimAtMs = s.nowMs;
  armLease(s);
  out.push({ kind: "trace", event: "lease.superseded", detail: { epoch, suppliers: reports } });
}

/**
 * Raises the epoch seen to `epoch`, read from the local family record at start: the next claim
 * goes above every epoch this home held, even when the ID servers have forgotten its lease.
 */
export function rememberEpoch(s: CustomerState, epoch: number): void {
  const l = s.lease;
  if (l === null) return;
  l.epoch = Math.max(l.epoch, epoch);
  l.kept = Math.max(l.kept, epoch);
}

/** Whether the local family record should be written again to keep a risen epoch. */
export function epochToKeep(s: CustomerState): boolean {
  const l = s.lease;
  if (l === null || s.phase !== "ready" || l.epoch <= l.kept) return false;
  l.kept = l.epoch;
  return true;
}

/**
 * When the lease wants the next step (a claim, the end of a take-over's wait, the end of the
 * lease held), or null: the `lease` timer is held at it. `diverged`: {@link isDiverged}'s
 * answer, passed by a caller that must not change the state.
 */
export function leaseDeadlineMs(s: CustomerState, diverged?: boolean): number | null {
  const l = s.lease;
  if (l === null) return null;
  const claims = l.round === null && (l.askHolder || !(diverged ?? isDiverged(s)));
  let t = claims ? l.nextClaimAtMs : Infinity;
  if (l.writableFromMs > s.nowMs) t = Math.min(t, l.writableFromMs);
  if (l.held !== null) {
    const end = l.held.expiresMs - leaseMarginMs(l);
    if (end > s.nowMs) t = Math.min(t, end);
  }
  return t === Infinity ? null : t;
}
