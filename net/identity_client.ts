/**
 * Talking to ID servers over HTTP: fetch and verify other nodes' identities, publish our own, and
 * rotate to other ID servers when ours stop answering.
 *
 * {@link fetchIdentity} and {@link publishIdentity} are single requests with a timeout that turn
 * every failure into a value (`unreachable`, `timeout`, `not_found`, or the server's refusal).
 * {@link IdentityResolver} fetches from a node's sources in turn and offers what it gets to an
 * {@link IdentityCache} (`core/identity_cache.ts`), which verifies it and keeps only the highest
 * revision under the first key it saw. {@link IdentityPublisher} holds our own document:
 * `publish` uploads it to all its sources; `publishAndRotate` also replaces every source that is
 * unreachable, timed out or refuses us for good (`key_changed`, `full`, `too_many_names`) by the
 * next one from a list of known ID servers, bumps the revision, re-signs and uploads again, until
 * every source has it or no candidate is left. Peers that cached the old revision accept the new
 * one, since the same key signed it.
 *
 * {@link publishFamilyRecord} and {@link fetchFamilyRecord} upload and fetch an owner's signed
 * family record (`PUT`/`GET /<owner>/family`), the same way: one request, every failure a value.
 * A fetched record is parsed but not verified: check it with `verifyFamilyRecord` against the
 * owner's identity key before trusting it.
 *
 * @module
 */

import type { NodeId, StepCrypto } from "../core/actor.ts";
import {
  type IdentityDocument,
  identityFromJson,
  identityToJson,
  identityUrl,
  reviseIdentity,
  rotateSources,
  signIdentity,
} from "../core/identity.ts";
import {
  type IdentityCache,
  type IdentityCacheRejectReason,
  lookupIdentity,
  offerIdentity,
} from "../core/identity_cache.ts";
import { IDENTITY_JSON_BYTES_MAX, IDENTITY_SOURCES_MAX } from "../core/limits.ts";
import type {
  FamilyPublishOutcome,
  PublishOutcome,
  SignedFamilyRecord,
} from "../core/protocol/identity.ts";
import { FAMILY_JSON_BYTES_MAX, familyFromJson, familyToJson } from "./idserver_http.ts";
import type { NodeKeys } from "./keys.ts";

/** Default time limit of one request to an ID server. */
export const ID_REQUEST_TIMEOUT_MS = 5000;
/** Most rounds of rotation one `publishAndRotate` call makes. */
export const ROTATION_ROUNDS_MAX = IDENTITY_SOURCES_MAX + 4;

/** How requests are made. */
export interface HttpOptions {
  /** Time limit per request (default {@link ID_REQUEST_TIMEOUT_MS}). */
  timeoutMs?: number;
  /** The fetch to use (default the global one). */
  fetch?: typeof fetch;
}

/** Why a request to an ID server got no usable answer. */
export type TransportFailure = "unreachable" | "timeout" | "http_error";

/** Outcome of {@link fetchIdentity}: the document's binary form (not yet verified). */
export type FetchResult =
  | { ok: true; bytes: Uint8Array }
  | {
    ok: false;
    reason: TransportFailure | "not_found" | "oversized" | "malformed";
    detail?: string;
  };

/** Outcome of {@link publishIdentity}. */
export type PublishResult =
  | { ok: true; outcome: "stored" | "unchanged" }
  | { ok: false; reason: TransportFailure | PublishOutcome; detail?: string };

async function request(
  url: string,
  init: RequestInit,
  options: HttpOptions,
): Promise<{ ok: true; res: Response } | { ok: false; reason: TransportFailure; detail: string }> {
  const signal = AbortSignal.timeout(options.timeoutMs ?? ID_REQUEST_TIMEOUT_MS);
  try {
    return { ok: true, res: await (options.fetch ?? fetch)(url, { ...init, signal }) };
  } catch (e) {
    const timedOut = e instanceof DOMException && e.name === "TimeoutError";
    return { ok: false, reason: timedOut ? "timeout" : "unreachable", detail: String(e) };
  }
}

