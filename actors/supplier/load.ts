/**
 * Loading at start: the contracts and the fragment index are rebuilt from the disk alone, so a
 * supplier restarted from a fresh state over its old disk comes back with everything.
 *
 * Order: list `contract/`, read each record (as many at once as the blob budget allows), then
 * list `frag/` (keys and sizes) and index each fragment under its customer. A fragment that
 * belongs to no record (left by a cancellation cut short) is an orphan and is deleted once
 * loaded, and so is a blob under `contract/` that names no customer. A failed list or read
 * restarts the load after `loadRetryMs`.
 *
 * A damaged record (`contract/<customer>` that does not decode: a write torn by a crash, say)
 * costs its customer nothing: its fragments are kept, not deleted as orphans, and only read
 * for the name until it asks for a contract again (`unclaimed.ts`). A damaged record with no
 * fragment is deleted; one whose fragments find no room (`customersMax`) stays, unloaded.
 * Counted: `load.contract_corrupt` for every record that does not decode,
 * `load.contract_damaged` for each one whose fragments are kept, `load.fragments_unclaimed` for
 * those fragments; the `loaded` notice says how many records were damaged.
 *
 * Loaded contracts are charged for their bytes only (their reservation windows are not kept on
 * disk); one that holds nothing gets a new window, reserving its quota if that still fits, so
 * it lapses unless its customer stores. A record of the format before keys loads unpinned (see
 * `leases.ts`). Leases run from the renewal on disk, but at least `SUPPLIER_LEASE_LOAD_GRACE_MS`
 * from the load.
 *
 * @module
 */

import type { BlobResult, StepContext } from "../../core/actor.ts";
import { assert } from "../../core/assert.ts";
import { isNodeId } from "../../core/ids.ts";
import { issue, type Out, trace } from "./_effects.ts";
import { putFragment } from "./fragments.ts";
import { gracedRenewal, openWindow } from "./leases.ts";
import { armDeadline, clearTimers } from "./_timers.ts";
import { armUnclaimed, keepUnclaimed } from "./unclaimed.ts";
import {
  CONTRACT_PREFIX,
  contractKey,
  decodeContract,
  FRAGMENT_PREFIX,
  parseFragmentBlobKey,
} from "./records.ts";
import {
  chargeOf,
  count,
  customerRecord,
  emptyLoad,
  freeBytes,
  grantOf,
  type PendingIo,
  recharge,
  type SupplierState,
} from "./state.ts";

/** Forgets anything half-loaded and lists the contracts. */
export function beginLoad(state: SupplierState): Out {
  state.phase = "loading";
  state.customers.clear();
  state.chargedBytes = 0;
  clearTimers(state);
  state.fragmentCount = 0;
  state.unclaimed.clear();
  state.unclaimedBytes = 0;
  state.unclaimedFragments = 0;
  state.deadlines.stop("unclaimed");
  state.capacityBytes = state.options.capacityBytes;
  state.load = emptyLoad();
  state.load.inFlight = 1;
  state.deadlines.stop("load_retry");
  return [issue(state, { op: "load_list", what: "contracts" }, {
    op: "list",
    prefix: CONTRACT_PREFIX,
  })];
}

/** Handles the completion of a load operation; `ready` effects follow when loading is done. */
export function onLoadIo(
  state: SupplierState,
  io: PendingIo & { op: "load_list" | "load_read" },
  result: BlobResult,
  ctx: StepContext,
): { out: Out; done: boolean } {
  const load = state.load;
  load.inFlight--;
  if (load.failed || (!result.ok && (io.op === "load_list" || result.error !== "not_found"))) {
    return { out: loadFailed(state, io, result, ctx), done: false };
  }
  if (io.op === "load_read") {
    loadContract(state, io.key, result, ctx.nowMs);
    return { out: continueReads(state), done: false };
  }
  if (io.what === "contracts") {
    load.keys = result.ok ? result.keys ?? [] : [];
    return { out: continueReads(state), done: false };
  }
  if (!result.ok || result.keys === undefined || result.sizes?.length !== result.keys.length) {
    count(state, "load.no_sizes");
    return { out: loadFailed(state, io, { ok: false, error: "io_error" }, ctx), done: false };
  }
  indexFragments(state, result.keys, result.sizes, ctx.nowMs);
  return { out: finishLoad(state, ctx.nowMs), done: true };
}

function loadFailed(
  state: SupplierState,
  io: PendingIo,
  result: BlobResult,
  ctx: StepContext,
): Out {
  const load = state.load;
  const out: Out = [];
  if (!load.failed) {
    load.failed = true;
    count(state, "load.failed");
    const error = result.ok ? "ok" : result.error;
    out.push(trace("supplier.load_failed", { op: io.op, error }));
  }
  if (load.inFlight === 0) state.deadlines.set("load_retry", ctx.nowMs + state.options.loadRetryMs);
  return out;
}

