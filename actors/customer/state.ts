/**
 * The customer's state: its family of suppliers, its catalogue of versions, and the work in
 * progress (backups, restores, repairs, requests awaiting answers).
 *
 * @module
 */

import type { NodeId } from "../../core/actor.ts";
import { assert } from "../../core/assert.ts";
import { type PendingRequest as Pending, RequestTable } from "../../core/requests.ts";
import { TimerTable } from "../../core/timers.ts";
import type { GatherProgress } from "../../parts/gather.ts";
import {
  CUSTOMER_AUDIT_MISSES_MAX,
  CUSTOMER_RENEW_INTERVAL_MS,
  PUBLIC_KEY_BYTES,
} from "../../core/limits.ts";
import type { Message } from "../../core/protocol/mod.ts";
import type { SignedFamilyRecord } from "../../core/protocol/identity.ts";
import type { EccScheme } from "../../core/storage.ts";
import type { PeerLiveness } from "../../parts/liveness.ts";
import { type LeaseConfig, type LeaseState, leaseState } from "./lease_state.ts";
import type { CustomerNotice, SourceFile } from "./protocol.ts";

/** Timers, thresholds and limits of a customer; every one is a named, documented option. */
export interface CustomerOptions {
  /** How often each supplier is probed (the heartbeat). */
  probeIntervalMs: number;
  /** Silence after which a supplier counts as offline (no new work is sent to it). */
  offlineAfterMs: number;
  /** Silence after which a supplier is fired and replaced (repair only). */
  fireAfterMs: number;
  /** How long a request waits for its answer. */
  requestTimeoutMs: number;
  /** Time between two audits of the same supplier (repair only). */
  auditIntervalMs: number;
  /** Wait before asking the ID servers for offers again after a fruitless round. */
  hireRetryMs: number;
  /** How often the catalogue is scanned for fragments to rebuild (repair only). */
  repairScanMs: number;
  /** Monitoring, firing, audits and rebuilding on (false: the `--no-repair` baseline). */
  repair: boolean;
  /** Bytes per block. */
  blockBytes: number;
  /** Quota asked of each supplier. */
  quotaBytes: number;
  /** Most requests awaiting an answer at once. */
  requestsInFlightMax: number;
  /** Most blocks a backup or restore holds in memory at once. */
  blocksInFlightMax: number;
  /** Most blocks being rebuilt at once. */
  repairsInFlightMax: number;
  /** Most backups and restores waiting their turn. */
  queuedMax: number;
  /** Most suppliers remembered as not to be hired again. */
  excludedMax: number;
  /** Most versions in the catalogue. */
  versionsMax: number;
  /** Longest delay before changed records are written to the local disk. */
  persistIntervalMs: number;
  /**
   * Time between two sweeps of the family: each member lists our keys and those of versions we
   * no longer have (deleted while it was offline, or a backup a crash cut short) are removed.
   */
  sweepIntervalMs: number;
  /**
   * How long a fired supplier keeps being told, once a probe round, to end our contract and drop
   * our fragments (it may be offline when fired; then it is told when it is back).
   */
  cancelGiveUpMs: number;
  /**
   * With repair off, how often each supplier is still probed: any request renews its contract,
   * and suppliers end contracts not renewed for a long lease (with repair on, the heartbeat
   * probes renew them).
   */
  renewIntervalMs: number;
  /**
   * Audits in a row a supplier may leave unanswered (silence, `busy`, `io_error`) before it is
   * fired: a supplier without the bytes could otherwise dodge every audit it cannot pass.
   */
  auditMissesMax: number;
}

/** Defaults for a home connection: probes every 10 min, fire after a day of silence. */
export const CUSTOMER_DEFAULTS: CustomerOptions = {
  probeIntervalMs: 10 * 60_000,
  offlineAfterMs: 30 * 60_000,
  fireAfterMs: 24 * 3_600_000,
  requestTimeoutMs: 2 * 60_000,
  auditIntervalMs: 24 * 3_600_000,
  hireRetryMs: 10 * 60_000,
  repairScanMs: 10 * 60_000,
  repair: true,
  blockBytes: 4 * 1024 * 1024,
  quotaBytes: 1024 ** 3,
  requestsInFlightMax: 512,
  blocksInFlightMax: 4,
  repairsInFlightMax: 4,
  queuedMax: 64,
  excludedMax: 256,
  versionsMax: 10_000,
  persistIntervalMs: 5_000,
  sweepIntervalMs: 24 * 3_600_000,
  cancelGiveUpMs: 30 * 24 * 3_600_000,
  renewIntervalMs: CUSTOMER_RENEW_INTERVAL_MS,
  auditMissesMax: CUSTOMER_AUDIT_MISSES_MAX,
};

