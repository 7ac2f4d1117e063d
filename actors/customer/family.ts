/**
 * The family: hiring suppliers, probing them, auditing them, firing the ones that vanish or lie.
 *
 * Hiring asks an ID server for offers (excluding the family and suppliers it has fired or that
 * refused), then asks candidates one by one for a contract. Probing sends every active supplier
 * a `probe` each interval; any answer marks it online and seen. What the answers and silences
 * mean (online, offline, dead) is the liveness part's (`parts/liveness.ts`) to say; the family
 * sends the probes and acts on the verdicts. A supplier silent for `fireAfterMs`, one that
 * fails an audit or leaves `auditMissesMax` in a row unanswered, one that lost our contract with
 * fragments of ours, or one caught serving a corrupted fragment is fired:
 * its fragments count as lost, it is asked to drop our data, and its position is hired again.
 * A supplier that lost our contract while holding nothing of ours (it let an unused reservation
 * lapse) is asked for the contract again instead. Audits pick a fragment the supplier holds and
 * a Merkle leaf, from the secret source; the answer is checked against the root recorded at
 * backup time, so a supplier cannot pass without the bytes nor predict what it will be asked.
 * Hiring pins the key the accepted contract came with (see `auth.ts`).
 *
 * @module
 */

import type { NodeId, StepContext } from "../../core/actor.ts";
import type { MessageOf } from "../../core/protocol/mod.ts";
import { AUDIT_LEAF_BYTES, leafCountOf } from "../../core/storage.ts";
import {
  CUSTOMER_CANDIDATE_SHUN_MS,
  CUSTOMER_STRIKES_MAX,
  OFFER_QUERY_EXCLUDE_MAX,
  OFFER_QUERY_RESULTS_MAX,
  PUBLIC_KEY_BYTES,
} from "../../core/limits.ts";
import { isWriter, onNewerEpoch } from "./lease.ts";
import { pinOnProbe } from "./auth.ts";
import { credit, findBlock, forEachBlock, holds, uncredit } from "./catalogue.ts";
import type { E } from "./protocol.ts";
import { blockChanged, cancelsChanged, familyChanged, familyRecorded } from "./journal.ts";
import { continuation, request } from "./requests.ts";
import type { CancelRecord, FamilyRecord } from "./records.ts";
import type { BlockRec, CustomerState, Position } from "./state.ts";
import { fragmentKey } from "../../parts/fragment_keys.ts";
import {
  LAST_COPY_PATIENCE,
  missed,
  offlineNow,
  probeDue,
  probeSent,
  seen,
  staleOffline,
  verdict,
} from "../../parts/liveness.ts";

/** Index of the position `supplier` holds, or -1. */
function positionOf(s: CustomerState, supplier: NodeId): number {
  return s.family.positions.findIndex((p) => p.supplier === supplier);
}

/** Records that the supplier at `i` answered. */
export function markSeen(s: CustomerState, i: number, nowMs: number): void {
  seen(s.family.positions[i], nowMs);
}

/** Records that the supplier at `i` did not answer in time. */
export function markSilent(s: CustomerState, i: number, nowMs: number): void {
  s.family.positions[i].online = false;
  retryPositionAt(s, i, nowMs + s.options.probeIntervalMs, nowMs);
}

/**
 * Position `i` may be sent work again (and probed, if unpinned) from `atMs` on. The
 * `position_retry` timer is moved earlier when `atMs` is ahead of it, so that work waiting for
 * the position goes out when it is due rather than on some later input.
 */
export function retryPositionAt(s: CustomerState, i: number, atMs: number, nowMs: number): void {
  s.family.positions[i].retryAtMs = atMs;
  const armed = s.deadlines.at("position_retry");
  if (atMs > nowMs && (armed === null || atMs < armed)) s.deadlines.set("position_retry", atMs);
}

/**
 * The `position_retry` timer fired: hold it at the earliest retry time still ahead, or stop it
 * when there is none. Every position counts, not only active ones: a supplier hired into a
 * position keeps its retry time, which matters again once it is offline.
 */
