/**
 * The ID-server gateway: actors speak to ID servers in messages, real ID servers speak HTTP.
 *
 * Theory of operation. Actors send `identity_publish`, `identity_fetch`, `offer_announce`,
 * `offer_query`, `family_publish`, `family_fetch` and `lease_claim` to an ID server by its node
 * name, as in the
 * simulator. In the real network an ID server's node name is its address `host:port`
 * ({@link idServerUrl}; {@link idServerNodeId} turns a source URL into one), and the real host's
 * `send` hands these seven messages to {@link IdGateway.send} instead of the transport. The gateway
 * makes the HTTP call of `idserver_http.ts` and delivers the answer to the actor as the matching
 * reply message, with the request's `requestId`, from the ID server's node name:
 *
 * | message            | HTTP call                                      | reply          |
 * |--------------------|------------------------------------------------|----------------|
 * | `identity_publish` | `PUT /<name>.json`, the binary document        | `..._reply`    |
 * | `identity_fetch`   | `GET /<name>.json`                             | `..._reply`    |
 * | `offer_announce`   | `POST /offers`, the offer as JSON              | `..._reply`    |
 * | `offer_query`      | `GET /offers?count=&minFreeBytes=&exclude=a,b` | `..._reply`    |
 * | `family_publish`   | `PUT /<owner>/family`, the record as JSON      | `..._reply`    |
 * | `family_fetch`     | `GET /<owner>/family`                          | `..._reply`    |
 * | `lease_claim`      | `PUT /<owner>/lease`, the lease as JSON        | `..._reply`    |
 *
 * Outcomes come from the server's JSON (`outcome`, or `error` on a refusal); an error that is
 * not an outcome of the message is mapped from the HTTP status (503 busy/starting, 507 full, 413
 * oversized, 429 rate_limited; see `PUBLISH_BY_STATUS`, `OFFER_BY_STATUS`, `FAMILY_BY_STATUS`).
 * A refused identity carries no revision over HTTP, so refused identity publishes are answered
 * with revision 0; a refused family record carries the server's revision, and is answered with
 * it. A document that
 * does not decode has no name to put in the URL: it is answered `malformed` (or the decoder's
 * reason) at once, as the ID server would; likewise a family record whose owner is not a node
 * name is answered `unknown_owner`, and a fetch of such an owner `not_found`. A query for no
 * offers is answered empty at once.
 *
 * Silence: an unreachable server, a timeout (`timeoutMs`, default
 * {@link ID_GATEWAY_TIMEOUT_MS}), or an answer that makes no sense (not JSON, an unknown status,
 * a document for another name) gives the actor no reply at all; its own timers handle silence,
 * as they do for a lost packet. Each case is counted. At most `requestsMax` (default
 * {@link ID_GATEWAY_REQUESTS_MAX}) requests are in flight; messages beyond are dropped and
 * counted. Answer bodies are read up to a size limit. `close()` aborts what is in flight.
 *
 * @module
 */

import type { NodeId } from "../core/actor.ts";
import { decodeIdentity, identityFromJson } from "../core/identity.ts";
import { isNodeId } from "../core/ids.ts";
import {
  ID_GATEWAY_REQUESTS_MAX,
  ID_GATEWAY_RESPONSE_BYTES_MAX,
  IDENTITY_JSON_BYTES_MAX,
  OFFER_QUERY_EXCLUDE_MAX,
  OFFER_QUERY_RESULTS_MAX,
} from "../core/limits.ts";
import {
  FAMILY_PUBLISH_OUTCOMES,
  type FamilyPublishOutcome,
  LEASE_OUTCOMES,
  OFFER_OUTCOMES,
  type OfferOutcome,
  PUBLISH_OUTCOMES,
  type PublishOutcome,
  type SignedOffer,
} from "../core/protocol/identity.ts";
import type { Message, MessageOf } from "../core/protocol/mod.ts";
import { familyPath, leasePath, readCapped } from "./identity_client.ts";
import {
  FAMILY_JSON_BYTES_MAX,
  familyFromJson,
  familyToJson,
  leaseFromJson,
  leaseToJson,
  offerFromJson,
  offerToJson,
} from "./idserver_http.ts";

/** Default time limit of one HTTP request to an ID server. */
const ID_GATEWAY_TIMEOUT_MS = 15_000;

/** The six messages an ID server answers. */
export type IdServerRequestMessage = MessageOf<
  | "identity_publish"
  | "identity_fetch"
  | "offer_announce"
  | "offer_query"
  | "family_publish"
  | "family_fetch"
  | "lease_claim"
>;

