/**
 * The ID server's HTTP exchange as pure translators, for every host: no IO, no HTTP library.
 *
 * Theory of operation. A request is a plain value ({@link WireRequest}: method, path, query,
 * content type, body bytes) and so is its answer ({@link WireResponse}: status, headers, body
 * bytes; JSON bodies as UTF-8). Four directions, two per side:
 *
 * - Client (the real node's `net/id_gateway.ts`, the simulator's facade): {@link requestOf}
 *   turns an actor's ID-server message into the request to make, or into the reply to give at
 *   once when asking would be pointless (a document that does not decode, an owner that is not
 *   a node name, a query for no offers); {@link replyOf} turns the server's answer into the
 *   actor's reply message, or into silence (`null`) when the answer makes no sense.
 * - Server (the real ID server's `net/idserver_http.ts`, the simulator's facade):
 *   {@link inputOf} routes a request and turns it into the question for the ID-server actor
 *   ({@link ServerAsk}), or answers it at once (unknown path, bad body, too large);
 *   {@link responseOf} turns the actor's answer (or none: it timed out, too many waited) into
 *   the response.
 *
 * | message            | request                                        | reply          |
 * |--------------------|------------------------------------------------|----------------|
 * | `identity_publish` | `PUT /<name>.json`, the binary document        | `..._reply`    |
 * | `identity_fetch`   | `GET /<name>.json`                             | `..._reply`    |
 * | `offer_announce`   | `POST /offers`, the offer as JSON              | `..._reply`    |
 * | `offer_query`      | `GET /offers?count=&minFreeBytes=&exclude=a,b` | `..._reply`    |
 * | `family_publish`   | `PUT /<owner>/family`, the record as JSON      | `..._reply`    |
 * | `family_fetch`     | `GET /<owner>/family`                          | `..._reply`    |
 * | `lease_claim`      | `PUT /<owner>/lease`, the lease as JSON        | `..._reply`    |
 *
 * The server also answers `GET /` (a page of hosted names), `GET /<name>/lease`, and `PUT
 * /<name>.json` with a JSON document. Every refusal is a 4xx or 5xx with a JSON body `{ error,
 * message }` (see `net/idserver_http.ts` for the table of routes and statuses). A refused
 * identity carries no revision over HTTP, so the client answers refused identity publishes with
 * revision 0; a refused family record carries the server's revision, and is answered with it.
 *
 * Limits: request bodies at most {@link requestBodyBytesMax} of their route (413 beyond), answer
 * bodies at most the `responseBytesMax` that {@link requestOf} names (silence beyond).
 *
 * @module
 */

import type { NodeId } from "../core/actor.ts";
import { decodeIdentity, identityFromJson, identityToJson } from "../core/identity.ts";
import { fromHex, isNodeId, toHex } from "../core/ids.ts";
import {
  FAMILY_SEALED_BYTES_MAX,
  ID_GATEWAY_RESPONSE_BYTES_MAX,
  IDENTITY_JSON_BYTES_MAX,
  IDSERVER_BLOCK_REGISTRATIONS_MAX,
  IDSERVER_LIST_PAGE_MAX,
  IDSERVER_NAMES_PER_KEY_MAX,
  IDSERVER_REGISTRATION_WINDOW_MS,
  OFFER_QUERY_EXCLUDE_MAX,
  OFFER_QUERY_RESULTS_MAX,
  SIGNATURE_BYTES,
  WRITER_LEASE_INSTANCE_BYTES,
  WRITER_LEASE_MACHINE_BYTES_MAX,
} from "../core/limits.ts";
import {
  FAMILY_PUBLISH_OUTCOMES,
  type FamilyPublishOutcome,
  LEASE_OUTCOMES,
  type LeaseOutcome,
  OFFER_OUTCOMES,
  type OfferOutcome,
  PUBLISH_OUTCOMES,
  type PublishOutcome,
  type SignedFamilyRecord,
  type SignedLease,
  type SignedOffer,
} from "../core/protocol/identity.ts";
import type { Message, MessageOf } from "../core/protocol/mod.ts";
import type { IdServerAnswer, IdServerRequest } from "../core/protocol/idserver.ts";

// -----------------------------------------------------------------------------------------------
// Values and limits.

/** An HTTP request as a value; `path` is percent-encoded, `query` decoded. */
export interface WireRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** The `content-type` header (`""` when none). */
  contentType: string;
  /** The body; `null` for none. */
  body: Uint8Array<ArrayBuffer> | null;
}

/** An HTTP response as a value: every body here is JSON, as UTF-8. */
export interface WireResponse {
  status: number;
  /** Headers besides `content-type` (`Retry-After`, `Cache-Control`). */
  headers: Record<string, string>;
  body: Uint8Array<ArrayBuffer>;
}

/** Largest offer announcement body. */
const OFFER_JSON_BYTES_MAX = 4096;
/**
 * Largest family record body: the sealed bytes and the signature in hex, and room for the rest.
 */
export const FAMILY_JSON_BYTES_MAX = 2 * FAMILY_SEALED_BYTES_MAX + 4096;
/** Largest writer lease body (a lease is about 400 bytes of JSON). */
const LEASE_JSON_BYTES_MAX = 2048;
/** Names per `GET /` page when the client does not say. */
const LIST_PAGE_DEFAULT = 100;
/** Offers per `GET /offers` when the client does not say. */
const OFFER_QUERY_DEFAULT = 8;

