/**
 * A customer's fragments: store, fetch, audit, remove, list and probe, and the completions of
 * their blob operations and proof jobs. Every request names fragments in the sender's own
 * namespace only, so no customer can reach another's fragments.
 *
 * @module
 */

import type { BlobResult, NodeId, StepContext } from "../../core/actor.ts";
import { assert } from "../../core/assert.ts";
import { bytesEqual } from "../../core/ids.ts";
import {
  AUDIT_LEAF_BYTES_MAX,
  FRAGMENT_BYTES_MAX,
  FRAGMENT_KEY_BYTES_MAX,
  LIST_KEYS_MAX,
} from "../../core/limits.ts";
import type { FragmentFetchOutcome, StoreOutcome } from "../../core/protocol/storage.ts";
import type { MessageOf } from "../../core/protocol/mod.ts";
import { isFragmentKey, leafCountOf, type StorageJobResult } from "../../core/storage.ts";
import { ioRoom, issue, type Out, send, trace } from "./_effects.ts";
import { addTask, deleteLate, taskRoom } from "./deletes.ts";
import { dropFragment, listPage, putFragment } from "./fragments.ts";
import { onGrowth } from "./leases.ts";
import { fragmentBlobKey } from "./records.ts";
import { unclaimedOf } from "./unclaimed.ts";
import {
  chargeOf,
  count,
  type CustomerRecord,
  freeBytes,
  type PendingIo,
  projectedBytes,
  recharge,
  storeQuota,
  type SupplierState,
} from "./state.ts";

const EMPTY = new Uint8Array(0);

/**
 * The key to echo in an answer: a key that could not be encoded (a host that let one through
 * is buggy, but the answer must still go out) is echoed empty.
 */
function echo(key: string): string {
  return key.length <= FRAGMENT_KEY_BYTES_MAX && /^[\x20-\x7e]*$/.test(key) ? key : "";
}

/** The sender's customer record if its contract is in force. */
function activeCustomer(state: SupplierState, from: NodeId): CustomerRecord | undefined {
  const c = state.customers.get(from);
  return c?.status === "active" ? c : undefined;
}

/** Refusals that only a broken or hostile peer earns are traced as well as counted. */
const HOSTILE = new Set(["bad_key", "bad_hash", "bad_leaf"]);

function refusal(state: SupplierState, from: NodeId, what: string, outcome: string): Out {
  count(state, `${what}.${outcome}`);
  if (!HOSTILE.has(outcome)) return [];
  return [trace("supplier.refused", { from, what, outcome })];
}

/** `store`: checks, then writes `frag/<customer>/<key>`; answered when the write completes. */
export function onStore(
  state: SupplierState,
  from: NodeId,
  m: MessageOf<"store">,
  ctx: StepContext,
): Out {
  const refuse = (outcome: StoreOutcome): Out => [
    send(from, { type: "store_reply", requestId: m.requestId, key: echo(m.key), outcome }),
    ...refusal(state, from, "store", outcome),
  ];
  if (state.phase !== "ready") return refuse("busy");
  const c = activeCustomer(state, from);
  if (c === undefined) return refuse("no_contract");
  if (!isFragmentKey(m.key)) return refuse("bad_key");
  if (c.locked.has(m.key) || !ioRoom(state)) return refuse("busy");
  const o = state.options;
  const old = c.fragments.get(m.key);
  if (old === undefined) {
    if (c.fragments.size + c.newKeysInFlight >= o.fragmentsPerCustomerMax) {
      count(state, "store.too_many_fragments");
      return refuse("over_quota");
    }
    const indexed = state.fragmentCount + state.newKeysInFlight + state.unclaimedFragments;
    if (indexed >= o.fragmentsMax) return refuse("no_space");
  }
  const size = m.data.length;
  const oldSize = old?.size ?? 0;
  if (projectedBytes(c) - oldSize + size > storeQuota(c)) return refuse("over_quota");
  const growth = Math.max(0, size - oldSize);
  // Beyond an open reservation, every new byte is charged as it comes: it must fit.
  if (chargeOf(c, growth) - chargeOf(c) > freeBytes(state)) {
    count(state, "store.no_room");
    return refuse("no_space");
  }
  // Last, because it is the one check that costs CPU.
  if (!bytesEqual(ctx.crypto.sha256(m.data), m.hash)) return refuse("bad_hash");
  const isNew = old === undefined;
  c.locked.add(m.key);
  c.storesInFlight++;
  recharge(state, c, () => c.reservedBytes += growth);
  if (isNew) {
    c.newKeysInFlight++;
    state.newKeysInFlight++;
  }
  const pending: PendingIo = {
    op: "store",
    customer: from,
    key: m.key,
    requestId: m.requestId,
    size,
    growth,
    isNew,
  };
  const blobKey = fragmentBlobKey(from, m.key);
  return [issue(state, pending, { op: "write", key: blobKey, data: m.data })];
}

