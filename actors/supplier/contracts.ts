/**
 * Storage contracts: granting, changing and cancelling a customer's quota.
 *
 * A contract is granted only when its record is on disk: the request holds the quota (so
 * concurrent requests never grant more than the capacity), writes `contract/<customer>` with
 * the key of the request's link, and is answered when the write completes; the grant opens the
 * contract's reservation window (`leases.ts`), without a reservation for a name whose contract
 * lapsed lately. A customer asking again with a contract in force changes its quota: up if the
 * free capacity allows (re-opening the window only if new bytes arrived since it was opened),
 * down never below what it uses and has in flight; asking for the same quota changes nothing.
 * A cancellation hands the customer's blobs to a delete task (`deletes.ts`) and is answered when
 * the disk holds nothing of the customer any more.
 *
 * @module
 */

import type { BlobResult, NodeId, StepContext } from "../../core/actor.ts";
import { assert } from "../../core/assert.ts";
import type { ContractOutcome } from "../../core/protocol/storage.ts";
import type { MessageOf } from "../../core/protocol/mod.ts";
import { ioRoom, issue, type Out, send, trace } from "./_effects.ts";
import { abandonRemovals, addTask, taskRoom } from "./deletes.ts";
import { lapsedLately, openWindow } from "./leases.ts";
import { contractKey, encodeContract } from "./records.ts";
import { armDeadline, compactTimers } from "./_timers.ts";
import { adoptUnclaimed, unclaimedOf } from "./unclaimed.ts";
import {
  chargeOf,
  count,
  type CustomerRecord,
  customerRecord,
  freeBytes,
  projectedBytes,
  recharge,
  type SupplierState,
} from "./state.ts";

function answer(
  state: SupplierState,
  to: NodeId,
  requestId: number,
  outcome: ContractOutcome,
  quotaBytes: number,
): Out {
  count(state, `contract.${outcome}`);
  return [send(to, { type: "contract_reply", requestId, outcome, quotaBytes })];
}

/**
 * `contract_request`: grants, changes or refuses the sender's quota. `fromKey` (checked against
 * any key pinned for the name before this is called) is the key a new contract is granted to.
 */
export function onContractRequest(
  state: SupplierState,
  from: NodeId,
  fromKey: Uint8Array,
  m: MessageOf<"contract_request">,
  ctx: StepContext,
): Out {
  // The answer has no `busy` outcome: while the supplier cannot decide, it stays silent and
  // the customer asks again.
  if (state.phase !== "ready") return silent(state, "contract.starting");
  const c = state.customers.get(from);
  if (c?.status === "closing") return answer(state, from, m.requestId, "closing", 0);
  if (c !== undefined && (c.pendingQuota !== null || c.rewriting)) {
    return silent(state, "contract.busy");
  }
  if (!ioRoom(state)) return silent(state, "contract.busy");
  if (c === undefined) return newContract(state, from, fromKey, m, ctx);
  // The same quota again renews nothing (no window re-opens); a lower one never goes below use.
  const want = Math.max(m.quotaBytes, projectedBytes(c));
  if (want === c.quotaBytes) return answer(state, from, m.requestId, "accepted", want);
  if (want > c.quotaBytes && want - chargeOf(c) > freeBytes(state)) {
    return answer(state, from, m.requestId, "no_space", c.quotaBytes);
  }
  const reserve = want > c.quotaBytes && c.grewSinceGrant;
  return [writeContract(state, from, c, want, m.requestId, reserve)];
}

/**
 * A contract for a name that has none: granted to `fromKey` once written. Fragments kept for
 * the name under a damaged record (`unclaimed.ts`) become the contract's, so the quota covers
 * them; while they are being deleted, the name is told `closing`.
 */
function newContract(
  state: SupplierState,
  from: NodeId,
  fromKey: Uint8Array,
  m: MessageOf<"contract_request">,
  ctx: StepContext,
): Out {
  if (state.unclaimed.get(from)?.deleting === true) {
    return answer(state, from, m.requestId, "closing", 0);
  }
  if (state.customers.size >= state.options.customersMax) {
    return answer(state, from, m.requestId, "too_many_customers", 0);
  }
  const kept = unclaimedOf(state, from)?.usedBytes ?? 0;
  const quotaBytes = Math.max(m.quotaBytes, kept);
  if (quotaBytes > freeBytes(state) + kept) return answer(state, from, m.requestId, "no_space", 0);
  const fresh = customerRecord("pending", ctx.nowMs, fromKey, ctx.nowMs);
  fresh.epoch = m.epoch;
  state.customers.set(from, fresh);
  // A name whose contract lapsed lately gets one again, but holding no space until it stores.
  const reserve = !lapsedLately(state, from, ctx.nowMs);
  if (!reserve) count(state, "contract.unreserved");
  return [writeContract(state, from, fresh, quotaBytes, m.requestId, reserve)];
}