/** What a customer is configured with. */
export interface CustomerConfig {
  name: NodeId;
  /** ID servers to ask for supplier offers. */
  idServers: NodeId[];
  scheme: EccScheme;
  /** The user's 32-byte file key; it never leaves this node in the clear. */
  fileKey: Uint8Array;
  /**
   * The user's signed identity document, published to the ID servers at start (they host a
   * family record only for a known identity). Absent when something else publishes it.
   */
  identityDocument?: Uint8Array;
  options?: Partial<CustomerOptions>;
  /**
   * A writer lease to hold before writing (`lease.ts`); without one the customer writes at once
   * (a single instance, as in most tests).
   */
  lease?: LeaseConfig;
}

/**
 * One place in the family: position i holds fragment i of every block. What we know of its
 * supplier's liveness is the {@link PeerLiveness} it extends (`online`, `lastSeenMs`, `probedMs`,
 * `missedMs`, `probePending`; see `parts/liveness.ts`): requests only go to online suppliers
 * (restores try all). None of it is persisted (the family record keeps names, keys and audit
 * misses; a family taken back starts online, see `adoptFamily`).
 */
export interface Position extends PeerLiveness {
  supplier: NodeId | null;
  state: "empty" | "hiring" | "active";
  /** Candidate asked for a contract while `hiring`. */
  candidate: NodeId | null;
  /**
   * When to try an offline supplier again without monitoring; the `position_retry` timer is
   * armed no later than the earliest such time still ahead (`retryPositionAt` in family.ts).
   */
  retryAtMs: number;
  hiredMs: number;
  /**
   * The supplier's pinned Ed25519 key (see `auth.ts`): every message from it must come over a
   * link authenticated by this key. Null while empty or hiring, and for a supplier named by a
   * record of the format before keys until its first probe answer pins it.
   */
  key: Uint8Array | null;
  /** A `contract_request` renewing a lapsed contract awaits its answer. */
  renewing: boolean;
  /**
   * Audits in a row it left unanswered (reset by a passed audit); kept in the family record, so
   * a daemon that restarts often still catches a supplier that dodges every audit.
   */
  auditMisses: number;
  /**
   * Bumped each time the position loses its member (fired): a block's `heldAt[i]` counts only
   * when it equals this. Starts at 1 and is kept in the family record (version records keep the
   * generations they were written under, so a reload never credits a later member).
   */
  generation: number;
}

/** A fired supplier still to be told to drop our contract. */
export interface Cancel {
  firedMs: number;
  /** Its pinned key (null if it was never pinned): its answer must come with it. */
  key: Uint8Array | null;
}

/** One block (of a file or of a manifest) and where its fragments are. */
export interface BlockRec {
  /** Key prefix: fragment p is `${key}/${p}`. */
  key: string;
  plainSize: number;
  cipherSize: number;
  fragmentSize: number;
  hashes: Uint8Array[];
  roots: Uint8Array[];
  /**
   * Per position: the position's generation when its supplier acknowledged the fragment, 0 if
   * none did. The fragment is held while that is still the position's `generation`: firing a
   * member bumps it, and every fragment credited to the member stops counting at once, with no
   * walk over the catalogue (read it through `holds` in catalogue.ts).
   */
  heldAt: Uint32Array;
  /** Per position: 1 while a store to it is awaiting its answer. */
  storing: Uint8Array;
  /** Sealed fragments not yet acknowledged (a backup in progress), else null. */
  pending: (Uint8Array | undefined)[] | null;
  /** Whether a repair task is working on it. */
  repairing: boolean;
}

/** One file of a version. */
export interface FileRec {
  path: string;
  size: number;
  mode: number;
  mtimeMs: number;
  salt: Uint8Array;
  blocks: BlockRec[];
}