export function armPositionRetry(s: CustomerState, nowMs: number): void {
  let due: number | null = null;
  for (const p of s.family.positions) {
    if (p.retryAtMs <= nowMs) continue;
    if (due === null || p.retryAtMs < due) due = p.retryAtMs;
  }
  if (due === null) s.deadlines.stop("position_retry");
  else s.deadlines.set("position_retry", due);
}

/**
 * Whether new work may be sent to position `i` now: not while its key is not pinned (its
 * answers could not be checked) nor while its lapsed contract is being asked for again.
 */
export function reachable(s: CustomerState, i: number, nowMs: number): boolean {
  const p = s.family.positions[i];
  return p.state === "active" && p.key !== null && !p.renewing &&
    (p.online || nowMs >= p.retryAtMs);
}

/**
 * Takes a known family back (from the local record or a recovered one): each named supplier
 * holds its position again, online, with a fresh grace period (our own absence says nothing about
 * them), under the key recorded with it (none in a record of the format before keys: then the
 * next probe answer pins it, see `auth.ts`). A name given twice keeps its first position.
 * Returns the positions filled.
 */
export function adoptFamily(
  s: CustomerState,
  positions: readonly (NodeId | undefined)[],
  keys: readonly (Uint8Array | undefined)[],
  nowMs: number,
  auditMisses: readonly number[] = [],
): number[] {
  const named = new Set<NodeId>();
  const filled: number[] = [];
  positions.forEach((supplier, i) => {
    if (supplier === undefined || named.has(supplier) || i >= s.family.positions.length) return;
    named.add(supplier);
    const p = s.family.positions[i];
    p.supplier = supplier;
    p.state = "active";
    seen(p, nowMs);
    p.hiredMs = nowMs;
    const key = keys[i];
    p.key = key !== undefined && key.length === PUBLIC_KEY_BYTES ? key.slice() : null;
    p.auditMisses = auditMisses[i] ?? 0;
    s.family.firstHiresLeft--;
    filled.push(i);
  });
  return filled;
}

/** The local family record was read back: take its family, generations and exclusions. */
export function loadFamily(s: CustomerState, f: FamilyRecord): void {
  adoptFamily(s, f.positions, f.keys, s.nowMs, f.auditMisses);
  f.generations.forEach((g, i) => (s.family.positions[i].generation = g));
  s.family.excluded = f.excluded.slice(-s.options.excludedMax);
}

/** The local record of fired suppliers still to be told was read back. */
export function loadCancels(s: CustomerState, cancels: readonly CancelRecord[]): void {
  for (const c of cancels.slice(-s.options.excludedMax)) {
    s.family.cancels.set(c.supplier, { firedMs: c.firedMs, key: c.key ?? null });
  }
}

/** Back from a pause: our own absence says nothing about the suppliers. */
export function backFromPause(s: CustomerState, nowMs: number): void {
  for (const p of s.family.positions) {
    if (p.state !== "active") continue;
    p.lastSeenMs = nowMs;
    p.online = true;
    p.retryAtMs = 0;
    p.probePending = false;
  }
}

/** A probe of position `i` (sent to `to` at `sentMs`) got no answer. */
export function onProbeTimeout(
  s: CustomerState,
  ctx: StepContext,
  out: E[],
  i: number,
  to: NodeId,
  sentMs: number,
): void {
  const p = s.family.positions[i];
  p.probePending = false;
  if (p.supplier === to) onProbeSilence(s, ctx, out, i, sentMs);
}

/** Position `i`'s supplier (or whoever holds it now) answered a probe. */
export function onProbeReply(
  s: CustomerState,
  ctx: StepContext,
  out: E[],
  i: number,
  from: NodeId,
  fromKey: Uint8Array | null,
  m: MessageOf<"probe_reply">,
): void {
  const p = s.family.positions[i];
  p.probePending = false;
  if (p.supplier !== from) return;
  // An unpinned position (a record of the format before keys) is pinned by its probe answer.
  if (p.key === null && fromKey !== null) pinOnProbe(s, out, i, fromKey);
  markSeen(s, i, ctx.nowMs);
  if (m.epoch > 0) onNewerEpoch(s, out, from, m.epoch);
  if (!m.contract) onContractLost(s, ctx, out, i);
}

