/**
 * Fragments under a damaged contract record: kept, not lost with the record.
 *
 * A record that does not decode (a write torn by a crash, say) no longer says which key may
 * speak for its customer, so nothing pins the name: it is not a customer, nothing it sends can
 * change what is kept (stores, removals and cancellations are answered as for a name without a
 * contract) and no key gets pinned. But its fragments stay on the disk, charged against the
 * capacity and the fragment index as if stored, and they are still read for the name: a probe
 * finds them (`contract: true`, with what they use as the quota), fetches, audits and lists are
 * served from them, so the customer loses nothing while it goes on. Reads of ciphertext by the
 * key the transport admitted for the name (confirmed against the ID servers, as for any new
 * contract) are the whole of it. The name's next `contract_request` is a new contract's,
 * granted to that key as every new contract is; once its record is written the kept fragments
 * are the contract's (the quota covers them), pinned and writable as before.
 *
 * Keeping them opens nothing to an attacker: only bytes already on the disk under a contract
 * are kept (no request adds any), for at most `customersMax` names and within the index's room,
 * and only while the name is heard from: each authenticated request from it keeps them another
 * `SUPPLIER_LEASE_LOAD_GRACE_MS` (the time every contract gets to renew after a restart). After
 * that silence they are deleted like orphans, and while that runs the name's contract requests
 * are answered `closing`, so a new contract never races the deletion.
 *
 * The `unclaimed` timer of the supplier's table is the earliest end of the names kept and not
 * yet being deleted ({@link armUnclaimed}).
 *
 * @module
 */

import type { NodeId, StepContext } from "../../core/actor.ts";
import { SUPPLIER_LEASE_LOAD_GRACE_MS } from "../../core/limits.ts";
import { type Out, trace } from "./_effects.ts";
import { addTask, taskRoom } from "./deletes.ts";
import { putFragment } from "./fragments.ts";
import { contractKey, fragmentBlobKey } from "./records.ts";
import {
  count,
  type CustomerRecord,
  releaseUnclaimed,
  type SupplierState,
  type UnclaimedRecord,
} from "./state.ts";

/**
 * Keeps fragment `key` (`size` bytes) of `name`, whose record is damaged, at load; returns
 * false when the limits leave no room for it (the caller skips it: it stays on the disk).
 */
export function keepUnclaimed(
  state: SupplierState,
  name: NodeId,
  key: string,
  size: number,
  nowMs: number,
): boolean {
  const o = state.options;
  let u = state.unclaimed.get(name);
  if (u === undefined) {
    if (state.customers.size + state.unclaimed.size >= o.customersMax) return false;
    const untilMs = nowMs + SUPPLIER_LEASE_LOAD_GRACE_MS;
    u = { fragments: new Map(), sorted: null, usedBytes: 0, untilMs, deleting: false };
    state.unclaimed.set(name, u);
  }
  const full = state.fragmentCount + state.unclaimedFragments >= o.fragmentsMax;
  if (u.fragments.has(key) || u.fragments.size >= o.fragmentsPerCustomerMax || full) return false;
  u.fragments.set(key, { size, writeId: 0 });
  u.usedBytes += size;
  state.unclaimedBytes += size;
  state.unclaimedFragments++;
  return true;
}

/** Holds the `unclaimed` timer at the earliest end of a name kept and not being deleted. */
export function armUnclaimed(state: SupplierState): void {
  let due: number | null = null;
  for (const u of state.unclaimed.values()) {
    if (!u.deleting && (due === null || u.untilMs < due)) due = u.untilMs;
  }
  if (due === null) state.deadlines.stop("unclaimed");
  else state.deadlines.set("unclaimed", due);
}

/**
 * The `unclaimed` timer: deletes the fragments (and the damaged record) of each name whose time
 * ran out, as an `orphans` task named after it, or tries again `deleteRetryMs` later when the
 * task table is full or a new contract's record for the name is being written.
 */
export function onUnclaimedTimer(state: SupplierState, ctx: StepContext): Out {
  const out: Out = [];
  let full = false;
  for (const [name, u] of state.unclaimed) {
    if (u.deleting || u.untilMs > ctx.nowMs) continue;
    // A new contract's record being written would go with the blobs: decide after it.
    if (state.customers.has(name) || !taskRoom(state)) {
      u.untilMs = ctx.nowMs + state.options.deleteRetryMs;
      full = true;
      continue;
    }
    u.deleting = true;
    count(state, "unclaimed.expired");
    const keys = [...u.fragments.keys()].map((key) => fragmentBlobKey(name, key));
    keys.push(contractKey(name));
    out.push(trace("supplier.unclaimed_expired", { customer: name, fragments: u.fragments.size }));
    out.push(...addTask(state, "orphans", name, 0, keys));
  }
  if (full) count(state, "unclaimed.deferred");
  armUnclaimed(state);
  return out;
}

/**
 * An authenticated request from `name` (by the key the transport admitted for it) keeps its
 * fragments for another `SUPPLIER_LEASE_LOAD_GRACE_MS`, as a request renews a lease. A later
 * end needs no new timer: an early one finds it not due and re-arms.
 */
export function touchUnclaimed(state: SupplierState, name: NodeId, nowMs: number): void {
  const u = unclaimedOf(state, name);
  if (u !== undefined) u.untilMs = Math.max(u.untilMs, nowMs + SUPPLIER_LEASE_LOAD_GRACE_MS);
}

/** `name`'s kept fragments, unless their deletion is under way. */
export function unclaimedOf(state: SupplierState, name: NodeId): UnclaimedRecord | undefined {
  const u = state.unclaimed.get(name);
  return u?.deleting === false ? u : undefined;
}

/** `name`'s new contract `c` was granted: the fragments kept for it are its own now. */
export function adoptUnclaimed(state: SupplierState, name: NodeId, c: CustomerRecord): Out {
  const u = unclaimedOf(state, name);
  if (u === undefined) return [];
  releaseUnclaimed(state, name);
  for (const [key, entry] of u.fragments) putFragment(state, c, key, entry.size, 0);
  armUnclaimed(state);
  count(state, "unclaimed.adopted");
  return [trace("supplier.unclaimed_adopted", { customer: name, fragments: u.fragments.size })];
}