/** One backup. */
export interface VersionRec {
  id: string;
  label: string;
  createdMs: number;
  /** `incomplete`: the daemon stopped during its backup (known only from its record). */
  status: "uploading" | "complete" | "incomplete";
  files: FileRec[];
  /** The sealed manifest, erasure-coded like a block. */
  manifest: BlockRec | null;
}

export type { SourceFile };

/** The backup being made. */
export interface BackupRun {
  version: VersionRec;
  /** Next block to read: file and block index. */
  nextFile: number;
  nextBlock: number;
  /** Blocks read or sealed or uploading. */
  inFlight: number;
  /** Blocks whose fragments await acknowledgements. */
  uploading: BlockRec[];
  phase: "blocks" | "manifest" | "finishing";
  /** Per position: stores in a row that got no answer (reset by any answer). */
  misses: number[];
  /** Per position: 1 once given up for this version (dead or stuck; repair fills it later). */
  skipped: Uint8Array;
  /** Time of the latest progress (a block read or sealed, a fragment acknowledged). */
  progressAtMs: number;
  /** Fragments acknowledged, and to be acknowledged in all (blocks and manifest times N). */
  fragmentsDone: number;
  fragmentsTotal: number;
}

/** A restore waiting or running. */
export interface RestoreRun {
  restoreId: number;
  versionId: string;
  files: number[];
  /** Cursor over (file, block) pairs. */
  fileCursor: number;
  blockCursor: number;
  active: RestoreBlock[];
  restoredFiles: number;
  /**
   * Positions believed offline on old evidence, probed before this restore is failed for them
   * at its start (they may have come back meanwhile); `null` until that check was made.
   */
  probed: number[] | null;
  /**
   * Positions probed, once, when a fetch failed and only members believed offline on old
   * evidence were left (null: not yet). Probing them again on every answer would loop.
   */
  probedLate: number[] | null;
}

/** Fetching the fragments of one block, for a restore or a repair. */
export interface GatherBase extends GatherProgress {
  block: BlockRec;
}

/** One block of a restore. */
export interface RestoreBlock extends GatherBase {
  role: "restore";
  run: RestoreRun;
  fileIndex: number;
  blockIndex: number;
}

/** Rebuilding the missing fragments of one block. */
export interface RepairTask extends GatherBase {
  role: "repair";
  /** Names the task in the requests made for it (1, 2, 3, ... in starting order). */
  id: number;
  /** Positions to rebuild. */
  targets: number[];
  /** Rebuilt fragments (at the target positions) once the rebuild job is done. */
  rebuilt: (Uint8Array | undefined)[] | null;
  storesPending: number;
}

/** A gather of either kind. */
export type Gather = RestoreBlock | RepairTask;

/**
 * A gather as requests and continuations name it (by ids and keys, never by pointer): a
 * restore's block by the restore's id and the block's key, a repair by its task's id.
 */
export type GatherRef =
  | { role: "restore"; restoreId: number; block: string }
  | { role: "repair"; id: number };

/** A version's manifest being fetched back from the family while recovering. */
export interface ManifestFetch {
  id: string;
  cipherSize: number;
  fragments: (Uint8Array | undefined)[];
  /** Fetches not answered yet. */
  waiting: number;
}

/** Publishing the family record (see `publisher.ts`). */
export interface RecordPublishing {
  /** Revision of the last record published or seen. */
  revision: number;
  /** The family or the versions changed since the last record was sealed. */
  dirty: boolean;
  sealing: boolean;
  /** Publish answers still awaited. */
  awaiting: number;
  /** `backup_done` notices held until a record listing their version is stored. */
  waiting: Map<string, CustomerNotice[]>;
  /** Versions of `waiting` that the record being published lists. */
  covering: string[];
}

/** Recovering the family and catalogue on a machine that has no records (see `recovery.ts`). */
export interface Recovery {
  stage: "idle" | "fetch" | "fetching" | "opening" | "stuck" | "done";
  best: SignedFamilyRecord | null;
  answers: number;
  notFound: number;
  /** The supplier the record named at each position. */
  adopted: (NodeId | null)[];
  /** Versions whose manifests are still to be fetched. */
  pending: { id: string; manifestCipherSize: number }[];
  active: ManifestFetch[];
  /** Why recovery stopped (`stuck`). */
  problem: string | null;
  /** Whether the adopted record listed every complete version (not cut at its size limit). */
  allVersions: boolean;
}