/** The seven messages an ID server answers. */
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

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * JSON bodies are cut from slabs of this size, one after another, and a slab is never written
 * again once left: a body is a view that stays valid, and most bodies (a few hundred bytes) cost
 * no buffer of their own. A buffer each cost 1% of a simulated run (the simulator makes two
 * bodies per ID-server request). A body that might take over a quarter of a slab gets its own.
 */
const BODY_SLAB_BYTES = 64 * 1024;
let slab = new Uint8Array(BODY_SLAB_BYTES);
let slabUsed = 0;

/** `value` as a JSON body (a view into a slab: see {@link BODY_SLAB_BYTES}). */
function jsonBytes(value: unknown): Uint8Array<ArrayBuffer> {
  const text = JSON.stringify(value);
  const bytesMax = 3 * text.length; // UTF-8 takes at most 3 bytes per UTF-16 code unit
  if (bytesMax > BODY_SLAB_BYTES / 4) return encoder.encode(text);
  if (bytesMax > BODY_SLAB_BYTES - slabUsed) {
    slab = new Uint8Array(BODY_SLAB_BYTES);
    slabUsed = 0;
  }
  const { written } = encoder.encodeInto(text, slab.subarray(slabUsed));
  const body = slab.subarray(slabUsed, slabUsed + written);
  slabUsed += written;
  return body;
}

/** A JSON object body, or `null` when the body is not one. */
function jsonObject(body: Uint8Array): Record<string, unknown> | null {
  try {
    const parsed = JSON.parse(decoder.decode(body));
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? parsed : null;
  } catch {
    return null;
  }
}

/** A JSON body of any kind, or `undefined` when it is not JSON. */
function jsonAny(body: Uint8Array | null): unknown {
  try {
    return JSON.parse(decoder.decode(body ?? new Uint8Array(0)));
  } catch {
    return undefined;
  }
}

/** The UTF-8 length of `s`; without encoding it when it is ASCII, as every lease's text is. */
function utf8Length(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return encoder.encode(s).length;
  return s.length;
}

function oneOf<T extends string>(values: readonly T[], v: unknown): T | null {
  return typeof v === "string" && (values as readonly string[]).includes(v) ? v as T : null;
}

const uint = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;

// -----------------------------------------------------------------------------------------------
// JSON codecs.

/** A signed writer lease as JSON: the signature in lower-case hex. */
export interface LeaseJson {
  owner: string;
  epoch: number;
  instance: string;
  machine: string;
  issuedMs: number;
  expiresMs: number;
  takeOver: boolean;
  signature: string;
}

/** Renders a signed writer lease as JSON-ready data. */
export function leaseToJson(l: SignedLease): LeaseJson {
  const { owner, epoch, instance, machine, issuedMs, expiresMs, takeOver } = l;
  return {
    owner,
    epoch,
    instance,
    machine,
    issuedMs,
    expiresMs,
    takeOver,
    signature: toHex(l.signature),
  };
}

/** Parses {@link leaseToJson}'s rendering; `null` when a field is missing or invalid. */
export function leaseFromJson(v: unknown): SignedLease | null {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  const text = (x: unknown, max: number): x is string =>
    typeof x === "string" && utf8Length(x) <= max;
  if (typeof o.owner !== "string" || !isNodeId(o.owner)) return null;
  if (!uint(o.epoch) || !uint(o.issuedMs) || !uint(o.expiresMs)) return null;
  if (!text(o.instance, WRITER_LEASE_INSTANCE_BYTES)) return null;
  if (!text(o.machine, WRITER_LEASE_MACHINE_BYTES_MAX)) return null;
  if (typeof o.takeOver !== "boolean" || typeof o.signature !== "string") return null;
  if (!/^[0-9a-f]*$/.test(o.signature) || o.signature.length !== 2 * SIGNATURE_BYTES) return null;
  const { owner, epoch, instance, machine, issuedMs, expiresMs, takeOver } = o;
  const signature = fromHex(o.signature);
  return { owner, epoch, instance, machine, issuedMs, expiresMs, takeOver, signature };
}

/** A signed supplier offer as JSON: the signature in lower-case hex. */
export interface OfferJson {
  supplier: string;
  freeBytes: number;
  issuedMs: number;
  expiresMs: number;
  signature: string;
}

/** Renders a signed offer as JSON-ready data. */
export function offerToJson(o: SignedOffer): OfferJson {
  const { supplier, freeBytes, issuedMs, expiresMs } = o;
  return { supplier, freeBytes, issuedMs, expiresMs, signature: toHex(o.signature) };
}

/** Parses {@link offerToJson}'s rendering; `null` when a field is missing or of the wrong type. */
export function offerFromJson(v: unknown): SignedOffer | null {
  if (typeof v !== "object" || v === null) return null;
  const o = v as Record<string, unknown>;
  if (typeof o.supplier !== "string" || !uint(o.freeBytes) || !uint(o.issuedMs)) return null;
  if (!uint(o.expiresMs) || typeof o.signature !== "string") return null;
  if (!/^[0-9a-f]*$/.test(o.signature) || o.signature.length !== 2 * SIGNATURE_BYTES) return null;
  const { supplier, freeBytes, issuedMs, expiresMs } = o;
  return { supplier, freeBytes, issuedMs, expiresMs, signature: fromHex(o.signature) };
}

/**
 * A signed family record as JSON: `sealed` and `signature` in lower-case hex (as an offer's
 * signature), the numbers as JSON numbers.
 *
 * @example
 * ```json
 * { "owner": "alice", "revision": 3, "issuedMs": 1764000000000,
 *   "sealed": "9f0c…", "signature": "<128 hex digits>" }
 * ```
 */
export interface FamilyRecordJson {
  owner: string;
  revision: number;
  issuedMs: number;
  sealed: string;
  signature: string;
}

