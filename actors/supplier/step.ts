/**
 * The supplier: lends disk to customers under storage contracts, and says so to ID servers.
 *
 * Theory of operation.
 * - States: `idle` → (`start`) → `loading` → `ready`. Loading (`load.ts`) rebuilds contracts and
 *   the fragment index from the disk alone: list `contract/`, read each record, list `frag/`
 *   (keys and sizes). A failed list or read starts the load again after `loadRetryMs`. Until
 *   `ready`, requests whose answer can say so are answered `busy`; the others (contract, cancel,
 *   remove, probe, list) get no answer and the customer asks again. When ready the supplier
 *   emits the `loaded` notice, deletes orphan blobs, publishes its identity and announces its
 *   offer (`announce.ts`). Every later `start` (back online) publishes and announces again.
 * - Disk: `contract/<customer>` holds a contract record (quota, the customer's key, the last
 *   renewal written), `frag/<customer>/<key>` a fragment. Nothing is acknowledged before its
 *   blob operation completed: a contract only once its record is written, a store once its
 *   fragment is, a removal or cancellation once its deletes are. One write of a record at a
 *   time: a quota change, a rewrite (renewal or pinned key), a cancellation wait for each other.
 * - Fence (`leases.ts`, `core/protocol/storage.ts`): `contract_request`, `contract_cancel`,
 *   `store` and `remove` carry the customer instance's writer epoch. The record keeps the
 *   highest seen (format 3); one below it is answered `superseded` and changes nothing, so an
 *   instance that lost the writer lease to another machine cannot undo what the newer one wrote.
 * - Keys (`leases.ts`): a contract is pinned at hiring to the key of its request's link; every
 *   later customer message under that name is served only over that key. Refused before
 *   anything else, changing nothing, unanswered, counted (`auth.*`), traced once `auth.refused`:
 *   another key (no takeover by `contract_request` either), no key at all, a key that is not an
 *   Ed25519 key, a key under the name of one of our ID servers. A record of format 1 (before
 *   keys) loads unpinned and is pinned by its name's first authenticated request (`key.pinned`):
 *   trust on first use of a link the transport confirmed with the ID servers, a one-time
 *   upgrade that keeps every contract and fragment. Keys never change: no re-pinning. A record
 *   that does not decode (torn by a crash) pins nothing: its fragments are kept and only read
 *   for the name (probe, fetch, audit, list) until its next `contract_request`, a new
 *   contract's, takes them over, or deleted once the name is silent for the load grace
 *   (`unclaimed.ts`).
 * - Accounting: what is charged against the capacity never exceeds it. A customer is charged
 *   its used bytes (the sum of its indexed fragments) plus the growth its stores in flight
 *   reserve (their size beyond the fragment each replaces), and, only while its reservation
 *   window is open, its whole quota (`chargeOf`). Quotas are caps, not holdings: their sum may
 *   exceed the capacity, and a store that would raise the charge beyond the free capacity is
 *   refused `no_space`. While a new quota is written, stores are held to the smaller of the old
 *   and the new. A key with a store or removal in flight is locked against a second mutation.
 * - Contracts are not free (`leases.ts`): a reservation window (`SUPPLIER_RESERVATION_MS`)
 *   opens at a grant (or a raise after new bytes arrived) and is extended by stores that bring
 *   new bytes; a contract with nothing stored when it closes lapses (record deleted, notice).
 *   Asking again for the same quota renews nothing, and a name whose contract lapsed lately is
 *   granted without a reservation. Every authenticated request renews the contract's lease (in
 *   memory; written about daily); one not renewed for `SUPPLIER_CONTRACT_LEASE_MS` ends like a
 *   cancellation, fragments deleted. Lapses and expiries answer nobody; the customer learns it
 *   from `probe_reply` (`contract: false`) or `store_reply` (`no_contract`) and asks again.
 * - Timers: a `TimerTable` (core/timers.ts) in `state.deadlines`, one deadline per kind, the one
 *   record of when the supplier next wants a `timeout`: `nextDeadlineMs` is its `next()`. Each
 *   place that schedules or clears a deadline sets or stops its kind at once; `onTimeout` runs
 *   one handler per expired kind (by deadline, then declaration order), and each handler re-sets
 *   or stops its kind, so a spurious timeout is a no-op. `invariants` checks the table against
 *   each source it summarizes (a forgotten `set` or `stop` stops the simulator). The kinds:
 *   - `load_retry`: set by `loadFailed` (`load.ts`) once a failed load has nothing in flight,
 *     `loadRetryMs` later; stopped by `beginLoad`. Firing stops it and loads again.
 *   - `links`: the earliest ID-server link deadline (`parts/idserver_link.ts`: an answer's
 *     deadline, a retry with backoff, the next announcement or identity refresh); re-set by
 *     every function of `announce.ts` that moves a link's deadline. Firing (`onLinkTimers`)
 *     backs off from each lost answer and sends each due request, then re-sets it.
 *   - `delete_retry`: the earliest retry of a delete task's failed deletes; set (no later than
 *     it was) by a failed delete (`deletes.ts`). Firing (`retryDeletes`) requeues the due
 *     tasks' failed keys and re-sets it at the earliest retry left, or stops it.
 *   - `contracts`: the top of the `timers` heap (one live entry per contract: its window's end
 *     or its lease's end); re-set by every push, pop and rebuild of the heap (`_timers.ts`).
 *     Firing (`onContractTimers`) pops at most `contractTimersPerStepMax` due entries, never a
 *     scan of every customer; due entries left over keep it due. Many same-kind deadlines stay
 *     a heap: the table holds only its earliest.
 *   - `unclaimed`: the earliest end of the fragments kept under a damaged record; set by the
 *     load and by each change of them (`armUnclaimed` in `unclaimed.ts`). Firing hands each
 *     expired name's blobs to an `orphans` task (or waits `deleteRetryMs` for room), re-sets
 *     it at the earliest end left, or stops it.
 * - Limits (named in `core/limits.ts`, lowered by options in tests): customers, fragments per
 *   customer and in all, blob operations in flight (deletes use at most half), audits in
 *   flight, queued delete tasks, remembered lapsed names, contract timers per step; each is
 *   checked on insert and refused (or deferred) as a value.
 * - Messages (customers are named by the link that authenticated them, and served only under
 *   the key pinned for the name; every answer goes to the sender, and names only the sender's
 *   own fragments):
 *
 * | message                  | answer                  | outcomes / notes                         |
 * |--------------------------|-------------------------|------------------------------------------|
 * | `contract_request`       | `contract_reply`        | accepted, no_space, too_many_customers,  |
 * |                          |                         | closing; after the record is written;    |
 * |                          |                         | pins the key of a new contract           |
 * | `contract_cancel`        | `contract_cancel_reply` | removed: fragments deleted; when done    |
 * | `store`                  | `store_reply`           | stored, no_contract, bad_key, bad_hash,  |
 * |                          |                         | over_quota, busy, no_space (the disk or  |
 * |                          |                         | no free capacity), io_error              |
 * | `fetch`                  | `fetch_reply`           | found (data), not_found, no_contract,    |
 * |                          |                         | bad_key, busy, io_error                  |
 * | `audit`                  | `audit_reply`           | found (size, leaf, Merkle path), bad_leaf|
 * |                          |                         | or a fetch refusal; proved by a CPU job  |
 * | `remove`                 | `remove_reply`          | removed: how many of the keys it deleted |
 * | `probe`                  | `probe_reply`           | contract in force (false once lapsed or  |
 * |                          |                         | expired), used and quota bytes           |
 * | `list`                   | `list_reply`            | sorted keys after `after`, `more`        |
 * | (any of the four above)  | `superseded`            | below the highest writer epoch seen: the |
 * |                          |                         | request is not handled (fence)           |
 * | `identity_publish_reply` | (ID server's answer)    | published, retried, or told the operator |
 * | `offer_announce_reply`   | (ID server's answer)    | announced, retried, or told the operator |
 *
 * Every customer message above renews its contract when its key is the pinned one, and none
 * is answered (nor changes anything) when it is not. ID servers' answers come keyless.
 * Any other message, or an answer nobody asked for, is counted and dropped. A peer's mistakes
 * are never exceptions: each refusal is counted in `counters` (`store.bad_hash`, ...) and
 * protocol violations are traced.
 *
 * @module
 */