/**
 * A contract request to `from` for position `i` was refused as superseded (another instance
 * of us writes at a newer epoch): the hire or the renewal is off, nobody is blamed.
 */
export function onContractSuperseded(s: CustomerState, i: number, from: NodeId, renew: boolean) {
  const p = s.family.positions[i];
  if (renew && p.supplier === from) p.renewing = false;
  if (!renew && p.state === "hiring" && p.candidate === from) {
    p.candidate = null;
    p.state = "empty";
  }
}

function exclude(s: CustomerState, supplier: NodeId): void {
  if (s.family.excluded.includes(supplier)) return;
  s.family.excluded.push(supplier);
  if (s.family.excluded.length > s.options.excludedMax) s.family.excluded.shift();
}

/** Passes over candidate `supplier` for a while (see `CUSTOMER_CANDIDATE_SHUN_MS`). */
function shun(s: CustomerState, supplier: NodeId, nowMs: number): void {
  s.family.shunned.delete(supplier); // re-inserted last: the map stays oldest first
  s.family.shunned.set(supplier, nowMs + CUSTOMER_CANDIDATE_SHUN_MS);
  for (const [name, untilMs] of s.family.shunned) {
    if (untilMs > nowMs && s.family.shunned.size <= s.options.excludedMax) break;
    s.family.shunned.delete(name); // expired, or the oldest over the limit
  }
}

/** Whether `supplier` is not to be hired now: fired, or shunned until later. */
function passedOver(s: CustomerState, supplier: NodeId, nowMs: number): boolean {
  return s.family.excluded.includes(supplier) || (s.family.shunned.get(supplier) ?? 0) > nowMs;
}

/** Fires the supplier at position `i`: its fragments count as lost and the place is hired again. */
export function fire(s: CustomerState, ctx: StepContext, out: E[], i: number, reason: string) {
  const p = s.family.positions[i];
  if (p.supplier === null) return;
  if (!isWriter(s)) {
    // Another instance of us may be what this supplier reacts to (issue 11): never fire for it.
    s.counters.heldBack++;
    const detail = { position: i, supplier: p.supplier, reason };
    out.push({ kind: "trace", event: "lease.fire_held_back", detail });
    return;
  }
  const supplier = p.supplier;
  s.family.strikes.delete(supplier);
  request(s, ctx, out, supplier, { type: "contract_cancel" }, { kind: "cancel", supplier });
  s.family.cancels.delete(supplier); // re-inserted last: the map stays in firing order
  // Its key stays pinned while it is told: only its own answer confirms the cancel.
  s.family.cancels.set(supplier, { firedMs: ctx.nowMs, key: p.key });
  while (s.family.cancels.size > s.options.excludedMax) {
    s.family.cancels.delete(s.family.cancels.keys().next().value!);
  }
  cancelsChanged(s);
  exclude(s, supplier);
  p.supplier = null;
  p.state = "empty";
  p.online = false;
  p.probePending = false;
  p.key = null;
  p.renewing = false;
  p.auditMisses = 0;
  // Uncredits every fragment it held (catalogue.ts); the family record, written at once,
  // keeps the new generation, so a reloaded catalogue cannot credit the next member either.
  p.generation++;
  familyChanged(s);
  s.counters.fired++;
  out.push({ kind: "notice", notice: { type: "fired", position: i, supplier, reason } });
  out.push({ kind: "trace", event: "fired", detail: { position: i, supplier, reason } });
}