/** Renders a signed family record as JSON-ready data. */
export function familyToJson(r: SignedFamilyRecord): FamilyRecordJson {
  const { owner, revision, issuedMs } = r;
  return { owner, revision, issuedMs, sealed: toHex(r.sealed), signature: toHex(r.signature) };
}

/**
 * Parses {@link familyToJson}'s rendering; `null` when a field is missing, of the wrong type, not
 * lower-case hex, or over its size (`FAMILY_SEALED_BYTES_MAX`, a 64-byte signature), or when
 * `owner` is not a node name.
 */
export function familyFromJson(v: unknown): SignedFamilyRecord | null {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  const hex = (x: unknown, maxChars: number): x is string =>
    typeof x === "string" && x.length % 2 === 0 && x.length <= maxChars && /^[0-9a-f]*$/.test(x);
  if (typeof o.owner !== "string" || !isNodeId(o.owner)) return null;
  if (!uint(o.revision) || !uint(o.issuedMs)) return null;
  if (!hex(o.sealed, 2 * FAMILY_SEALED_BYTES_MAX)) return null;
  if (!hex(o.signature, 2 * SIGNATURE_BYTES) || o.signature.length !== 2 * SIGNATURE_BYTES) {
    return null;
  }
  const { owner, revision, issuedMs } = o;
  return { owner, revision, issuedMs, sealed: fromHex(o.sealed), signature: fromHex(o.signature) };
}

/** The path of `owner`'s family record on an ID server: `/<owner>/family`. */
export function familyPath(owner: NodeId): string {
  return `/${encodeURIComponent(owner)}/family`;
}

/** The path of `owner`'s writer lease on an ID server (`actors/idserver/leases.ts`). */
function leasePath(owner: NodeId): string {
  return `/${encodeURIComponent(owner)}/lease`;
}

/** The path of `name`'s identity document on an ID server: `/<name>.json`. */
function documentPath(name: NodeId): string {
  return `/${encodeURIComponent(name)}.json`;
}

// -----------------------------------------------------------------------------------------------
// Client side: messages to requests, answers to replies.

/** What {@link requestOf} says to do with a message. */
export type ClientAsk =
  | { kind: "local"; reply: Message }
  | { kind: "ask"; request: WireRequest; responseBytesMax: number };

const JSON_TYPE = "application/json";

function ask(
  message: IdServerRequestMessage,
  method: string,
  path: string,
  body: { json: unknown } | { bytes: Uint8Array<ArrayBuffer> } | null,
  query: Record<string, string> = {},
): ClientAsk {
  const contentType = body === null ? "" : "json" in body ? JSON_TYPE : "application/octet-stream";
  const bytes = body === null ? null : "json" in body ? jsonBytes(body.json) : body.bytes;
  const request = { method, path, query, contentType, body: bytes };
  return { kind: "ask", request, responseBytesMax: responseBytesMaxOf(message) };
}

/**
 * The request to make for `message`, or the reply to give without asking (a document that does
 * not decode, an owner or name that is not a node name, a query for no offers).
 */
export function requestOf(message: IdServerRequestMessage): ClientAsk {
  const { requestId } = message;
  switch (message.type) {
    case "identity_publish": {
      const decoded = decodeIdentity(message.document);
      if (!decoded.ok) {
        const outcome = decoded.reason;
        return local({ type: "identity_publish_reply", requestId, name: "", outcome, revision: 0 });
      }
      return ask(message, "PUT", documentPath(decoded.doc.name), { bytes: decoded.bytes });
    }
    case "identity_fetch": {
      const { name } = message;
      if (!isNodeId(name)) {
        const none = { outcome: "not_found", document: undefined } as const;
        return local({ type: "identity_fetch_reply", requestId, name, ...none });
      }
      return ask(message, "GET", documentPath(name), null);
    }
    case "offer_announce":
      return ask(message, "POST", "/offers", { json: offerToJson(message.offer) });
    case "offer_query":
      if (message.count === 0) return local({ type: "offer_query_reply", requestId, offers: [] });
      return ask(message, "GET", "/offers", null, queryOf(message));
    case "family_publish":
    case "family_fetch":
    case "lease_claim":
      return requestOfOwner(message);
  }
}

function local(reply: Message): ClientAsk {
  return { kind: "local", reply };
}

function queryOf(m: MessageOf<"offer_query">): Record<string, string> {
  const count = Math.min(m.count, OFFER_QUERY_RESULTS_MAX);
  const exclude = m.exclude.filter(isNodeId).slice(0, OFFER_QUERY_EXCLUDE_MAX);
  const query: Record<string, string> = {
    count: String(count),
    minFreeBytes: String(m.minFreeBytes),
  };
  if (exclude.length > 0) query.exclude = exclude.join(",");
  return query;
}

function requestOfOwner(
  message: MessageOf<"family_publish" | "family_fetch" | "lease_claim">,
): ClientAsk {
  const { requestId } = message;
  switch (message.type) {
    case "family_publish": {
      const { owner } = message.record;
      if (!isNodeId(owner)) {
        const refused = { outcome: "unknown_owner", revision: 0 } as const;
        return local({ type: "family_publish_reply", requestId, owner, ...refused });
      }
      return ask(message, "PUT", familyPath(owner), { json: familyToJson(message.record) });
    }
    case "family_fetch": {
      const { owner } = message;
      if (!isNodeId(owner)) {
        const none = { outcome: "not_found", record: undefined } as const;
        return local({ type: "family_fetch_reply", requestId, owner, ...none });
      }
      return ask(message, "GET", familyPath(owner), null);
    }
    case "lease_claim": {
      const { owner } = message.lease;
      if (!isNodeId(owner)) {
        const none = { outcome: "unknown_owner", current: undefined, replaced: undefined } as const;
        return local({ type: "lease_claim_reply", requestId, owner, ...none });
      }
      return ask(message, "PUT", leasePath(owner), { json: leaseToJson(message.lease) });
    }
  }
}