/** Whether `message` is one of the requests an ID server answers. */
export function isIdServerRequest(message: Message): message is IdServerRequestMessage {
  const t = message.type;
  return t === "identity_publish" || t === "identity_fetch" || t === "offer_announce" ||
    t === "offer_query" || t === "family_publish" || t === "family_fetch" || t === "lease_claim";
}

/**
 * The HTTP base URL of the ID server named `host:port` (an IPv6 host is bracketed), or `null`
 * when the name is not such an address.
 */
export function idServerUrl(server: NodeId): string | null {
  const m = /^(.+):(\d{1,5})$/.exec(server);
  if (m === null) return null;
  const [, host, port] = m;
  if (Number(port) < 1 || Number(port) > 65535) return null;
  if (/^[A-Za-z0-9.-]+$/.test(host)) return `http://${host}:${Number(port)}`;
  if (/^[0-9A-Fa-f:.]+$/.test(host) && host.includes(":")) {
    return `http://[${host}]:${Number(port)}`;
  }
  return null;
}

/**
 * The node name (`host:port`) of the ID server at source URL `url` (`http://host[:port]`, no
 * path; port 80 by default), or `null` when the URL has a path or another scheme.
 */
export function idServerNodeId(url: string): NodeId | null {
  const m = /^http:\/\/([A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(url);
  if (m === null) return null;
  const name = `${m[1]}:${Number(m[2] ?? "80")}`;
  return idServerUrl(name) === null ? null : name;
}

const PUBLISH_BY_STATUS: Record<number, PublishOutcome> = {
  413: "oversized",
  429: "rate_limited",
  503: "busy",
  507: "full",
};

const FAMILY_BY_STATUS: Record<number, FamilyPublishOutcome> = {
  500: "io_error",
  503: "starting",
  507: "full",
};

const OFFER_BY_STATUS: Record<number, OfferOutcome> = {
  400: "invalid",
  503: "starting",
  507: "full",
};

/** What an {@link IdGateway} has done. */
export interface IdGatewayCounters {
  /** HTTP requests made. */
  requests: number;
  /** Replies delivered to the actor (local ones included). */
  answered: number;
  /** Replies given without asking the server (undecodable document, empty query, ...). */
  answeredLocally: number;
  /** Requests that timed out: no reply. */
  timeouts: number;
  /** Requests that could not reach the server: no reply. */
  unreachable: number;
  /** Answers that made no sense (bad status, body or JSON): no reply. */
  badAnswers: number;
  /** Offers in a query answer that did not parse (left out of the reply). */
  badOffers: number;
  /** Messages dropped because `requestsMax` requests were in flight. */
  droppedBusy: number;
  /** Messages to a name that is not a `host:port` address. */
  droppedBadAddress: number;
  /** Messages after `close()`. */
  droppedClosed: number;
}

/** How an {@link IdGateway} is wired. */
export interface IdGatewayOptions {
  /** Hands a reply to the actor, as if `from` had sent it. */
  deliver(from: NodeId, message: Message): void;
  /** Time limit of one request (default {@link ID_GATEWAY_TIMEOUT_MS}). */
  timeoutMs?: number;
  /** Requests in flight at most (default {@link ID_GATEWAY_REQUESTS_MAX}). */
  requestsMax?: number;
  /** The fetch to use (default the global one). */
  fetch?: typeof fetch;
  /** Maps an ID server's node name to its base URL (default {@link idServerUrl}). */
  urlOf?: (server: NodeId) => string | null;
}

/** Why a request got no reply. */
class Silence extends Error {
  constructor(readonly why: "badAnswers" | "timeouts" | "unreachable" | "closed", detail = "") {
    super(`${why} ${detail}`);
  }
}

/** An HTTP answer: status and body (capped), parsed as JSON when it is JSON. */
interface Answer {
  status: number;
  json: Record<string, unknown> | null;
}

/** Translates ID-server messages to HTTP and back; see the module comment. */
export class IdGateway {
  /** What the gateway has done since it was made. */
  readonly counters: IdGatewayCounters = {
    requests: 0,
    answered: 0,
    answeredLocally: 0,
    timeouts: 0,
    unreachable: 0,
    badAnswers: 0,
    badOffers: 0,
    droppedBusy: 0,
    droppedBadAddress: 0,
    droppedClosed: 0,
  };
  readonly #o: IdGatewayOptions;
  readonly #inFlight = new Map<Promise<void>, AbortController>();
  #closed = false;

  /** A gateway that hands replies to `options.deliver`. */
  constructor(options: IdGatewayOptions) {
    this.#o = options;
  }

  /** Requests in flight. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /**
   * Takes `message` to the ID server `to` if it is one of the six ID-server requests, and
   * returns `true` (even when it is dropped, see the counters); returns `false` for any other
   * message, which belongs to the transport.
   */
  send(to: NodeId, message: Message): boolean {
    if (!isIdServerRequest(message)) return false;
    if (this.#closed) {
      this.counters.droppedClosed++;
      return true;
    }
    const url = (this.#o.urlOf ?? idServerUrl)(to);
    if (url === null) {
      this.counters.droppedBadAddress++;
      return true;
    }
    const local = localReply(message);
    if (local !== null) {
      this.counters.answeredLocally++;
      queueMicrotask(() => this.#deliver(to, local));
      return true;
    }
    if (this.#inFlight.size >= (this.#o.requestsMax ?? ID_GATEWAY_REQUESTS_MAX)) {
      this.counters.droppedBusy++;
      return true;
    }
    const controller = new AbortController();
    const done = this.#exchange(to, url, message, controller).finally(() => {
      this.#inFlight.delete(done);
    });
    this.#inFlight.set(done, controller);
    return true;
  }

  #deliver(from: NodeId, reply: Message): void {
    if (this.#closed) return;
    this.counters.answered++;
    try {
      this.#o.deliver(from, reply);
    } catch (e) {
      reportError(e); // the receiving host's bug, not the network's
    }
  }

  async #exchange(
    server: NodeId,
    url: string,
    message: IdServerRequestMessage,
    controller: AbortController,
  ): Promise<void> {
    const timeoutMs = this.#o.timeoutMs ?? ID_GATEWAY_TIMEOUT_MS;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    const call = (path: string, init: RequestInit, capBytes: number) =>
      this.#call(`${url}${path}`, { ...init, signal: controller.signal }, capBytes, () => timedOut);
    try {
      const reply = await translate(message, call, this.counters);
      this.#deliver(server, reply);
    } catch (e) {
      if (!(e instanceof Silence)) throw e;
      if (e.why !== "closed") this.counters[e.why]++;
    } finally {
      clearTimeout(timer);
    }
  }

  /** One HTTP call; its body read up to `capBytes` and parsed as JSON when possible. */
  async #call(
    url: string,
    init: RequestInit,
    capBytes: number,
    timedOut: () => boolean,
  ): Promise<Answer> {
    this.counters.requests++;
    let res: Response;
    try {
      res = await (this.#o.fetch ?? fetch)(url, init);
    } catch (e) {
      throw this.#silence(e, timedOut(), "unreachable");
    }
    let body: Uint8Array | null;
    try {
      body = await readCapped(res, capBytes);
    } catch (e) {
      throw this.#silence(e, timedOut(), "badAnswers");
    }
    if (body === null) throw new Silence("badAnswers", "answer too large");
    let json: Record<string, unknown> | null = null;
    try {
      const parsed = JSON.parse(new TextDecoder().decode(body));
      if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) json = parsed;
    } catch {
      // not JSON: judged by the status alone
    }
    return { status: res.status, json };
  }

  #silence(e: unknown, timedOut: boolean, otherwise: "unreachable" | "badAnswers"): Silence {
    if (timedOut) return new Silence("timeouts");
    if (this.#closed) return new Silence("closed");
    return new Silence(otherwise, String(e));
  }

  /** Resolves when no request is in flight. */
  async settled(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight.keys()]);
  }

  /** Aborts every request in flight (their replies are never delivered) and drops later ones. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const controller of this.#inFlight.values()) controller.abort();
    await this.settled();
  }
}

type Call = (path: string, init: RequestInit, capBytes: number) => Promise<Answer>;

/** The reply the gateway gives without asking the server, or `null` when it must ask. */
function localReply(message: IdServerRequestMessage): Message | null {
  if (message.type === "identity_publish") {
    const decoded = decodeIdentity(message.document);
    if (decoded.ok) return null;
    const { requestId } = message;
    return {
      type: "identity_publish_reply",
      requestId,
      name: "",
      outcome: decoded.reason,
      revision: 0,
    };
  }
  if (message.type === "offer_query" && message.count === 0) {
    return { type: "offer_query_reply", requestId: message.requestId, offers: [] };
  }
  if (message.type === "family_publish" && !isNodeId(message.record.owner)) {
    const { requestId, record: { owner } } = message;
    return {
      type: "family_publish_reply",
      requestId,
      owner,
      outcome: "unknown_owner",
      revision: 0,
    };
  }
  if (message.type === "lease_claim" && !isNodeId(message.lease.owner)) {
    const { requestId, lease: { owner } } = message;
    const none = { current: undefined, replaced: undefined };
    return { type: "lease_claim_reply", requestId, owner, outcome: "unknown_owner", ...none };
  }
  if (message.type === "family_fetch" && !isNodeId(message.owner)) {
    const { requestId, owner } = message;
    return {
      type: "family_fetch_reply",
      requestId,
      owner,
      outcome: "not_found",
      record: undefined,
    };
  }
  return null;
}