/** Starts hiring for empty positions when it is time. */
export function hire(s: CustomerState, ctx: StepContext, out: E[]): void {
  const empty = s.family.positions.filter((p) => p.state === "empty").length;
  if (empty === 0) return;
  for (let i = 0; i < s.family.positions.length && s.family.candidates.length > 0; i++) {
    const p = s.family.positions[i];
    if (p.state !== "empty") continue;
    const candidate = s.family.candidates.shift()!;
    if (positionOf(s, candidate) >= 0 || passedOver(s, candidate, ctx.nowMs)) {
      i--;
      continue;
    }
    const asked = request(s, ctx, out, candidate, {
      type: "contract_request",
      quotaBytes: s.options.quotaBytes,
    }, { kind: "contract", position: i, supplier: candidate, renew: false });
    if (!asked) return;
    p.state = "hiring";
    p.candidate = candidate;
  }
  const stillEmpty = s.family.positions.some((p) => p.state === "empty");
  const querying = [...s.requests.values()].some((r) => r.purpose.kind === "offer_query");
  // An armed `hire_retry` is the wait after a fruitless round; its firing ends the wait.
  if (!stillEmpty || querying || s.deadlines.at("hire_retry") !== null) return;
  const family = s.family.positions.flatMap((p) => [p.supplier, p.candidate]).filter((x) =>
    x !== null
  );
  const shunned = [...s.family.shunned].filter(([, untilMs]) => untilMs > ctx.nowMs).map(([x]) =>
    x
  );
  const excludeList = [...family, ...s.family.excluded, ...shunned].slice(
    -OFFER_QUERY_EXCLUDE_MAX,
  ) as NodeId[];
  const server = s.idServers[s.family.nextIdServer++ % s.idServers.length];
  request(s, ctx, out, server, {
    type: "offer_query",
    count: Math.min(OFFER_QUERY_RESULTS_MAX, empty * 3),
    minFreeBytes: s.options.quotaBytes,
    exclude: excludeList,
  }, { kind: "offer_query" });
}

/** Offers arrived: remember them as candidates, in random order. */
export function onOffers(
  s: CustomerState,
  ctx: StepContext,
  m: MessageOf<"offer_query_reply">,
): void {
  const family = new Set(s.family.positions.map((p) => p.supplier));
  // An ID server's name never stands for a supplier: its answers carry no key to pin.
  const fresh = m.offers.map((o) => o.supplier).filter((x) =>
    !family.has(x) && !passedOver(s, x, ctx.nowMs) && x !== s.name && !s.idServers.includes(x)
  );
  s.family.candidates = ctx.random.shuffle([...new Set(fresh)]);
  if (s.family.candidates.length === 0) {
    s.deadlines.set("hire_retry", ctx.nowMs + s.options.hireRetryMs);
  }
}

/** Nobody answered the offer query: wait before asking again. */
export function onOffersTimeout(s: CustomerState, ctx: StepContext): void {
  s.deadlines.set("hire_retry", ctx.nowMs + s.options.hireRetryMs / 10);
}

/**
 * A candidate answered the contract request (`key`: the key of its link, pinned on acceptance;
 * null for no answer in time). `renew`: the position's own supplier answered a request for a
 * contract it had let lapse.
 */
export function onContract(
  s: CustomerState,
  ctx: StepContext,
  out: E[],
  i: number,
  supplier: NodeId,
  accepted: boolean,
  key: Uint8Array | null,
  renew: boolean,
): void {
  const p = s.family.positions[i];
  if (renew) return onRenewed(s, ctx, out, i, supplier, accepted, key);
  if (p.state !== "hiring" || p.candidate !== supplier) return;
  p.candidate = null;
  if (!accepted || key === null || positionOf(s, supplier) >= 0) {
    s.counters.refused++;
    shun(s, supplier, ctx.nowMs);
    p.state = "empty";
    return;
  }
  p.state = "active";
  p.supplier = supplier;
  p.key = key.slice();
  p.renewing = false;
  p.auditMisses = 0;
  p.hiredMs = ctx.nowMs;
  if (s.family.cancels.delete(supplier)) cancelsChanged(s); // hired again: its contract is wanted
  familyChanged(s);
  markSeen(s, i, ctx.nowMs);
  s.counters.hired++;
  if (s.family.firstHiresLeft > 0) s.family.firstHiresLeft--;
  else s.counters.replaced++;
  out.push({ kind: "notice", notice: { type: "hired", position: i, supplier } });
  out.push({ kind: "trace", event: "hired", detail: { position: i, supplier } });
  // A new member holds nothing yet: look for fragments to rebuild soon.
  if (s.options.repair) s.deadlines.set("repair_scan", ctx.nowMs);
}

