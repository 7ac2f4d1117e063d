/**
 * The ID server's HTTP front (hono): turns requests into actor commands and notices into replies.
 *
 * | method | path             | does                                                          |
 * |--------|------------------|---------------------------------------------------------------|
 * | GET    | `/<name>.json`   | the document as JSON ({@link identityToJson}); 404 if absent  |
 * | PUT    | `/<name>.json`   | stores a document (JSON, or binary `application/octet-stream`) |
 * | GET    | `/`              | hosted names, sorted: `?after=<name>&limit=<n>` pages (≤ 1000) |
 * | POST   | `/offers`        | announces a signed offer (JSON, see {@link offerToJson})      |
 * | GET    | `/offers`        | `?count=&minFreeBytes=&exclude=a,b`: live offers              |
 * | GET    | `/<name>/family` | the family record as JSON ({@link familyToJson}); 404 if none |
 * | PUT    | `/<name>/family` | stores a family record (JSON); its `owner` must be `<name>`   |
 * | GET    | `/<name>/lease`  | the writer lease held ({@link leaseToJson}); 404 if none      |
 * | PUT    | `/<name>/lease`  | claims the writer lease (JSON; `actors/idserver/leases.ts`)   |
 *
 * A lease claim is answered `{ outcome, owner, current?, replaced? }` (the lease held after the
 * claim, and on a take-over the one it replaced), with 200 when granted and otherwise the status
 * of {@link LEASE_STATUS} and the usual `error` and `message`.
 *
 * Every refusal is a 4xx or 5xx with a JSON body `{ "error": <reason>, "message": <sentence> }`;
 * the reason is the actor's outcome (`older_revision`, `key_changed`, ...); a refused family
 * record's answer also carries the `revision` the server holds (0 for none). Bodies over
 * `IDENTITY_JSON_BYTES_MAX` ({@link FAMILY_JSON_BYTES_MAX} for family records) are refused with
 * 413 before they are read in full. At most
 * `IDSERVER_PENDING_REQUESTS_MAX` requests wait for the actor at once (503 beyond), each at most
 * {@link REQUEST_TIMEOUT_MS}.
 *
 * Budgets of new names: a `PUT` passes the client's IP address to the actor, which allows at most
 * `IDSERVER_NAMES_PER_KEY_MAX` names per signing key (403 `too_many_names`) and
 * `IDSERVER_BLOCK_REGISTRATIONS_MAX` new names per hour per /24 or /64 (429 `rate_limited`, with
 * `Retry-After`). The address is read from hono's `c.env.remoteAddr.hostname`: the server hands
 * its `ServeHandlerInfo` (`{ remoteAddr }`) to `app.fetch` as the second argument. Behind a
 * reverse proxy every client has the proxy's address and shares its budget. A request with no
 * address (an `app.fetch` without one) is counted as the address `unknown`.
 *
 * @module
 */

import { Hono } from "hono";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import type {
  IdServerNotice,
  IdServerProtocol,
  IdServerRequest,
  IdServerState,
} from "../actors/idserver/mod.ts";
import { decodeIdentity, identityFromJson, identityToJson } from "../core/identity.ts";
import { fromHex, isNodeId, toHex } from "../core/ids.ts";
import {
  FAMILY_SEALED_BYTES_MAX,
  IDENTITY_JSON_BYTES_MAX,
  IDSERVER_BLOCK_REGISTRATIONS_MAX,
  IDSERVER_LIST_PAGE_MAX,
  IDSERVER_NAMES_PER_KEY_MAX,
  IDSERVER_PENDING_REQUESTS_MAX,
  IDSERVER_REGISTRATION_WINDOW_MS,
  OFFER_QUERY_EXCLUDE_MAX,
  OFFER_QUERY_RESULTS_MAX,
  SIGNATURE_BYTES,
  WRITER_LEASE_INSTANCE_BYTES,
  WRITER_LEASE_MACHINE_BYTES_MAX,
} from "../core/limits.ts";
import type {
  FamilyPublishOutcome,
  LeaseOutcome,
  OfferOutcome,
  PublishOutcome,
  SignedFamilyRecord,
  SignedLease,
  SignedOffer,
} from "../core/protocol/identity.ts";
import type { Host } from "./host.ts";

