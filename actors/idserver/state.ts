/**
 * State, protocol types and invariants of the ID-server actor (see `step.ts` for how it moves).
 *
 * @module
 */

import type { Effect, NodeId } from "../../core/actor.ts";
import { assert, AssertionError } from "../../core/assert.ts";
import { toHex } from "../../core/ids.ts";
import { TimerTable } from "../../core/timers.ts";
import {
  IDENTITY_TTL_MS,
  IDSERVER_BLOCK_REGISTRATIONS_MAX,
  IDSERVER_IDENTITIES_MAX,
  IDSERVER_LEASES_MAX,
  IDSERVER_NAMES_PER_KEY_MAX,
  IDSERVER_OFFERS_MAX,
  IDSERVER_REGISTRATION_BLOCKS_MAX,
  IDSERVER_WRITES_PENDING_MAX,
} from "../../core/limits.ts";
import type { Message } from "../../core/protocol/mod.ts";
import type {
  IdentityListReply,
  IdServerAnswer,
  IdServerRequest,
} from "../../core/protocol/idserver.ts";
import type { SignedFamilyRecord, SignedLease, SignedOffer } from "../../core/protocol/identity.ts";
import { type RegistrationBudget, registrationBudget } from "./rate.ts";

/** Blob-key prefix of hosted documents: `id/<name>` holds `<name>`'s binary document. */
export const DOC_KEY_PREFIX = "id/";

/** The blob key of `name`'s document. */
export function docKey(name: NodeId): string {
  return DOC_KEY_PREFIX + name;
}

/** Blob-key prefix of hosted family records: `family/<owner>` holds `<owner>`'s encoded record. */
export const FAMILY_KEY_PREFIX = "family/";

/** The blob key of `owner`'s family record. */
export function familyKey(owner: NodeId): string {
  return FAMILY_KEY_PREFIX + owner;
}

/**
 * Most family records one ID server keeps (default of {@link IdServerLimits.familiesMax}): at
 * `FAMILY_SEALED_BYTES_MAX` each, at most about 1 GiB of sealed bodies in memory.
 */
export const IDSERVER_FAMILIES_MAX = 65_536;

export type { IdentityListReply, IdServerAnswer, IdServerRequest };

/** What the actor tells its host besides answers: when its documents are loaded. */
export type IdServerNotice =
  | IdServerAnswer
  | { type: "ready"; identities: number; corrupt: number };

/** The ID server's protocol: commands are the local form of the requests other nodes send. */
export interface IdServerProtocol {
  message: Message;
  job: never;
  jobResult: never;
  command: IdServerRequest;
  notice: IdServerNotice;
}

/** One hosted document, as much of it as the server needs to judge the next upload. */
export interface HostedIdentity {
  revision: number;
  signingKey: Uint8Array;
  bytes: Uint8Array<ArrayBuffer>;
  /** When its owner last published it (the same document or a higher revision). */
  refreshedMs: number;
  /** The refresh time in its blob (0 for a blob of the old format, which has none). */
  persistedMs: number;
}

/** One hosted family record: decoded, and its exact encoded bytes (as stored in its blob). */
export interface HostedFamily {
  record: SignedFamilyRecord;
  bytes: Uint8Array<ArrayBuffer>;
}

/** Who asked: the local host (answer with a notice) or a node (answer with a message). */
export type Requester = { via: "command" } | { via: "message"; from: NodeId };

/**
 * A publish whose record is being written; it is answered when the write completes. `store`
 * writes a new document (a new name when `adding`); `refresh` rewrites a hosted one with a new
 * refresh time and is answered `unchanged`.
 */
export interface PendingWrite {
  kind: "store" | "refresh";
  name: NodeId;
  entry: HostedIdentity;
  adding: boolean;
  requester: Requester;
  requestId: number;
}

/** A family publish whose record is being written; answered when the write completes. */
export interface PendingFamilyWrite {
  owner: NodeId;
  entry: HostedFamily;
  requester: Requester;
  requestId: number;
}

/** Progress of loading the hosted documents, then the family records, at start. */
export interface LoadState {
  /** What is being loaded: identities first, since family records are verified against them. */
  stage: "identities" | "families";
  /** Io id of the `list`, while it is outstanding. */
  listId: number | null;
  /** Keys to read, from the list. */
  keys: string[];
  /** Index of the next key to read. */
  next: number;
  /** Reads in flight: io id to key. */
  reads: Map<number, string>;
}

