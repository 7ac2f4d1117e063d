/**
 * State, configuration, protocol types and invariants of the supplier actor (see `step.ts` for
 * how it moves).
 *
 * @module
 */

import type { NodeId } from "../../core/actor.ts";
import { assert } from "../../core/assert.ts";
import { isNodeId } from "../../core/ids.ts";
import { TimerTable } from "../../core/timers.ts";
import {
  IDENTITY_DOC_BYTES_MAX,
  IDENTITY_SOURCES_MAX,
  OFFER_TTL_MS_MAX,
  SUPPLIER_AUDITS_MAX,
  SUPPLIER_BLOB_OPS_MAX,
  SUPPLIER_CONTRACT_TIMERS_PER_STEP_MAX,
  SUPPLIER_CUSTOMERS_MAX,
  SUPPLIER_DELETE_TASKS_MAX,
  SUPPLIER_FRAGMENTS_MAX,
  SUPPLIER_FRAGMENTS_PER_CUSTOMER_MAX,
  SUPPLIER_LAPSED_NAMES_MAX,
} from "../../core/limits.ts";
import type { OfferOutcome, PublishOutcome } from "../../core/protocol/identity.ts";
import type { Message } from "../../core/protocol/mod.ts";
import type { StorageJob, StorageJobResult } from "../../core/storage.ts";
import {
  createLinks,
  type IdServerLink,
  type LinkPacing,
  type LinkRequest,
  nextLinkDeadline,
} from "../../parts/idserver_link.ts";

/** Commands from the supplier's own operator. */
export type SupplierCommand = { type: "status" };

/** A snapshot of the supplier, answering the `status` command. */
export interface SupplierStatus {
  type: "status";
  phase: SupplierState["phase"];
  customers: number;
  fragments: number;
  capacityBytes: number;
  /** Sum of the quotas of the contracts (may exceed the capacity: quotas are charged as used). */
  grantedBytes: number;
  /** What counts against the capacity: bytes stored and in flight, plus open reservations. */
  chargedBytes: number;
  usedBytes: number;
  /** Bytes offered to new customers: capacity minus charged bytes (0 when full). */
  freeBytes: number;
  /** ID servers that host the supplier's current identity. */
  published: number;
  /** Messages refused because their link's key is not the one pinned for their sender. */
  keyRefusals: number;
  /** Contracts ended because nothing was stored before their reservation ran out. */
  contractsLapsed: number;
  /** Contracts ended because their customer did not renew them within the lease. */
  contractsExpired: number;
  /**
   * Writes refused `superseded`: from an instance of a customer below the writer epoch another
   * instance of it wrote at (the fence of `core/protocol/storage.ts`).
   */
  writesSuperseded: number;
}

/** Why a contract ended. */
export type ContractEnd = "cancelled" | "lapsed" | "expired";

/** What the supplier tells its operator. */
export type SupplierNotice =
  | {
    type: "loaded";
    customers: number;
    fragments: number;
    orphans: number;
    /** Contract records that did not decode (their fragments are kept: `unclaimed.ts`). */
    damaged: number;
  }
  | { type: "contract"; customer: NodeId; quotaBytes: number }
  | { type: "contract_ended"; customer: NodeId; removed: number; reason: ContractEnd }
  | { type: "publish_refused"; idServer: NodeId; outcome: PublishOutcome }
  | { type: "offer_refused"; idServer: NodeId; outcome: OfferOutcome }
  | SupplierStatus;

/** The supplier's protocol: storage messages in, proof jobs out, operator commands and notices. */
export interface SupplierProtocol {
  message: Message;
  job: StorageJob;
  jobResult: StorageJobResult;
  command: SupplierCommand;
  notice: SupplierNotice;
}