/** Longest wait for the actor's answer to one request. */
const REQUEST_TIMEOUT_MS = 10_000;
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
  const uint = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
  const text = (x: unknown, max: number): x is string =>
    typeof x === "string" && new TextEncoder().encode(x).length <= max;
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

function fail(
  c: Context,
  status: Status,
  error: string,
  detail?: string,
  extra: { revision?: number; messages?: Record<string, string> } = {},
): Response {
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
  return c.json(body, status, headers);
}

function failFamily(
  c: Context,
  status: Status,
  error: string,
  detail?: string,
  revision?: number,
): Response {
  return fail(c, status, error, detail, { revision, messages: FAMILY_MESSAGES });
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
  const uint = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
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
  const uint = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
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

type Answer = Exclude<IdServerNotice, { type: "ready" }>;

/** Matches actor answers to the HTTP requests waiting for them. */
class Pending {
  #next = 1;
  #waiting = new Map<number, (answer: Answer | null) => void>();

  constructor(host: Host<IdServerState, IdServerProtocol>) {
    host.subscribe((notice) => {
      if (notice.type === "ready") return;
      const resolve = this.#waiting.get(notice.requestId);
      if (resolve !== undefined) resolve(notice);
    });
  }

  /** Sends `build(requestId)` to the actor and waits for its answer; `null` when it timed out. */
  ask(host: Host<IdServerState, IdServerProtocol>, build: (id: number) => IdServerRequest) {
    if (this.#waiting.size >= IDSERVER_PENDING_REQUESTS_MAX) return Promise.resolve(null);
    const id = this.#next++;
    return new Promise<Answer | null>((resolve) => {
      const timer = setTimeout(() => done(null), REQUEST_TIMEOUT_MS);
      const done = (answer: Answer | null) => {
        clearTimeout(timer);
        this.#waiting.delete(id);
        resolve(answer);
      };
      this.#waiting.set(id, done);
      host.deliver({ kind: "command", command: build(id) });
    });
  }

  /** Requests still waiting. */
  get size(): number {
    return this.#waiting.size;
  }
}

/** Builds the HTTP application of an ID server driven by `host`. */
export function idServerApp(host: Host<IdServerState, IdServerProtocol>): Hono {
  const pending = new Pending(host);
  const ask = (build: (id: number) => IdServerRequest) => pending.ask(host, build);
  const app = new Hono();
  app.onError((_e, c) => fail(c, 500, "io_error"));
  app.notFound((c) => fail(c, 404, "not_found", "unknown path"));

  app.get("/", async (c) => {
    const after = c.req.query("after") ?? "";
    const limit = parseLimit(c.req.query("limit"), LIST_PAGE_DEFAULT, IDSERVER_LIST_PAGE_MAX);
    if (limit === null) return fail(c, 400, "bad_request", "limit must be 1..1000");
    const answer = await ask((requestId) => ({ type: "identity_list", requestId, after, limit }));
    if (answer?.type !== "identity_list_reply") return fail(c, 503, "timeout");
    const next = answer.more ? answer.names[answer.names.length - 1] : null;
    return c.json({ names: answer.names, next });
  });

  app.get("/offers", (c) => getOffers(c, ask));
  app.post(
    "/offers",
    bodyLimit({ maxSize: OFFER_JSON_BYTES_MAX, onError: tooLarge }),
    (c) => postOffer(c, ask),
  );
  app.get("/:name/family", (c) => getFamily(c, ask));
  app.put(
    "/:name/family",
    bodyLimit({ maxSize: FAMILY_JSON_BYTES_MAX, onError: (c) => failFamily(c, 413, "oversized") }),
    (c) => putFamily(c, ask),
  );
  app.get("/:name/lease", (c) => getLease(c, ask));
  app.put(
    "/:name/lease",
    bodyLimit({
      maxSize: LEASE_JSON_BYTES_MAX,
      onError: (c) => fail(c, 413, "oversized", undefined, { messages: LEASE_MESSAGES }),
    }),
    (c) => putLease(c, ask),
  );
  app.get("/:file", (c) => getDocument(c, ask));
  app.put(
    "/:file",
    bodyLimit({ maxSize: IDENTITY_JSON_BYTES_MAX, onError: tooLarge }),
    (c) => putDocument(c, ask),
  );
  return app;
}

type Ask = (build: (id: number) => IdServerRequest) => Promise<Answer | null>;

function tooLarge(c: Context): Response {
  return fail(c, 413, "oversized");
}

function parseLimit(raw: string | undefined, fallback: number, max: number): number | null {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  return Number.isSafeInteger(n) && n >= 1 && n <= max ? n : null;
}

/**
 * The client's IP address: `c.env.remoteAddr.hostname`, which the server passes as the second
 * argument of `app.fetch` (Deno's `ServeHandlerInfo`, or the same shape from a bounded server).
 */
function clientAddress(c: Context): string {
  const env = c.env as { remoteAddr?: { hostname?: unknown } } | undefined;
  const hostname = env?.remoteAddr?.hostname;
  return typeof hostname === "string" && hostname !== "" ? hostname : "unknown";
}

/** The node name of a `/<name>.json` path, or `null`. */
function nameOf(c: Context): string | null {
  const file = c.req.param("file") ?? "";
  if (!file.endsWith(".json")) return null;
  const name = file.slice(0, -".json".length);
  return isNodeId(name) ? name : null;
}

async function getDocument(c: Context, ask: Ask): Promise<Response> {
  const name = nameOf(c);
  if (name === null) return fail(c, 404, "not_found", "paths are /<name>.json");
  const answer = await ask((requestId) => ({ type: "identity_fetch", requestId, name }));
  if (answer?.type !== "identity_fetch_reply") return fail(c, 503, "timeout");
  if (answer.outcome === "starting") return fail(c, 503, "starting");
  if (answer.outcome === "not_found" || answer.document === undefined) {
    return fail(c, 404, "not_found");
  }
  const decoded = decodeIdentity(answer.document);
  if (!decoded.ok) return fail(c, 500, "io_error", "a hosted document does not decode");
  c.header("Cache-Control", "no-cache");
  return c.json(identityToJson(decoded.doc));
}

async function putDocument(c: Context, ask: Ask): Promise<Response> {
  const name = nameOf(c);
  if (name === null) return fail(c, 400, "invalid_name", "paths are /<name>.json");
  const body = new Uint8Array(await c.req.arrayBuffer());
  let document: Uint8Array;
  if ((c.req.header("content-type") ?? "").startsWith("application/octet-stream")) {
    document = body;
  } else {
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(body));
    } catch {
      return fail(c, 400, "malformed", "the body is not JSON");
    }
    const parsed = identityFromJson(json);
    if (!parsed.ok) return fail(c, PUBLISH_STATUS[parsed.reason], parsed.reason, parsed.detail);
    document = parsed.bytes;
  }
  const address = clientAddress(c);
  const answer = await ask((requestId) => ({
    type: "identity_publish",
    requestId,
    document,
    name,
    address,
  }));
  if (answer?.type !== "identity_publish_reply") return fail(c, 503, "timeout");
  const status = PUBLISH_STATUS[answer.outcome];
  if (status !== 200) return fail(c, status, answer.outcome);
  return c.json({ outcome: answer.outcome, name: answer.name, revision: answer.revision });
}