/** Removing fragments nobody knows of after a recovery (see `sweep.ts`). */
export interface Sweep {
  /** Positions still to sweep. */
  queue: number[];
  current: {
    position: number;
    supplier: NodeId;
    /** Keys by version id, of versions without a manifest key seen so far. */
    candidates: Map<string, string[]>;
    manifests: Set<string>;
  } | null;
}

/**
 * Why a request was sent: decides what its answer or its timeout does. Purposes hold ids, keys
 * and values, never pointers into the state: what they name is looked up when the answer comes,
 * and may be gone by then (a deleted version, an ended gather).
 */
export type RequestPurpose =
  | { kind: "offer_query" }
  | { kind: "identity_publish" }
  | { kind: "family_publish" }
  | { kind: "family_fetch" }
  /**
   * `fetch`: the version whose manifest fragment is asked for and the manifest's size (values;
   * the answer finds the fetch among `recovery.active` by the version id).
   */
  | { kind: "manifest_fetch"; fetch: { id: string; cipherSize: number }; position: number }
  | { kind: "sweep_list"; position: number; supplier: NodeId }
  /** `renew`: the position's own supplier lost our contract while holding nothing of ours. */
  | { kind: "contract"; position: number; supplier: NodeId; renew: boolean }
  | { kind: "cancel"; supplier: NodeId }
  | { kind: "probe"; position: number }
  /**
   * `block`: the audited block's key (an answer for a block deleted meanwhile is dropped);
   * `recheck`: the fragment is listed by its member but not credited (a pass credits it, and
   * nothing else counts for or against the member; see `recheckListed`).
   */
  | { kind: "audit"; position: number; block: string; leafIndex: number; recheck: boolean }
  /**
   * `block`: the block's key; `bytes`: the fragment's size; `repair`: the id of the repair task
   * storing a rebuilt fragment, null for a backup's store.
   */
  | { kind: "store"; position: number; block: string; bytes: number; repair: number | null }
  | { kind: "fetch"; position: number; gather: GatherRef }
  | { kind: "remove" }
  | { kind: "lease_claim" };

/** A request awaiting its answer. */
export type PendingRequest = Pending<RequestPurpose>;

/** What a blob read or a job is for (ids and keys, never pointers, like {@link RequestPurpose}). */
export type Continuation =
  | { kind: "meta_list" }
  | { kind: "meta_read"; key: string }
  | { kind: "meta_write"; key: string }
  | { kind: "meta_delete" }
  | { kind: "source"; block: string; fileIndex: number; blockIndex: number }
  | { kind: "seal"; block: string }
  | { kind: "open"; gather: GatherRef & { role: "restore" } }
  | { kind: "rebuild"; task: number }
  | { kind: "verify_audit"; position: number; supplier: NodeId; block: string; recheck: boolean }
  | { kind: "seal_recovery" }
  | { kind: "open_recovery"; revision: number }
  /** `versionId`: the version whose manifest `recovery.active` is fetching. */
  | { kind: "recover_manifest"; versionId: string };

/** Counters for reports and tests. */
export interface CustomerCounters {
  hired: number;
  fired: number;
  replaced: number;
  auditsPassed: number;
  auditsFailed: number;
  corruptFragments: number;
  repairFragments: number;
  repairBytes: number;
  repairTasksFailed: number;
  uploadedBytes: number;
  backupsDone: number;
  restoresDone: number;
  restoresFailed: number;
  timeouts: number;
  unexpected: number;
  refused: number;
  recordsCorrupt: number;
  recordWriteFailures: number;
  recordsPublished: number;
  recordPublishFailures: number;
  recoveries: number;
  versionsRecovered: number;
  manifestsUnrecovered: number;
  orphansRemoved: number;
  cancelsConfirmed: number;
  /** Messages refused because their link's key is not the one pinned for their sender. */
  authRefused: number;
  /** Keys pinned by a probe answer (positions named by a record of the format before keys). */
  keysPinnedOnProbe: number;
  /** Lapsed contracts (nothing of ours held) asked for again and granted. */
  contractsRenewed: number;
  /** Audits left unanswered (silence, `busy`, `io_error`). */
  auditsMissed: number;
  /** Fires and cancels not done because we do not hold the writer lease (`lease.ts`). */
  heldBack: number;
  /** Writes a supplier refused because another instance wrote at a newer epoch (`lease.ts`). */
  superseded: number;
  /** Fires not done because the member may hold the last readable copies of something. */
  firesDeferred: number;
  /** Broken promises about content counted against members (see `brokePromise`). */
  strikes: number;
  /** Rebuilt fragments that did not match the block's hash, and were not stored. */
  rebuildsUnverified: number;
  /** Fragments a member listed but we did not credit, audited and credited (`recheckListed`). */
  fragmentsRecredited: number;
}