/** The body of `res`, or `null` when it is larger than `maxBytes` (the rest is not read). */
export async function readCapped(res: Response, maxBytes: number): Promise<Uint8Array | null> {
  const reader = res.body?.getReader();
  if (reader === undefined) return new Uint8Array(0);
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > maxBytes) {
      await reader.cancel();
      return null;
    }
    parts.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A response body of at most `max` bytes, parsed as JSON. */
async function jsonBody(
  res: Response,
  max: number,
): Promise<
  { ok: true; json: unknown } | { ok: false; reason: "oversized" | "malformed"; detail?: string }
> {
  const body = await readCapped(res, max);
  if (body === null) return { ok: false, reason: "oversized" };
  try {
    return { ok: true, json: JSON.parse(new TextDecoder().decode(body)) };
  } catch {
    return { ok: false, reason: "malformed", detail: "not JSON" };
  }
}

/** Fetches `name`'s document from the ID server `source`. Never throws on the network's account. */
export async function fetchIdentity(
  source: string,
  name: NodeId,
  options: HttpOptions = {},
): Promise<FetchResult> {
  const r = await request(identityUrl(source, name), { method: "GET" }, options);
  if (!r.ok) return r;
  const res = r.res;
  try {
    if (res.status === 404) return { ok: false, reason: "not_found" };
    if (res.status !== 200) return { ok: false, reason: "http_error", detail: `${res.status}` };
    const body = await jsonBody(res, IDENTITY_JSON_BYTES_MAX);
    if (!body.ok) return body;
    const parsed = identityFromJson(body.json);
    if (!parsed.ok) return { ok: false, reason: "malformed", detail: parsed.reason };
    return { ok: true, bytes: parsed.bytes };
  } catch (e) {
    return { ok: false, reason: "unreachable", detail: String(e) };
  } finally {
    await res.body?.cancel().catch(() => {});
  }
}

/** Uploads `doc` to the ID server `source`. Never throws on the network's account. */
export async function publishIdentity(
  source: string,
  doc: IdentityDocument,
  options: HttpOptions = {},
): Promise<PublishResult> {
  const init: RequestInit = {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(identityToJson(doc)),
  };
  const r = await request(identityUrl(source, doc.name), init, options);
  if (!r.ok) return r;
  let body: { outcome?: string; error?: string; message?: string } = {};
  try {
    body = await r.res.json();
  } catch {
    // not JSON: judged by the status alone
  }
  if (r.res.ok && (body.outcome === "stored" || body.outcome === "unchanged")) {
    return { ok: true, outcome: body.outcome };
  }
  const reason = (body.error ?? "http_error") as PublishOutcome | "http_error";
  return { ok: false, reason, detail: body.message ?? `${r.res.status}` };
}

/** The path of `owner`'s family record on an ID server: `/<owner>/family`. */
export function familyPath(owner: NodeId): string {
  return `/${encodeURIComponent(owner)}/family`;
}

/** The URL of `owner`'s family record on the ID server `source`. */
export function familyUrl(source: string, owner: NodeId): string {
  return `${source}${familyPath(owner)}`;
}

/** Outcome of {@link fetchFamilyRecord}: the record, parsed but not yet verified. */
export type FamilyFetchResult =
  | { ok: true; record: SignedFamilyRecord }
  | {
    ok: false;
    reason: TransportFailure | "not_found" | "starting" | "oversized" | "malformed";
    detail?: string;
  };

/**
 * Outcome of {@link publishFamilyRecord}; `revision` is the one the server holds afterwards (0 for
 * none; absent when the server did not say).
 */
export type FamilyPublishResult =
  | { ok: true; outcome: "stored" | "unchanged"; revision: number }
  | {
    ok: false;
    reason: TransportFailure | FamilyPublishOutcome | "malformed" | "name_mismatch";
    revision?: number;
    detail?: string;
  };

/**
 * Fetches `owner`'s family record from the ID server `source`. Never throws on the network's
 * account.
 */
