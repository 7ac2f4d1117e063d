/**
 * The supplier and its ID servers: publish the identity, then announce signed offers.
 *
 * Each ID server has its own small machine ({@link IdServerLink}): publish the identity until
 * the server answers `stored` or `unchanged`, then announce an offer ("N free bytes until T",
 * signed with the node's key) and again every `announceIntervalMs` (jittered by ±10%), well
 * before the last one expires. An unanswered request is retried after `replyTimeoutMs`; retries
 * back off from `retryMs`, doubling up to `retryMsMax`. A refusal that waiting cannot cure
 * (a bad signature, a takeover refused) is told to the operator and tried again next interval.
 * When free space moves by `reannounceShare` of the capacity, or to or from zero, every server
 * hears of it at once.
 *
 * The identity is published again about daily (`IDENTITY_REFRESH_MS`, ±10%) after each server
 * took it: ID servers drop identities nobody refreshes for `IDENTITY_TTL_MS`. The refresh rides
 * on the link's timer (its next action is the earlier of the announcement and the refresh) and
 * the server answers it `unchanged`. A `rate_limited` refusal (too many new names from our
 * address block this hour) is retried with the back-off, like `busy`.
 *
 * @module
 */

import type { NodeId, StepContext } from "../../core/actor.ts";
import { IDENTITY_REFRESH_MS } from "../../core/limits.ts";
import { type OfferOutcome, type PublishOutcome, signOffer } from "../../core/protocol/identity.ts";
import type { MessageOf } from "../../core/protocol/mod.ts";
import { type Out, send, trace } from "./_effects.ts";
import { count, type IdServerLink, offeredBytes, type SupplierState } from "./state.ts";

const PUBLISHED: readonly PublishOutcome[] = ["stored", "unchanged"];
const PUBLISH_RETRY: readonly PublishOutcome[] = ["busy", "starting", "io_error", "rate_limited"];
const ANNOUNCED: readonly OfferOutcome[] = ["stored", "withdrawn"];
const ANNOUNCE_RETRY: readonly OfferOutcome[] = ["starting", "full", "stale", "unknown_supplier"];

/** Starts over with every ID server: publish now (after loading, and after each pause). */
export function restartLinks(state: SupplierState, ctx: StepContext): Out {
  const out: Out = [];
  for (const link of state.idServers) {
    link.published = false;
    link.pending = null;
    link.announcedFreeBytes = null;
    link.refreshAtMs = null;
    link.retryMs = state.options.retryMs;
    out.push(act(state, link, ctx));
  }
  return out;
}

function act(state: SupplierState, link: IdServerLink, ctx: StepContext): Out[number] {
  const requestId = state.nextRequestId++;
  link.dueAtMs = ctx.nowMs + state.options.replyTimeoutMs;
  if (link.refreshAtMs !== null && ctx.nowMs >= link.refreshAtMs) {
    link.published = false; // publish again first, then announce
    link.refreshAtMs = null;
    count(state, "publish.refresh");
  }
  if (!link.published) {
    link.pending = { kind: "publish", requestId, freeBytes: 0 };
    count(state, "publish.sent");
    const document = state.options.identityDocument;
    return send(link.node, { type: "identity_publish", requestId, document });
  }
  const freeBytes = offeredBytes(state);
  const issuedMs = Math.max(Math.floor(ctx.nowMs), state.lastIssuedMs + 1);
  state.lastIssuedMs = issuedMs;
  const expiresMs = issuedMs + state.options.offerTtlMs;
  const body = { supplier: state.options.name, freeBytes, issuedMs, expiresMs };
  const offer = signOffer(body, (data) => ctx.crypto.sign(data));
  link.pending = { kind: "announce", requestId, freeBytes };
  count(state, "announce.sent");
  return send(link.node, { type: "offer_announce", requestId, offer });
}

function retry(state: SupplierState, link: IdServerLink, ctx: StepContext): void {
  link.dueAtMs = ctx.nowMs + Math.round(link.retryMs * (0.5 + ctx.random.float()));
  link.retryMs = Math.min(2 * link.retryMs, state.options.retryMsMax);
}