import type { Actor, BlobResult, Effect, Input, NodeId, StepContext } from "../../core/actor.ts";
import { assert } from "../../core/assert.ts";
import { isNodeId } from "../../core/ids.ts";
import type { Message } from "../../core/protocol/mod.ts";
import type { StorageJobResult } from "../../core/storage.ts";
import { type Out, trace } from "./_effects.ts";
import {
  announceIfMoved,
  onLinkTimers,
  onOfferReply,
  onPublishReply,
  restartLinks,
} from "./announce.ts";
import { finishContractWrite, onContractCancel, onContractRequest } from "./contracts.ts";
import { addTask, onDeleteDone, pumpDeletes, retryDeletes } from "./deletes.ts";
import {
  admit,
  customerRefusal,
  fence,
  finishRewrite,
  graceLeases,
  isCustomerMessage,
  onContractTimers,
  refuseAuth,
  rewriteIfDue,
} from "./leases.ts";
import { beginLoad, onLoadIo } from "./load.ts";
import { onUnclaimedTimer, touchUnclaimed } from "./unclaimed.ts";
import {
  finishAuditRead,
  finishFetch,
  finishProof,
  finishStore,
  onAudit,
  onFetch,
  onList,
  onProbe,
  onRemove,
  onStore,
} from "./storage.ts";
import {
  count,
  freeBytes,
  invariants,
  offeredBytes,
  settleCapacity,
  type SupplierCommand,
  type SupplierProtocol,
  type SupplierState,
} from "./state.ts";

