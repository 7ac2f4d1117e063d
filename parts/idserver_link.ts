/**
 * ID-server links: a node's standing with each ID server it publishes to, as plain data plus
 * functions, for any role that keeps a record on ID servers (the supplier's identity and offers
 * today, the customer's record later).
 *
 * Theory of operation. Each ID server has its own link ({@link IdServerLink}); links never
 * wait for each other. A link is in one of three states:
 * - unpublished (`published` false): the next request is a publish of the node's document;
 * - published and idle: the next request is the role's periodic one (the supplier's offer), due
 *   `intervalMs` (±10%) after the last answer, or the identity refresh, whichever comes first;
 * - pending (`pending` set): a request awaits its answer until `dueAtMs`, `replyTimeoutMs` after
 *   it was sent.
 *
 * `dueAtMs` is the link's one deadline in every state. A request unanswered by then, or refused
 * in a way that waiting may cure, backs off: the next try comes after `retryMs` jittered by
 * ×[0.5, 1.5), and `retryMs` doubles up to `retryMsMax`. A confirmation (the server took the
 * request) resets `retryMs` to the first delay. A published document is published again about
 * daily (`IDENTITY_REFRESH_MS`, ±10%), so that the server keeps it (ID servers drop what nobody
 * refreshes for `IDENTITY_TTL_MS`). At most `IDENTITY_SOURCES_MAX` links, one per server.
 *
 * The owner keeps its links in its state, holds {@link nextLinkDeadline} in its timer table
 * (re-set whenever a link's deadline moves), and on that timer calls {@link linkDue} and
 * {@link expireAnswer} on each link. Which requests to send and how to read the answers stays
 * with the owner: the part only keeps time and backoff, and matches answers to requests
 * ({@link answeredLink}). Draws from `random` happen only in {@link backOff},
 * {@link scheduleNext} and {@link onPublished}, one each, so callers keep their runs
 * reproducible.
 *
 * @example
 * ```ts
 * import { Random } from "../core/prng.ts";
 * import { awaitAnswer, createLinks, expireAnswer, linkDue } from "./idserver_link.ts";
 * const pacing = { replyTimeoutMs: 30_000, retryMs: 5_000, retryMsMax: 600_000, intervalMs: 1 };
 * const [link] = createLinks(["ids1"], pacing);
 * awaitAnswer(link, { kind: "publish", requestId: 1 }, 0, pacing);
 * console.assert(linkDue(link, 30_000));
 * console.assert(expireAnswer(link, 30_000, Random.stream(1, "doc"), pacing)?.requestId === 1);
 * console.assert(link.retryMs === 10_000);
 * ```
 *
 * @module
 */

import type { NodeId } from "../core/actor.ts";
import { assert } from "../core/assert.ts";
import { IDENTITY_REFRESH_MS, IDENTITY_SOURCES_MAX } from "../core/limits.ts";
import type { Random } from "../core/prng.ts";

/** How a node paces its requests to ID servers (the same for every link). */
export interface LinkPacing {
  /** How long to wait for an answer before the request counts as lost. */
  readonly replyTimeoutMs: number;
  /** First delay before trying again after a lost or refused request. */
  readonly retryMs: number;
  /** Longest delay: delays double up to it. */
  readonly retryMsMax: number;
  /** Time between two periodic requests once published (jittered by ±10%). */
  readonly intervalMs: number;
}

/** A request awaiting its answer: what it was (the owner's word) and its id. */
export interface LinkRequest {
  readonly kind: string;
  readonly requestId: number;
}

/** A node's standing with one ID server; owners may extend it with their own fields. */
export interface IdServerLink<Request extends LinkRequest = LinkRequest> {
  readonly node: NodeId;
  /** Whether the server answered the current document with "stored" (or "unchanged"). */
  published: boolean;
  /** The request awaiting its answer, or `null`. */
  pending: Request | null;
  /** Next action: the answer's deadline while pending, else the next request; `null`: none. */
  dueAtMs: number | null;
  /** The current backoff delay. */
  retryMs: number;
  /** When to publish again so that the server keeps the document (`null`: not published). */
  refreshAtMs: number | null;
}