function later(state: SupplierState, link: IdServerLink, ctx: StepContext): void {
  const interval = state.options.announceIntervalMs;
  link.dueAtMs = ctx.nowMs + Math.round(interval * (0.9 + 0.2 * ctx.random.float()));
  if (link.refreshAtMs !== null) link.dueAtMs = Math.min(link.dueAtMs, link.refreshAtMs);
}

function linkFor(
  state: SupplierState,
  from: NodeId,
  kind: "publish" | "announce",
  requestId: number,
): IdServerLink | null {
  const link = state.idServers.find((l) => l.node === from);
  if (link?.pending?.kind !== kind || link.pending.requestId !== requestId) {
    count(state, "idserver.unexpected_reply");
    return null;
  }
  return link;
}

/** An ID server answered a publish. */
export function onPublishReply(
  state: SupplierState,
  from: NodeId,
  m: MessageOf<"identity_publish_reply">,
  ctx: StepContext,
): Out {
  const link = linkFor(state, from, "publish", m.requestId);
  if (link === null) return [];
  link.pending = null;
  count(state, `publish.${m.outcome}`);
  if (PUBLISHED.includes(m.outcome)) {
    link.published = true;
    link.refreshAtMs = ctx.nowMs +
      Math.round(IDENTITY_REFRESH_MS * (0.9 + 0.2 * ctx.random.float()));
    link.retryMs = state.options.retryMs;
    return [act(state, link, ctx)];
  }
  if (PUBLISH_RETRY.includes(m.outcome)) {
    retry(state, link, ctx);
    return [];
  }
  later(state, link, ctx);
  return [
    { kind: "notice", notice: { type: "publish_refused", idServer: from, outcome: m.outcome } },
    trace("supplier.publish_refused", { idServer: from, outcome: m.outcome }),
  ];
}

/** An ID server answered an offer. */
export function onOfferReply(
  state: SupplierState,
  from: NodeId,
  m: MessageOf<"offer_announce_reply">,
  ctx: StepContext,
): Out {
  const link = linkFor(state, from, "announce", m.requestId);
  if (link === null) return [];
  const announced = link.pending!.freeBytes;
  link.pending = null;
  count(state, `announce.${m.outcome}`);
  if (ANNOUNCED.includes(m.outcome)) {
    link.announcedFreeBytes = announced;
    link.retryMs = state.options.retryMs;
    later(state, link, ctx);
    return moved(state, link) ? [act(state, link, ctx)] : [];
  }
  if (ANNOUNCE_RETRY.includes(m.outcome)) {
    if (m.outcome === "unknown_supplier") link.published = false; // the server lost us
    retry(state, link, ctx);
    return [];
  }
  later(state, link, ctx);
  return [
    { kind: "notice", notice: { type: "offer_refused", idServer: from, outcome: m.outcome } },
    trace("supplier.offer_refused", { idServer: from, outcome: m.outcome }),
  ];
}

/** Whether free space moved enough since `link`'s last offer to announce again now. */
function moved(state: SupplierState, link: IdServerLink): boolean {
  const was = link.announcedFreeBytes;
  if (was === null) return false;
  const now = offeredBytes(state);
  if ((now === 0) !== (was === 0)) return true;
  return Math.abs(now - was) >= state.options.reannounceShare * state.capacityBytes;
}

/** Announces at once to every idle, published server whose offer is out of date. */
export function announceIfMoved(state: SupplierState, ctx: StepContext): Out {
  const out: Out = [];
  for (const link of state.idServers) {
    if (link.published && link.pending === null && moved(state, link)) {
      out.push(act(state, link, ctx));
    }
  }
  return out;
}

/** Acts on every ID server whose deadline has passed. */
export function onLinkTimers(state: SupplierState, ctx: StepContext): Out {
  const out: Out = [];
  for (const link of state.idServers) {
    if (link.dueAtMs === null || link.dueAtMs > ctx.nowMs) continue;
    if (link.pending !== null) {
      count(state, `${link.pending.kind}.timeout`);
      link.pending = null;
      retry(state, link, ctx);
      continue;
    }
    out.push(act(state, link, ctx));
  }
  return out;
}

/** Earliest ID-server deadline, or `null`. */
export function linkDeadline(state: SupplierState): number | null {
  let due: number | null = null;
  for (const link of state.idServers) {
    if (link.dueAtMs !== null && (due === null || link.dueAtMs < due)) due = link.dueAtMs;
  }
  return due;
}
