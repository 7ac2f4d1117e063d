/**
 * Delete tasks: a customer's `remove`, a contract cancellation (or a contract that lapsed or
 * expired, which ends the same way without an answer), the orphans found at start.
 *
 * Tasks run oldest first and together use at most half of the blob-operation budget, so a large
 * cancellation never starves stores and fetches. A removal locks its keys (a store of a locked
 * key is refused `busy`) and answers with the count it deleted. A cancellation deletes the
 * contract blob first, so that a crash part-way leaves only orphans, then every fragment; a
 * failed delete is retried after `deleteRetryMs`, and the answer waits until the customer's
 * disk is empty and no store of it is in flight. Only then is its quota released.
 *
 * @module
 */

import type { BlobResult, NodeId, StepContext } from "../../core/actor.ts";
import { assert } from "../../core/assert.ts";
import { issue, type Out, send, trace } from "./_effects.ts";
import { dropFragment } from "./fragments.ts";
import { contractKey, fragmentBlobKey } from "./records.ts";
import { compactTimers } from "./_timers.ts";
import {
  chargeOf,
  type ContractEnd,
  count,
  type DeleteTask,
  earliestDeleteRetry,
  recharge,
  releaseUnclaimed,
  type SupplierState,
} from "./state.ts";

/** Most deletes all tasks together keep in flight. */
function deleteOpsMax(state: SupplierState): number {
  return Math.max(1, Math.floor(state.options.blobOpsMax / 2));
}

/** Whether another task may be queued. */
export function taskRoom(state: SupplierState): boolean {
  return state.tasks.size < state.options.deleteTasksMax;
}

/** Queues a task over `keys` and starts what the budget allows. */
export function addTask(
  state: SupplierState,
  kind: DeleteTask["kind"],
  customer: NodeId,
  requestId: number,
  keys: string[],
  reason: ContractEnd = "cancelled",
): Out {
  assert(taskRoom(state), "delete task table full");
  const id = state.nextIoId++;
  state.tasks.set(id, {
    id,
    kind,
    reason,
    customer,
    requestId,
    keys,
    next: 0,
    inFlight: 0,
    removed: 0,
    failed: [],
    retryAtMs: null,
    contractStage: kind === "cancel" ? "todo" : "done",
  });
  return pumpDeletes(state);
}

/** Starts deletes while the budget allows, and finishes the tasks that are done. */
export function pumpDeletes(state: SupplierState): Out {
  const out: Out = [];
  const room = () =>
    state.deletesInFlight < deleteOpsMax(state) && state.ops.size <
      state.options.blobOpsMax;
  for (const task of [...state.tasks.values()]) {
    if (task.retryAtMs === null && task.contractStage === "todo" && room()) {
      out.push(startDelete(state, task));
    }
    while (task.retryAtMs === null && task.contractStage === "done" && room()) {
      if (task.next >= task.keys.length) break;
      out.push(startDelete(state, task));
    }
    if (isDone(state, task)) out.push(...finishTask(state, task));
  }
  return out;
}

function startDelete(state: SupplierState, task: DeleteTask): Out[number] {
  state.deletesInFlight++;
  task.inFlight++;
  if (task.contractStage === "todo") {
    task.contractStage = "in_flight";
    const key = contractKey(task.customer);
    return issue(state, { op: "contract_delete", task: task.id }, { op: "delete", key });
  }
  const key = task.keys[task.next++];
  const blobKey = task.kind === "orphans" ? key : fragmentBlobKey(task.customer, key);
  return issue(state, { op: "delete", task: task.id, key }, { op: "delete", key: blobKey });
}

function isDone(state: SupplierState, task: DeleteTask): boolean {
  if (task.inFlight > 0 || task.next < task.keys.length || task.contractStage !== "done") {
    return false;
  }
  if (task.kind !== "cancel") return true;
  if (task.failed.length > 0) return false;
  const c = state.customers.get(task.customer);
  if (c !== undefined && c.storesInFlight > 0) return false;
  for (const other of state.tasks.values()) {
    if (other !== task && other.customer === task.customer && other.inFlight > 0) return false;
  }
  return true;
}