async function getOffers(c: Context, ask: Ask): Promise<Response> {
  const count = parseLimit(c.req.query("count"), 8, OFFER_QUERY_RESULTS_MAX);
  const minFreeBytes = Number(c.req.query("minFreeBytes") ?? "0");
  const exclude = (c.req.query("exclude") ?? "").split(",").filter((s) => s !== "");
  if (count === null || !Number.isSafeInteger(minFreeBytes) || minFreeBytes < 0) {
    return fail(c, 400, "bad_request", "count must be 1..64 and minFreeBytes a whole number");
  }
  if (exclude.length > OFFER_QUERY_EXCLUDE_MAX || !exclude.every(isNodeId)) {
    return fail(c, 400, "bad_request", "exclude lists at most 256 node names");
  }
  const answer = await ask((requestId) => ({
    type: "offer_query",
    requestId,
    count,
    minFreeBytes,
    exclude,
  }));
  if (answer?.type !== "offer_query_reply") return fail(c, 503, "timeout");
  return c.json({ offers: answer.offers.map(offerToJson) });
}

async function postOffer(c: Context, ask: Ask): Promise<Response> {
  let offer: SignedOffer | null = null;
  try {
    offer = offerFromJson(await c.req.json());
  } catch {
    offer = null;
  }
  if (offer === null) return fail(c, 400, "invalid", "the body is not an offer");
  const signed = offer;
  const answer = await ask((requestId) => ({ type: "offer_announce", requestId, offer: signed }));
  if (answer?.type !== "offer_announce_reply") return fail(c, 503, "timeout");
  const status = OFFER_STATUS[answer.outcome];
  if (status !== 200) return fail(c, status, answer.outcome);
  return c.json({ outcome: answer.outcome });
}