/**
 * The actor's reply to `message` from the server's `response`, or `reply: null` (silence) when
 * the answer makes no sense (`why` says how); `badOffers` counts offers of a query answer that
 * did not parse (left out of the reply).
 */
export type ClientReply =
  | { reply: Message; badOffers: number }
  | { reply: null; why: string; badOffers: number };

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

/** The server's answer, its body parsed as a JSON object when it is one. */
interface Answer {
  status: number;
  json: Record<string, unknown> | null;
}

const silence = (why: string): ClientReply => ({ reply: null, why, badOffers: 0 });
const replied = (reply: Message): ClientReply => ({ reply, badOffers: 0 });

/**
 * Turns the server's answer to `message` (one {@link requestOf} asked about) into the actor's
 * reply (see {@link ClientReply}).
 * Outcomes come from the answer's JSON (`outcome`, or `error` on a refusal); an error that is
 * not an outcome of the message is mapped from the status (503 busy/starting, 507 full, 413
 * oversized, 429 rate_limited). A body over the request's `responseBytesMax` is silence.
 */
export function replyOf(message: IdServerRequestMessage, response: WireResponse): ClientReply {
  if (response.body.length > responseBytesMaxOf(message)) return silence("answer too large");
  const a: Answer = { status: response.status, json: jsonObject(response.body) };
  switch (message.type) {
    case "identity_publish":
      return publishReply(message, a);
    case "identity_fetch":
      return fetchReply(message, a);
    case "offer_announce":
      return announceReply(message, a);
    case "offer_query":
      return queryReply(message, a);
    case "family_publish":
      return familyPublishReply(message, a);
    case "family_fetch":
      return familyFetchReply(message, a);
    case "lease_claim":
      return leaseReply(message, a);
  }
}

/** The largest answer to `message` that is read (the `responseBytesMax` it is asked with). */
function responseBytesMaxOf(message: IdServerRequestMessage): number {
  if (message.type === "identity_fetch") return IDENTITY_JSON_BYTES_MAX;
  if (message.type === "family_fetch") return FAMILY_JSON_BYTES_MAX;
  return ID_GATEWAY_RESPONSE_BYTES_MAX;
}

function publishReply(m: MessageOf<"identity_publish">, a: Answer): ClientReply {
  const decoded = decodeIdentity(m.document);
  const name = decoded.ok ? decoded.doc.name : "";
  const reply = (outcome: PublishOutcome, revision = 0) =>
    replied({ type: "identity_publish_reply", requestId: m.requestId, name, outcome, revision });
  if (a.status === 200) {
    const outcome = oneOf(["stored", "unchanged"] as const, a.json?.outcome);
    const revision = a.json?.revision;
    if (outcome === null || !Number.isSafeInteger(revision) || a.json?.name !== name) {
      return silence("a publish answer without outcome, name or revision");
    }
    return reply(outcome, revision as number);
  }
  const outcome = oneOf(PUBLISH_OUTCOMES, a.json?.error) ?? PUBLISH_BY_STATUS[a.status];
  if (outcome === undefined || outcome === "stored" || outcome === "unchanged") {
    return silence(`publish answered ${a.status}`);
  }
  return reply(outcome);
}

function fetchReply(m: MessageOf<"identity_fetch">, a: Answer): ClientReply {
  const { requestId, name } = m;
  const base = { type: "identity_fetch_reply", requestId, name } as const;
  if (a.status === 404) return replied({ ...base, outcome: "not_found", document: undefined });
  if (a.status === 503) return replied({ ...base, outcome: "starting", document: undefined });
  if (a.status !== 200) return silence(`fetch answered ${a.status}`);
  const parsed = identityFromJson(a.json);
  if (!parsed.ok || parsed.doc.name !== name) {
    return silence(`fetch of ${name} answered with no document of that name`);
  }
  return replied({ ...base, outcome: "found", document: parsed.bytes });
}

function announceReply(m: MessageOf<"offer_announce">, a: Answer): ClientReply {
  const reply = (outcome: OfferOutcome) =>
    replied({
      type: "offer_announce_reply",
      requestId: m.requestId,
      supplier: m.offer.supplier,
      outcome,
    });
  if (a.status === 200) {
    const outcome = oneOf(["stored", "withdrawn"] as const, a.json?.outcome);
    if (outcome === null) return silence("an announce answer without outcome");
    return reply(outcome);
  }
  const outcome = oneOf(OFFER_OUTCOMES, a.json?.error) ?? OFFER_BY_STATUS[a.status];
  if (outcome === undefined || outcome === "stored" || outcome === "withdrawn") {
    return silence(`announce answered ${a.status}`);
  }
  return reply(outcome);
}

function queryReply(m: MessageOf<"offer_query">, a: Answer): ClientReply {
  const count = Math.min(m.count, OFFER_QUERY_RESULTS_MAX);
  const reply = (offers: SignedOffer[]): Message => ({
    type: "offer_query_reply",
    requestId: m.requestId,
    offers,
  });
  if (a.status === 400) return replied(reply([])); // the server refused the question: no offers
  const list = a.json?.offers;
  if (a.status !== 200 || !Array.isArray(list)) return silence(`query answered ${a.status}`);
  const offers: SignedOffer[] = [];
  let badOffers = 0;
  for (const item of list.slice(0, count)) {
    const offer = offerFromJson(item);
    if (offer === null) badOffers++;
    else offers.push(offer);
  }
  return { reply: reply(offers), badOffers };
}