/** Applies one input to the supplier. */
export function step(
  state: SupplierState,
  input: Input<SupplierProtocol>,
  ctx: StepContext,
): readonly Effect<SupplierProtocol>[] {
  const offered = offeredBytes(state);
  const out = dispatch(state, input, ctx);
  settleCapacity(state);
  if (state.phase === "ready" && offeredBytes(state) !== offered) {
    out.push(...announceIfMoved(state, ctx));
  }
  return out;
}

function dispatch(state: SupplierState, input: Input<SupplierProtocol>, ctx: StepContext): Out {
  switch (input.kind) {
    case "start":
      return onStart(state, ctx);
    case "command":
      return onCommand(state, input.command);
    case "message":
      return onMessage(state, input.from, input.fromKey, input.message, ctx);
    case "io_done":
      return onIoDone(state, input.id, input.result, ctx);
    case "job_done":
      return onJobDone(state, input.id, input.result);
    case "timeout":
      return onTimeout(state, ctx);
  }
}

/** Earliest armed timer: load retry, an ID server's deadline, a delete retry, a contract's. */
export function nextDeadlineMs(state: SupplierState): number | null {
  return state.deadlines.next();
}

/** The supplier as an {@link Actor}. */
export const supplierActor: Actor<SupplierState, SupplierProtocol> = {
  step,
  nextDeadlineMs,
  invariants,
};

function onStart(state: SupplierState, ctx: StepContext): Out {
  count(state, "start");
  if (state.phase === "idle") return beginLoad(state);
  if (state.phase === "loading") return []; // held completions carry the load on
  graceLeases(state, ctx.nowMs); // back from offline: our absence is not our customers' silence
  return restartLinks(state, ctx);
}

function onCommand(state: SupplierState, command: SupplierCommand): Out {
  if (command.type !== "status") {
    count(state, "command.unknown");
    return [];
  }
  let usedBytes = 0;
  let grantedBytes = 0;
  for (const c of state.customers.values()) {
    usedBytes += c.usedBytes;
    grantedBytes += c.quotaBytes;
  }
  const counter = (name: string) => state.counters[name] ?? 0;
  return [{
    kind: "notice",
    notice: {
      type: "status",
      phase: state.phase,
      customers: state.customers.size,
      fragments: state.fragmentCount,
      capacityBytes: state.capacityBytes,
      grantedBytes,
      chargedBytes: state.chargedBytes,
      usedBytes,
      freeBytes: freeBytes(state),
      published: state.idServers.filter((l) => l.published).length,
      keyRefusals: counter("auth.refused"),
      contractsLapsed: counter("contract.lapsed"),
      contractsExpired: counter("contract.expired"),
      writesSuperseded: counter("fence.superseded"),
    },
  }];
}

function onMessage(
  state: SupplierState,
  from: NodeId,
  fromKey: Uint8Array | null,
  m: Message,
  ctx: StepContext,
): Out {
  if (!isNodeId(from)) {
    // Blob keys are built from sender names: a host that hands over a bad one is refused.
    count(state, "message.bad_sender");
    return [trace("supplier.bad_sender", { type: m.type })];
  }
  // Before anything else: a name means a key (see leases.ts).
  if (fromKey !== null && state.options.idServers.includes(from)) {
    return refuseAuth(state, from, m, ["idserver_key", "a key under the name of an ID server"]);
  }
  if (!isCustomerMessage(m)) return handle(state, from, fromKey, m, ctx);
  const c = state.customers.get(from);
  const refusal = customerRefusal(c, fromKey);
  if (refusal !== null) return refuseAuth(state, from, m, refusal);
  const fenced = c === undefined ? null : fence(state, from, c, m);
  if (fenced !== null) return fenced;
  if (c === undefined) touchUnclaimed(state, from, ctx.nowMs);
  const pinned = c === undefined ? [] : admit(state, from, c, fromKey!, m, ctx);
  const out = handle(state, from, fromKey, m, ctx);
  const rewrite = c === undefined ? [] : rewriteIfDue(state, from, ctx);
  if (pinned.length === 0 && rewrite.length === 0) return out;
  return [...pinned, ...out, ...rewrite];
}