function silent(state: SupplierState, counter: string): Out {
  count(state, counter);
  return [];
}

function writeContract(
  state: SupplierState,
  customer: NodeId,
  c: CustomerRecord,
  quotaBytes: number,
  requestId: number,
  reserve: boolean,
): Out[number] {
  const ioId = state.nextIoId;
  const renewedMs = c.renewedMs;
  recharge(state, c, () => {
    c.pendingQuota = { bytes: quotaBytes, ioId, requestId, reserve, renewedMs };
  });
  assert(c.key !== null, "a contract written without a key");
  const { sinceMs, key, epoch } = c;
  const data = encodeContract({ customer, quotaBytes, sinceMs, key, renewedMs, epoch });
  c.epochStored = epoch;
  const effect = issue(state, { op: "contract_write", customer }, {
    op: "write",
    key: contractKey(customer),
    data,
  });
  assert(effect.kind === "io" && effect.id === ioId, "contract write id");
  return effect;
}

/** The contract record was written (or not): grant the quota and answer. */
export function finishContractWrite(
  state: SupplierState,
  customer: NodeId,
  result: BlobResult,
  ctx: StepContext,
): Out {
  const c = state.customers.get(customer);
  const pending = c?.pendingQuota;
  assert(c !== undefined && pending != null, `contract write for ${customer} without a request`);
  const { requestId } = pending;
  if (!result.ok) {
    c.epochStored = -1; // the disk may hold an older epoch: written again when next due
    recharge(state, c, () => c.pendingQuota = null);
    if (c.status === "pending") {
      state.customers.delete(customer);
      compactTimers(state);
    }
    const out = [trace("supplier.contract_write_failed", { customer, error: result.error })];
    if (result.error !== "no_space") return [...silent(state, "contract.io_error"), ...out];
    return [...answer(state, customer, requestId, "no_space", c.quotaBytes), ...out];
  }
  // Stores admitted meanwhile were held to the smaller quota, so the new one covers them.
  const fresh = c.status === "pending";
  const opening = fresh || pending.reserve;
  recharge(state, c, () => {
    c.quotaBytes = pending.bytes;
    c.pendingQuota = null;
    if (opening) openWindow(c, ctx.nowMs, pending.reserve);
  });
  c.keyStored = true;
  c.renewedStoredMs = pending.renewedMs;
  c.status = "active";
  const adopted = fresh ? adoptUnclaimed(state, customer, c) : [];
  armDeadline(state, customer, c);
  const quotaBytes = c.quotaBytes;
  return [
    ...adopted,
    ...answer(state, customer, requestId, "accepted", quotaBytes),
    { kind: "notice", notice: { type: "contract", customer, quotaBytes } },
    trace("supplier.contract", { customer, quotaBytes }),
  ];
}

/** `contract_cancel`: deletes the contract and every fragment of the sender. */
export function onContractCancel(
  state: SupplierState,
  from: NodeId,
  m: MessageOf<"contract_cancel">,
): Out {
  if (state.phase !== "ready") return silent(state, "cancel.starting");
  const c = state.customers.get(from);
  if (c === undefined) {
    count(state, "cancel.no_contract");
    return [send(from, { type: "contract_cancel_reply", requestId: m.requestId, removed: 0 })];
  }
  if (c.status === "closing") return silent(state, "cancel.in_progress");
  if (c.pendingQuota !== null || c.rewriting || !taskRoom(state)) {
    return silent(state, "cancel.busy");
  }
  c.status = "closing";
  recharge(state, c, () => c.windowEndsMs = null);
  abandonRemovals(state, from);
  count(state, "cancel");
  const keys = [...c.fragments.keys()];
  const out = addTask(state, "cancel", from, m.requestId, keys, "cancelled");
  return [trace("supplier.cancel", { customer: from, fragments: c.fragments.size }), ...out];
}
