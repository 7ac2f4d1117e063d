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
 * {@link PeerLookup} answers, for a real node's transport, which key a peer's name means: from
 * the node's own configured ID servers only (never from the sources a peer's document names,
 * which the peer chose), with bounded concurrency, a bounded negative cache with expiry, and a
 * timeout on every request; what it confirms it pins in the identity cache.
 *
 * @module
 */

import type { NodeId, StepCrypto } from "../core/actor.ts";
import {
  checkIdentity,
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
import { bytesEqual } from "../core/ids.ts";
import {
  IDENTITY_JSON_BYTES_MAX,
  IDENTITY_SOURCES_MAX,
  PEER_LOOKUP_FAILED_TTL_MS,
  PEER_LOOKUP_NEGATIVE_ENTRIES_MAX,
  PEER_LOOKUP_NEGATIVE_TTL_MS,
  PEER_LOOKUP_TIMEOUT_MS,
  PEER_LOOKUPS_MAX,
} from "../core/limits.ts";
import type {
  FamilyPublishOutcome,
  PublishOutcome,
  SignedFamilyRecord,
} from "../core/protocol/identity.ts";
import { familyPath } from "../parts/idserver_wire.ts";
import { FAMILY_JSON_BYTES_MAX, familyFromJson, familyToJson } from "./idserver_http.ts";
import type { NodeKeys } from "./keys.ts";
import { readStreamCapped } from "./capped_body.ts";

/** Default time limit of one request to an ID server. */
const ID_REQUEST_TIMEOUT_MS = 5000;
/** Most rounds of rotation one `publishAndRotate` call makes. */
const ROTATION_ROUNDS_MAX = IDENTITY_SOURCES_MAX + 4;

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
export function readCapped(res: Response, maxBytes: number): Promise<Uint8Array | null> {
  return readStreamCapped(res.body, maxBytes);
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

/** The URL of `owner`'s family record on the ID server `source`. */
function familyUrl(source: string, owner: NodeId): string {
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

/**
 * Whether a name is bound to a key: `ok`, or why not. `unknown_peer`: no ID server serves the
 * name; `key_mismatch`: it is bound to another key (or the ID servers disagree on its key);
 * `lookup_busy`: too many lookups under way to start another; `lookup_failed`: no ID server
 * answered in time.
 */
export type BindingVerdict =
  | "ok"
  | "unknown_peer"
  | "key_mismatch"
  | "lookup_busy"
  | "lookup_failed";

/** Limits of a {@link PeerLookup}; the defaults are the named maxima. */
export interface PeerLookupOptions extends HttpOptions {
  /** Lookups under way at once, refreshes included (default {@link PEER_LOOKUPS_MAX}). */
  lookupsMax?: number;
  /** Names whose unsuccessful lookup is remembered (default the named maximum). */
  negativeEntriesMax?: number;
  /** How long "not found" and "keys disagree" are remembered. */
  negativeTtlMs?: number;
  /** How long "no ID server answered" is remembered. */
  failedTtlMs?: number;
  clock?: () => number;
}

type LookupOutcome =
  | { kind: "found"; doc: IdentityDocument }
  | { kind: "unknown" | "conflict" | "failed" };

/** What a {@link PeerLookup} did, for metrics and tests. Counts only grow. */
export interface PeerLookupCounters {
  /** Lookups sent to the ID servers, and how they ended. */
  lookups: number;
  found: number;
  unknown: number;
  conflicts: number;
  failed: number;
  /** Refused at once: too many lookups under way. */
  busy: number;
  /** Answered from the negative cache, or by joining a lookup of the same name under way. */
  negativeHits: number;
  joined: number;
}

const VERDICTS = {
  unknown: "unknown_peer",
  conflict: "key_mismatch",
  failed: "lookup_failed",
} as const;

/**
 * Which key a peer's name means, from a node's own ID servers.
 *
 * A name is *confirmed* for a key when at least one of the configured ID servers serves a
 * document for that name that verifies under that key and none serves a verifying document for
 * it under another key (servers that do not answer do not count either way). The document is
 * then offered to the identity cache, which pins its key: the cache is the positive cache
 * (bounded, least recently used out; a pin does not expire, since a name means one key). The
 * other outcomes are remembered per name in a bounded negative cache, briefly. Lookups of the
 * same name share one request round; at most `lookupsMax` rounds run at once, further ones are
 * refused as `lookup_busy` at once (the caller refuses its peer, which may retry).
 */
export class PeerLookup {
  readonly cache: IdentityCache;
  readonly counters: PeerLookupCounters = {
    lookups: 0,
    found: 0,
    unknown: 0,
    conflicts: 0,
    failed: 0,
    busy: 0,
    negativeHits: 0,
    joined: 0,
  };
  readonly #crypto: Pick<StepCrypto, "verify">;
  readonly #servers: readonly string[];
  readonly #resolver: IdentityResolver;
  readonly #http: HttpOptions;
  readonly #o: Required<Omit<PeerLookupOptions, keyof HttpOptions>>;
  readonly #negative = new Map<
    NodeId,
    { kind: "unknown" | "conflict" | "failed"; untilMs: number }
  >();
  readonly #running = new Map<NodeId, Promise<LookupOutcome>>();
  #refreshes = 0;

  /**
   * @param cache the node's identity cache (pins keys)
   * @param idServers the node's own ID servers (base URLs)
   */
  constructor(
    cache: IdentityCache,
    crypto: Pick<StepCrypto, "verify">,
    idServers: readonly string[],
    options: PeerLookupOptions = {},
  ) {
    this.cache = cache;
    this.#crypto = crypto;
    this.#servers = [...new Set(idServers)];
    this.#http = { timeoutMs: options.timeoutMs ?? PEER_LOOKUP_TIMEOUT_MS, fetch: options.fetch };
    this.#o = {
      lookupsMax: options.lookupsMax ?? PEER_LOOKUPS_MAX,
      negativeEntriesMax: options.negativeEntriesMax ?? PEER_LOOKUP_NEGATIVE_ENTRIES_MAX,
      negativeTtlMs: options.negativeTtlMs ?? PEER_LOOKUP_NEGATIVE_TTL_MS,
      failedTtlMs: options.failedTtlMs ?? PEER_LOOKUP_FAILED_TTL_MS,
      clock: options.clock ?? Date.now,
    };
    this.#resolver = new IdentityResolver(cache, crypto, { ...this.#http, clock: this.#o.clock });
  }

  /** Lookups under way now (rounds and refreshes). */
  get running(): number {
    return this.#running.size + this.#refreshes;
  }

  /** Whether `name` means `key`: the pinned key, else a lookup (see the class notes). */
  async confirm(name: NodeId, key: Uint8Array): Promise<BindingVerdict> {
    const found = await this.find(name);
    if (typeof found === "string") return found;
    return bytesEqual(found.signingKey, key) ? "ok" : "key_mismatch";
  }

  /** `name`'s document: the cached one, else confirmed on the ID servers and pinned; or why not. */
  async find(name: NodeId): Promise<IdentityDocument | Exclude<BindingVerdict, "ok">> {
    const cached = lookupIdentity(this.cache, name);
    if (cached !== undefined) return cached;
    const now = this.#o.clock();
    const negative = this.#negative.get(name);
    if (negative !== undefined) {
      if (negative.untilMs > now) {
        this.counters.negativeHits++;
        return VERDICTS[negative.kind];
      }
      this.#negative.delete(name);
    }
    let round = this.#running.get(name);
    if (round !== undefined) this.counters.joined++;
    else {
      if (this.running >= this.#o.lookupsMax) {
        this.counters.busy++;
        return "lookup_busy";
      }
      round = this.#lookup(name).finally(() => this.#running.delete(name));
      this.#running.set(name, round);
    }
    const outcome = await round;
    return outcome.kind === "found" ? outcome.doc : VERDICTS[outcome.kind];
  }

  /**
   * A newer revision of a pinned `name` (its contacts may have changed), from its document's
   * sources and ours: the pin holds, so any source will do. `undefined` when none has one or
   * the lookups are all busy.
   */
  async refresh(name: NodeId): Promise<IdentityDocument | undefined> {
    const cached = lookupIdentity(this.cache, name);
    if (cached === undefined || this.running >= this.#o.lookupsMax) return undefined;
    this.#refreshes++;
    try {
      const sources = [...new Set([...cached.sources, ...this.#servers])];
      const r = await this.#resolver.resolve(name, sources);
      return r.ok ? r.doc : undefined;
    } finally {
      this.#refreshes--;
    }
  }

  async #lookup(name: NodeId): Promise<LookupOutcome> {
    this.counters.lookups++;
    const fetched = await Promise.all(
      this.#servers.map((source) => fetchIdentity(source, name, this.#http)),
    );
    let answered = false;
    const docs: { doc: IdentityDocument; bytes: Uint8Array }[] = [];
    for (const r of fetched) {
      if (!r.ok) {
        answered ||= r.reason === "not_found";
        continue;
      }
      answered = true;
      const checked = checkIdentity(r.bytes, this.#crypto);
      if (checked.ok && checked.doc.name === name) docs.push(checked);
    }
    if (docs.length === 0) return this.#remember(name, answered ? "unknown" : "failed");
    const key = docs[0].doc.signingKey;
    if (docs.some((d) => !bytesEqual(d.doc.signingKey, key))) {
      return this.#remember(name, "conflict");
    }
    const now = this.#o.clock();
    docs.sort((a, b) => b.doc.revision - a.doc.revision);
    for (const d of docs) offerIdentity(this.cache, d.bytes, this.#crypto, now, name);
    const pinned = lookupIdentity(this.cache, name);
    if (pinned === undefined || !bytesEqual(pinned.signingKey, key)) {
      return this.#remember(name, "conflict"); // pinned under another key meanwhile
    }
    this.counters.found++;
    return { kind: "found", doc: pinned };
  }

  #remember(name: NodeId, kind: "unknown" | "conflict" | "failed"): LookupOutcome {
    this.counters[kind === "unknown" ? "unknown" : kind === "conflict" ? "conflicts" : "failed"]++;
    const ttl = kind === "failed" ? this.#o.failedTtlMs : this.#o.negativeTtlMs;
    this.#negative.delete(name);
    while (this.#negative.size >= this.#o.negativeEntriesMax) {
      this.#negative.delete(this.#negative.keys().next().value!);
    }
    this.#negative.set(name, { kind, untilMs: this.#o.clock() + ttl });
    return { kind };
  }
}