/** Everything that configures one supplier; only the first four fields are required. */
export interface SupplierConfig {
  /** The supplier's node name; offers are signed in this name. */
  name: NodeId;
  /** The supplier's encoded, signed identity document, published to every ID server. */
  identityDocument: Uint8Array;
  /** Bytes of disk the supplier lends in total. */
  capacityBytes: number;
  /** ID servers to publish the identity to and announce offers at (at most 6). */
  idServers: NodeId[];
  /** Time between two offer announcements at one ID server (default 1 h). */
  announceIntervalMs?: number;
  /** Life of one offer, from issue to expiry; over 1.1 intervals (default 2 h). */
  offerTtlMs?: number;
  /** How long to wait for an ID server's answer before trying again (default 30 s). */
  replyTimeoutMs?: number;
  /** First delay before retrying an unanswered or refused publish or announce (default 5 s). */
  retryMs?: number;
  /** Longest retry delay; delays double up to it (default 10 min). */
  retryMsMax?: number;
  /** Re-announce early when free space moved by this share of the capacity (default 0.1). */
  reannounceShare?: number;
  /** Delay before loading again after a failed list or read at start (default 1 s). */
  loadRetryMs?: number;
  /** Delay before retrying the failed deletes of a cancelled contract (default 10 s). */
  deleteRetryMs?: number;
  /** Table maxima; tests lower them to reach the reject paths. */
  customersMax?: number;
  fragmentsPerCustomerMax?: number;
  fragmentsMax?: number;
  blobOpsMax?: number;
  auditsMax?: number;
  deleteTasksMax?: number;
  lapsedNamesMax?: number;
  contractTimersPerStepMax?: number;
}

/** {@link SupplierConfig} with every default filled in. */
export type SupplierOptions = Required<SupplierConfig>;

/** Default timers of {@link SupplierConfig}. */
export const SUPPLIER_DEFAULTS = {
  announceIntervalMs: 60 * 60 * 1000,
  offerTtlMs: 2 * 60 * 60 * 1000,
  replyTimeoutMs: 30_000,
  retryMs: 5_000,
  retryMsMax: 10 * 60 * 1000,
  reannounceShare: 0.1,
  loadRetryMs: 1_000,
  deleteRetryMs: 10_000,
} as const;

/** One stored fragment: its size and the io id of the write that stored it (0: loaded). */
export interface FragmentEntry {
  size: number;
  writeId: number;
}

/** A quota being written to the contract blob. */
export interface PendingQuota {
  bytes: number;
  ioId: number;
  requestId: number;
  /**
   * Whether the grant opens a reservation window (a new contract, or a raise after new bytes
   * arrived): then `bytes` are held against the capacity from now on, while written.
   */
  reserve: boolean;
  /** The renewal time the record being written carries. */
  renewedMs: number;
}

/** One customer: its contract and its fragments. */
export interface CustomerRecord {
  /** `pending`: first contract write in flight; `closing`: being cancelled, lapsed or expired. */
  status: "pending" | "active" | "closing";
  quotaBytes: number;
  pendingQuota: PendingQuota | null;
  sinceMs: number;
  /**
   * The key the contract was granted to (pinned from the link of its `contract_request`); only
   * that key is served. `null`: a record of the format before keys, not yet pinned.
   */
  key: Uint8Array | null;
  /** Whether the record on disk holds {@link key}. */
  keyStored: boolean;
  /** The last authenticated request from the key: the lease runs from it. */
  renewedMs: number;
  /** The renewal time the record on disk holds. */
  renewedStoredMs: number;
  /**
   * The highest writer epoch the customer's state-changing requests carried: one below it is
   * answered `superseded` (the fence of `core/protocol/storage.ts`).
   */
  epoch: number;
  /** The epoch the record on disk holds (or the write in flight will). */
  epochStored: number;
  /** A rewrite of the record (a renewal, a pinned key, a raised epoch to keep) is in flight. */
  rewriting: boolean;
  /** End of the reservation window, or `null` once it is over. */
  windowEndsMs: number | null;
  /**
   * Whether the window holds the unused quota against the capacity: not for a name whose
   * contract lapsed lately, nor for a contract loaded from disk that no longer fits.
   */
  reserving: boolean;
  /** New bytes arrived since a grant or raise last opened the window: a raise re-opens it. */
  grewSinceGrant: boolean;
  /** When this customer's live timer entry fires, and its generation (`null`: none). */
  timerAtMs: number | null;
  timerGen: number;
  fragments: Map<string, FragmentEntry>;
  /** The fragment keys sorted, or `null` until the next `list` sorts them. */
  sorted: string[] | null;
  /** Sum of the fragments' sizes. */
  usedBytes: number;
  /**
   * Growth reserved by the stores in flight: each one's size beyond the fragment it replaces,
   * so `usedBytes + reservedBytes` bounds the use whether they succeed or fail.
   */
  reservedBytes: number;
  /** Stores in flight, and how many of them create a new key. */
  storesInFlight: number;
  newKeysInFlight: number;
  /** Keys with a store or a removal in flight: no second mutation starts on them. */
  locked: Set<string>;
}

