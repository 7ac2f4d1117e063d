/**
 * The customer (user) actor: keeps a user's files alive on a family of suppliers.
 *
 * Theory of operation.
 *
 * States. The family has N positions (the ECC scheme's fragments per block); each is `empty`,
 * `hiring` (a contract was asked of a candidate) or `active` (a supplier holds position i's
 * fragment of every block). An active supplier is `online` while it answers. The catalogue holds
 * versions (`uploading` until every fragment of every block and of the manifest is acknowledged,
 * then `complete`). Work in progress: one backup at a time, restores one at a time in queue
 * order, up to `repairsInFlightMax` repair tasks, and requests awaiting answers.
 *
 * Parts. The state (state.ts) is one sub-state per part, each written only by its file (tidy's
 * `CUSTOMER_OWNERS`): `family` (family.ts, auth.ts: positions, candidates, exclusions, cancels,
 * strikes), `catalogue` (catalogue.ts: the versions; a block credits position i with the
 * position's generation, and firing bumps it, so no fire walks the catalogue), `backups`
 * (backup.ts), `restores` (restore.ts), `repairs` (repair.ts; the rebuild is parts/rebuild.ts),
 * `journal` (journal.ts, persist.ts: the local records), `publisher` (publisher.ts: the family
 * record on the ID servers), `recovery` (recovery.ts: with only the key), `sweep` (sweep.ts).
 * Every other file reads a sub-state and changes it by calling its owner; what a part must tell
 * others without importing them goes as an internal event (`CustomerEvent`: `record_changed`,
 * `version_deleted`), which `route` below hands on after the input's handler, before the
 * publisher's stage of `pump`, and at the end of the step. Requests and continuations name
 * blocks by key and gathers, tasks and fetches by id: an answer whose subject is gone finds
 * nothing and changes nothing.
 *
 * Timers: a `TimerTable` (core/timers.ts) in `s.deadlines`, one deadline per `CustomerTimer`
 * kind, and the only record of when to do something next; `nextDeadlineMs` is its `next()`.
 * Every place that schedules work at a time sets its kind, every place that cancels it stops
 * it; `onTimeout` runs one handler per expired kind (by deadline, then declaration order), and
 * each handler re-sets or stops its own kind. `pump` (after every input) does not decide by the
 * clock whether something is due: a pipeline that waits for a time waits for its kind to be
 * stopped ("gate" below: armed means "not yet"; the handler only stops it and `pump`, right
 * after, does the work). The two owners of several deadlines each are the exception: a
 * position's `retryAtMs` (read by `reachable`) and the lease's times (read by `isWriter`); their
 * kinds wake the customer when one passes. A spurious timeout finds nothing expired and does
 * nothing.
 * | kind               | set by                                 | firing                        |
 * |--------------------|----------------------------------------|-------------------------------|
 * | `request`          | requests.ts, on every change of the    | every expired request gets    |
 * |                    | table: its oldest deadline             | its timeout handler; re-set   |
 * | `probe`            | first start (random phase); a return   | probe every active supplier,  |
 * |                    | from a pause, within a second          | mark silent ones offline, fire|
 * |                    |                                        | those silent `fireAfterMs`,   |
 * |                    |                                        | tell fired ones to cancel;    |
 * |                    |                                        | re-set `probeIntervalMs` on   |
 * |                    |                                        | (`renewIntervalMs` w/o repair)|
 * | `audit`            | first start (repair only)              | audit one supplier, round     |
 * |                    |                                        | robin; re-set                 |
 * | `identity_refresh` | `publishIdentity` (publisher.ts), daily| publish the identity again    |
 * |                    |                                        | (which re-sets it)            |
 * | `repair_scan`      | first start (repair only); a hire, now | look for fragments to rebuild;|
 * |                    |                                        | re-set `repairScanMs` on      |
 * | `backup_stall`     | backup.ts, whenever the running backup | gate: `pump` (as the writer)  |
 * |                    | progresses (`BACKUP_STALL_MS` later);  | gives up the stuck positions  |
 * |                    | stopped when it ends                   | first, or fails the backup    |
 * | `lease`            | lease.ts, whenever the lease changes:  | claim if due; re-set at the   |
 * |                    | earliest of next claim, end of a take- | lease's next deadline         |
 * |                    | over's wait, end of the lease held     |                               |
 * | `sweep`            | sweep.ts: `sweepIntervalMs` after the  | a sweep is queued (unless one |
 * |                    | last one started; recovery.ts: now,    | runs) and the kind stopped:   |
 * |                    | after a recovery                       | `pump` starts it and re-sets  |
 * | `flush`            | persist.ts, after a batch of writes    | gate: the batching delay ends |
 * | `record_retry`     | publisher.ts, after a failed publish   | gate: publish the record again|
 * | `recovery_retry`   | recovery.ts, after a fruitless fetch or| gate: fetch the family record |
 * |                    | a manifest that did not open           | or the manifests again        |
 * | `hire_retry`       | family.ts, after a fruitless offer     | gate: ask for offers again    |
 * |                    | query (or one nobody answered)         |                               |
 * | `position_retry`   | family.ts `retryPositionAt`: earliest  | re-set at the next retry time |
 * |                    | `retryAtMs` still ahead (a silent      | ahead; `pump` sends the work  |
 * |                    | supplier, `probeIntervalMs` on)        | that waited for the position  |
 * The per-position retry times and the lease's times stay with their owners (several deadlines
 * each); the table holds their earliest. The actor's invariants check that every such deadline
 * has its kind armed no later than it, so a place that forgot to set one fails at once. Queued
 * work waits either for a timer or for an answer (or blob, or job) already asked for.
 *
 * Limits: requests in flight, blocks in memory, repair tasks, queued backups and restores,
 * remembered exclusions, versions, audits left unanswered in a row (all in
 * {@link CustomerOptions}); over a limit, new work waits or the command is refused with a notice.
 *
 * Authentication (`auth.ts`): each supplier's key is pinned when its contract is accepted and
 * kept in the records; every message is checked against the key pinned for its sender before
 * anything else, and ID-server answers must come without a key. A refused message changes no
 * state, gets no answer, is counted (`counters.authRefused`, `messagesRefused` in the status)
 * and traced once as `auth.refused`.
 *
 * Messages (see `core/protocol/storage.ts` and `core/protocol/identity.ts`):
 * | sends                | to        | answer handled                                       |
 * |----------------------|-----------|------------------------------------------------------|
 * | `offer_query`        | ID server | offers become hiring candidates                      |
 * | `contract_request`   | candidate | accepted: position active; else excluded             |
 * | `probe`              | supplier  | seen; `contract: false`: ask again if it holds       |
 * |                      |           | nothing of ours (a lapsed reservation), else fire    |
 * | `store`              | supplier  | fragment held; refusals: retry, renew, or fire       |
 * | `fetch`              | supplier  | verified against its hash, else fire                 |
 * | `audit`              | supplier  | Merkle proof checked against the root, else fire;    |
 * |                      |           | `auditMissesMax` unanswered in a row: fire           |
 * | `remove`, `contract_cancel` | supplier | best effort                                  |
 * | `identity_publish`   | ID server | `stored` on a refresh: publish the record again      |
 * | `family_publish`     | ID server | refusals: publish again (see `publisher.ts`)         |
 * | `family_fetch`       | ID server | a customer without records adopts the newest record  |
 * | `list`               | supplier  | after a recovery, unknown versions' keys are removed |
 *
 * A customer that starts with no records at all first looks for its family record on the ID
 * servers (`recovering`): a user on a new machine with only the key gets the family and the
 * catalogue back; see `recovery.ts`.
 *
 * Lifecycle: on the first `start` the timers are armed and hiring begins. On a later `start`
 * (back from offline) every supplier is given a fresh grace period: the customer's own absence
 * says nothing about them. Answers from unknown requests or unexpected senders are counted in
 * `counters.unexpected` and ignored. With repair off there is no heartbeat, but each supplier is
 * still probed every `renewIntervalMs`: every request renews its contract.
 *
 * @module
 */