/** The ID server's timer kinds, in tie-break order (what arms each: step.ts's theory block). */
const ID_SERVER_TIMERS = ["offer_sweep", "expiry_sweep", "load_retry"] as const;

/**
 * A kind of ID server timer: `offer_sweep` drops expired offers, `expiry_sweep` drops some
 * expired identities, `load_retry` lists the store again after a failed list.
 */
export type IdServerTimer = (typeof ID_SERVER_TIMERS)[number];

/** Configurable maxima (tests lower them to reach the reject paths). */
export interface IdServerLimits {
  identitiesMax: number;
  offersMax: number;
  familiesMax: number;
  /** Names hosted under one signing key. */
  namesPerKeyMax: number;
  /** New names per address block per registration window (the bucket size). */
  blockRegistrationsMax: number;
  /** Address blocks tracked at once. */
  registrationBlocksMax: number;
  /** How long an identity nobody refreshes stays hosted. */
  identityTtlMs: number;
  /** Owners with a writer lease (`leases.ts`). */
  leasesMax: number;
}

/** Everything one ID server holds. */
export interface IdServerState {
  phase: "idle" | "loading" | "ready";
  limits: IdServerLimits;
  /** Hosted documents by name. */
  docs: Map<NodeId, HostedIdentity>;
  /** Hosted names, sorted, for paged listing. */
  names: NodeId[];
  /** Current offer by supplier. */
  offers: Map<NodeId, SignedOffer>;
  /** Suppliers with an offer, in slot order (for sampling), and each one's slot. */
  offerOrder: NodeId[];
  offerSlot: Map<NodeId, number>;
  /** Publishes waiting for their write, by io id; and the names being written. */
  writes: Map<number, PendingWrite>;
  writing: Set<NodeId>;
  /** Family record by owner (every owner's identity is hosted here). */
  families: Map<NodeId, HostedFamily>;
  /** Family publishes waiting for their write, by io id; and the owners being written. */
  familyWrites: Map<number, PendingFamilyWrite>;
  familyWriting: Set<NodeId>;
  /** Writer lease by owner, in memory only (`leases.ts`). */
  leases: Map<NodeId, SignedLease>;
  /** Names hosted (or being written as new) under each signing key, by the key in hex. */
  keyNames: Map<string, number>;
  /** Registration budgets of address blocks. */
  registrations: RegistrationBudget;
  /** Blob deletes of expired identities in flight: io id to name; and how many per name. */
  deletes: Map<number, NodeId>;
  deleting: Map<NodeId, number>;
  /** The expiry sweep's cursor: the last name it looked at. */
  expiry: { cursor: NodeId };
  load: LoadState;
  nextIoId: number;
  /** Every deadline, one per {@link IdServerTimer} kind (see step.ts's theory block). */
  timers: TimerTable<IdServerTimer>;
  /** Counts of every outcome, by name (`publish.stored`, `offer.bad_signature`, ...). */
  counters: Record<string, number>;
}

/** The ID server's limits unless its operator sets them (see `core/limits.ts`). */
export const IDSERVER_DEFAULTS: Readonly<IdServerLimits> = Object.freeze({
  identitiesMax: IDSERVER_IDENTITIES_MAX,
  offersMax: IDSERVER_OFFERS_MAX,
  familiesMax: IDSERVER_FAMILIES_MAX,
  namesPerKeyMax: IDSERVER_NAMES_PER_KEY_MAX,
  blockRegistrationsMax: IDSERVER_BLOCK_REGISTRATIONS_MAX,
  registrationBlocksMax: IDSERVER_REGISTRATION_BLOCKS_MAX,
  identityTtlMs: IDENTITY_TTL_MS,
  leasesMax: IDSERVER_LEASES_MAX,
});