/** The write of a store completed: index the fragment, then answer. */
export function finishStore(
  state: SupplierState,
  id: number,
  io: PendingIo & { op: "store" },
  result: BlobResult,
  ctx: StepContext,
): Out {
  const { customer, key, requestId, size } = io;
  const c = state.customers.get(customer);
  assert(c !== undefined, `store finished for ${customer}, who has no record`);
  c.locked.delete(key);
  c.storesInFlight--;
  recharge(state, c, () => c.reservedBytes -= io.growth);
  if (io.isNew) {
    c.newKeysInFlight--;
    state.newKeysInFlight--;
  }
  let outcome: StoreOutcome = "stored";
  if (!result.ok) outcome = result.error === "no_space" ? "no_space" : "io_error";
  else if (c.status === "closing") {
    deleteLate(state, customer, key); // cancelled meanwhile: the new blob goes too
    outcome = "no_contract";
  } else {
    putFragment(state, c, key, size, id);
    if (io.growth > 0) onGrowth(state, c, ctx.nowMs); // real bytes arrived: the window goes on
  }
  count(state, `store.${outcome}`);
  const out: Out = [send(customer, { type: "store_reply", requestId, key, outcome })];
  if (!result.ok) out.push(trace("supplier.write_failed", { customer, key, error: result.error }));
  return out;
}

function fetchReply(
  requestId: number,
  key: string,
  outcome: FragmentFetchOutcome,
  data: Uint8Array = EMPTY,
): MessageOf<"fetch_reply"> {
  return { type: "fetch_reply", requestId, key, outcome, data };
}

/**
 * The sender's fragment `key` (its own, or one kept for it under a damaged record: those are
 * read, never written, see `unclaimed.ts`), or why it cannot be read now.
 */
function locate(state: SupplierState, from: NodeId, key: string) {
  if (state.phase !== "ready") return "busy" as const;
  const fragments = activeCustomer(state, from)?.fragments ?? unclaimedOf(state, from)?.fragments;
  if (fragments === undefined) return "no_contract" as const;
  if (!isFragmentKey(key)) return "bad_key" as const;
  const entry = fragments.get(key);
  if (entry === undefined) return "not_found" as const;
  return { entry };
}

/** `fetch`: reads the sender's own fragment. */
export function onFetch(state: SupplierState, from: NodeId, m: MessageOf<"fetch">): Out {
  const refuse = (outcome: FragmentFetchOutcome): Out => [
    send(from, fetchReply(m.requestId, echo(m.key), outcome)),
    ...refusal(state, from, "fetch", outcome),
  ];
  const found = locate(state, from, m.key);
  if (typeof found === "string") return refuse(found);
  const { entry } = found;
  if (!ioRoom(state)) return refuse("busy");
  const pending: PendingIo = {
    op: "fetch",
    customer: from,
    key: m.key,
    requestId: m.requestId,
    writeId: entry.writeId,
  };
  return [issue(state, pending, { op: "read", key: fragmentBlobKey(from, m.key) })];
}

/**
 * A fragment that the index holds but the disk no longer has: forget it, unless it changed
 * since the read started (a store or a removal got there first).
 */
function vanished(state: SupplierState, customer: NodeId, key: string, writeId: number): Out {
  count(state, "fragment.vanished");
  const c = state.customers.get(customer);
  const entry = c?.fragments.get(key);
  if (c !== undefined && entry?.writeId === writeId && !c.locked.has(key)) {
    dropFragment(state, c, key);
  }
  return [trace("supplier.fragment_vanished", { customer, key })];
}

/** The read of a fetch completed. */
export function finishFetch(
  state: SupplierState,
  io: PendingIo & { op: "fetch" },
  result: BlobResult,
): Out {
  const { customer, key, requestId } = io;
  let out: Out = [];
  let reply = fetchReply(requestId, key, "io_error");
  if (result.ok && (result.data?.length ?? 0) <= FRAGMENT_BYTES_MAX) {
    reply = fetchReply(requestId, key, "found", result.data ?? EMPTY);
  } else if (!result.ok && result.error === "not_found") {
    out = vanished(state, customer, key, io.writeId);
    reply = fetchReply(requestId, key, "not_found");
  }
  count(state, `fetch.${reply.outcome}`);
  out.unshift(send(customer, reply));
  return out;
}

function auditReply(
  requestId: number,
  key: string,
  outcome: FragmentFetchOutcome,
): MessageOf<"audit_reply"> {
  return { type: "audit_reply", requestId, key, outcome, size: 0, leaf: EMPTY, path: [] };
}

function leafOutOfRange(size: number, leafIndex: number, leafBytes: number): boolean {
  if (leafBytes < 1 || leafBytes > AUDIT_LEAF_BYTES_MAX) return true;
  return leafIndex >= leafCountOf(size, leafBytes);
}