/** The family (family.ts; auth.ts pins keys): who holds each position, and whom to avoid. */
export interface FamilyState {
  positions: Position[];
  /** Offers not yet tried, from the last query. */
  candidates: NodeId[];
  /** Suppliers not to hire again (fired), oldest first. */
  excluded: NodeId[];
  /**
   * Candidates that refused a contract or did not answer, with when they may be asked again
   * (`CUSTOMER_CANDIDATE_SHUN_MS` later; memory only, at most `excludedMax`, oldest first).
   */
  shunned: Map<NodeId, number>;
  /** Hires that fill the family for the first time; later ones are replacements. */
  firstHiresLeft: number;
  nextIdServer: number;
  nextAuditPosition: number;
  /** Fired suppliers not yet known to have dropped our contract, with when they were fired. */
  cancels: Map<NodeId, Cancel>;
  /**
   * Broken promises about content per member (memory only; at most one entry per position,
   * dropped when it is fired): `CUSTOMER_STRIKES_MAX` fire it.
   */
  strikes: Map<NodeId, number>;
}

/** The catalogue (catalogue.ts): the versions, oldest first, and who holds what of them. */
export interface Catalogue {
  versions: VersionRec[];
}

/** Backups (backup.ts): the one running and those waiting their turn. */
export interface Backups {
  run: BackupRun | null;
  queue: { label: string; files: SourceFile[] }[];
}

/** Repairs (repair.ts): the blocks being rebuilt. */
export interface Repairs {
  tasks: RepairTask[];
  /** The id of the next repair task. */
  nextId: number;
}

/** The journal (journal.ts, persist.ts): what is to be written to the local records, and when. */
export interface Journal {
  /** Record reads still outstanding while loading. */
  loadPending: number;
  /** Records to write: `family` or a version id; `urgent` ones skip the batching delay. */
  dirty: Set<string>;
  urgent: Set<string>;
  writing: Set<string>;
  /** Notices held until the named record is on disk (a backup is done only once recorded). */
  held: Map<string, CustomerNotice[]>;
}

/**
 * What one part of the customer tells the others; step.ts's `route` hands each to the parts
 * that care, after the input's handler and between the stages of `pump`, so no part writes
 * another's state (and none imports another just to tell it something).
 * - `record_changed`: the family or the list of complete versions changed (the publisher seals
 *   and publishes a new family record);
 * - `version_deleted`: the user deleted a version (the publisher drops its held notice).
 */
export type CustomerEvent =
  | { kind: "record_changed" }
  | { kind: "version_deleted"; versionId: string };

/**
 * The whole state of a customer node: what it was configured with, the machinery every part
 * shares (requests, continuations, timers, counters, the lease), and one sub-state per part,
 * each written by the file that owns it (named on its type; tidy checks direct writes). Other
 * parts read a sub-state, and change it only by calling its owner.
 */