function familyPublishReply(m: MessageOf<"family_publish">, a: Answer): ClientReply {
  const owner = m.record.owner;
  const raw = a.json?.revision;
  const revision = uint(raw) ? raw : null;
  const reply = (outcome: FamilyPublishOutcome) =>
    replied({
      type: "family_publish_reply",
      requestId: m.requestId,
      owner,
      outcome,
      revision: revision ?? 0,
    });
  if (a.status === 200) {
    const outcome = oneOf(["stored", "unchanged"] as const, a.json?.outcome);
    if (outcome === null || revision === null || a.json?.owner !== owner) {
      return silence("a family publish answer without outcome, owner or revision");
    }
    return reply(outcome);
  }
  const outcome = oneOf(FAMILY_PUBLISH_OUTCOMES, a.json?.error) ?? FAMILY_BY_STATUS[a.status];
  if (outcome === undefined || outcome === "stored" || outcome === "unchanged") {
    return silence(`family publish answered ${a.status}`);
  }
  return reply(outcome);
}

function familyFetchReply(m: MessageOf<"family_fetch">, a: Answer): ClientReply {
  const { requestId, owner } = m;
  const base = { type: "family_fetch_reply", requestId, owner } as const;
  if (a.status === 404) return replied({ ...base, outcome: "not_found", record: undefined });
  if (a.status === 503) return replied({ ...base, outcome: "starting", record: undefined });
  if (a.status !== 200) return silence(`family fetch answered ${a.status}`);
  const record = familyFromJson(a.json);
  if (record === null || record.owner !== owner) {
    return silence(`family fetch of ${owner} answered with no record of it`);
  }
  return replied({ ...base, outcome: "found", record });
}

function leaseReply(m: MessageOf<"lease_claim">, a: Answer): ClientReply {
  const owner = m.lease.owner;
  const outcome = oneOf(LEASE_OUTCOMES, a.json?.outcome) ??
    (a.status === 503 ? "starting" : null);
  const answeredOwner = a.json?.owner;
  if (outcome === null || (answeredOwner !== undefined && answeredOwner !== owner)) {
    return silence(`lease claim answered ${a.status}`);
  }
  if ((outcome === "granted") !== (a.status === 200)) {
    return silence(`lease claim answered ${outcome} with ${a.status}`);
  }
  const lease = (v: unknown): SignedLease | undefined | null => {
    if (v === undefined) return undefined;
    const l = leaseFromJson(v);
    return l === null || l.owner !== owner ? null : l;
  };
  const current = lease(a.json?.current);
  const replaced = lease(a.json?.replaced);
  if (current === null || replaced === null) return silence("a lease of another owner");
  const { requestId } = m;
  return replied({ type: "lease_claim_reply", requestId, owner, outcome, current, replaced });
}

// -----------------------------------------------------------------------------------------------
// Server side: requests to the actor's questions, its answers to responses.

/**
 * A question for the ID-server actor: its `IdServerRequest` (core/protocol/idserver.ts), with
 * the name and address a publish over HTTP always carries. {@link inputOf} leaves `requestId`
 * 0: the host gives each its own.
 */
export type ServerAsk =
  | Exclude<IdServerRequest, { type: "identity_publish" }>
  | (MessageOf<"identity_publish"> & { name: NodeId; address: string });

/** What {@link inputOf} says to do with a request: ask the actor, or answer at once. */
export type ServerInput =
  | { kind: "ask"; ask: ServerAsk }
  | { kind: "respond"; response: WireResponse };

type Status = 200 | 400 | 403 | 404 | 409 | 413 | 429 | 500 | 503 | 507;

/**
 * `Retry-After` of a `rate_limited` refusal, in seconds: the time one registration token takes
 * to come back.
 */
const RATE_LIMITED_RETRY_S = Math.ceil(
  IDSERVER_REGISTRATION_WINDOW_MS / IDSERVER_BLOCK_REGISTRATIONS_MAX / 1000,
);

const PUBLISH_STATUS: Record<PublishOutcome, Status> = {
  stored: 200,
  unchanged: 200,
  oversized: 413,
  malformed: 400,
  invalid_name: 400,
  invalid_contacts: 400,
  invalid_sources: 400,
  name_mismatch: 400,
  bad_signature: 403,
  key_changed: 403,
  older_revision: 409,
  conflict: 409,
  full: 507,
  busy: 503,
  starting: 503,
  io_error: 500,
  too_many_names: 403,
  rate_limited: 429,
};

const OFFER_STATUS: Record<OfferOutcome, Status> = {
  stored: 200,
  withdrawn: 200,
  invalid: 400,
  expired: 400,
  too_long: 400,
  unknown_supplier: 403,
  bad_signature: 403,
  stale: 409,
  full: 507,
  starting: 503,
};

/** HTTP status of each family publish outcome. */
const FAMILY_PUBLISH_STATUS: Record<FamilyPublishOutcome, Status> = {
  stored: 200,
  unchanged: 200,
  unknown_owner: 403,
  bad_signature: 403,
  older_revision: 409,
  full: 507,
  starting: 503,
  io_error: 500,
  busy: 503,
};

/** HTTP status of each lease claim outcome. */
const LEASE_STATUS: Record<LeaseOutcome, Status> = {
  granted: 200,
  held: 409,
  stale_epoch: 409,
  bad_span: 400,
  unknown_owner: 403,
  bad_signature: 403,
  full: 507,
  starting: 503,
};

