/**
 * Who may speak for a contract, and how long a contract lives.
 *
 * Keys. A contract is granted to the key that authenticated the link of its `contract_request`
 * and kept in the record; every later customer request under that name (`contract_request`,
 * `contract_cancel`, `store`, `fetch`, `audit`, `remove`, `probe`, `list`) is served only over a
 * link authenticated by that key. A request without a key, or under another key, or a key under
 * the name of one of our ID servers (they answer over HTTP, keyless), is refused before anything
 * else ({@link customerRefusal}; the ID-server case in `step.ts`): no state changes, no answer,
 * counted, one `auth.refused` trace. Keys never change, so there is no re-pinning. A record of
 * the format before keys is unpinned: the first authenticated request from its name pins that
 * request's key (trace `key.pinned`) and the record is rewritten with it, once. That is trust on
 * first use, but of a link the transport confirmed against the ID servers, and it loses no
 * customer's data in the upgrade.
 *
 * Reservations. A contract's unused quota is held against the capacity only in its reservation
 * window: `SUPPLIER_RESERVATION_MS` after it is granted (or raised after new bytes arrived),
 * extended by every store that brings new bytes. After the window only bytes stored and stores
 * in flight count, so the offer comes back; a store beyond the free capacity is refused
 * `no_space`. A contract that has stored nothing when its window ends lapses: its record is
 * deleted, counted, told to the operator; the name is remembered for `SUPPLIER_LAPSE_MEMORY_MS`
 * and a contract it asks for again is granted without a reservation (its window then only says
 * when it lapses if it still holds nothing: after the lapse memory, so an honest customer with
 * nothing to store yet comes and goes weekly, not hourly). Asking again for the same quota
 * renews nothing: holding space costs real bytes.
 *
 * Leases. Every authenticated request from the contract's key renews it, in memory; the renewal
 * is written to the record only when the one on disk is `SUPPLIER_RENEWAL_PERSIST_MS` old
 * (about daily), never once per probe. A contract not renewed for `SUPPLIER_CONTRACT_LEASE_MS`
 * ends like a cancellation (fragments deleted), with a notice and a counter. After a load, and
 * after each spell offline, every contract gets at least `SUPPLIER_LEASE_LOAD_GRACE_MS` (the
 * supplier's downtime is not its customers' silence).
 *
 * Timers. Each active contract has one live entry in a min-heap (`state.timers`): the earlier of
 * its window's end and its lease's end as last scheduled. Renewals and extensions only move a
 * deadline later, so they touch no entry: an entry that fires early is re-armed at the real
 * deadline. Only an earlier deadline pushes a new entry (the old one goes stale and is skipped);
 * the heap is rebuilt when stale entries outnumber the customers. A timeout handles at most
 * `contractTimersPerStepMax` entries; the rest are due at once and handled by the next timeout.
 *
 * @module
 */

import type { BlobResult, NodeId, StepContext } from "../../core/actor.ts";
import { assert } from "../../core/assert.ts";
import { bytesEqual } from "../../core/ids.ts";
import {
  PUBLIC_KEY_BYTES,
  SUPPLIER_CONTRACT_LEASE_MS,
  SUPPLIER_LAPSE_MEMORY_MS,
  SUPPLIER_LEASE_LOAD_GRACE_MS,
  SUPPLIER_RENEWAL_PERSIST_MS,
  SUPPLIER_RESERVATION_MS,
} from "../../core/limits.ts";
import type { Message } from "../../core/protocol/mod.ts";
import { ioRoom, issue, type Out, send, trace } from "./_effects.ts";
import { abandonRemovals, addTask, taskRoom } from "./deletes.ts";
import { contractKey, encodeContract } from "./records.ts";
import { armDeadline, armTimer, liveRecord, popTimer } from "./_timers.ts";
import {
  type ContractEnd,
  count,
  type CustomerRecord,
  recharge,
  type SupplierState,
} from "./state.ts";

/** Whether `m` is one a customer sends a supplier: each is served only to the contract's key. */
export function isCustomerMessage(m: Message): boolean {
  switch (m.type) {
    case "contract_request":
    case "contract_cancel":
    case "store":
    case "fetch":
    case "audit":
    case "remove":
    case "probe":
    case "list":
      return true;
    default:
      return false;
  }
}

/**
 * Why customer message `m` (see {@link isCustomerMessage}) from `from`, whose record is `c`,
 * over a link authenticated by `fromKey`, is refused, as a counter suffix and a sentence; `null`
 * if it may be handled.
 */
export function customerRefusal(
  c: CustomerRecord | undefined,
  fromKey: Uint8Array | null,
): [string, string] | null {
  if (fromKey === null) return ["no_key", "no key authenticated the link"];
  const pinned = c?.key ?? null;
  if (pinned !== null) {
    return bytesEqual(pinned, fromKey) ? null : ["wrong_key", "not the key pinned for it"];
  }
  if (fromKey.length !== PUBLIC_KEY_BYTES) return ["bad_key", "not an Ed25519 key"];
  return null;
}