/** Makes the HTTP call for `message` and returns its reply; throws {@link Silence}. */
function translate(
  message: IdServerRequestMessage,
  call: Call,
  counters: IdGatewayCounters,
): Promise<Message> {
  switch (message.type) {
    case "identity_publish":
      return publish(message, call);
    case "identity_fetch":
      return fetchDocument(message, call);
    case "offer_announce":
      return announce(message, call);
    case "offer_query":
      return query(message, call, counters);
    case "family_publish":
      return publishFamily(message, call);
    case "family_fetch":
      return fetchFamily(message, call);
    case "lease_claim":
      return claimLease(message, call);
  }
}

function oneOf<T extends string>(values: readonly T[], v: unknown): T | null {
  return typeof v === "string" && (values as readonly string[]).includes(v) ? v as T : null;
}

async function publish(m: MessageOf<"identity_publish">, call: Call): Promise<Message> {
  const decoded = decodeIdentity(m.document);
  if (!decoded.ok) throw new Error("localReply answers undecodable documents"); // our bug
  const name = decoded.doc.name;
  const init: RequestInit = {
    method: "PUT",
    headers: { "content-type": "application/octet-stream" },
    body: decoded.bytes,
  };
  const a = await call(`/${encodeURIComponent(name)}.json`, init, ID_GATEWAY_RESPONSE_BYTES_MAX);
  const reply = (outcome: PublishOutcome, revision = 0): Message => ({
    type: "identity_publish_reply",
    requestId: m.requestId,
    name,
    outcome,
    revision,
  });
  if (a.status === 200) {
    const outcome = oneOf(["stored", "unchanged"] as const, a.json?.outcome);
    const revision = a.json?.revision;
    if (outcome === null || !Number.isSafeInteger(revision) || a.json?.name !== name) {
      throw new Silence("badAnswers", "a publish answer without outcome, name or revision");
    }
    return reply(outcome, revision as number);
  }
  const outcome = oneOf(PUBLISH_OUTCOMES, a.json?.error) ?? PUBLISH_BY_STATUS[a.status];
  if (outcome === undefined || outcome === "stored" || outcome === "unchanged") {
    throw new Silence("badAnswers", `publish answered ${a.status}`);
  }
  return reply(outcome);
}