import type { Actor, BlobResult, Input, StepContext } from "../../core/actor.ts";
import type { Message } from "../../core/protocol/mod.ts";
import type { StorageJobResult } from "../../core/storage.ts";
import {
  cancelBackup,
  DIVERGED,
  failBackups,
  onSealed,
  onSourceRead,
  onStoreReply,
  onStoreSuperseded,
  onStoreTimeout,
  pumpBackup,
  queueBackup,
  startBackup,
} from "./backup.ts";
import { deleteVersion, listVersions, status } from "./commands.ts";
import {
  armPositionRetry,
  auditMissed,
  auditNext,
  backFromPause,
  hire,
  markOffline,
  markSeen,
  markSilent,
  onAudit,
  onAuditVerified,
  onCancelled,
  onContract,
  onContractSuperseded,
  onOffers,
  onOffersTimeout,
  onProbeReply,
  onProbeTimeout,
  probeAll,
  probeUnpinned,
  retryCancels,
} from "./family.ts";
import { findGather, onFetchReply, onFetchTimeout } from "./gather.ts";
import { refusal, refuse } from "./auth.ts";
import type { CustomerCommand, CustomerProtocol, E } from "./protocol.ts";
import {
  onRebuilt,
  onRepairStore,
  pumpRepairs,
  rebuildGathered,
  scanForRepairs,
} from "./repair.ts";
import {
  epochToKeep,
  isDiverged,
  isWriter,
  leaseDeadlineMs,
  onLeaseReply,
  onLeaseTimer,
  onNewerEpoch,
} from "./lease.ts";
import { expiredRequests, takeRequest } from "./requests.ts";
import {
  forgetWaiting,
  onIdentityPublished,
  onRecordChanged,
  onRecordPublished,
  onRecordSealed,
  publishIdentity,
  pumpRecord,
  republishIdentity,
  retryIdentityPublish,
} from "./publisher.ts";
import {
  onFamilyFetched,
  onManifestFragment,
  onManifestRecovered,
  onRecoveryOpened,
  pumpManifests,
  pumpRecovery,
} from "./recovery.ts";
import { onSweepList, onSweepTimer, pumpSweep } from "./sweep.ts";
import { familyRecorded } from "./journal.ts";
import { flush, onRecordList, onRecordRead, onRecordWritten, startLoad } from "./persist.ts";
import { cancelRestore, onOpened, openGathered, pumpRestore, queueRestore } from "./restore.ts";
import {
  type CustomerState,
  type CustomerTimer,
  invariants,
  type PendingRequest,
} from "./state.ts";
import { assert } from "../../core/assert.ts";
import { BACKUP_STALL_MS } from "../../core/limits.ts";