/**
 * The fragments of a customer whose contract record was found damaged at load (`unclaimed.ts`):
 * kept on disk, charged against the capacity, only read for the name, until its next contract
 * request re-creates the contract over them or `untilMs` passes and they are deleted.
 */
export interface UnclaimedRecord {
  /** Fragments by key: their sizes, and (always 0) the io id that wrote them. */
  fragments: Map<string, FragmentEntry>;
  /** The keys sorted, or `null` until a `list` sorts them. */
  sorted: string[] | null;
  usedBytes: number;
  untilMs: number;
  /** Their deletion (an `orphans` task named after the customer) is under way. */
  deleting: boolean;
}

/** A blob operation in flight and what to do when it completes. */
export type PendingIo =
  | { op: "load_list"; what: "contracts" | "fragments" }
  | { op: "load_read"; key: string }
  | { op: "contract_write"; customer: NodeId }
  | { op: "contract_rewrite"; customer: NodeId; renewedMs: number; epoch: number }
  | {
    op: "store";
    customer: NodeId;
    key: string;
    requestId: number;
    size: number;
    /** What it reserved: its size beyond the fragment it replaces. */
    growth: number;
    isNew: boolean;
  }
  | { op: "fetch"; customer: NodeId; key: string; requestId: number; writeId: number }
  | {
    op: "audit";
    customer: NodeId;
    key: string;
    requestId: number;
    leafIndex: number;
    leafBytes: number;
    writeId: number;
  }
  | { op: "delete"; task: number; key: string }
  | { op: "contract_delete"; task: number };

/** An audit whose proof job is running. */
export interface PendingAudit {
  customer: NodeId;
  key: string;
  requestId: number;
}

/**
 * A queue of deletions: a customer's `remove`, a contract cancellation, or the orphan blobs
 * found at start. Its deletes run a few at a time; it is answered when the last one completes.
 */
export interface DeleteTask {
  id: number;
  kind: "remove" | "cancel" | "orphans";
  /** Why a contract ends (`cancel` tasks; `cancelled` for the others). */
  reason: ContractEnd;
  /** The customer (for orphans: empty, or the name whose unclaimed fragments they are). */
  customer: NodeId;
  requestId: number;
  /** Fragment keys (orphans: whole blob keys) still to delete, from `next` on. */
  keys: string[];
  next: number;
  inFlight: number;
  removed: number;
  /** Keys whose delete failed; a cancellation retries them after `retryAtMs`. */
  failed: string[];
  retryAtMs: number | null;
  /** A cancellation deletes the contract blob before any fragment (others start at `done`). */
  contractStage: "todo" | "in_flight" | "done";
}