/** The node name of a `/<name>/family` path, or `null`. */
function ownerOf(c: Context): string | null {
  const name = c.req.param("name") ?? "";
  return isNodeId(name) ? name : null;
}

async function getFamily(c: Context, ask: Ask): Promise<Response> {
  const owner = ownerOf(c);
  if (owner === null) return failFamily(c, 404, "not_found", "paths are /<name>/family");
  const answer = await ask((requestId) => ({ type: "family_fetch", requestId, owner }));
  if (answer?.type !== "family_fetch_reply") return fail(c, 503, "timeout");
  if (answer.outcome === "starting") return fail(c, 503, "starting");
  if (answer.outcome === "not_found" || answer.record === undefined) {
    return failFamily(c, 404, "not_found");
  }
  c.header("Cache-Control", "no-cache");
  return c.json(familyToJson(answer.record));
}

async function putFamily(c: Context, ask: Ask): Promise<Response> {
  const owner = ownerOf(c);
  if (owner === null) return failFamily(c, 400, "invalid_name", "paths are /<name>/family");
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(await c.req.arrayBuffer()));
  } catch {
    return failFamily(c, 400, "malformed", "the body is not JSON");
  }
  const record = familyFromJson(json);
  if (record === null) return failFamily(c, 400, "malformed");
  if (record.owner !== owner) return failFamily(c, 400, "name_mismatch");
  const answer = await ask((requestId) => ({ type: "family_publish", requestId, record }));
  if (answer?.type !== "family_publish_reply") return fail(c, 503, "timeout");
  const { outcome, revision } = answer;
  const status = FAMILY_PUBLISH_STATUS[outcome];
  if (status !== 200) return failFamily(c, status, outcome, undefined, revision);
  return c.json({ outcome, owner: answer.owner, revision });
}

async function getLease(c: Context, ask: Ask): Promise<Response> {
  const messages = LEASE_MESSAGES;
  const owner = ownerOf(c);
  if (owner === null) return fail(c, 404, "not_found", "paths are /<name>/lease", { messages });
  const answer = await ask((requestId) => ({ type: "lease_fetch", requestId, owner }));
  if (answer?.type !== "lease_fetch_reply") return fail(c, 503, "timeout");
  if (answer.current === undefined) return fail(c, 404, "not_found", undefined, { messages });
  c.header("Cache-Control", "no-cache");
  return c.json(leaseToJson(answer.current));
}

async function putLease(c: Context, ask: Ask): Promise<Response> {
  const messages = LEASE_MESSAGES;
  const owner = ownerOf(c);
  if (owner === null) return fail(c, 400, "invalid_name", "paths are /<name>/lease");
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(await c.req.arrayBuffer()));
  } catch {
    return fail(c, 400, "malformed", "the body is not JSON", { messages });
  }
  const lease = leaseFromJson(json);
  if (lease === null) return fail(c, 400, "malformed", undefined, { messages });
  if (lease.owner !== owner) return fail(c, 400, "name_mismatch", undefined, { messages });
  const answer = await ask((requestId) => ({ type: "lease_claim", requestId, lease }));
  if (answer?.type !== "lease_claim_reply") return fail(c, 503, "timeout");
  const { outcome } = answer;
  const status = LEASE_STATUS[outcome];
  const body: Record<string, unknown> = { outcome, owner: answer.owner };
  if (answer.current !== undefined) body.current = leaseToJson(answer.current);
  if (answer.replaced !== undefined) body.replaced = leaseToJson(answer.replaced);
  if (status !== 200) {
    body.error = outcome;
    body.message = LEASE_MESSAGES[outcome] ?? MESSAGES[outcome] ?? outcome;
  }
  return c.json(body, status);
}