function step(s: CustomerState, input: Input<CustomerProtocol>, ctx: StepContext): readonly E[] {
  if (input.kind === "message") {
    // Before anything else, even the clock: a refused message changes no state at all.
    const why = refusal(s, input.from, input.fromKey, input.message);
    if (why !== null) return refuse(s, input.from, input.message, why);
  }
  const out: E[] = [];
  s.nowMs = ctx.nowMs;
  switch (input.kind) {
    case "start":
      onStart(s, ctx, out);
      break;
    case "message":
      onMessage(s, ctx, out, input.from, input.fromKey, input.message);
      break;
    case "timeout":
      onTimeout(s, ctx, out);
      break;
    case "io_done":
      onIo(s, out, input.id, input.result);
      break;
    case "job_done":
      onJob(s, ctx, out, input.id, input.result);
      break;
    case "command":
      onCommand(s, ctx, out, input.command);
      break;
  }
  route(s);
  pump(s, ctx, out);
  route(s);
  return out;
}

/**
 * Hands every internal event (`CustomerEvent`, state.ts) to the parts that care, in the order
 * they were raised. Runs after the input's handler, before the publisher's stage of `pump`, and
 * at the end of the step: every reader of what an event changes runs after its routing.
 */
function route(s: CustomerState): void {
  for (const e of s.events) {
    switch (e.kind) {
      case "record_changed":
        onRecordChanged(s);
        break;
      case "version_deleted":
        forgetWaiting(s, e.versionId);
        break;
    }
  }
  s.events.length = 0;
}