/** Progress of loading contracts and fragments from disk at start. */
export interface LoadState {
  /** Contract blobs still to read, from `next` on. */
  keys: string[];
  next: number;
  /** Customers whose contract could not be loaded under the limits: their fragments stay. */
  skipped: Set<NodeId>;
  /**
   * Customers whose record is damaged (does not decode): their fragments are kept, unclaimed
   * (`unclaimed.ts`). At most one per contract blob listed.
   */
  damaged: Set<NodeId>;
  /**
   * Blobs to delete once loaded: fragments without a record, blobs under `contract/` that name
   * no customer, damaged records that kept no fragment.
   */
  orphans: string[];
  /**
   * Load operations in flight, and whether one failed: the load restarts `loadRetryMs` after
   * the last of them (the `load_retry` timer, armed exactly while failed with none in flight).
   */
  inFlight: number;
  failed: boolean;
}

/** A request of the supplier to an ID server: a publish, or an offer of `freeBytes`. */
export interface SupplierRequest extends LinkRequest {
  kind: "publish" | "announce";
  /** Free bytes the offer announces (0 for a publish). */
  freeBytes: number;
}

/** The supplier's standing with one ID server (`parts/idserver_link.ts`), and its last offer. */
export interface SupplierLink extends IdServerLink<SupplierRequest> {
  /** Free bytes of the last offer the server accepted, or `null`. */
  announcedFreeBytes: number | null;
}

/** A customer's timer: its reservation's end or its lease, whichever comes first. */
export interface ContractTimer {
  atMs: number;
  customer: NodeId;
  /** Matches the record's `timerGen` while live; an older entry is skipped. */
  gen: number;
}

/** Everything one supplier holds. */
export interface SupplierState {
  phase: "idle" | "loading" | "ready";
  options: SupplierOptions;
  /** Capacity in force: the configured one, or more if the contracts on disk grant more. */
  capacityBytes: number;
  customers: Map<NodeId, CustomerRecord>;
  /** Sum over customers of {@link chargeOf}: never above the capacity. */
  chargedBytes: number;
  /** Customers' timers, a binary min-heap on `atMs` (stale entries are skipped when popped). */
  timers: ContractTimer[];
  /**
   * One deadline per {@link SupplierTimer} kind, the one record of when each fires (see
   * step.ts's theory block): whoever schedules or clears a deadline sets or stops its kind;
   * `nextDeadlineMs` is its `next()`, and {@link invariants} checks it against the sources.
   */
  deadlines: TimerTable<SupplierTimer>;
  nextTimerGen: number;
  /** Names whose contract lapsed, and when (oldest first); see `SUPPLIER_LAPSE_MEMORY_MS`. */
  lapsed: Map<NodeId, number>;
  /** Fragments indexed over all customers. */
  fragmentCount: number;
  /**
   * Fragments under damaged records, by customer (`unclaimed.ts`), at most `customersMax`
   * names; their sums count against the capacity and the fragment index as if stored.
   */
  unclaimed: Map<NodeId, UnclaimedRecord>;
  unclaimedBytes: number;
  unclaimedFragments: number;
  /** Stores in flight that create a new key, over all customers. */
  newKeysInFlight: number;
  ops: Map<number, PendingIo>;
  deletesInFlight: number;
  /** Audits admitted: reading their fragment or proving. */
  auditsInFlight: number;
  jobs: Map<number, PendingAudit>;
  /** Delete tasks by id, oldest first. */
  tasks: Map<number, DeleteTask>;
  load: LoadState;
  idServers: SupplierLink[];
  /** `issuedMs` of the last offer signed, so each offer is newer than the one before. */
  lastIssuedMs: number;
  nextIoId: number;
  nextRequestId: number;
  /** Counts of every outcome, by name (`store.stored`, `store.bad_hash`, ...). */
  counters: Record<string, number>;
}

function positive(name: string, value: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!(Number.isSafeInteger(value) && value >= 1 && value <= max)) {
    throw new RangeError(`${name} must be an integer from 1 to ${max}, got ${value}`);
  }
}