const LEASE_MESSAGES: Record<string, string> = {
  held: "another instance of this identity holds the writer lease (see current)",
  stale_epoch: "the lease's epoch is not above the current one's",
  bad_span: "the lease has expired or lasts longer than this server accepts",
  unknown_owner: "the owner's identity is not hosted on this server; publish it here first",
  bad_signature: "the lease's signature does not verify under its owner's identity key",
  full: "this server holds as many leases as it can",
  malformed: "the body is not a writer lease",
  name_mismatch: "the lease's owner differs from the name in the URL",
  not_found: "no writer lease of this name is held here",
};

/** Sentences of the family routes, where they differ from those of documents. */
const FAMILY_MESSAGES: Record<string, string> = {
  malformed: "the body is not a family record (owner, revision, issuedMs, sealed, signature)",
  oversized: "the family record is larger than this server accepts",
  name_mismatch: "the record's owner differs from the name in the URL",
  unknown_owner: "the owner's identity is not hosted on this server; publish it here first",
  bad_signature: "the record's signature does not verify under its owner's identity key",
  older_revision: "this revision or a higher one is already hosted; bump the revision and re-sign",
  io_error: "the server could not store the record now; retry later",
  busy: "another upload of this record is in progress, or the server is busy; retry shortly",
  not_found: "no family record of this name is hosted here",
};

const MESSAGES: Record<string, string> = {
  oversized: "the document is larger than this server accepts",
  malformed: "the body is not a well-formed identity document",
  invalid_name: "the document's name is not a valid node name",
  invalid_contacts: "the document's contacts are not valid tcp:// or relay:// URLs",
  invalid_sources: "the document must list 1 to 6 distinct ID-server URLs as sources",
  name_mismatch: "the document's name differs from the name in the URL",
  bad_signature: "the signature does not verify under the document's own key",
  key_changed: "this name is held by another key; only its owner may update it",
  older_revision: "a higher revision is already hosted; bump the revision and re-sign",
  conflict: "another document with this revision is hosted; bump the revision and re-sign",
  full: "this server hosts as many entries as it can; try another ID server",
  busy: "another upload of this name is in progress; retry shortly",
  starting: "the server is still loading; retry shortly",
  io_error: "the server could not store the document; retry later",
  not_found: "no document with this name is hosted here",
  bad_request: "the request is not valid",
  timeout: "the server did not answer in time",
  unknown_supplier: "the supplier's identity is not hosted on this server",
  too_many_names: `this key already holds ${IDSERVER_NAMES_PER_KEY_MAX} names here, the most ` +
    "one key may hold; use one of them, or another ID server",
  rate_limited: "too many new names from your network in the last hour; retry later",

  expired: "the offer has already expired",
  too_long: "the offer lives longer than this server accepts",
  stale: "a newer offer from this supplier is already listed",
  invalid: "the offer is not valid",
};

/** A JSON response. */
function respondJson(
  value: unknown,
  status: number = 200,
  headers: Record<string, string> = {},
): WireResponse {
  return { status, headers, body: jsonBytes(value) };
}

/** A fresh copy of a resource: `Cache-Control: no-cache`. */
function fresh(value: unknown): WireResponse {
  return respondJson(value, 200, { "Cache-Control": "no-cache" });
}

/** A refusal: `{ error, message }` (and `revision` when given), `Retry-After` on 503 and 429. */
function fail(
  status: Status,
  error: string,
  detail?: string,
  extra: { revision?: number; messages?: Record<string, string> } = {},
): WireResponse {
  const message = extra.messages?.[error] ?? MESSAGES[error] ?? error;
  const headers: Record<string, string> = status === 503
    ? { "Retry-After": "1" }
    : status === 429
    ? { "Retry-After": String(RATE_LIMITED_RETRY_S) }
    : {};
  const body: Record<string, unknown> = {
    error,
    message: detail ? `${message} (${detail})` : message,
  };
  if (extra.revision !== undefined) body.revision = extra.revision;
  return respondJson(body, status, headers);
}

function failFamily(status: Status, error: string, detail?: string, revision?: number) {
  return fail(status, error, detail, { revision, messages: FAMILY_MESSAGES });
}

/** The answer to a path no route matches. */
function notFoundResponse(): WireResponse {
  return fail(404, "not_found", "unknown path");
}

/** The answer when the host itself failed (an exception while serving). */
export function serverErrorResponse(): WireResponse {
  return fail(500, "io_error");
}

/** A route of the server: what a method and path ask for. */
type Route =
  | { kind: "list" | "offers_get" | "offers_post" }
  | { kind: "family_get" | "family_put" | "lease_get" | "lease_put"; name: string }
  | { kind: "document_get" | "document_put"; file: string };

/** A path segment, percent-decoded (left as it is when it does not decode). */
function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The route of `method` and `path`, or `null` for none (404). */
function routeOf(method: string, path: string): Route | null {
  const get = method === "GET" || method === "HEAD";
  const put = method === "PUT";
  if (path === "/") return get ? { kind: "list" } : null;
  const segments = path.split("/").slice(1);
  if (segments.some((s) => s === "") || !path.startsWith("/")) return null;
  if (segments.length === 1) {
    const file = decodeSegment(segments[0]);
    if (file === "offers" && get) return { kind: "offers_get" };
    if (file === "offers" && method === "POST") return { kind: "offers_post" };
    if (get) return { kind: "document_get", file };
    return put ? { kind: "document_put", file } : null;
  }
  if (segments.length !== 2 || (!get && !put)) return null;
  const name = decodeSegment(segments[0]);
  if (segments[1] === "family") return { kind: get ? "family_get" : "family_put", name };
  if (segments[1] === "lease") return { kind: get ? "lease_get" : "lease_put", name };
  return null;
}

