/**
 * The supplier and its ID servers: publish the identity, then announce signed offers.
 *
 * Each ID server has its own small machine ({@link SupplierLink}): publish the identity until
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
 * The timekeeping of each link (deadlines, backoff, refresh, matching answers to requests) is
 * the reusable part `parts/idserver_link.ts`; this file decides what to send and how to read
 * the answers. The `links` kind of the supplier's timer table holds the earliest link deadline:
 * every exported function here that may move a deadline re-sets it before returning
 * ({@link armLinks}).
 *
 * @module
 */

import type { NodeId, StepContext } from "../../core/actor.ts";
import { type OfferOutcome, type PublishOutcome, signOffer } from "../../core/protocol/identity.ts";
import type { MessageOf } from "../../core/protocol/mod.ts";
import {
  answeredLink,
  awaitAnswer,
  backOff,
  confirm,
  expireAnswer,
  linkDue,
  nextLinkDeadline,
  onPublished,
  refreshDue,
  restartLink,
  scheduleNext,
} from "../../parts/idserver_link.ts";
import { type Out, send, trace } from "./_effects.ts";
import { count, linkPacing, offeredBytes, type SupplierLink, type SupplierState } from "./state.ts";

const PUBLISHED: readonly PublishOutcome[] = ["stored", "unchanged"];
const PUBLISH_RETRY: readonly PublishOutcome[] = ["busy", "starting", "io_error", "rate_limited"];
const ANNOUNCED: readonly OfferOutcome[] = ["stored", "withdrawn"];
const ANNOUNCE_RETRY: readonly OfferOutcome[] = ["starting", "full", "stale", "unknown_supplier"];

/** Holds the earliest link deadline in the timer table's `links` kind; returns `out`. */
function armLinks<T>(state: SupplierState, out: T): T {
  const atMs = nextLinkDeadline(state.idServers);
  if (atMs === null) state.deadlines.stop("links");
  else state.deadlines.set("links", atMs);
  return out;
}

/** Starts over with every ID server: publish now (after loading, and after each pause). */
export function restartLinks(state: SupplierState, ctx: StepContext): Out {
  const pacing = linkPacing(state.options);
  const out: Out = [];
  for (const link of state.idServers) {
    restartLink(link, pacing);
    link.announcedFreeBytes = null;
    out.push(act(state, link, ctx));
  }
  return armLinks(state, out);
}

function act(state: SupplierState, link: SupplierLink, ctx: StepContext): Out[number] {
  const pacing = linkPacing(state.options);
  const requestId = state.nextRequestId++;
  if (refreshDue(link, ctx.nowMs)) count(state, "publish.refresh"); // publish first, then offer
  if (!link.published) {
    awaitAnswer(link, { kind: "publish", requestId, freeBytes: 0 }, ctx.nowMs, pacing);
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
  awaitAnswer(link, { kind: "announce", requestId, freeBytes }, ctx.nowMs, pacing);
  count(state, "announce.sent");
  return send(link.node, { type: "offer_announce", requestId, offer });
}

function linkFor(
  state: SupplierState,
  from: NodeId,
  kind: "publish" | "announce",
  requestId: number,
): SupplierLink | null {
  const link = answeredLink(state.idServers, from, kind, requestId);
  if (link === null) count(state, "idserver.unexpected_reply");
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
  return armLinks(state, publishAnswered(state, link, m.outcome, ctx));
}

function publishAnswered(
  state: SupplierState,
  link: SupplierLink,
  outcome: PublishOutcome,
  ctx: StepContext,
): Out {
  const pacing = linkPacing(state.options);
  link.pending = null;
  count(state, `publish.${outcome}`);
  if (PUBLISHED.includes(outcome)) {
    onPublished(link, ctx.nowMs, ctx.random, pacing);
    return [act(state, link, ctx)];
  }
  if (PUBLISH_RETRY.includes(outcome)) {
    backOff(link, ctx.nowMs, ctx.random, pacing);
    return [];
  }
  scheduleNext(link, ctx.nowMs, ctx.random, pacing);
  const idServer = link.node;
  return [
    { kind: "notice", notice: { type: "publish_refused", idServer, outcome } },
    trace("supplier.publish_refused", { idServer, outcome }),
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
  return armLinks(state, offerAnswered(state, link, m.outcome, ctx));
}

function offerAnswered(
  state: SupplierState,
  link: SupplierLink,
  outcome: OfferOutcome,
  ctx: StepContext,
): Out {
  const pacing = linkPacing(state.options);
  const announced = link.pending!.freeBytes;
  link.pending = null;
  count(state, `announce.${outcome}`);
  if (ANNOUNCED.includes(outcome)) {
    link.announcedFreeBytes = announced;
    confirm(link, pacing);
    scheduleNext(link, ctx.nowMs, ctx.random, pacing);
    return moved(state, link) ? [act(state, link, ctx)] : [];
  }
  if (ANNOUNCE_RETRY.includes(outcome)) {
    if (outcome === "unknown_supplier") link.published = false; // the server lost us
    backOff(link, ctx.nowMs, ctx.random, pacing);
    return [];
  }
  scheduleNext(link, ctx.nowMs, ctx.random, pacing);
  const idServer = link.node;
  return [
    { kind: "notice", notice: { type: "offer_refused", idServer, outcome } },
    trace("supplier.offer_refused", { idServer, outcome }),
  ];
}

/** Whether free space moved enough since `link`'s last offer to announce again now. */
function moved(state: SupplierState, link: SupplierLink): boolean {
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
  return armLinks(state, out);
}

/** The `links` timer: acts on every ID server whose deadline has passed (none: a no-op). */
export function onLinkTimers(state: SupplierState, ctx: StepContext): Out {
  const pacing = linkPacing(state.options);
  const out: Out = [];
  for (const link of state.idServers) {
    if (!linkDue(link, ctx.nowMs)) continue;
    const lost = expireAnswer(link, ctx.nowMs, ctx.random, pacing);
    if (lost !== null) count(state, `${lost.kind}.timeout`);
    else out.push(act(state, link, ctx));
  }
  return armLinks(state, out);
}