export async function fetchFamilyRecord(
  source: string,
  owner: NodeId,
  options: HttpOptions = {},
): Promise<FamilyFetchResult> {
  const r = await request(familyUrl(source, owner), { method: "GET" }, options);
  if (!r.ok) return r;
  const res = r.res;
  try {
    if (res.status === 404) return { ok: false, reason: "not_found" };
    if (res.status === 503) return { ok: false, reason: "starting" };
    if (res.status !== 200) return { ok: false, reason: "http_error", detail: `${res.status}` };
    const body = await jsonBody(res, FAMILY_JSON_BYTES_MAX);
    if (!body.ok) return body;
    const record = familyFromJson(body.json);
    if (record === null || record.owner !== owner) {
      return { ok: false, reason: "malformed", detail: `not a family record of ${owner}` };
    }
    return { ok: true, record };
  } catch (e) {
    return { ok: false, reason: "unreachable", detail: String(e) };
  } finally {
    await res.body?.cancel().catch(() => {});
  }
}

/** Uploads `record` to the ID server `source`. Never throws on the network's account. */
export async function publishFamilyRecord(
  source: string,
  record: SignedFamilyRecord,
  options: HttpOptions = {},
): Promise<FamilyPublishResult> {
  const init: RequestInit = {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(familyToJson(record)),
  };
  const r = await request(familyUrl(source, record.owner), init, options);
  if (!r.ok) return r;
  let body: { outcome?: string; error?: string; message?: string; revision?: unknown } = {};
  try {
    body = await r.res.json();
  } catch {
    // not JSON: judged by the status alone
  }
  const revision = Number.isSafeInteger(body.revision) ? body.revision as number : undefined;
  if (r.res.ok && (body.outcome === "stored" || body.outcome === "unchanged")) {
    return { ok: true, outcome: body.outcome, revision: revision ?? record.revision };
  }
  const reason = (body.error ?? "http_error") as (FamilyPublishResult & { ok: false })["reason"];
  const detail = body.message ?? `${r.res.status}`;
  return revision === undefined
    ? { ok: false, reason, detail }
    : { ok: false, reason, revision, detail };
}

/** Outcome of {@link IdentityResolver.resolve}. */
export type ResolveResult =
  | { ok: true; doc: IdentityDocument; source: string; status: "new" | "updated" | "unchanged" }
  | { ok: false; failures: ResolveFailure[] };

/** Why one source gave no acceptable document. */
export interface ResolveFailure {
  source: string;
  reason: (FetchResult & { ok: false })["reason"] | IdentityCacheRejectReason;
  detail?: string;
}

/** Fetches identities from their ID servers into a verifying {@link IdentityCache}. */
export class IdentityResolver {
  readonly cache: IdentityCache;
  readonly #crypto: Pick<StepCrypto, "verify">;
  readonly #options: HttpOptions & { clock?: () => number };

  constructor(
    cache: IdentityCache,
    crypto: Pick<StepCrypto, "verify">,
    options: HttpOptions & { clock?: () => number } = {},
  ) {
    this.cache = cache;
    this.#crypto = crypto;
    this.#options = options;
  }