/** Whether position `i` holds no acknowledged fragment of ours. */
function holdsNothing(s: CustomerState, i: number): boolean {
  let none = true;
  forEachBlock(s, (b) => {
    if (holds(s, b, i)) none = false;
  });
  return none;
}

/**
 * The supplier at `i` says it has no contract with us (a probe or a store answer). A supplier
 * lets a reservation lapse when nothing was stored under it for a while: if it holds nothing of
 * ours, ask it for the contract again (nothing is lost). One that lost fragments it had
 * acknowledged is fired (with repair) and its fragments rebuilt elsewhere.
 */
export function onContractLost(s: CustomerState, ctx: StepContext, out: E[], i: number): void {
  const p = s.family.positions[i];
  if (p.state !== "active") return;
  if (holdsNothing(s, i)) {
    if (p.renewing) return;
    const supplier = p.supplier!;
    const asked = request(s, ctx, out, supplier, {
      type: "contract_request",
      quotaBytes: s.options.quotaBytes,
    }, { kind: "contract", position: i, supplier, renew: true });
    if (!asked) return; // the request table is full: the next probe asks again
    p.renewing = true;
    out.push({ kind: "trace", event: "contract_renew", detail: { position: i, supplier } });
    return;
  }
  if (s.options.repair) fire(s, ctx, out, i, "it no longer has a contract with us");
  else markSilent(s, i, ctx.nowMs);
}

function onRenewed(
  s: CustomerState,
  ctx: StepContext,
  out: E[],
  i: number,
  supplier: NodeId,
  accepted: boolean,
  key: Uint8Array | null,
): void {
  const p = s.family.positions[i];
  if (p.supplier !== supplier || !p.renewing) return;
  p.renewing = false;
  if (key === null) return markSilent(s, i, ctx.nowMs); // no answer: the next probe asks again
  markSeen(s, i, ctx.nowMs);
  if (accepted) {
    s.counters.contractsRenewed++;
    return;
  }
  s.counters.refused++;
  // It will not take us back; it holds nothing of ours unless a store landed meanwhile.
  if (s.options.repair || holdsNothing(s, i)) fire(s, ctx, out, i, "it refused to renew");
}

/**
 * Tells every fired supplier still on the list to end our contract (once a probe round), and
 * forgets those fired longer than `cancelGiveUpMs` ago. A cancel is idempotent: one sent while
 * the previous one still awaits its answer costs a message and nothing else.
 */
export function retryCancels(s: CustomerState, ctx: StepContext, out: E[]): void {
  if (!isWriter(s)) return;
  for (const [supplier, { firedMs }] of s.family.cancels) {
    if (ctx.nowMs - firedMs > s.options.cancelGiveUpMs) {
      s.family.cancels.delete(supplier);
      cancelsChanged(s);
      continue;
    }
    if (
      !request(s, ctx, out, supplier, { type: "contract_cancel" }, { kind: "cancel", supplier })
    ) {
      return;
    }
  }
}

/** A fired supplier confirmed it dropped our contract. */
export function onCancelled(s: CustomerState, supplier: NodeId): void {
  if (s.family.positions.some((p) => p.supplier === supplier)) return;
  if (!s.family.cancels.delete(supplier)) return;
  s.counters.cancelsConfirmed++;
  cancelsChanged(s);
}

/** Probes every active supplier that has no probe pending. */
export function probeAll(s: CustomerState, ctx: StepContext, out: E[]): void {
  s.family.positions.forEach((p, i) => {
    if (p.state === "active" && probeDue(p, ctx.nowMs)) probe(s, ctx, out, i);
  });
}