/** One fresh (unpublished, idle, unscheduled) link per server of `nodes`. */
export function createLinks<R extends LinkRequest = LinkRequest>(
  nodes: readonly NodeId[],
  pacing: LinkPacing,
): IdServerLink<R>[] {
  assert(nodes.length <= IDENTITY_SOURCES_MAX, "more ID servers than a document may name");
  assert(new Set(nodes).size === nodes.length, "an ID server linked twice");
  assert(pacing.retryMs >= 1 && pacing.retryMsMax >= pacing.retryMs, "bad link pacing");
  return nodes.map((node) => ({
    node,
    published: false,
    pending: null,
    dueAtMs: null,
    retryMs: pacing.retryMs,
    refreshAtMs: null,
  }));
}

/** Starts `link` over: unpublished, nothing pending, first backoff delay (the deadline stays). */
export function restartLink(link: IdServerLink, pacing: LinkPacing): void {
  link.published = false;
  link.pending = null;
  link.refreshAtMs = null;
  link.retryMs = pacing.retryMs;
}

/**
 * Whether the document is due to be published again at `nowMs`; if so `link` counts as
 * unpublished from now on (publish first, then the periodic request).
 */
export function refreshDue(link: IdServerLink, nowMs: number): boolean {
  if (link.refreshAtMs === null || nowMs < link.refreshAtMs) return false;
  link.published = false;
  link.refreshAtMs = null;
  return true;
}

/** `request` was sent on `link` at `nowMs`: its answer is due within `replyTimeoutMs`. */
export function awaitAnswer<R extends LinkRequest>(
  link: IdServerLink<R>,
  request: R,
  nowMs: number,
  pacing: LinkPacing,
): void {
  link.pending = request;
  link.dueAtMs = nowMs + pacing.replyTimeoutMs;
}

/**
 * The link of `links` to `from` whose pending request is `kind` with `requestId`, or `null`
 * when the answer matches no request (a late, repeated or forged one). Clears nothing.
 */
export function answeredLink<L extends IdServerLink>(
  links: readonly L[],
  from: NodeId,
  kind: string,
  requestId: number,
): L | null {
  const link = links.find((l) => l.node === from);
  if (link?.pending?.kind !== kind || link.pending.requestId !== requestId) return null;
  return link;
}

/** Tries again later: after `retryMs` jittered by ×[0.5, 1.5), and doubles `retryMs`. */
export function backOff(
  link: IdServerLink,
  nowMs: number,
  random: Random,
  pacing: LinkPacing,
): void {
  link.dueAtMs = nowMs + Math.round(link.retryMs * (0.5 + random.float()));
  link.retryMs = Math.min(2 * link.retryMs, pacing.retryMsMax);
}

/** The server took a request: the next failure backs off from the first delay again. */
export function confirm(link: IdServerLink, pacing: LinkPacing): void {
  link.retryMs = pacing.retryMs;
}

/** The server took the document at `nowMs`: published, refreshed about daily, confirmed. */
export function onPublished(
  link: IdServerLink,
  nowMs: number,
  random: Random,
  pacing: LinkPacing,
): void {
  link.published = true;
  link.refreshAtMs = nowMs + Math.round(IDENTITY_REFRESH_MS * (0.9 + 0.2 * random.float()));
  confirm(link, pacing);
}

/** Schedules the next periodic request (±10% of `intervalMs`), or the refresh if sooner. */
export function scheduleNext(
  link: IdServerLink,
  nowMs: number,
  random: Random,
  pacing: LinkPacing,
): void {
  link.dueAtMs = nowMs + Math.round(pacing.intervalMs * (0.9 + 0.2 * random.float()));
  if (link.refreshAtMs !== null) link.dueAtMs = Math.min(link.dueAtMs, link.refreshAtMs);
}

/** Whether `link`'s deadline has come at `nowMs`. */
export function linkDue(link: IdServerLink, nowMs: number): boolean {
  return link.dueAtMs !== null && link.dueAtMs <= nowMs;
}

/**
 * At a due link's deadline: a pending request is lost, forgotten and backed off from, and
 * returned; `null` when nothing was pending, and the owner's next request is due now.
 */
export function expireAnswer<R extends LinkRequest>(
  link: IdServerLink<R>,
  nowMs: number,
  random: Random,
  pacing: LinkPacing,
): R | null {
  const lost = link.pending;
  if (lost === null) return null;
  link.pending = null;
  backOff(link, nowMs, random, pacing);
  return lost;
}

/** The earliest deadline over `links`, or `null` when none is scheduled. */
export function nextLinkDeadline(links: readonly IdServerLink[]): number | null {
  let due: number | null = null;
  for (const link of links) {
    if (link.dueAtMs !== null && (due === null || link.dueAtMs < due)) due = link.dueAtMs;
  }
  return due;
}