/** `audit`: reads the fragment, then proves leaf `leafIndex` with a CPU job. */
export function onAudit(state: SupplierState, from: NodeId, m: MessageOf<"audit">): Out {
  const refuse = (outcome: FragmentFetchOutcome): Out => [
    send(from, auditReply(m.requestId, echo(m.key), outcome)),
    ...refusal(state, from, "audit", outcome),
  ];
  const found = locate(state, from, m.key);
  if (typeof found === "string") return refuse(found);
  const { entry } = found;
  if (leafOutOfRange(entry.size, m.leafIndex, m.leafBytes)) return refuse("bad_leaf");
  if (!ioRoom(state) || state.auditsInFlight >= state.options.auditsMax) return refuse("busy");
  state.auditsInFlight++;
  const { requestId, key, leafIndex, leafBytes } = m;
  const writeId = entry.writeId;
  const pending: PendingIo = {
    op: "audit",
    customer: from,
    key,
    requestId,
    leafIndex,
    leafBytes,
    writeId,
  };
  return [issue(state, pending, { op: "read", key: fragmentBlobKey(from, key) })];
}

/** The read of an audit completed: start the proof, or answer the failure. */
export function finishAuditRead(
  state: SupplierState,
  io: PendingIo & { op: "audit" },
  result: BlobResult,
): Out {
  const { customer, key, requestId, leafIndex, leafBytes } = io;
  const data = result.ok ? result.data ?? EMPTY : undefined;
  let outcome: FragmentFetchOutcome = "io_error";
  let out: Out = [];
  if (data !== undefined) {
    if (data.length <= FRAGMENT_BYTES_MAX && !leafOutOfRange(data.length, leafIndex, leafBytes)) {
      const id = state.nextIoId++;
      state.jobs.set(id, { customer, key, requestId });
      return [{ kind: "job", id, job: { type: "prove", data, leafIndex, leafBytes } }];
    }
    count(state, "audit.size_changed"); // the blob on disk is not the one indexed
  } else if (!result.ok && result.error === "not_found") {
    out = vanished(state, customer, key, io.writeId);
    outcome = "not_found";
  }
  state.auditsInFlight--;
  count(state, `audit.${outcome}`);
  out.unshift(send(customer, auditReply(requestId, key, outcome)));
  return out;
}

/** A proof job finished: answer the audit. */
export function finishProof(state: SupplierState, id: number, result: StorageJobResult): Out {
  const audit = state.jobs.get(id);
  assert(audit !== undefined, `job ${id} matches no audit`);
  state.jobs.delete(id);
  state.auditsInFlight--;
  const { customer, key, requestId } = audit;
  if (result.type !== "proved") {
    assert(result.type === "failed", `a proof job returned ${result.type}`);
    count(state, "audit.io_error");
    return [
      send(customer, auditReply(requestId, key, "io_error")),
      trace("supplier.proof_failed", { customer, key, error: result.error }),
    ];
  }
  count(state, "audit.found");
  const { size, leaf, path } = result;
  const reply = { ...auditReply(requestId, key, "found"), size, leaf, path };
  return [send(customer, reply)];
}

/** `remove`: deletes those of the named keys that the sender has; answered when done. */
export function onRemove(
  state: SupplierState,
  from: NodeId,
  m: MessageOf<"remove">,
): Out {
  if (state.phase !== "ready") return refusal(state, from, "remove", "starting");
  const c = activeCustomer(state, from);
  const keys = c === undefined ? [] : [...new Set(m.keys)].filter((k) => c.fragments.has(k));
  const free = keys.filter((k) => !c!.locked.has(k));
  if (free.length === 0) {
    count(state, c === undefined ? "remove.no_contract" : "remove.none");
    return [send(from, { type: "remove_reply", requestId: m.requestId, removed: 0 })];
  }
  // The answer has no outcome to say `busy`: stay silent, the customer asks again.
  if (!taskRoom(state)) return refusal(state, from, "remove", "busy");
  for (const k of free) c!.locked.add(k);
  count(state, "remove");
  return addTask(state, "remove", from, m.requestId, free);
}

/** `probe`: the customer's heartbeat, answered with its contract and usage. */
export function onProbe(state: SupplierState, from: NodeId, m: MessageOf<"probe">): Out {
  if (state.phase !== "ready") return refusal(state, from, "probe", "starting");
  count(state, "probe");
  const c = state.customers.get(from);
  // Fragments kept under a damaged record are still held for the name (`unclaimed.ts`).
  const kept = c?.status === "active" ? undefined : unclaimedOf(state, from);
  return [send(from, {
    type: "probe_reply",
    requestId: m.requestId,
    contract: c?.status === "active" || kept !== undefined,
    usedBytes: kept?.usedBytes ?? c?.usedBytes ?? 0,
    quotaBytes: kept?.usedBytes ?? c?.quotaBytes ?? 0,
    epoch: c?.epoch ?? 0,
  })];
}

/** `list`: one sorted page of the sender's keys; empty without a contract. */
export function onList(state: SupplierState, from: NodeId, m: MessageOf<"list">): Out {
  if (state.phase !== "ready") return refusal(state, from, "list", "starting");
  count(state, "list");
  const held = activeCustomer(state, from) ?? unclaimedOf(state, from);
  const page = held === undefined
    ? { keys: [], more: false }
    : listPage(held, m.prefix, m.after, LIST_KEYS_MAX);
  return [send(from, { type: "list_reply", requestId: m.requestId, ...page })];
}