/**
 * The largest body the route of `method` and `path` reads, or `null` when it reads none (the
 * host need not read it). A host reads at most this many bytes and answers a longer body with
 * {@link tooLargeResponse}.
 */
export function requestBodyBytesMax(method: string, path: string): number | null {
  return bodyBytesMaxOf(routeOf(method, path));
}

/** {@link requestBodyBytesMax} of a route already found. */
function bodyBytesMaxOf(route: Route | null): number | null {
  switch (route?.kind) {
    case "offers_post":
      return OFFER_JSON_BYTES_MAX;
    case "family_put":
      return FAMILY_JSON_BYTES_MAX;
    case "lease_put":
      return LEASE_JSON_BYTES_MAX;
    case "document_put":
      return IDENTITY_JSON_BYTES_MAX;
    default:
      return null;
  }
}

/** The answer to a body over {@link requestBodyBytesMax} of its route (413). */
export function tooLargeResponse(method: string, path: string): WireResponse {
  return tooLargeOf(routeOf(method, path));
}

function tooLargeOf(route: Route | null): WireResponse {
  return route?.kind === "family_put" ? failFamily(413, "oversized") : fail(413, "oversized");
}

const asking = (ask: ServerAsk): ServerInput => ({ kind: "ask", ask });
const responding = (response: WireResponse): ServerInput => ({ kind: "respond", response });

/**
 * What to do with `request` from the client at `clientAddress` (its IP address, or what stands
 * for it; the ID server budgets new names per address block): the question for the actor, or
 * the response at once (no such path, bad query or body, body too large).
 */
export function inputOf(request: WireRequest, clientAddress: string): ServerInput {
  const route = routeOf(request.method, request.path);
  if (route === null) return responding(notFoundResponse());
  const max = bodyBytesMaxOf(route);
  if (max !== null && (request.body?.length ?? 0) > max) {
    return responding(tooLargeOf(route));
  }
  switch (route.kind) {
    case "list":
      return listInput(request);
    case "offers_get":
      return offersInput(request);
    case "offers_post": {
      const offer = offerFromJson(jsonAny(request.body));
      if (offer === null) return responding(fail(400, "invalid", "the body is not an offer"));
      return asking({ type: "offer_announce", requestId: 0, offer });
    }
    case "document_get":
    case "document_put":
      return documentInput(route, request, clientAddress);
    case "family_get":
    case "family_put":
      return familyInput(route, request);
    case "lease_get":
    case "lease_put":
      return leaseInput(route, request);
  }
}

function parseLimit(raw: string | undefined, fallback: number, max: number): number | null {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  return Number.isSafeInteger(n) && n >= 1 && n <= max ? n : null;
}

function listInput(request: WireRequest): ServerInput {
  const after = request.query.after ?? "";
  const limit = parseLimit(request.query.limit, LIST_PAGE_DEFAULT, IDSERVER_LIST_PAGE_MAX);
  if (limit === null) return responding(fail(400, "bad_request", "limit must be 1..1000"));
  return asking({ type: "identity_list", requestId: 0, after, limit });
}

function offersInput(request: WireRequest): ServerInput {
  const q = request.query;
  const count = parseLimit(q.count, OFFER_QUERY_DEFAULT, OFFER_QUERY_RESULTS_MAX);
  const minFreeBytes = Number(q.minFreeBytes ?? "0");
  const exclude = (q.exclude ?? "").split(",").filter((s) => s !== "");
  if (count === null || !Number.isSafeInteger(minFreeBytes) || minFreeBytes < 0) {
    const why = "count must be 1..64 and minFreeBytes a whole number";
    return responding(fail(400, "bad_request", why));
  }
  if (exclude.length > OFFER_QUERY_EXCLUDE_MAX || !exclude.every(isNodeId)) {
    return responding(fail(400, "bad_request", "exclude lists at most 256 node names"));
  }
  return asking({ type: "offer_query", requestId: 0, count, minFreeBytes, exclude });
}

/** Why a path is not a document's. */
const NOT_A_DOCUMENT_PATH = "paths are /<name>.json";

function documentInput(
  route: Route & { file: string },
  request: WireRequest,
  address: string,
): ServerInput {
  const name = route.file.endsWith(".json") ? route.file.slice(0, -".json".length) : "";
  const get = route.kind === "document_get";
  if (!isNodeId(name)) {
    const why = NOT_A_DOCUMENT_PATH;
    const refused = get ? fail(404, "not_found", why) : fail(400, "invalid_name", why);
    return responding(refused);
  }
  if (get) return asking({ type: "identity_fetch", requestId: 0, name });
  const body = request.body ?? new Uint8Array(0);
  let document: Uint8Array;
  if (request.contentType.startsWith("application/octet-stream")) {
    document = body;
  } else {
    const json = jsonAny(body);
    if (json === undefined) return responding(fail(400, "malformed", "the body is not JSON"));
    const parsed = identityFromJson(json);
    if (!parsed.ok) {
      return responding(fail(PUBLISH_STATUS[parsed.reason], parsed.reason, parsed.detail));
    }
    document = parsed.bytes;
  }
  return asking({ type: "identity_publish", requestId: 0, document, name, address });
}
function familyInput(route: Route & { name: string }, request: WireRequest): ServerInput {
  const owner = route.name;
  if (!isNodeId(owner)) {
    return responding(
      route.kind === "family_get"
        ? failFamily(404, "not_found", "paths are /<name>/family")
        : failFamily(400, "invalid_name", "paths are /<name>/family"),
    );
  }
  if (route.kind === "family_get") return asking({ type: "family_fetch", requestId: 0, owner });
  const json = jsonAny(request.body);
  if (json === undefined) return responding(failFamily(400, "malformed", "the body is not JSON"));
  const record = familyFromJson(json);
  if (record === null) return responding(failFamily(400, "malformed"));
  if (record.owner !== owner) return responding(failFamily(400, "name_mismatch"));
  return asking({ type: "family_publish", requestId: 0, record });
}