function loadContract(state: SupplierState, key: string, result: BlobResult, nowMs: number) {
  const load = state.load;
  if (!result.ok) {
    count(state, "load.contract_vanished"); // deleted between the list and the read
    return;
  }
  const record = decodeContract(key, result.data ?? new Uint8Array(0));
  if (record === null) {
    count(state, "load.contract_corrupt");
    const name = key.slice(CONTRACT_PREFIX.length);
    // Its fragments are kept if there are any (`adoptDamaged`); the record is decided on then.
    if (isNodeId(name) && contractKey(name) === key) load.damaged.add(name);
    else load.orphans.push(key);
    return;
  }
  if (state.customers.size >= state.options.customersMax) {
    count(state, "load.contract_skipped");
    load.skipped.add(record.customer);
    return;
  }
  // A record of the format before keys has no renewal: its lease starts with the upgrade.
  const graced = gracedRenewal(nowMs);
  const renewedMs = record.renewedMs === null ? nowMs : Math.max(record.renewedMs, graced);
  const c = customerRecord("active", record.sinceMs, record.key, renewedMs);
  c.keyStored = record.key !== null;
  c.renewedStoredMs = record.renewedMs ?? 0;
  c.epoch = c.epochStored = record.epoch;
  if (record.key === null) count(state, "load.unpinned");
  recharge(state, c, () => c.quotaBytes = record.quotaBytes); // no window: charged nothing yet
  state.customers.set(record.customer, c);
}

function continueReads(state: SupplierState): Out {
  const load = state.load;
  const out: Out = [];
  while (state.ops.size < state.options.blobOpsMax && load.next < load.keys.length) {
    const key = load.keys[load.next++];
    load.inFlight++;
    out.push(issue(state, { op: "load_read", key }, { op: "read", key }));
  }
  if (load.inFlight === 0) {
    load.inFlight = 1;
    const list = issue(state, { op: "load_list", what: "fragments" }, {
      op: "list",
      prefix: FRAGMENT_PREFIX,
    });
    out.push(list);
  }
  return out;
}

function indexFragments(state: SupplierState, keys: string[], sizes: number[], nowMs: number) {
  const o = state.options;
  const load = state.load;
  for (let i = 0; i < keys.length; i++) {
    const parsed = parseFragmentBlobKey(keys[i]);
    const c = parsed === null ? undefined : state.customers.get(parsed.customer);
    if (parsed !== null && load.skipped.has(parsed.customer)) {
      count(state, "load.fragment_skipped");
    } else if (parsed !== null && c === undefined && load.damaged.has(parsed.customer)) {
      const { customer, key } = parsed;
      if (!keepUnclaimed(state, customer, key, sizes[i], nowMs)) {
        count(state, "load.fragment_skipped");
        if (!state.unclaimed.has(customer)) skipDamaged(state, customer);
      }
    } else if (c === undefined || parsed === null) {
      load.orphans.push(keys[i]);
    } else if (
      c.fragments.size >= o.fragmentsPerCustomerMax ||
      state.fragmentCount + state.unclaimedFragments >= o.fragmentsMax
    ) {
      count(state, "load.fragment_skipped");
    } else {
      putFragment(state, c, parsed.key, sizes[i], 0);
    }
  }
}

/**
 * No name more fits: `name`'s damaged record and fragments stay on disk, unloaded, like an
 * intact record's beyond the limit, for a later load to keep.
 */
function skipDamaged(state: SupplierState, name: string): void {
  count(state, "load.contract_skipped");
  state.load.skipped.add(name);
}

/**
 * Damaged records, once the fragments are indexed: one whose customer has fragments stays on
 * disk with them (`unclaimed.ts`), traced; one without is deleted.
 */
function settleDamaged(state: SupplierState): Out {
  const load = state.load;
  const out: Out = [];
  for (const name of load.damaged) {
    const u = state.unclaimed.get(name);
    if (u === undefined) {
      if (!load.skipped.has(name)) load.orphans.push(contractKey(name));
      continue;
    }
    count(state, "load.contract_damaged");
    count(state, "load.fragments_unclaimed", u.fragments.size);
    const detail = { customer: name, fragments: u.fragments.size, bytes: u.usedBytes };
    out.push(trace("supplier.contract_damaged", detail));
  }
  armUnclaimed(state);
  return out;
}

function finishLoad(state: SupplierState, nowMs: number): Out {
  const load = state.load;
  assert(load.inFlight === 0, "loaded with operations in flight");
  const out = settleDamaged(state);
  state.phase = "ready";
  // The operator may have lowered the capacity below what the disk holds: keep every byte.
  state.capacityBytes = Math.max(state.capacityBytes, state.chargedBytes);
  for (const [name, c] of state.customers) {
    if (c.fragments.size === 0) {
      const fits = grantOf(c) - chargeOf(c) <= freeBytes(state);
      recharge(state, c, () => openWindow(c, nowMs, fits));
    }
    armDeadline(state, name, c);
  }
  if (state.capacityBytes > state.options.capacityBytes) {
    count(state, "load.over_capacity");
    out.push(trace("supplier.over_capacity", { charged: state.chargedBytes }));
  }
  const loaded = {
    customers: state.customers.size,
    fragments: state.fragmentCount,
    orphans: load.orphans.length,
    damaged: load.damaged.size,
  };
  out.push({ kind: "notice", notice: { type: "loaded", ...loaded } });
  out.push(trace("supplier.loaded", loaded));
  return out;
}