function onStart(s: CustomerState, ctx: StepContext, out: E[]): void {
  const o = s.options;
  s.startedAtMs = ctx.nowMs;
  if (!s.started) {
    s.started = true;
    startLoad(s, out);
    publishIdentity(s, ctx, out);
    const t = s.deadlines;
    if (o.repair) {
      t.set("probe", ctx.nowMs + o.probeIntervalMs * ctx.random.float());
      t.set("audit", ctx.nowMs + (o.auditIntervalMs / s.scheme.n) * (0.5 + ctx.random.float()));
      t.set("repair_scan", ctx.nowMs + o.repairScanMs);
    } else {
      // No heartbeat, but contracts still need renewing now and then.
      t.set("probe", ctx.nowMs + o.renewIntervalMs * ctx.random.float());
    }
    if (s.lease !== null) onLeaseTimer(s, ctx, out); // the first claim, at once
    return;
  }
  backFromPause(s, ctx.nowMs);
  if (o.repair) {
    s.deadlines.set("probe", Math.min(s.deadlines.at("probe") ?? Infinity, ctx.nowMs + 1000));
  }
  // Whoever held the lease meanwhile: ask again now.
  if (s.lease !== null) {
    s.lease.nextClaimAtMs = ctx.nowMs;
    onLeaseTimer(s, ctx, out);
  }
}

/**
 * Drives every pipeline forward; runs after each input (once the records are loaded). What
 * waits for a time waits for a timer (see the theory block): a pipeline reads whether its kind
 * is still armed, not the clock (but for a position's retry time and the lease's, whose kinds
 * wake the customer when they pass).
 */
function pump(s: CustomerState, ctx: StepContext, out: E[]): void {
  const writer = isWriter(s);
  // Recovery waits for the lease: the record read then is the last writer's latest.
  if (writer) pumpRecovery(s, ctx, out);
  if (s.phase !== "ready") return;
  probeUnpinned(s, ctx, out);
  pumpManifests(s, ctx, out);
  if (!writer) {
    // Standing by (`lease.ts`): restores read, nothing is written, hired, fired or removed.
    if (isDiverged(s)) failBackups(s, out, DIVERGED);
    pumpRestore(s, ctx, out);
    flush(s, ctx, out);
    return;
  }
  if (epochToKeep(s)) familyRecorded(s);
  hire(s, ctx, out);
  startBackup(s, ctx, out);
  pumpBackup(s, ctx, out);
  if (s.backups.run === null) {
    // The backup that just ended makes room for the next one now, not on some later input.
    startBackup(s, ctx, out);
    pumpBackup(s, ctx, out);
  }
  pumpRestore(s, ctx, out);
  if (s.options.repair) pumpRepairs(s, ctx, out);
  route(s);
  pumpRecord(s, ctx, out);
  pumpSweep(s, ctx, out);
  flush(s, ctx, out);
}

/**
 * Runs the handler of every timer kind due (by deadline, then declaration order); each handler
 * re-sets or stops its own kind. With nothing due (a spurious timeout) it does nothing.
 */
function onTimeout(s: CustomerState, ctx: StepContext, out: E[]): void {
  const o = s.options;
  const now = ctx.nowMs;
  const t = s.deadlines;
  for (const kind of t.expired(now)) {
    const at = t.at(kind);
    if (at === null || at > now) continue; // stopped or pushed back by an earlier handler here
    switch (kind) {
      case "request":
        for (const r of expiredRequests(s, now)) onRequestTimeout(s, ctx, out, r);
        break;
      case "probe":
        t.set("probe", now + (o.repair ? o.probeIntervalMs : o.renewIntervalMs));
        markOffline(s, ctx);
        probeAll(s, ctx, out);
        retryCancels(s, ctx, out);
        break;
      case "audit":
        t.set("audit", now + o.auditIntervalMs / s.scheme.n);
        auditNext(s, ctx, out);
        break;
      case "identity_refresh":
        t.stop("identity_refresh"); // publishIdentity arms the next one
        publishIdentity(s, ctx, out);
        break;
      case "repair_scan":
        t.set("repair_scan", now + o.repairScanMs);
        scanForRepairs(s, ctx, out);
        break;
      case "lease":
        onLeaseTimer(s, ctx, out);
        break;
      case "sweep":
        onSweepTimer(s);
        break;
      case "position_retry":
        armPositionRetry(s, now); // `pump` sends what waited for the positions now due
        break;
      case "backup_stall": // `pump` gives up the positions holding the backup up, or fails it
      case "flush": // the batching delay is over: `pump` writes what is dirty
      case "record_retry": // `pump` publishes the family record again if it is still dirty
      case "recovery_retry": // `pump` asks for the family record or the manifests again
      case "hire_retry": // `pump` asks the ID servers for offers again if a position is empty
        t.stop(kind);
        break;
    }
  }
}