/** Handles a finished delete of a task. */
export function onDeleteDone(
  state: SupplierState,
  taskId: number,
  key: string | null,
  result: BlobResult,
  ctx: StepContext,
): Out {
  state.deletesInFlight--;
  const task = state.tasks.get(taskId);
  assert(task !== undefined, `delete of unknown task ${taskId}`);
  task.inFlight--;
  // A blob already gone is as deleted as it gets.
  const gone = result.ok || result.error === "not_found";
  if (!gone) count(state, `delete.${result.error}`);
  if (key === null) {
    task.contractStage = gone ? "done" : "todo";
    if (!gone) retryLater(state, task, ctx.nowMs);
    return pumpDeletes(state);
  }
  const c = task.kind === "orphans" ? undefined : state.customers.get(task.customer);
  if (task.kind === "remove") c?.locked.delete(key);
  if (gone) {
    // Count fragments the customer had: not a blob deleted twice, nor a store it was refused.
    if (c === undefined ? task.kind === "orphans" : dropFragment(state, c, key)) task.removed++;
  } else if (task.kind === "cancel") {
    task.failed.push(key);
  }
  if (task.kind === "cancel" && task.failed.length > 0 && task.inFlight === 0) {
    if (task.next >= task.keys.length) retryLater(state, task, ctx.nowMs);
  }
  return pumpDeletes(state);
}

/**
 * The `delete_retry` timer: retries the failed deletes of the tasks whose delay has passed
 * (none: a no-op), and re-sets the timer at the earliest retry left, or stops it.
 */
export function retryDeletes(state: SupplierState, ctx: StepContext): Out {
  let due = false;
  for (const task of state.tasks.values()) {
    if (task.retryAtMs === null || task.retryAtMs > ctx.nowMs) continue;
    due = true;
    task.retryAtMs = null;
    task.keys = task.keys.slice(task.next).concat(task.failed);
    task.next = 0;
    task.failed = [];
  }
  const next = earliestDeleteRetry(state);
  if (next === null) state.deadlines.stop("delete_retry");
  else state.deadlines.set("delete_retry", next);
  return due ? pumpDeletes(state) : [];
}

/** `task` waits `deleteRetryMs` to retry its failed deletes: `delete_retry` fires no later. */
function retryLater(state: SupplierState, task: DeleteTask, nowMs: number): void {
  task.retryAtMs = nowMs + state.options.deleteRetryMs;
  const armed = state.deadlines.at("delete_retry");
  state.deadlines.set(
    "delete_retry",
    armed === null ? task.retryAtMs : Math.min(armed, task.retryAtMs),
  );
}

/** Stops queued (not yet started) deletes of `customer`'s removals, unlocking their keys. */
export function abandonRemovals(state: SupplierState, customer: NodeId): void {
  const c = state.customers.get(customer);
  for (const task of state.tasks.values()) {
    if (task.kind !== "remove" || task.customer !== customer) continue;
    for (let i = task.next; i < task.keys.length; i++) c?.locked.delete(task.keys[i]);
    task.keys.length = task.next;
  }
}

/** Queues `key` of a cancelled customer for deletion (a store finished after the cancel). */
export function deleteLate(state: SupplierState, customer: NodeId, key: string): void {
  for (const task of state.tasks.values()) {
    if (task.kind === "cancel" && task.customer === customer) {
      task.keys.push(key);
      return;
    }
  }
  assert(false, `no cancellation of ${customer} to take ${key}`);
}

function finishTask(state: SupplierState, task: DeleteTask): Out {
  state.tasks.delete(task.id);
  const { customer, requestId, removed } = task;
  count(state, `${task.kind}.done`);
  switch (task.kind) {
    case "remove":
      return [send(customer, { type: "remove_reply", requestId, removed })];
    case "orphans":
      // One named after a customer deleted what a damaged record kept (`unclaimed.ts`).
      if (customer !== "") releaseUnclaimed(state, customer);
      return [trace("supplier.orphans_removed", { removed, failed: task.keys.length - removed })];
    case "cancel": {
      const c = state.customers.get(customer);
      assert(c !== undefined && c.fragments.size === 0, `cancelled ${customer} still has data`);
      recharge(state, c, () => {
        c.quotaBytes = 0;
        c.windowEndsMs = null;
      });
      assert(chargeOf(c) === 0, `${customer} is still charged when its contract ends`);
      state.customers.delete(customer);
      compactTimers(state);
      const reason = task.reason;
      const out: Out = [
        { kind: "notice", notice: { type: "contract_ended", customer, removed, reason } },
        trace("supplier.contract_ended", { customer, removed, reason }),
      ];
      // Only a cancellation was asked for; a lapse or an expiry is answered by nobody.
      if (reason === "cancelled") {
        out.unshift(send(customer, { type: "contract_cancel_reply", requestId, removed }));
      }
      return out;
    }
  }
}