function handle(
  state: SupplierState,
  from: NodeId,
  fromKey: Uint8Array | null,
  m: Message,
  ctx: StepContext,
): Out {
  switch (m.type) {
    case "contract_request":
      return onContractRequest(state, from, fromKey!, m, ctx);
    case "contract_cancel":
      return onContractCancel(state, from, m);
    case "store":
      return onStore(state, from, m, ctx);
    case "fetch":
      return onFetch(state, from, m);
    case "audit":
      return onAudit(state, from, m);
    case "remove":
      return onRemove(state, from, m);
    case "probe":
      return onProbe(state, from, m);
    case "list":
      return onList(state, from, m);
    case "identity_publish_reply":
      return onPublishReply(state, from, m, ctx);
    case "offer_announce_reply":
      return onOfferReply(state, from, m, ctx);
    default:
      count(state, "message.unexpected");
      return [trace("supplier.unexpected", { from, type: m.type })];
  }
}

function onIoDone(state: SupplierState, id: number, result: BlobResult, ctx: StepContext): Out {
  const io = state.ops.get(id);
  assert(io !== undefined, `io completion ${id} matches no operation`);
  state.ops.delete(id);
  let out: Out;
  switch (io.op) {
    case "load_list":
    case "load_read": {
      const loaded = onLoadIo(state, io, result, ctx);
      if (!loaded.done) return loaded.out;
      return [...loaded.out, ...afterLoad(state, ctx)];
    }
    case "contract_write":
      out = finishContractWrite(state, io.customer, result, ctx);
      if (result.ok && epochUnstored(state, io.customer)) {
        out.push(...rewriteIfDue(state, io.customer, ctx));
      }
      break;
    case "contract_rewrite":
      out = finishRewrite(state, io.customer, io.renewedMs, result);
      if (result.ok && epochUnstored(state, io.customer)) {
        out.push(...rewriteIfDue(state, io.customer, ctx));
      }
      break;
    case "store":
      out = finishStore(state, id, io, result, ctx);
      break;
    case "fetch":
      out = finishFetch(state, io, result);
      break;
    case "audit":
      out = finishAuditRead(state, io, result);
      break;
    case "delete":
      return onDeleteDone(state, io.task, io.key, result, ctx);
    case "contract_delete":
      return onDeleteDone(state, io.task, null, result, ctx);
  }
  // A finished operation frees room for queued deletes (and may let a cancellation finish).
  return state.tasks.size === 0 ? out : out.concat(pumpDeletes(state));
}

/** Whether `customer`'s record on disk lacks the writer epoch raised while it was written. */
function epochUnstored(state: SupplierState, customer: NodeId): boolean {
  const c = state.customers.get(customer);
  return c !== undefined && c.epochStored !== c.epoch;
}

function afterLoad(state: SupplierState, ctx: StepContext): Out {
  const orphans = state.load.orphans;
  state.load.orphans = [];
  const out = orphans.length === 0 ? [] : addTask(state, "orphans", "", 0, orphans);
  return out.concat(restartLinks(state, ctx));
}

function onJobDone(state: SupplierState, id: number, result: StorageJobResult): Out {
  return finishProof(state, id, result);
}

function onTimeout(state: SupplierState, ctx: StepContext): Out {
  const out: Out = [];
  for (const kind of state.deadlines.expired(ctx.nowMs)) {
    switch (kind) {
      case "load_retry":
        state.deadlines.stop("load_retry");
        out.push(...beginLoad(state));
        break;
      case "links":
        out.push(...onLinkTimers(state, ctx));
        break;
      case "delete_retry":
        out.push(...retryDeletes(state, ctx));
        break;
      case "contracts":
        out.push(...onContractTimers(state, ctx));
        break;
      case "unclaimed":
        out.push(...onUnclaimedTimer(state, ctx));
        break;
    }
  }
  return out;
}