  /**
   * Fetches `name` from each of `sources` in turn (default: the sources of the cached document)
   * until one gives a document the cache accepts.
   */
  async resolve(name: NodeId, sources?: readonly string[]): Promise<ResolveResult> {
    const from = sources ?? lookupIdentity(this.cache, name)?.sources ?? [];
    const failures: ResolveFailure[] = [];
    for (const source of from) {
      const fetched = await fetchIdentity(source, name, this.#options);
      if (!fetched.ok) {
        failures.push({ source, reason: fetched.reason, detail: fetched.detail });
        continue;
      }
      const now = (this.#options.clock ?? Date.now)();
      const offered = offerIdentity(this.cache, fetched.bytes, this.#crypto, now, name);
      if (offered.ok) return { ok: true, doc: offered.doc, source, status: offered.status };
      failures.push({ source, reason: offered.reason });
    }
    return { ok: false, failures };
  }
}

/** Per-source results of one publishing round. */
export type PublishReport = { source: string; result: PublishResult }[];

/** Outcome of {@link IdentityPublisher.publishAndRotate}. */
export interface RotationReport {
  /** The document now current (re-signed if rotated). */
  document: IdentityDocument;
  /** Sources dropped on the way. */
  dropped: string[];
  /** Results of the last round. */
  results: PublishReport;
  /** Whether every source of `document` has it. */
  complete: boolean;
}

/** Failures that make a source unusable for us: rotate away from it. */
function unusable(result: PublishResult): boolean {
  const forGood = ["unreachable", "timeout", "key_changed", "full", "too_many_names"];
  return !result.ok && forGood.includes(result.reason);
}

/** Keeps our own identity published on its ID servers, rotating away from dead ones. */
export class IdentityPublisher {
  #doc: IdentityDocument;
  readonly #keys: NodeKeys;
  readonly #sign: (data: Uint8Array) => Uint8Array;
  readonly #knownServers: readonly string[];
  readonly #options: HttpOptions & { clock?: () => number };

  /**
   * @param keys our keys (the document must carry `keys.signingPublicKey`)
   * @param document our current signed document
   * @param knownServers ID servers to rotate to, in order of preference
   * @param sign signs with our private key (`stepCryptoFor(keys.signingPrivateKey).sign`)
   */
  constructor(
    keys: NodeKeys,
    document: IdentityDocument,
    knownServers: readonly string[],
    sign: (data: Uint8Array) => Uint8Array,
    options: HttpOptions & { clock?: () => number } = {},
  ) {
    if (document.name !== keys.name) throw new RangeError("the document is not for these keys");
    this.#keys = keys;
    this.#doc = document;
    this.#knownServers = knownServers;
    this.#sign = sign;
    this.#options = options;
  }

  /** The current document. */
  get document(): IdentityDocument {
    return this.#doc;
  }

  /** Uploads the current document to all its sources at once. */
  async publish(): Promise<PublishReport> {
    const doc = this.#doc;
    return await Promise.all(doc.sources.map(async (source) => ({
      source,
      result: await publishIdentity(source, doc, this.#options),
    })));
  }

  /**
   * Publishes; while some sources are unusable, replaces them from the known servers, bumps the
   * revision, re-signs and publishes again. Stops when every source has the document, or when no
   * replacement is left (then `complete` is false and the usable sources still got it).
   */
  async publishAndRotate(): Promise<RotationReport> {
    const dropped: string[] = [];
    let results = await this.publish();
    for (let round = 0; round < ROTATION_ROUNDS_MAX; round++) {
      const dead = results.filter((r) => unusable(r.result)).map((r) => r.source);
      if (dead.length === 0) break;
      dropped.push(...dead);
      const sources = rotateSources(this.#doc.sources, dropped, this.#knownServers);
      const current = this.#doc.sources;
      if (sources === null || sources.join("\n") === current.join("\n")) break;
      const now = (this.#options.clock ?? Date.now)();
      this.#doc = signIdentity(reviseIdentity(this.#doc, { sources }, now), this.#sign);
      results = await this.publish();
    }
    const complete = results.every((r) => r.result.ok);
    return { document: this.#doc, dropped, results, complete };
  }

  /** Our keys' name (for logs). */
  get name(): NodeId {
    return this.#keys.name;
  }
}

/** A first document (revision 1) for `keys`, listing `sources` and `contacts`. */
export function createIdentity(
  keys: NodeKeys,
  sources: string[],
  contacts: string[],
  nowMs: number,
  sign: (data: Uint8Array) => Uint8Array,
): IdentityDocument {
  return signIdentity({
    name: keys.name,
    signingKey: keys.signingPublicKey,
    agreementKey: keys.agreementPublicKey,
    contacts,
    sources,
    revision: 1,
    dateMs: nowMs,
  }, sign);
}