export interface CustomerState {
  name: NodeId;
  idServers: NodeId[];
  scheme: EccScheme;
  fileKey: Uint8Array;
  identityDocument: Uint8Array | null;
  options: CustomerOptions;
  family: FamilyState;
  catalogue: Catalogue;
  backups: Backups;
  /** Restores (restore.ts): the one running first, then those waiting their turn. */
  restores: RestoreRun[];
  repairs: Repairs;
  journal: Journal;
  /** Publishing the family record (publisher.ts). */
  publisher: RecordPublishing;
  /** Recovering with only the key (recovery.ts). */
  recovery: Recovery;
  /** The sweep of members' keys after a recovery (sweep.ts). */
  sweep: Sweep | null;
  /** Internal events not yet routed (empty between steps). */
  events: CustomerEvent[];
  /** Requests awaiting answers (`core/requests.ts`), at most `requestsInFlightMax`. */
  requests: RequestTable<RequestPurpose>;
  continuations: Map<number, Continuation>;
  nextOpId: number;
  started: boolean;
  /**
   * Time of the latest `start` (boot or back from a pause): an audit sent before it and not
   * answered says nothing about the supplier (its answer may have come while we were away).
   */
  startedAtMs: number;
  /**
   * `new` until the first start, `loading` while records are read back, `recovering` while a
   * customer without records looks for its family record, then `ready`.
   */
  phase: "new" | "loading" | "recovering" | "ready";
  /** Time of the latest step (for what runs without a context: `isWriter`, the invariants). */
  nowMs: number;
  /**
   * One deadline per {@link CustomerTimer} kind: the only place a customer keeps when to do
   * something next (per-position retry times and the lease's own times stay with their owners;
   * this holds their earliest). `nextDeadlineMs` is its `next()`; step.ts lists who sets what.
   */
  deadlines: TimerTable<CustomerTimer>;
  counters: CustomerCounters;
  /** The writer lease (`lease.ts`), or null when the customer runs without one. */
  lease: LeaseState | null;
}

/**
 * The customer's timer kinds, in tie-break order; each has one handler in step.ts's `onTimeout`.
 * Who sets each and what firing does: step.ts's theory block.
 */
const CUSTOMER_TIMERS = [
  "request",
  "probe",
  "audit",
  "identity_refresh",
  "repair_scan",
  "backup_stall",
  "lease",
  "sweep",
  "flush",
  "record_retry",
  "recovery_retry",
  "hire_retry",
  "position_retry",
] as const;

/** A kind of customer timer (see {@link CUSTOMER_TIMERS}). */
export type CustomerTimer = (typeof CUSTOMER_TIMERS)[number];

/** Position i of a new family: nobody holds it. */
function emptyPosition(): Position {
  return {
    supplier: null,
    state: "empty",
    candidate: null,
    lastSeenMs: 0,
    online: false,
    retryAtMs: 0,
    probePending: false,
    probedMs: 0,
    missedMs: 0,
    hiredMs: 0,
    key: null,
    renewing: false,
    auditMisses: 0,
    generation: 1,
  };
}

/** Every counter at zero. */
function zeroCounters(): CustomerCounters {
  return {
    hired: 0,
    fired: 0,
    replaced: 0,
    auditsPassed: 0,
    auditsFailed: 0,
    corruptFragments: 0,
    repairFragments: 0,
    repairBytes: 0,
    repairTasksFailed: 0,
    uploadedBytes: 0,
    backupsDone: 0,
    restoresDone: 0,
    restoresFailed: 0,
    timeouts: 0,
    unexpected: 0,
    refused: 0,
    recordsCorrupt: 0,
    recordWriteFailures: 0,
    recordsPublished: 0,
    recordPublishFailures: 0,
    recoveries: 0,
    versionsRecovered: 0,
    manifestsUnrecovered: 0,
    orphansRemoved: 0,
    cancelsConfirmed: 0,
    authRefused: 0,
    keysPinnedOnProbe: 0,
    contractsRenewed: 0,
    auditsMissed: 0,
    heldBack: 0,
    superseded: 0,
    firesDeferred: 0,
    strikes: 0,
    rebuildsUnverified: 0,
    fragmentsRecredited: 0,
  };
}

