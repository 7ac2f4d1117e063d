/**
 * The heap of customers' contract timers (see `leases.ts` for what they do): one live entry per
 * active contract, stale entries skipped and swept out when they outnumber the customers.
 *
 * The `contracts` kind of the supplier's timer table holds the heap's top (a stale top fires
 * early, to no effect): every change of the heap goes through this file, and each re-sets the
 * kind ({@link armContracts}).
 *
 * @module
 */

import type { NodeId } from "../../core/actor.ts";
import { SUPPLIER_CONTRACT_LEASE_MS } from "../../core/limits.ts";
import {
  type ContractTimer,
  type CustomerRecord,
  type SupplierState,
  TIMERS_SLACK,
} from "./state.ts";

/** `c`'s next deadline: the end of its window or of its lease. */
function deadlineOf(c: CustomerRecord): number {
  const lease = c.renewedMs + SUPPLIER_CONTRACT_LEASE_MS;
  return c.windowEndsMs === null ? lease : Math.min(c.windowEndsMs, lease);
}

/** Arms `name`'s timer at `atMs` unless it is armed no later already. */
export function armTimer(state: SupplierState, name: NodeId, c: CustomerRecord, atMs: number) {
  if (c.timerAtMs !== null && c.timerAtMs <= atMs) return;
  c.timerAtMs = atMs;
  c.timerGen = state.nextTimerGen++;
  if (state.timers.length >= 2 * state.customers.size + TIMERS_SLACK) rebuildTimers(state);
  push(state.timers, { atMs, customer: name, gen: c.timerGen });
  armContracts(state);
}

/** Arms `name`'s timer at its next deadline. */
export function armDeadline(state: SupplierState, name: NodeId, c: CustomerRecord): void {
  armTimer(state, name, c, deadlineOf(c));
}

/** Holds the heap's top in the timer table's `contracts` kind (stopped when the heap is empty). */
function armContracts(state: SupplierState): void {
  const heap = state.timers;
  if (heap.length === 0) state.deadlines.stop("contracts");
  else state.deadlines.set("contracts", heap[0].atMs);
}

/** Empties the heap (a load starts over). */
export function clearTimers(state: SupplierState): void {
  state.timers = [];
  armContracts(state);
}

/** The record `t` is the live timer of, or `undefined` if `t` is stale. */
export function liveRecord(state: SupplierState, t: ContractTimer): CustomerRecord | undefined {
  const c = state.customers.get(t.customer);
  return c !== undefined && c.timerGen === t.gen && c.timerAtMs !== null ? c : undefined;
}

/** Rebuilds the heap without its stale entries if they outnumber the customers. */
export function compactTimers(state: SupplierState): void {
  if (state.timers.length > 2 * state.customers.size + TIMERS_SLACK) rebuildTimers(state);
}

function rebuildTimers(state: SupplierState): void {
  const live = state.timers.filter((t) => liveRecord(state, t) !== undefined);
  state.timers = [];
  for (const t of live) push(state.timers, t);
  armContracts(state);
}

function push(heap: ContractTimer[], t: ContractTimer): void {
  heap.push(t);
  let i = heap.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (heap[parent].atMs <= t.atMs) break;
    heap[i] = heap[parent];
    i = parent;
  }
  heap[i] = t;
}

/** Takes the earliest entry off the heap. */
export function popTimer(state: SupplierState): ContractTimer {
  const top = siftDown(state.timers);
  armContracts(state);
  return top;
}

function siftDown(heap: ContractTimer[]): ContractTimer {
  const top = heap[0];
  const last = heap.pop()!;
  if (heap.length === 0) return top;
  let i = 0;
  for (;;) {
    const left = 2 * i + 1;
    if (left >= heap.length) break;
    const right = left + 1;
    const child = right < heap.length && heap[right].atMs < heap[left].atMs ? right : left;
    if (heap[child].atMs >= last.atMs) break;
    heap[i] = heap[child];
    i = child;
  }
  heap[i] = last;
  return top;
}