function resolveOptions(config: SupplierConfig): SupplierOptions {
  const o: SupplierOptions = {
    ...SUPPLIER_DEFAULTS,
    customersMax: SUPPLIER_CUSTOMERS_MAX,
    fragmentsPerCustomerMax: SUPPLIER_FRAGMENTS_PER_CUSTOMER_MAX,
    fragmentsMax: SUPPLIER_FRAGMENTS_MAX,
    blobOpsMax: SUPPLIER_BLOB_OPS_MAX,
    auditsMax: SUPPLIER_AUDITS_MAX,
    deleteTasksMax: SUPPLIER_DELETE_TASKS_MAX,
    lapsedNamesMax: SUPPLIER_LAPSED_NAMES_MAX,
    contractTimersPerStepMax: SUPPLIER_CONTRACT_TIMERS_PER_STEP_MAX,
    ...config,
    idServers: [...config.idServers],
  };
  if (!isNodeId(o.name)) throw new RangeError(`not a node name: ${o.name}`);
  const doc = o.identityDocument;
  if (doc.length === 0 || doc.length > IDENTITY_DOC_BYTES_MAX) {
    throw new RangeError(`identity document must be 1 to ${IDENTITY_DOC_BYTES_MAX} bytes`);
  }
  if (!(Number.isSafeInteger(o.capacityBytes) && o.capacityBytes >= 0)) {
    throw new RangeError(`capacityBytes must be a non-negative integer, got ${o.capacityBytes}`);
  }
  if (o.idServers.length > IDENTITY_SOURCES_MAX || !o.idServers.every(isNodeId)) {
    throw new RangeError(`idServers must be at most ${IDENTITY_SOURCES_MAX} node names`);
  }
  if (new Set(o.idServers).size !== o.idServers.length) throw new RangeError("idServers repeat");
  positive("offerTtlMs", o.offerTtlMs, OFFER_TTL_MS_MAX);
  // Announcements are jittered by up to 10%: the next one must still come before expiry.
  positive("announceIntervalMs", o.announceIntervalMs, Math.floor(o.offerTtlMs / 1.1) - 1);
  for (const k of ["replyTimeoutMs", "retryMs", "loadRetryMs", "deleteRetryMs"] as const) {
    positive(k, o[k]);
  }
  positive("retryMsMax", o.retryMsMax);
  if (o.retryMsMax < o.retryMs) throw new RangeError("retryMsMax must be at least retryMs");
  if (!(o.reannounceShare > 0 && o.reannounceShare <= 1)) {
    throw new RangeError(`reannounceShare must be in (0, 1], got ${o.reannounceShare}`);
  }
  positive("customersMax", o.customersMax, SUPPLIER_CUSTOMERS_MAX);
  positive("fragmentsPerCustomerMax", o.fragmentsPerCustomerMax);
  positive("fragmentsMax", o.fragmentsMax, SUPPLIER_FRAGMENTS_MAX);
  positive("blobOpsMax", o.blobOpsMax, SUPPLIER_BLOB_OPS_MAX);
  positive("auditsMax", o.auditsMax, SUPPLIER_AUDITS_MAX);
  positive("deleteTasksMax", o.deleteTasksMax, SUPPLIER_DELETE_TASKS_MAX);
  positive("lapsedNamesMax", o.lapsedNamesMax, SUPPLIER_LAPSED_NAMES_MAX);
  positive("contractTimersPerStepMax", o.contractTimersPerStepMax);
  return o;
}

/** The supplier's timer kinds, in tie-break order (what arms each: step.ts's theory block). */
const SUPPLIER_TIMERS = ["load_retry", "links", "delete_retry", "contracts", "unclaimed"] as const;

/**
 * A kind of supplier timer: `load_retry` loads again after a failed load; `links` is the
 * earliest ID server deadline; `delete_retry` the earliest failed-delete retry of a
 * cancellation; `contracts` the top of the contract-timer heap; `unclaimed` the earliest end of
 * the fragments kept under a damaged record.
 */