/** The effects of refusing `m`: counted, traced once; nothing else changes. */
export function refuseAuth(
  state: SupplierState,
  from: NodeId,
  m: Message,
  [code, why]: [string, string],
): Out {
  count(state, "auth.refused");
  count(state, `auth.${code}`);
  return [trace("auth.refused", { from, type: m.type, why })];
}

/** The writer epoch a state-changing customer message carries; `null` for the others. */
function epochOf(m: Message): number | null {
  switch (m.type) {
    case "contract_request":
    case "contract_cancel":
    case "store":
    case "remove":
    case "probe":
      return m.epoch;
    default:
      return null;
  }
}

/**
 * The writer fence (`core/protocol/storage.ts`) for an authenticated message `m` from `from`,
 * whose record is `c`: a state-changing request below the highest epoch seen is answered
 * `superseded` with that epoch and changes nothing else (not even the lease); a higher one
 * (a probe's too) raises the epoch, which the record keeps from its next rewrite on. A probe
 * is never refused: its answer carries the epoch. `null`: let it through.
 */
export function fence(
  state: SupplierState,
  from: NodeId,
  c: CustomerRecord,
  m: Message,
): Out | null {
  const epoch = epochOf(m);
  if (epoch === null || !("requestId" in m)) return null;
  if (epoch < c.epoch && m.type !== "probe") {
    count(state, "fence.superseded");
    const detail = { customer: from, type: m.type, epoch, current: c.epoch };
    return [
      send(from, { type: "superseded", requestId: m.requestId, epoch: c.epoch }),
      trace("supplier.superseded", detail),
    ];
  }
  if (epoch > c.epoch) {
    c.epoch = epoch;
    count(state, "fence.raised");
  }
  return null;
}

/**
 * An authenticated customer request `m` from `from`, whose record is `c`: renews the contract,
 * and pins the key of an unpinned (old-format) record. Returns the trace of a pin.
 */
export function admit(
  state: SupplierState,
  from: NodeId,
  c: CustomerRecord,
  fromKey: Uint8Array,
  m: Message,
  ctx: StepContext,
): Out {
  c.renewedMs = Math.max(c.renewedMs, ctx.nowMs);
  if (c.key !== null) return [];
  c.key = fromKey.slice();
  c.keyStored = false;
  count(state, "key.pinned");
  return [trace("key.pinned", { customer: from, type: m.type })];
}

/**
 * Writes `from`'s record again if the disk lacks its pinned key or its raised writer epoch, or
 * its renewal there is a day old, unless another write of the record is in flight or the budget
 * is spent (a later request, or the end of that write, tries again).
 */
export function rewriteIfDue(state: SupplierState, from: NodeId, ctx: StepContext): Out {
  const c = state.customers.get(from);
  if (c?.status !== "active" || c.key === null || state.phase !== "ready") {
    return [];
  }
  const renewalDue = ctx.nowMs - c.renewedStoredMs >= SUPPLIER_RENEWAL_PERSIST_MS;
  if (c.keyStored && c.epochStored === c.epoch && !renewalDue) return [];
  if (c.rewriting || c.pendingQuota !== null || !ioRoom(state)) return [];
  c.rewriting = true;
  const { renewedMs, epoch } = c;
  c.epochStored = epoch;
  count(state, "contract.rewrite");
  const data = encodeContract({
    customer: from,
    quotaBytes: c.quotaBytes,
    sinceMs: c.sinceMs,
    key: c.key,
    renewedMs,
    epoch,
  });
  return [issue(state, { op: "contract_rewrite", customer: from, renewedMs, epoch }, {
    op: "write",
    key: contractKey(from),
    data,
  })];
}

/** A rewrite of a record completed. */
export function finishRewrite(
  state: SupplierState,
  customer: NodeId,
  renewedMs: number,
  result: BlobResult,
): Out {
  const c = state.customers.get(customer);
  assert(c !== undefined && c.rewriting, `rewrite of ${customer} without a record`);
  c.rewriting = false;
  if (!result.ok) {
    c.epochStored = -1; // the disk may hold an older epoch: a later request writes it again
    count(state, "contract.rewrite_failed");
    return [trace("supplier.contract_write_failed", { customer, error: result.error })];
  }
  c.renewedStoredMs = renewedMs;
  c.keyStored = true;
  return [];
}

/**
 * Opens (or re-opens) `c`'s window at `nowMs`: a reservation, or (not `reserving`) only the
 * time it has to store something before it lapses, the lapse memory, so that an honest customer
 * that has nothing to store yet asks again once a week, not every hour.
 */
export function openWindow(c: CustomerRecord, nowMs: number, reserving: boolean): void {
  c.windowEndsMs = nowMs + (reserving ? SUPPLIER_RESERVATION_MS : SUPPLIER_LAPSE_MEMORY_MS);
  c.reserving = reserving;
  c.grewSinceGrant = false;
}