/** A fresh, empty ID server; it loads its documents when it gets `start`. */
export function idServerState(limits: Partial<IdServerLimits> = {}): IdServerState {
  const full: IdServerLimits = { ...IDSERVER_DEFAULTS };
  for (const [k, v] of Object.entries(limits) as [keyof IdServerLimits, number | undefined][]) {
    if (v !== undefined) full[k] = v;
  }
  assert(
    Object.values(full).every((v) => Number.isSafeInteger(v) && v >= 1),
    "ID server limits must be positive integers",
  );
  return {
    phase: "idle",
    limits: full,
    docs: new Map(),
    names: [],
    offers: new Map(),
    offerOrder: [],
    offerSlot: new Map(),
    writes: new Map(),
    writing: new Set(),
    families: new Map(),
    familyWrites: new Map(),
    familyWriting: new Set(),
    leases: new Map(),
    keyNames: new Map(),
    registrations: registrationBudget(full.blockRegistrationsMax),
    deletes: new Map(),
    deleting: new Map(),
    expiry: { cursor: "" },
    load: {
      stage: "identities",
      listId: null,
      keys: [],
      next: 0,
      reads: new Map(),
    },
    nextIoId: 1,
    timers: new TimerTable(ID_SERVER_TIMERS),
    counters: {},
  };
}

/** The effect that answers `requester`: a notice to the local host, or a message to a node. */
export function answer(requester: Requester, reply: IdServerAnswer): Effect<IdServerProtocol> {
  if (requester.via === "command") return { kind: "notice", notice: reply };
  assert(
    reply.type !== "identity_list_reply" && reply.type !== "lease_fetch_reply",
    "listing and lease fetches are local commands only",
  );
  return { kind: "send", to: requester.from, message: reply };
}

/** Counting is the same for every actor (`core/counters.ts`). */
export { count } from "../../core/counters.ts";

/** The key of `signingKey` in {@link IdServerState.keyNames}. */
export function keyOf(signingKey: Uint8Array): string {
  return toHex(signingKey);
}

/** Adds `delta` to the names counted under `signingKey`. */
export function countKeyName(state: IdServerState, signingKey: Uint8Array, delta: number): void {
  const key = keyOf(signingKey);
  const n = (state.keyNames.get(key) ?? 0) + delta;
  assert(n >= 0, "a key holds fewer than no names");
  if (n === 0) state.keyNames.delete(key);
  else state.keyNames.set(key, n);
}

/** Blob writes and deletes in flight, which share `IDSERVER_WRITES_PENDING_MAX`. */
export function blobOpsInFlight(state: IdServerState): number {
  return state.writes.size + state.familyWrites.size + state.deletes.size;
}

/** Whether another blob write or delete may start now. */
export function blobOpRoom(state: IdServerState): boolean {
  return blobOpsInFlight(state) < IDSERVER_WRITES_PENDING_MAX;
}

/** Whether `hosted` went unrefreshed for longer than the TTL at `nowMs`. */
export function expired(state: IdServerState, hosted: HostedIdentity, nowMs: number): boolean {
  return nowMs - hosted.refreshedMs > state.limits.identityTtlMs;
}

/**
 * `name`'s hosted identity unless it expired: an expired one is not served, nor does it vouch for
 * offers or family records, even before the sweep drops it.
 */
export function liveIdentity(
  state: IdServerState,
  name: NodeId,
  nowMs: number,
): HostedIdentity | undefined {
  const hosted = state.docs.get(name);
  return hosted === undefined || expired(state, hosted, nowMs) ? undefined : hosted;
}

/** Removes `name` from the sorted list of hosted names. */
export function removeName(names: NodeId[], name: NodeId): void {
  const i = firstAfter(names, name) - 1;
  assert(i >= 0 && names[i] === name, `name ${name} is not listed`);
  names.splice(i, 1);
}

/** Inserts a new name into the sorted list of hosted names. */
export function insertName(names: NodeId[], name: NodeId): void {
  let lo = 0;
  let hi = names.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (names[mid] < name) lo = mid + 1;
    else hi = mid;
  }
  assert(names[lo] !== name, `name ${name} listed twice`);
  names.splice(lo, 0, name);
}