export type SupplierTimer = (typeof SUPPLIER_TIMERS)[number];

/** The pacing of the supplier's ID-server links, from its options. */
export function linkPacing(o: SupplierOptions): LinkPacing {
  const { replyTimeoutMs, retryMs, retryMsMax } = o;
  return { replyTimeoutMs, retryMs, retryMsMax, intervalMs: o.announceIntervalMs };
}

/**
 * A fresh supplier that has not read its disk yet; it loads its contracts and fragments on its
 * first `start`. Throws `RangeError` on a bad configuration.
 */
export function supplierState(config: SupplierConfig): SupplierState {
  const options = resolveOptions(config);
  return {
    phase: "idle",
    options,
    capacityBytes: options.capacityBytes,
    customers: new Map(),
    chargedBytes: 0,
    timers: [],
    deadlines: new TimerTable(SUPPLIER_TIMERS),
    nextTimerGen: 1,
    lapsed: new Map(),
    fragmentCount: 0,
    unclaimed: new Map(),
    unclaimedBytes: 0,
    unclaimedFragments: 0,
    newKeysInFlight: 0,
    ops: new Map(),
    deletesInFlight: 0,
    auditsInFlight: 0,
    jobs: new Map(),
    tasks: new Map(),
    load: emptyLoad(),
    idServers: createLinks<SupplierRequest>(options.idServers, linkPacing(options))
      .map((link) => ({ ...link, announcedFreeBytes: null })),
    lastIssuedMs: 0,
    nextIoId: 1,
    nextRequestId: 1,
    counters: {},
  };
}

/** Load progress before the first list. */
export function emptyLoad(): LoadState {
  return {
    keys: [],
    next: 0,
    skipped: new Set(),
    damaged: new Set(),
    orphans: [],
    inFlight: 0,
    failed: false,
  };
}

/**
 * A new customer record with nothing granted or stored, for `key` (`null`: a record of the
 * format before keys), renewed at `renewedMs`.
 */
export function customerRecord(
  status: CustomerRecord["status"],
  sinceMs: number,
  key: Uint8Array | null,
  renewedMs: number,
) {
  const record: CustomerRecord = {
    status,
    quotaBytes: 0,
    pendingQuota: null,
    sinceMs,
    key: key === null ? null : key.slice(),
    keyStored: false,
    renewedMs,
    renewedStoredMs: renewedMs,
    epoch: 0,
    epochStored: 0,
    rewriting: false,
    windowEndsMs: null,
    reserving: false,
    grewSinceGrant: false,
    timerAtMs: null,
    timerGen: 0,
    fragments: new Map(),
    sorted: null,
    usedBytes: 0,
    reservedBytes: 0,
    storesInFlight: 0,
    newKeysInFlight: 0,
    locked: new Set(),
  };
  return record;
}

/** Counting is the same for every actor (`core/counters.ts`). */
export { count } from "../../core/counters.ts";

/** The capacity a customer holds: its quota, or a larger quota being written. */
export function grantOf(c: CustomerRecord): number {
  return Math.max(c.quotaBytes, c.pendingQuota?.bytes ?? 0);
}

/** The most bytes the customer can use once every store in flight has completed or failed. */
export function projectedBytes(c: CustomerRecord): number {
  return c.usedBytes + c.reservedBytes;
}

/**
 * The quota stores are checked against: while a new quota is being written, the smaller of the
 * old and the new, so the quota in force never falls below what is used, on disk or in memory.
 */
export function storeQuota(c: CustomerRecord): number {
  const pending = c.pendingQuota;
  return pending === null ? c.quotaBytes : Math.min(c.quotaBytes, pending.bytes);
}