async function fetchDocument(m: MessageOf<"identity_fetch">, call: Call): Promise<Message> {
  const { requestId, name } = m;
  const base = { type: "identity_fetch_reply", requestId, name } as const;
  if (!isNodeId(name)) return { ...base, outcome: "not_found", document: undefined };
  const a = await call(
    `/${encodeURIComponent(name)}.json`,
    { method: "GET" },
    IDENTITY_JSON_BYTES_MAX,
  );
  if (a.status === 404) return { ...base, outcome: "not_found", document: undefined };
  if (a.status === 503) return { ...base, outcome: "starting", document: undefined };
  if (a.status !== 200) throw new Silence("badAnswers", `fetch answered ${a.status}`);
  const parsed = identityFromJson(a.json);
  if (!parsed.ok || parsed.doc.name !== name) {
    throw new Silence("badAnswers", `fetch of ${name} answered with no document of that name`);
  }
  return { ...base, outcome: "found", document: parsed.bytes };
}

async function announce(m: MessageOf<"offer_announce">, call: Call): Promise<Message> {
  const init: RequestInit = {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(offerToJson(m.offer)),
  };
  const a = await call("/offers", init, ID_GATEWAY_RESPONSE_BYTES_MAX);
  const reply = (outcome: OfferOutcome): Message => ({
    type: "offer_announce_reply",
    requestId: m.requestId,
    supplier: m.offer.supplier,
    outcome,
  });
  if (a.status === 200) {
    const outcome = oneOf(["stored", "withdrawn"] as const, a.json?.outcome);
    if (outcome === null) throw new Silence("badAnswers", "an announce answer without outcome");
    return reply(outcome);
  }
  const outcome = oneOf(OFFER_OUTCOMES, a.json?.error) ?? OFFER_BY_STATUS[a.status];
  if (outcome === undefined || outcome === "stored" || outcome === "withdrawn") {
    throw new Silence("badAnswers", `announce answered ${a.status}`);
  }
  return reply(outcome);
}