function leaseInput(route: Route & { name: string }, request: WireRequest): ServerInput {
  const messages = LEASE_MESSAGES;
  const owner = route.name;
  if (!isNodeId(owner)) {
    return responding(
      route.kind === "lease_get"
        ? fail(404, "not_found", "paths are /<name>/lease", { messages })
        : fail(400, "invalid_name", "paths are /<name>/lease"),
    );
  }
  if (route.kind === "lease_get") return asking({ type: "lease_fetch", requestId: 0, owner });
  const json = jsonAny(request.body);
  if (json === undefined) {
    return responding(fail(400, "malformed", "the body is not JSON", { messages }));
  }
  const lease = leaseFromJson(json);
  if (lease === null) return responding(fail(400, "malformed", undefined, { messages }));
  if (lease.owner !== owner) {
    return responding(fail(400, "name_mismatch", undefined, { messages }));
  }
  return asking({ type: "lease_claim", requestId: 0, lease });
}

/**
 * The response to `ask` given the actor's `answer`, or `null` when it gave none (it did not
 * answer in time, or too many requests waited): 503 `timeout`.
 */
export function responseOf(ask: ServerAsk, answer: IdServerAnswer | null): WireResponse {
  switch (ask.type) {
    case "identity_list": {
      if (answer?.type !== "identity_list_reply") return timeoutResponse();
      const next = answer.more ? answer.names[answer.names.length - 1] : null;
      return respondJson({ names: answer.names, next });
    }
    case "identity_fetch":
      return answer?.type === "identity_fetch_reply" ? documentResponse(answer) : timeoutResponse();
    case "identity_publish": {
      if (answer?.type !== "identity_publish_reply") return timeoutResponse();
      const status = PUBLISH_STATUS[answer.outcome];
      if (status !== 200) return fail(status, answer.outcome);
      return respondJson({ outcome: answer.outcome, name: answer.name, revision: answer.revision });
    }
    case "offer_query":
      if (answer?.type !== "offer_query_reply") return timeoutResponse();
      return respondJson({ offers: answer.offers.map(offerToJson) });
    case "offer_announce": {
      if (answer?.type !== "offer_announce_reply") return timeoutResponse();
      const status = OFFER_STATUS[answer.outcome];
      return status !== 200
        ? fail(status, answer.outcome)
        : respondJson({ outcome: answer.outcome });
    }
    default:
      return ownerResponse(ask, answer);
  }
}

/** The answer when the actor gave none: built only then (it is a JSON body). */
function timeoutResponse(): WireResponse {
  return fail(503, "timeout");
}

function documentResponse(answer: MessageOf<"identity_fetch_reply">): WireResponse {
  if (answer.outcome === "starting") return fail(503, "starting");
  if (answer.outcome === "not_found" || answer.document === undefined) {
    return fail(404, "not_found");
  }
  const decoded = decodeIdentity(answer.document);
  if (!decoded.ok) return fail(500, "io_error", "a hosted document does not decode");
  return fresh(identityToJson(decoded.doc));
}

function ownerResponse(
  ask: ServerAsk & { type: "family_fetch" | "family_publish" | "lease_fetch" | "lease_claim" },
  answer: IdServerAnswer | null,
): WireResponse {
  switch (ask.type) {
    case "family_fetch":
      if (answer?.type !== "family_fetch_reply") return timeoutResponse();
      if (answer.outcome === "starting") return fail(503, "starting");
      if (answer.outcome === "not_found" || answer.record === undefined) {
        return failFamily(404, "not_found");
      }
      return fresh(familyToJson(answer.record));
    case "family_publish": {
      if (answer?.type !== "family_publish_reply") return timeoutResponse();
      const { outcome, revision } = answer;
      const status = FAMILY_PUBLISH_STATUS[outcome];
      if (status !== 200) return failFamily(status, outcome, undefined, revision);
      return respondJson({ outcome, owner: answer.owner, revision });
    }
    case "lease_fetch":
      if (answer?.type !== "lease_fetch_reply") return timeoutResponse();
      if (answer.current === undefined) {
        return fail(404, "not_found", undefined, { messages: LEASE_MESSAGES });
      }
      return fresh(leaseToJson(answer.current));
    case "lease_claim":
      return answer?.type === "lease_claim_reply" ? leaseResponse(answer) : timeoutResponse();
  }
}

function leaseResponse(answer: MessageOf<"lease_claim_reply">): WireResponse {
  const { outcome } = answer;
  const status = LEASE_STATUS[outcome];
  const body: Record<string, unknown> = { outcome, owner: answer.owner };
  if (answer.current !== undefined) body.current = leaseToJson(answer.current);
  if (answer.replaced !== undefined) body.replaced = leaseToJson(answer.replaced);
  if (status !== 200) {
    body.error = outcome;
    body.message = LEASE_MESSAGES[outcome] ?? MESSAGES[outcome] ?? outcome;
  }
  return respondJson(body, status);
}