function onRequestTimeout(s: CustomerState, ctx: StepContext, out: E[], r: PendingRequest) {
  const timeoutMs = s.options.requestTimeoutMs;
  s.counters.timeouts++;
  const purpose = r.purpose;
  switch (purpose.kind) {
    case "offer_query":
      return onOffersTimeout(s, ctx);
    case "identity_publish":
      // Unanswered: try again after a hiring retry's wait, not after the daily refresh.
      return retryIdentityPublish(s, ctx);
    case "family_publish":
      return onRecordPublished(s, ctx, out, null);
    case "family_fetch":
      return onFamilyFetched(s, ctx, out, null);
    case "manifest_fetch":
      return onManifestFragment(s, out, purpose.fetch.id, purpose.position, null);
    case "sweep_list":
      return onSweepList(s, ctx, out, purpose.position, purpose.supplier, null);
    case "contract":
      return onContract(
        s,
        ctx,
        out,
        purpose.position,
        purpose.supplier,
        false,
        null,
        purpose.renew,
      );
    case "probe":
      return onProbeTimeout(s, ctx, out, purpose.position, r.to, r.deadlineMs - timeoutMs);
    case "audit":
      if (s.family.positions[purpose.position].supplier === r.to) {
        markSilent(s, purpose.position, ctx.nowMs);
        // Unless we were away meanwhile: then its answer may have come while we could not hear.
        // A recheck (a fragment we never counted on) is housekeeping: its silence costs nothing.
        const sentMs = r.deadlineMs - s.options.requestTimeoutMs;
        if (sentMs >= s.startedAtMs && !purpose.recheck) {
          auditMissed(s, ctx, out, purpose.position, "no answer");
        }
      }
      return;
    case "store":
      onStoreTimeout(s, ctx, out, purpose.position, purpose.block);
      if (purpose.repair !== null) onRepairStore(s, purpose.repair, false, 0);
      return;
    case "fetch":
      onFetchTimeout(s, ctx, findGather(s, purpose.gather), purpose.position);
      return;
    case "lease_claim":
      return onLeaseReply(s, ctx, out, null);
    case "cancel":
    case "remove":
      return;
  }
}

/** A message that passed {@link refusal}: its sender is who it says it is. */
function onMessage(
  s: CustomerState,
  ctx: StepContext,
  out: E[],
  from: string,
  fromKey: Uint8Array | null,
  m: Message,
): void {
  if (!("requestId" in m)) {
    s.counters.unexpected++;
    return;
  }
  const r = takeRequest(s, from, m.requestId);
  if (r === null) {
    s.counters.unexpected++;
    return;
  }
  const p = r.purpose;
  if (m.type === "offer_query_reply" && p.kind === "offer_query") return onOffers(s, ctx, m);
  if (m.type === "identity_publish_reply" && p.kind === "identity_publish") {
    return onIdentityPublished(s, m);
  }
  if (m.type === "family_publish_reply" && p.kind === "family_publish") {
    return onRecordPublished(s, ctx, out, m);
  }
  if (m.type === "family_fetch_reply" && p.kind === "family_fetch") {
    return onFamilyFetched(s, ctx, out, m);
  }
  if (m.type === "list_reply" && p.kind === "sweep_list") {
    return onSweepList(s, ctx, out, p.position, p.supplier, m);
  }
  if (m.type === "fetch_reply" && p.kind === "manifest_fetch") {
    return onManifestFragment(s, out, p.fetch.id, p.position, m);
  }
  if (m.type === "contract_reply" && p.kind === "contract") {
    const accepted = m.outcome === "accepted";
    return onContract(s, ctx, out, p.position, p.supplier, accepted, fromKey, p.renew);
  }
  if (m.type === "probe_reply" && p.kind === "probe") {
    return onProbeReply(s, ctx, out, p.position, from, fromKey, m);
  }
  if (m.type === "store_reply" && p.kind === "store") {
    onStoreReply(s, ctx, out, p.position, p.block, m, from);
    const stored = m.outcome === "stored";
    if (p.repair !== null) onRepairStore(s, p.repair, stored, stored ? p.bytes : 0);
    return;
  }
  if (m.type === "fetch_reply" && p.kind === "fetch") return onFetched(s, ctx, out, p, from, m);
  if (m.type === "audit_reply" && p.kind === "audit") {
    if (s.family.positions[p.position].supplier !== from) return;
    markSeen(s, p.position, ctx.nowMs);
    return onAudit(s, ctx, out, p.position, p.block, p.leafIndex, m, p.recheck);
  }
  if (m.type === "contract_cancel_reply" && p.kind === "cancel") return onCancelled(s, p.supplier);
  if (m.type === "lease_claim_reply" && p.kind === "lease_claim") {
    return onLeaseClaimReply(s, ctx, out, m);
  }
  if (m.type === "remove_reply") return;
  if (m.type === "superseded") return onSupersededWrite(s, ctx, out, p, from, m.epoch);
  s.counters.unexpected++;
}