/** Index of the first name after `after` in the sorted list. */
export function firstAfter(names: NodeId[], after: string): number {
  let lo = 0;
  let hi = names.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (names[mid] <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Tables up to this size get the linear checks (sorted names, family owners, offer slots) after
 * every step, as every unit test's do. Larger ones get them after every
 * {@link LINEAR_CHECK_EVERY}-th step of the server and at the end of a simulated run (`full`):
 * after every step they cost 3% of a 500-node simulation, for the 95 family records each ID
 * server holds there. What that gives up: a broken index of a large table stops the run up to
 * 15 steps after the step that broke it, not at once. (Before, tables over 128 entries were not
 * checked at all between steps.)
 */
const FULL_CHECK_MAX = 32;
/** Steps of one ID server between linear checks of its tables over {@link FULL_CHECK_MAX}. */
const LINEAR_CHECK_EVERY = 16;
/**
 * Hosted names up to which the per-key index is recomputed after each step: it hexes every key,
 * which made a 100-node simulation 40% slower at 128 names; the unit tests stay below this.
 * Larger ones: only with `full`.
 */
const KEY_CHECK_MAX = 32;
/** Invariant checks run on each state, for {@link LINEAR_CHECK_EVERY} (a check writes no state). */
const checksRun = new WeakMap<IdServerState, number>();

/**
 * Asserts the ID server's own rules: bounded tables, consistent indexes. The linear checks of
 * large tables run only now and then (see {@link FULL_CHECK_MAX}); `full` runs every check.
 */
export function invariants(state: IdServerState, full = false): void {
  const { docs, names, offers, offerOrder, offerSlot } = state;
  assert(docs.size <= state.limits.identitiesMax, "more identities than the maximum");
  assert(offers.size <= state.limits.offersMax, "more offers than the maximum");
  assert(names.length === docs.size, "name index out of step with the documents");
  assert(offerOrder.length === offers.size && offerSlot.size === offers.size, "offer index");
  assert(state.writing.size === state.writes.size, "one write in flight per name at most");
  assert(state.families.size <= state.limits.familiesMax, "more family records than the maximum");
  assert(state.familyWriting.size === state.familyWrites.size, "one family write per owner");
  assert(state.phase !== "ready" || state.load.reads.size === 0, "ready while still loading");
  assert(blobOpsInFlight(state) <= IDSERVER_WRITES_PENDING_MAX, "too many blob ops in flight");
  assert(state.keyNames.size <= docs.size + state.writes.size, "more keys than names");
  assert(
    state.registrations.blocks.size <= state.limits.registrationBlocksMax,
    "more address blocks than the maximum",
  );
  // The loops below name the culprit only once a check fails: a message built on every pass cost
  // more than the checks themselves (this runs after every step of every ID server).
  const run = (checksRun.get(state) ?? 0) + 1;
  checksRun.set(state, run);
  const linear = full || run % LINEAR_CHECK_EVERY === 0;
  if (linear || docs.size <= FULL_CHECK_MAX) {
    for (let i = 1; i < names.length; i++) assert(names[i - 1] < names[i], "names unsorted");
    for (const name of names) if (!docs.has(name)) fail(`listed name ${name} is not hosted`);
  }
  if (full || docs.size <= KEY_CHECK_MAX) {
    const perKey = new Map<string, number>();
    const add = (k: Uint8Array) => perKey.set(keyOf(k), (perKey.get(keyOf(k)) ?? 0) + 1);
    for (const d of docs.values()) add(d.signingKey);
    for (const w of state.writes.values()) if (w.adding) add(w.entry.signingKey);
    assert(perKey.size === state.keyNames.size, "key index out of step with the documents");
    for (const [k, n] of perKey) assert(state.keyNames.get(k) === n, `names under key ${k}`);
    for (const n of perKey.values()) assert(n <= state.limits.namesPerKeyMax, "names per key");
  }
  if (linear || state.families.size <= FULL_CHECK_MAX) {
    for (const [owner, f] of state.families) {
      if (f.record.owner !== owner) fail(`family record of ${owner} filed under another owner`);
      if (!docs.has(owner)) fail(`family record of ${owner}, whose identity is not hosted`);
    }
  }
  if (linear || offers.size <= FULL_CHECK_MAX) {
    for (let i = 0; i < offerOrder.length; i++) {
      if (offerSlot.get(offerOrder[i]) !== i) fail(`offer slot of ${offerOrder[i]}`);
    }
  }
}

/** An invariant does not hold: {@link assert}'s failure, with a message built only now. */
function fail(message: string): never {
  throw new AssertionError(message);
}