/** New bytes were stored for `c`: its open reservation is extended. */
export function onGrowth(state: SupplierState, c: CustomerRecord, nowMs: number): void {
  c.grewSinceGrant = true;
  if (c.windowEndsMs !== null && c.reserving) {
    recharge(state, c, () => c.windowEndsMs = nowMs + SUPPLIER_RESERVATION_MS);
  }
}

/** The earliest renewal a lease may count from after the supplier was away, at `nowMs`. */
export function gracedRenewal(nowMs: number): number {
  return nowMs - SUPPLIER_CONTRACT_LEASE_MS + SUPPLIER_LEASE_LOAD_GRACE_MS;
}

/**
 * Gives every lease at least `SUPPLIER_LEASE_LOAD_GRACE_MS` from `nowMs`: after a spell
 * offline, customers could not renew. Timers need no change: deadlines only move later.
 */
export function graceLeases(state: SupplierState, nowMs: number): void {
  const graced = gracedRenewal(nowMs);
  for (const c of state.customers.values()) c.renewedMs = Math.max(c.renewedMs, graced);
}

/** Whether `name`'s contract lapsed within the lapse memory (forgetting it if longer ago). */
export function lapsedLately(state: SupplierState, name: NodeId, nowMs: number): boolean {
  const at = state.lapsed.get(name);
  if (at === undefined) return false;
  if (nowMs - at < SUPPLIER_LAPSE_MEMORY_MS) return true;
  state.lapsed.delete(name);
  return false;
}

function rememberLapse(state: SupplierState, name: NodeId, nowMs: number): void {
  state.lapsed.delete(name); // re-inserted last: the map stays oldest first
  state.lapsed.set(name, nowMs);
  if (state.lapsed.size > state.options.lapsedNamesMax) {
    state.lapsed.delete(state.lapsed.keys().next().value!);
  }
}

/**
 * The `contracts` timer: handles the contract timers that are due, at most
 * `contractTimersPerStepMax` of them (the rest keep the kind due: the next timeout takes them).
 * Each pop and push re-sets the kind (`_timers.ts`); a stale top fires to no effect.
 */
export function onContractTimers(state: SupplierState, ctx: StepContext): Out {
  const out: Out = [];
  for (let n = 0; n < state.options.contractTimersPerStepMax; n++) {
    // Read the heap afresh each time: a re-arm below may rebuild it as a new array.
    const heap = state.timers;
    if (heap.length === 0 || heap[0].atMs > ctx.nowMs) break;
    const t = popTimer(state);
    const c = liveRecord(state, t);
    if (c === undefined) continue;
    c.timerAtMs = null;
    out.push(...onDue(state, t.customer, c, ctx));
  }
  return out;
}

function onDue(state: SupplierState, name: NodeId, c: CustomerRecord, ctx: StepContext): Out {
  if (c.status !== "active") return []; // pending: armed when granted; closing: ends anyway
  const now = ctx.nowMs;
  const retry = () => armTimer(state, name, c, now + state.options.deleteRetryMs);
  const windowDue = c.windowEndsMs !== null && c.windowEndsMs <= now;
  const leaseDue = c.renewedMs + SUPPLIER_CONTRACT_LEASE_MS <= now;
  if (!windowDue && !leaseDue) {
    armDeadline(state, name, c);
    return [];
  }
  // A record being written, or a store still landing, is decided on a little later.
  if (c.pendingQuota !== null || c.rewriting) {
    retry();
    return [];
  }
  if (windowDue && c.fragments.size === 0 && c.storesInFlight > 0) {
    retry();
    return [];
  }
  if (windowDue && !leaseDue && c.fragments.size > 0) {
    recharge(state, c, () => c.windowEndsMs = null); // from now on only the bytes count
    count(state, "contract.reservation_ended");
    armDeadline(state, name, c);
    return [];
  }
  if (!taskRoom(state)) {
    retry();
    return [];
  }
  return endContract(state, name, c, leaseDue ? "expired" : "lapsed", ctx);
}

/**
 * Ends `name`'s contract, as a cancellation does, for `reason`: its fragments and record are
 * deleted by a task, which tells the operator when done.
 */
function endContract(
  state: SupplierState,
  name: NodeId,
  c: CustomerRecord,
  reason: ContractEnd,
  ctx: StepContext,
): Out {
  c.status = "closing";
  recharge(state, c, () => c.windowEndsMs = null);
  abandonRemovals(state, name);
  count(state, `contract.${reason}`);
  if (reason === "lapsed") rememberLapse(state, name, ctx.nowMs);
  const keys = [...c.fragments.keys()];
  const detail = { customer: name, reason, fragments: keys.length };
  return [
    trace("supplier.contract_ending", detail),
    ...addTask(state, "cancel", name, 0, keys, reason),
  ];
}