/** Probes position `i`'s supplier; false when the request table is full. */
function probe(s: CustomerState, ctx: StepContext, out: E[], i: number): boolean {
  const p = s.family.positions[i];
  if (!request(s, ctx, out, p.supplier!, { type: "probe" }, { kind: "probe", position: i })) {
    return false;
  }
  probeSent(p, ctx.nowMs);
  return true;
}

/**
 * Probes the active suppliers believed offline on old evidence, so that a restore about to fail
 * because of them asks first: they may have come back since we last heard of them (with repair
 * off probes are rare): see `staleOffline` in `parts/liveness.ts` for when evidence is old.
 * Returns the positions judged on old evidence: each has a probe pending now (sent here, or just
 * before).
 */
export function probeStaleOffline(s: CustomerState, ctx: StepContext, out: E[]): number[] {
  const stale: number[] = [];
  s.family.positions.forEach((p, i) => {
    if (p.state !== "active" || !staleOffline(p, ctx.nowMs, s.options)) return;
    if (p.probePending || probe(s, ctx, out, i)) stale.push(i);
  });
  return stale;
}

/**
 * Probes every unpinned member (named by a record of the format before keys) that has no probe
 * pending and is due: its answer pins its key (see `auth.ts`). With or without repair, at once
 * after the records are read, then every `probeIntervalMs` until it answers.
 */
export function probeUnpinned(s: CustomerState, ctx: StepContext, out: E[]): void {
  s.family.positions.forEach((p, i) => {
    if (p.state !== "active" || p.key !== null) return;
    if (probeDue(p, ctx.nowMs, p.retryAtMs)) probe(s, ctx, out, i);
  });
}

/** Marks offline every supplier silent for longer than `offlineAfterMs` (the offline rule). */
export function markOffline(s: CustomerState, ctx: StepContext): void {
  for (const p of s.family.positions) {
    if (p.state === "active" && offlineNow(p, ctx.nowMs, s.options)) p.online = false;
  }
}

/**
 * A probe of position `i`, sent at `sentMs`, went unanswered: fire its supplier if the verdict is
 * now dead (silent for `fireAfterMs`). Firing is decided on a probe that was just sent and not
 * answered, never on old silence alone (the supplier may be back and not yet probed). A supplier
 * whose fragments cannot all be rebuilt from the online members at once may hold the last
 * readable copies: it is awaited `LAST_COPY_PATIENCE` times longer before it is given up.
 */
function onProbeSilence(
  s: CustomerState,
  ctx: StepContext,
  out: E[],
  i: number,
  sentMs: number,
): void {
  const p = s.family.positions[i];
  missed(p, sentMs);
  markSilent(s, i, ctx.nowMs);
  const o = s.options;
  if (!o.repair || verdict(p, ctx.nowMs, o) !== "dead") return;
  // Within the longer patience the walk over every block decides (only then: it is costly).
  if (verdict(p, ctx.nowMs, o, LAST_COPY_PATIENCE) !== "dead" && !rebuildableWithout(s, i)) return;
  const silentMs = ctx.nowMs - p.lastSeenMs;
  fire(s, ctx, out, i, `silent for ${Math.round(silentMs / 60_000)} min`);
}

/** Whether every fragment position `i` holds can be rebuilt from online others right now. */
export function rebuildableWithout(s: CustomerState, i: number): boolean {
  const k = s.scheme.k;
  let ok = true;
  forEachBlock(s, (b) => {
    if (!ok || !holds(s, b, i)) return;
    let others = 0;
    for (let q = 0; q < b.heldAt.length; q++) {
      if (
        q !== i && holds(s, b, q) && s.family.positions[q].state === "active" &&
        s.family.positions[q].online
      ) {
        others++;
      }
    }
    if (others < k) ok = false;
  });
  return ok;
}