/** A new customer with an empty family and catalogue. */
export function customerState(config: CustomerConfig): CustomerState {
  const options = { ...CUSTOMER_DEFAULTS, ...config.options };
  if (config.fileKey.length !== 32) throw new RangeError("the file key must be 32 bytes");
  if (config.idServers.length === 0) throw new RangeError("a customer needs an ID server");
  const positions = Array.from({ length: config.scheme.n }, emptyPosition);
  return {
    name: config.name,
    idServers: [...config.idServers],
    scheme: config.scheme,
    fileKey: config.fileKey,
    identityDocument: config.identityDocument ?? null,
    options,
    family: {
      positions,
      candidates: [],
      excluded: [],
      shunned: new Map(),
      firstHiresLeft: config.scheme.n,
      nextIdServer: 0,
      nextAuditPosition: 0,
      cancels: new Map(),
      strikes: new Map(),
    },
    catalogue: { versions: [] },
    backups: { run: null, queue: [] },
    restores: [],
    repairs: { tasks: [], nextId: 1 },
    journal: {
      loadPending: 0,
      dirty: new Set(),
      urgent: new Set(),
      writing: new Set(),
      held: new Map(),
    },
    events: [],
    requests: new RequestTable(options.requestsInFlightMax),
    continuations: new Map(),
    nextOpId: 1,
    started: false,
    startedAtMs: 0,
    phase: "new",
    publisher: {
      revision: 0,
      dirty: false,
      sealing: false,
      awaiting: 0,
      waiting: new Map(),
      covering: [],
    },
    recovery: {
      stage: "idle",
      best: null,
      answers: 0,
      notFound: 0,
      adopted: positions.map(() => null),
      pending: [],
      active: [],
      problem: null,
      allVersions: true,
    },
    sweep: null,
    nowMs: 0,
    deadlines: new TimerTable(CUSTOMER_TIMERS),
    counters: zeroCounters(),
    lease: config.lease === undefined ? null : leaseState(config.lease),
  };
}

/**
 * No supplier holds two positions. A family is small (the scheme's N, at most 256): pairs are
 * compared without allocating, up to 32 positions; above that a set is cheaper.
 */
function assertDistinctSuppliers(positions: readonly Position[]): void {
  if (positions.length > 32) {
    const seen = new Set<NodeId>();
    for (const p of positions) {
      if (p.supplier === null) continue;
      if (seen.has(p.supplier)) assert(false, `supplier ${p.supplier} holds two positions`);
      seen.add(p.supplier);
    }
    return;
  }
  for (let i = 1; i < positions.length; i++) {
    const a = positions[i].supplier;
    if (a === null) continue;
    for (let j = 0; j < i; j++) {
      if (positions[j].supplier === a) assert(false, `supplier ${a} holds two positions`);
    }
  }
}

/** The customer's own rules; a violation is a bug. */
export function invariants(s: CustomerState): void {
  const o = s.options;
  assert(s.requests.size <= o.requestsInFlightMax, "too many requests in flight");
  assert(s.events.length === 0, "internal events left unrouted");
  assert(s.repairs.tasks.length <= o.repairsInFlightMax, "too many repairs");
  assert(s.family.excluded.length <= o.excludedMax, "exclusion list over its limit");
  assert(s.family.shunned.size <= o.excludedMax, "shunned candidates over their limit");
  assert(s.catalogue.versions.length <= o.versionsMax, "too many versions");
  assert(s.backups.queue.length + s.restores.length <= 2 * o.queuedMax, "queues over their limit");
  const positions = s.family.positions;
  for (let i = 0; i < positions.length; i++) {
    const p = positions[i];
    assert((p.state === "active") === (p.supplier !== null), "active iff it has a supplier");
    assert((p.state === "hiring") === (p.candidate !== null), "hiring iff it has a candidate");
    assert(p.key === null || p.state === "active", "only an active position has a key");
    assert(p.key === null || p.key.length === PUBLIC_KEY_BYTES, "a pinned key is Ed25519");
    assert(!p.renewing || p.state === "active", "only an active position renews");
  }
  assertDistinctSuppliers(positions);
  if (s.backups.run !== null) {
    assert(s.backups.run.inFlight <= o.blocksInFlightMax, "backup holds too many blocks");
    assert(
      s.backups.run.inFlight >= s.backups.run.uploading.length,
      "uploading blocks not counted",
    );
  }
  // Request deadlines are in sending order by construction (one timeout for all); checking the
  // whole table after every step would cost more than the rest of the step.
  if (s.requests.size <= 16) {
    let prev = -Infinity;
    for (const r of s.requests.values()) {
      assert(r.deadlineMs >= prev, "request deadlines out of order");
      prev = r.deadlineMs;
    }
  }
}

/** A message type the customer sends; used for typed request helpers. */
export type Outgoing = Message;