/**
 * A supplier refused a write of ours (`p`) because it has seen this identity at a higher writer
 * epoch: the write is not done, nobody is blamed for it, and the report counts towards our
 * stopping (`lease.ts`, {@link onNewerEpoch}).
 */
function onSupersededWrite(
  s: CustomerState,
  ctx: StepContext,
  out: E[],
  p: PendingRequest["purpose"],
  from: string,
  epoch: number,
): void {
  switch (p.kind) {
    case "store":
      onStoreSuperseded(s, ctx, p.position, p.block);
      if (p.repair !== null) onRepairStore(s, p.repair, false, 0);
      break;
    case "contract":
      onContractSuperseded(s, p.position, from, p.renew);
      break;
    case "cancel":
    case "remove":
      break;
    default:
      s.counters.unexpected++;
      return;
  }
  onNewerEpoch(s, out, from, epoch);
}

/**
 * A lease claim's answer. `unknown_owner`: the server does not host our identity (its publish
 * was lost), so publish it again now, or the lease, and all that waits for it, waits a day.
 */
function onLeaseClaimReply(
  s: CustomerState,
  ctx: StepContext,
  out: E[],
  m: Extract<Message, { type: "lease_claim_reply" }>,
): void {
  if (m.outcome === "unknown_owner") republishIdentity(s, ctx, out);
  onLeaseReply(s, ctx, out, m);
}

function onFetched(
  s: CustomerState,
  ctx: StepContext,
  out: E[],
  p: Extract<PendingRequest["purpose"], { kind: "fetch" }>,
  from: string,
  m: Extract<Message, { type: "fetch_reply" }>,
): void {
  const g = findGather(s, p.gather);
  if (g === null) return; // ended meanwhile
  const complete = onFetchReply(s, ctx, out, g, p.position, from, m);
  if (!complete) return;
  if (g.role === "restore") openGathered(s, out, g.run, g);
  else rebuildGathered(s, out, g);
}

function onIo(s: CustomerState, out: E[], id: number, result: BlobResult): void {
  const c = s.continuations.get(id);
  if (c === undefined) return;
  s.continuations.delete(id);
  switch (c.kind) {
    case "source":
      return onSourceRead(s, out, c, result);
    case "meta_list":
      return onRecordList(s, out, result);
    case "meta_read":
      return onRecordRead(s, c.key, result);
    case "meta_write":
      return onRecordWritten(s, out, c.key, result);
    case "meta_delete":
      return;
  }
}

function onJob(s: CustomerState, ctx: StepContext, out: E[], id: number, r: StorageJobResult) {
  const c = s.continuations.get(id);
  if (c === undefined) return;
  s.continuations.delete(id);
  switch (c.kind) {
    case "seal":
      return onSealed(s, ctx, out, c.block, r);
    case "meta_list":
    case "meta_read":
    case "meta_write":
    case "meta_delete":
      return;
    case "open":
      return onOpened(s, out, c.gather, r);
    case "rebuild":
      return onRebuilt(s, ctx, out, c.task, r);
    case "verify_audit":
      return onAuditVerified(s, ctx, out, c, r.type === "verified" && r.ok);
    case "source":
      return;
    case "seal_recovery":
      return onRecordSealed(s, ctx, out, r);
    case "open_recovery":
      return onRecoveryOpened(s, ctx, out, c.revision, r);
    case "recover_manifest":
      return onManifestRecovered(s, ctx, out, c.versionId, r);
  }
}