/** Audits the next online supplier on a random fragment it should hold. */
export function auditNext(s: CustomerState, ctx: StepContext, out: E[]): void {
  const n = s.family.positions.length;
  const i = s.family.nextAuditPosition++ % n;
  const p = s.family.positions[i];
  if (p.state !== "active" || !p.online || p.key === null) return;
  const complete = s.catalogue.versions.filter((v) => v.status === "complete");
  if (complete.length === 0) return;
  // The challenge comes from the secret source: a supplier that could predict it could keep
  // only the leaves it will be asked for.
  const v = complete[ctx.secret.int(complete.length)];
  const blocks = v.files.flatMap((f) => f.blocks);
  if (v.manifest !== null) blocks.push(v.manifest);
  const block = blocks[ctx.secret.int(blocks.length)];
  if (!holds(s, block, i)) return;
  const leafIndex = ctx.secret.int(leafCountOf(block.fragmentSize, AUDIT_LEAF_BYTES));
  request(s, ctx, out, p.supplier!, {
    type: "audit",
    key: fragmentKey(block.key, i),
    leafIndex,
    leafBytes: AUDIT_LEAF_BYTES,
  }, { kind: "audit", position: i, block: block.key, leafIndex, recheck: false });
}

/**
 * Member `i` listed block `block`'s fragment, which we do not credit to it (its store answer
 * was lost after the backup moved on, or a reload lost the credit): audit it on a secret leaf,
 * and credit it if the proof matches the recorded root. A fragment a member holds but we do not
 * credit is invisible to restores and repairs, so this is how such a fragment counts again.
 * Returns false when the request table is full.
 */
export function recheckListed(
  s: CustomerState,
  ctx: StepContext,
  out: E[],
  i: number,
  block: BlockRec,
): boolean {
  const p = s.family.positions[i];
  if (p.state !== "active" || p.key === null || block.roots.length <= i) return true;
  const leafIndex = ctx.secret.int(leafCountOf(block.fragmentSize, AUDIT_LEAF_BYTES));
  return request(s, ctx, out, p.supplier!, {
    type: "audit",
    key: fragmentKey(block.key, i),
    leafIndex,
    leafBytes: AUDIT_LEAF_BYTES,
  }, { kind: "audit", position: i, block: block.key, leafIndex, recheck: true });
}

/** An audit answer: check the proof against the recorded root, or fire on a refusal. */
export function onAudit(
  s: CustomerState,
  ctx: StepContext,
  out: E[],
  i: number,
  key: string,
  leafIndex: number,
  m: MessageOf<"audit_reply">,
  recheck = false,
): void {
  const p: Position = s.family.positions[i];
  const block = findBlock(s, key);
  if (block === null) return; // its version was deleted meanwhile: nothing to hold it to
  // A recheck of a fragment we never counted on: only a matching proof changes anything.
  if (recheck && m.outcome !== "found") return;
  if (m.outcome === "busy" || m.outcome === "io_error") {
    return auditMissed(s, ctx, out, i, `audit answered ${m.outcome}`);
  }
  if (m.outcome !== "found") {
    s.counters.auditsFailed++;
    brokePromise(s, ctx, out, i, block, `audit answered ${m.outcome}`);
    return;
  }
  const audit = { position: i, supplier: p.supplier!, block: block.key, recheck };
  const id = continuation(s, { kind: "verify_audit", ...audit });
  out.push({
    kind: "job",
    id,
    job: {
      type: "verify_proof",
      root: block.roots[i],
      leaf: m.leaf,
      size: m.size,
      leafIndex,
      leafBytes: AUDIT_LEAF_BYTES,
      path: m.path,
    },
  });
}