async function query(
  m: MessageOf<"offer_query">,
  call: Call,
  counters: IdGatewayCounters,
): Promise<Message> {
  const count = Math.min(m.count, OFFER_QUERY_RESULTS_MAX);
  const exclude = m.exclude.filter(isNodeId).slice(0, OFFER_QUERY_EXCLUDE_MAX);
  const params = new URLSearchParams({
    count: String(count),
    minFreeBytes: String(m.minFreeBytes),
  });
  if (exclude.length > 0) params.set("exclude", exclude.join(","));
  const a = await call(`/offers?${params}`, { method: "GET" }, ID_GATEWAY_RESPONSE_BYTES_MAX);
  const reply = (offers: SignedOffer[]): Message => ({
    type: "offer_query_reply",
    requestId: m.requestId,
    offers,
  });
  if (a.status === 400) return reply([]); // the server refused the question: no offers
  const list = a.json?.offers;
  if (a.status !== 200 || !Array.isArray(list)) {
    throw new Silence("badAnswers", `query answered ${a.status}`);
  }
  const offers: SignedOffer[] = [];
  for (const item of list.slice(0, count)) {
    const offer = offerFromJson(item);
    if (offer === null) counters.badOffers++;
    else offers.push(offer);
  }
  return reply(offers);
}

async function publishFamily(m: MessageOf<"family_publish">, call: Call): Promise<Message> {
  const owner = m.record.owner;
  const init: RequestInit = {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(familyToJson(m.record)),
  };
  const a = await call(familyPath(owner), init, ID_GATEWAY_RESPONSE_BYTES_MAX);
  const raw = a.json?.revision;
  const revision = Number.isSafeInteger(raw) && (raw as number) >= 0 ? raw as number : null;
  const reply = (outcome: FamilyPublishOutcome): Message => ({
    type: "family_publish_reply",
    requestId: m.requestId,
    owner,
    outcome,
    revision: revision ?? 0,
  });
  if (a.status === 200) {
    const outcome = oneOf(["stored", "unchanged"] as const, a.json?.outcome);
    if (outcome === null || revision === null || a.json?.owner !== owner) {
      throw new Silence("badAnswers", "a family publish answer without outcome, owner or revision");
    }
    return reply(outcome);
  }
  const outcome = oneOf(FAMILY_PUBLISH_OUTCOMES, a.json?.error) ?? FAMILY_BY_STATUS[a.status];
  if (outcome === undefined || outcome === "stored" || outcome === "unchanged") {
    throw new Silence("badAnswers", `family publish answered ${a.status}`);
  }
  return reply(outcome);
}

async function fetchFamily(m: MessageOf<"family_fetch">, call: Call): Promise<Message> {
  const { requestId, owner } = m;
  const base = { type: "family_fetch_reply", requestId, owner } as const;
  const a = await call(familyPath(owner), { method: "GET" }, FAMILY_JSON_BYTES_MAX);
  if (a.status === 404) return { ...base, outcome: "not_found", record: undefined };
  if (a.status === 503) return { ...base, outcome: "starting", record: undefined };
  if (a.status !== 200) throw new Silence("badAnswers", `family fetch answered ${a.status}`);
  const record = familyFromJson(a.json);
  if (record === null || record.owner !== owner) {
    throw new Silence("badAnswers", `family fetch of ${owner} answered with no record of it`);
  }
  return { ...base, outcome: "found", record };
}

async function claimLease(m: MessageOf<"lease_claim">, call: Call): Promise<Message> {
  const owner = m.lease.owner;
  const init: RequestInit = {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(leaseToJson(m.lease)),
  };
  const a = await call(leasePath(owner), init, ID_GATEWAY_RESPONSE_BYTES_MAX);
  const outcome = oneOf(LEASE_OUTCOMES, a.json?.outcome) ??
    (a.status === 503 ? "starting" : null);
  const answeredOwner = a.json?.owner;
  if (outcome === null || (answeredOwner !== undefined && answeredOwner !== owner)) {
    throw new Silence("badAnswers", `lease claim answered ${a.status}`);
  }
  if ((outcome === "granted") !== (a.status === 200)) {
    throw new Silence("badAnswers", `lease claim answered ${outcome} with ${a.status}`);
  }
  const lease = (v: unknown) => {
    if (v === undefined) return undefined;
    const l = leaseFromJson(v);
    if (l === null || l.owner !== owner) {
      throw new Silence("badAnswers", "a lease of another owner");
    }
    return l;
  };
  const current = lease(a.json?.current);
  const replaced = lease(a.json?.replaced);
  return { type: "lease_claim_reply", requestId: m.requestId, owner, outcome, current, replaced };
}