/**
 * What customer `c` holds against the capacity (with `extraBytes` more in flight): its bytes
 * stored and in flight; while its reservation window is open (and reserving), its whole quota;
 * while a grant that opens a window is written, that quota.
 */
export function chargeOf(c: CustomerRecord, extraBytes = 0): number {
  let charge = projectedBytes(c) + extraBytes;
  if (c.windowEndsMs !== null && c.reserving) charge = Math.max(charge, grantOf(c));
  const p = c.pendingQuota;
  if (p !== null && p.reserve) charge = Math.max(charge, p.bytes);
  return charge;
}

/** Applies `change` to what `c` is charged for (quota, window, bytes); `chargedBytes` follows. */
export function recharge(state: SupplierState, c: CustomerRecord, change: () => void): void {
  const before = chargeOf(c);
  change();
  state.chargedBytes += chargeOf(c) - before;
}

/**
 * A capacity raised at load to cover what the disk held comes back down, after each step, as
 * charges fall, to the configured one.
 */
export function settleCapacity(state: SupplierState): void {
  const configured = state.options.capacityBytes;
  if (state.capacityBytes > configured) {
    state.capacityBytes = Math.max(configured, Math.min(state.capacityBytes, state.chargedBytes));
  }
}

/** Bytes free for new grants and for stores beyond what is held (unclaimed bytes are held). */
export function freeBytes(state: SupplierState): number {
  return Math.max(0, state.capacityBytes - state.chargedBytes - state.unclaimedBytes);
}

/** Forgets `name`'s unclaimed fragments (adopted by a contract, or deleted). */
export function releaseUnclaimed(state: SupplierState, name: NodeId): void {
  const u = state.unclaimed.get(name);
  if (u === undefined) return;
  state.unclaimed.delete(name);
  state.unclaimedBytes -= u.usedBytes;
  state.unclaimedFragments -= u.fragments.size;
}

/** What an offer announces: free bytes, or 0 while no new customer could be taken. */
export function offeredBytes(state: SupplierState): number {
  if (state.customers.size >= state.options.customersMax) return 0;
  return freeBytes(state);
}

/** Stale timer entries allowed beyond two per customer before the heap is rebuilt. */
export const TIMERS_SLACK = 64;

/**
 * Tables above this many fragments get only the cheap checks after each step: the full check is
 * linear in the table, and the simulator runs invariants after every step of every node (tests
 * use small tables and so get the full check).
 */
const FULL_CHECK_MAX = 32;

/** Asserts the supplier's own rules: bounded tables, consistent accounting. */
export function invariants(state: SupplierState): void {
  const o = state.options;
  assert(state.customers.size <= o.customersMax, "more customers than the maximum");
  assert(state.fragmentCount <= o.fragmentsMax, "more fragments than the maximum");
  assert(state.ops.size <= o.blobOpsMax, "more blob operations in flight than the maximum");
  assert(state.deletesInFlight >= 0 && state.deletesInFlight <= state.ops.size, "delete count");
  assert(state.auditsInFlight <= o.auditsMax, "more audits than the maximum");
  assert(state.jobs.size <= state.auditsInFlight, "a proof job without an admitted audit");
  assert(state.tasks.size <= o.deleteTasksMax, "more delete tasks than the maximum");
  assert(state.chargedBytes <= state.capacityBytes, "charged more than the capacity");
  assert(state.lapsed.size <= o.lapsedNamesMax, "more lapsed names than the maximum");
  assert(state.timers.length <= 2 * o.customersMax + TIMERS_SLACK + 1, "stale timers pile up");
  assert(state.phase !== "idle" || state.customers.size === 0, "customers before loading");
  let charged = 0;
  let fragments = 0;
  let newKeys = 0;
  for (const c of state.customers.values()) {
    charged += chargeOf(c);
    const armed = c.status !== "active" || state.phase !== "ready" || c.timerAtMs !== null;
    assert(armed, "an active contract without a timer");
    fragments += c.fragments.size;
    assert(c.fragments.size <= o.fragmentsPerCustomerMax, "too many fragments for a customer");
    assert(c.reservedBytes >= 0 && c.storesInFlight >= c.newKeysInFlight, "store accounting");
    assert(c.newKeysInFlight >= 0 && c.usedBytes >= 0, "negative customer accounting");
    newKeys += c.newKeysInFlight;
    assert(c.status !== "pending" || c.fragments.size === 0, "fragments before the contract");
    const pending = c.pendingQuota;
    assert(pending === null || projectedBytes(c) <= pending.bytes, "quota below use");
  }
  assert(charged === state.chargedBytes, "charged bytes out of step with the customers");
  assert(fragments === state.fragmentCount, "fragment count out of step with the index");
  assert(newKeys === state.newKeysInFlight, "new keys in flight out of step");
  assert(state.fragmentCount + newKeys <= o.fragmentsMax, "fragments reserved past the maximum");
  assert(state.phase === "loading" || state.load.inFlight === 0, "load operations after loading");
  timersAgree(state);
  if (fragments <= FULL_CHECK_MAX) fullCheck(state);
}