/** The verdict on an audit proof. */
export function onAuditVerified(
  s: CustomerState,
  ctx: StepContext,
  out: E[],
  audit: { position: number; supplier: NodeId; block: string; recheck: boolean },
  ok: boolean,
): void {
  const i = audit.position;
  if (s.family.positions[i].supplier !== audit.supplier) return;
  const block = findBlock(s, audit.block);
  if (audit.recheck) {
    if (!ok || block === null || holds(s, block, i)) return;
    credit(s, block, i);
    blockChanged(s, block);
    s.counters.fragmentsRecredited++;
    const detail = { position: i, supplier: audit.supplier, block: block.key };
    out.push({ kind: "trace", event: "fragment_recredited", detail });
    return;
  }
  if (ok) {
    s.counters.auditsPassed++;
    if (s.family.positions[i].auditMisses > 0) {
      s.family.positions[i].auditMisses = 0;
      familyRecorded(s);
    }
    return;
  }
  if (block === null) return; // its version was deleted meanwhile: nothing to hold it to
  s.counters.auditsFailed++;
  brokePromise(s, ctx, out, i, block, "audit proof does not match the recorded Merkle root");
}

/**
 * The supplier at `i` left an audit unanswered (silence, `busy`, `io_error`): once
 * `auditMissesMax` go unanswered in a row it is fired (with repair), since a supplier without the
 * bytes could otherwise dodge every audit it cannot pass.
 */
export function auditMissed(
  s: CustomerState,
  ctx: StepContext,
  out: E[],
  i: number,
  why: string,
): void {
  const p = s.family.positions[i];
  s.counters.auditsMissed++;
  p.auditMisses++;
  familyRecorded(s);
  if (!s.options.repair || p.auditMisses < s.options.auditMissesMax) return;
  s.counters.auditsFailed++;
  fireUnlessLastCopies(
    s,
    ctx,
    out,
    i,
    `${p.auditMisses} audits in a row unanswered (last: ${why})`,
  );
}

/**
 * Member `i` broke a promise about the content it holds (a fragment of `block` that fails its
 * hash or its audit, or that it lost): the fragment is dropped, for repair to store again, and
 * the member gets a strike; at `CUSTOMER_STRIKES_MAX` it is fired (unless it holds last
 * copies, see {@link fireUnlessLastCopies}). Firing at the first strike threw away every good
 * fragment of a member whose disk rotted one bit, and the swarm lost files that way.
 */
export function brokePromise(
  s: CustomerState,
  ctx: StepContext,
  out: E[],
  i: number,
  block: BlockRec,
  reason: string,
): void {
  const supplier = s.family.positions[i].supplier;
  if (supplier === null) return;
  if (holds(s, block, i)) {
    uncredit(block, i);
    blockChanged(s, block);
  }
  const strikes = (s.family.strikes.get(supplier) ?? 0) + 1;
  s.family.strikes.set(supplier, strikes);
  s.counters.strikes++;
  if (s.family.strikes.size > s.family.positions.length) {
    // Members only: one left the family some other way (a recovery adopted another family).
    const members = new Set(s.family.positions.map((q) => q.supplier));
    for (const name of s.family.strikes.keys()) {
      if (!members.has(name)) s.family.strikes.delete(name);
    }
  }
  out.push({ kind: "trace", event: "strike", detail: { position: i, supplier, strikes, reason } });
  if (s.options.repair && strikes >= CUSTOMER_STRIKES_MAX) {
    fireUnlessLastCopies(s, ctx, out, i, `${strikes} strikes (last: ${reason})`);
  }
}

/**
 * Fires member `i`, unless it may hold the last readable copies of a block
 * ({@link rebuildableWithout}): firing forgets every fragment it holds, and one broken promise
 * must not cost the blocks only it can still serve. A member kept is fired by a later broken
 * promise once the rest can be rebuilt. Returns whether it was fired.
 */
function fireUnlessLastCopies(
  s: CustomerState,
  ctx: StepContext,
  out: E[],
  i: number,
  reason: string,
): boolean {
  if (rebuildableWithout(s, i)) {
    fire(s, ctx, out, i, reason);
    return true;
  }
  s.counters.firesDeferred++;
  const detail = { position: i, supplier: s.family.positions[i].supplier ?? "", reason };
  out.push({ kind: "trace", event: "fire_deferred", detail });
  return false;
}