function onCommand(s: CustomerState, ctx: StepContext, out: E[], c: CustomerCommand): void {
  switch (c.type) {
    case "backup":
      return queueBackup(s, out, c.label, c.files);
    case "restore":
      return queueRestore(s, out, c.restoreId, c.versionId, c.files);
    case "delete":
      if (!isWriter(s)) {
        const reason = "another instance of this identity holds the writer lease";
        out.push({ kind: "notice", notice: { type: "command_failed", command: "delete", reason } });
        return;
      }
      return deleteVersion(s, ctx, out, c.versionId);
    case "cancel_backup":
      return cancelBackup(s, out);
    case "cancel_restore":
      return cancelRestore(s, out, c.restoreId);
    case "list":
      out.push({ kind: "notice", notice: { type: "versions", versions: listVersions(s) } });
      return;
    case "status":
      out.push({ kind: "notice", notice: status(s) });
      return;
  }
}

function nextDeadlineMs(s: CustomerState): number | null {
  return s.deadlines.next();
}

/**
 * The timers' rules, on top of the state's ({@link invariants}): every deadline a sub-machine
 * keeps itself (per-position retries, the lease's, the backup's stall, the oldest request) has
 * its kind armed no later than it, so a place that forgot to set its kind is caught at once.
 */
function timerInvariants(s: CustomerState): void {
  const t = s.deadlines;
  const requestDue = s.requests.next();
  if (requestDue !== null) armedBy(t, "request", requestDue, "the oldest request");
  if (s.started) {
    assert(t.at("probe") !== null, "probe stopped");
    assert(!s.options.repair || t.at("audit") !== null, "audit stopped");
    assert(!s.options.repair || t.at("repair_scan") !== null, "repair_scan stopped");
    assert(s.identityDocument === null || t.at("identity_refresh") !== null, "refresh stopped");
  }
  const run = s.backups.run;
  if (run !== null) {
    // Armed at the stall, or stopped once it passed (the backup waits for `pump` as a writer).
    const stallMs = run.progressAtMs + BACKUP_STALL_MS;
    if (t.at("backup_stall") !== null) armedBy(t, "backup_stall", stallMs, "the backup's stall");
    else assert(stallMs <= s.nowMs, "backup_stall stopped before the stall");
  }
  const l = s.lease;
  if (l !== null && s.started) {
    // As the lease computes it, without `isDiverged`'s clearing (a check changes nothing).
    const leaseDue = leaseDeadlineMs(s, l.otherSeen && s.phase === "ready");
    if (leaseDue !== null) armedBy(t, "lease", leaseDue, "the lease's next deadline");
  }
  const positions = s.family.positions;
  for (let i = 0; i < positions.length; i++) {
    const due = positions[i].retryAtMs;
    if (due > s.nowMs) armedBy(t, "position_retry", due, "a position's retry", i);
  }
  if (s.phase === "ready") servedGates(s);
}

/**
 * Fails unless timer `kind` is armed no later than `dueMs` (the deadline of `what`, of position
 * `position` if given); the message is built only on failure (this runs after every step).
 */
function armedBy(
  t: CustomerState["deadlines"],
  kind: CustomerTimer,
  dueMs: number,
  what: string,
  position?: number,
): void {
  const at = t.at(kind);
  if (at !== null && at <= dueMs) return;
  const of = position === undefined ? what : `${what} (position ${position})`;
  assert(false, `${kind} armed at ${at}, after ${of} at ${dueMs}`);
}

/**
 * A gate that is open with work waiting behind it was served by the step's `pump`: work that
 * waits neither for a timer nor for an answer would wait for an input that may never come.
 */
function servedGates(s: CustomerState): void {
  const t = s.deadlines;
  const batch = t.at("flush") === null;
  for (const key of s.journal.dirty) {
    if ((batch || s.journal.urgent.has(key)) && !s.journal.writing.has(key)) {
      assert(false, `record ${key} left unwritten`);
    }
  }
  const empty = s.family.positions.some((p) => p.state === "empty");
  if (empty && t.at("hire_retry") === null && s.requests.canOpen() && isWriter(s)) {
    const querying = [...s.requests.values()].some((r) => r.purpose.kind === "offer_query");
    assert(querying, "a position is empty and nobody was asked for offers");
  }
}

/** The customer actor. */
export const customerActor: Actor<CustomerState, CustomerProtocol> = {
  step,
  nextDeadlineMs,
  invariants(s: CustomerState): void {
    invariants(s);
    timerInvariants(s);
  },
};