/**
 * The timer table agrees with each source it summarizes, so a forgotten `set` (a timer that
 * would fire late or never) or `stop` (one that would fire for nothing, again and again) stops
 * the run: the load waits to retry exactly while it failed with nothing in flight; `links` is
 * the earliest link deadline, `delete_retry` the earliest task retry, `contracts` the heap top.
 */
function timersAgree(state: SupplierState): void {
  const t = state.deadlines;
  const load = state.load;
  const waiting = state.phase === "loading" && load.failed && load.inFlight === 0;
  assert((t.at("load_retry") !== null) === waiting, "load retry timer out of step with the load");
  assert(t.at("links") === nextLinkDeadline(state.idServers), "links timer out of step");
  assert(t.at("delete_retry") === earliestDeleteRetry(state), "delete retry timer out of step");
  const top = state.timers.length === 0 ? null : state.timers[0].atMs;
  assert(t.at("contracts") === top, "contracts timer out of step with the heap");
}

/** The earliest retry of a failed delete over the tasks, or `null`. */
export function earliestDeleteRetry(state: SupplierState): number | null {
  let due: number | null = null;
  for (const task of state.tasks.values()) {
    if (task.retryAtMs !== null && (due === null || task.retryAtMs < due)) due = task.retryAtMs;
  }
  return due;
}

function fullCheck(state: SupplierState): void {
  for (const [name, c] of state.customers) {
    let used = 0;
    for (const entry of c.fragments.values()) used += entry.size;
    if (used !== c.usedBytes) assert(false, `used bytes of ${name} differ from its index`);
    if (c.sorted !== null) assert(c.sorted.length === c.fragments.size, "stale sorted keys");
  }
  let deletes = 0;
  for (const io of state.ops.values()) {
    if (io.op === "delete" || io.op === "contract_delete") deletes++;
  }
  assert(deletes === state.deletesInFlight, "delete count out of step with the operations");
  for (const link of state.idServers) {
    assert(link.pending === null || link.dueAtMs !== null, "an unanswered request without timer");
  }
  // Generations are unique: as many live entries as armed customers means one each.
  const timers = state.timers;
  let live = 0;
  for (let i = 0; i < timers.length; i++) {
    const t = timers[i];
    if (i > 0) assert(timers[(i - 1) >> 1].atMs <= t.atMs, "timer heap out of order");
    const c = state.customers.get(t.customer);
    if (c !== undefined && c.timerGen === t.gen && c.timerAtMs !== null) {
      assert(c.timerAtMs === t.atMs, "a live timer at another time");
      live++;
    }
  }
  let armed = 0;
  for (const c of state.customers.values()) if (c.timerAtMs !== null) armed++;
  assert(live === armed, "contract timers out of step with the customers");
}
