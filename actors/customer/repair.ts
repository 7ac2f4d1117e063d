/**
 * Repair: find fragments that an active member of the family should hold but does not (it was
 * hired to replace a fired one, or it lost data), fetch K good fragments of the block from the
 * others, recompute the missing ones (no key needed, `parts/rebuild.ts`: the job checks every
 * rebuilt fragment against the block's SHA-256 before it may be stored; one that does not match
 * is counted in `rebuildsUnverified` and left to the next scan), and store them at their
 * positions.
 *
 * A scan runs every `repairScanMs` and right after a hire; at most `repairsInFlightMax` blocks
 * are repaired at once. Repair traffic (fragments fetched and stored) is counted in
 * `repairBytes`, rebuilt fragments in `repairFragments`.
 *
 * @module
 */

import type { StepContext } from "../../core/actor.ts";
import type { StorageJobResult } from "../../core/storage.ts";
import { sendStores } from "./backup.ts";
import { reachable } from "./family.ts";
import { findBlock, holds } from "./catalogue.ts";
import { askMore, newGather } from "./gather.ts";
import type { E } from "./protocol.ts";
import { continuation } from "./requests.ts";
import { rebuildJob, rebuildOutcome } from "../../parts/rebuild.ts";
import type { BlockRec, CustomerState, RepairTask } from "./state.ts";

/** Positions of `block` that should be rebuilt now (null: none; most blocks miss nothing). */
function missingTargets(s: CustomerState, block: BlockRec, nowMs: number): number[] | null {
  let targets: number[] | null = null;
  for (let p = 0; p < block.heldAt.length; p++) {
    if (holds(s, block, p) || block.storing[p] === 1) continue;
    if (block.pending !== null && block.pending[p] !== undefined) continue; // a backup sends it
    if (reachable(s, p, nowMs)) (targets ??= []).push(p);
  }
  return targets;
}

/** Looks for blocks to repair and starts tasks while there is room. */
export function scanForRepairs(s: CustomerState, ctx: StepContext, out: E[]): void {
  for (const v of s.catalogue.versions) {
    for (const f of v.files) {
      for (const block of f.blocks) if (!tryRepair(s, ctx, out, block)) return;
    }
    if (v.manifest !== null && !tryRepair(s, ctx, out, v.manifest)) return;
  }
}

/** Starts a task for `block` if it misses fragments; false once no task fits any more. */
function tryRepair(s: CustomerState, ctx: StepContext, out: E[], block: BlockRec): boolean {
  if (s.repairs.tasks.length >= s.options.repairsInFlightMax) return false;
  if (block.repairing || block.cipherSize === 0) return true;
  const targets = missingTargets(s, block, ctx.nowMs);
  if (targets === null) return true;
  const task: RepairTask = {
    ...newGather(s, block),
    role: "repair",
    id: s.repairs.nextId++,
    targets,
    rebuilt: null,
    storesPending: 0,
  };
  if (!askMore(s, ctx, out, task)) return true; // fewer than K holders reachable: cannot now
  block.repairing = true;
  s.repairs.tasks.push(task);
  return true;
}

/** Keeps running tasks fed: asks for replacement fragments, ends tasks that are done. */
export function pumpRepairs(s: CustomerState, ctx: StepContext, out: E[]): void {
  for (const task of [...s.repairs.tasks]) {
    if (findBlock(s, task.block.key) !== task.block) {
      endTask(s, task, false); // the version was deleted
    } else if (task.working && task.got + task.inFlight < s.scheme.k) {
      if (!askMore(s, ctx, out, task)) endTask(s, task, false);
    } else if (task.rebuilt !== null) {
      sendStores(s, ctx, out, task.block, task);
      if (task.storesPending === 0) endTask(s, task, true);
    }
  }
}

/** The task has K fragments: recompute the missing ones. */
export function rebuildGathered(s: CustomerState, out: E[], task: RepairTask): void {
  task.working = false;
  for (const f of task.fragments) if (f !== undefined) s.counters.repairBytes += f.length;
  const id = continuation(s, { kind: "rebuild", task: task.id });
  out.push({
    kind: "job",
    id,
    // Every fragment in hand was checked against its hash on arrival (gather.ts); the job
    // checks each rebuilt one against the block's hashes before anything is stored.
    job: rebuildJob({
      scheme: s.scheme.text,
      cipherSize: task.block.cipherSize,
      fragments: task.fragments,
      wanted: task.targets,
      fragmentHashes: task.block.hashes,
    }),
  });
}

/** The rebuild job finished: store the results. */
export function onRebuilt(
  s: CustomerState,
  ctx: StepContext,
  out: E[],
  taskId: number,
  result: StorageJobResult,
): void {
  const task = s.repairs.tasks.find((t) => t.id === taskId);
  if (task === undefined) return;
  const r = rebuildOutcome(result, task.targets, s.scheme.n);
  if (r.kind === "failed") return endTask(s, task, false);
  // A fragment that does not match the block's hash is not stored (the next scan tries again).
  s.counters.rebuildsUnverified += r.bad.length;
  task.rebuilt = r.fragments;
  task.fragments = [];
  sendStores(s, ctx, out, task.block, task);
  if (task.storesPending === 0) endTask(s, task, true);
}

/**
 * A store of a rebuilt fragment for repair task `id` was answered (or timed out). A fragment
 * stored counts even when its task has ended meanwhile (its version was deleted).
 */
export function onRepairStore(s: CustomerState, id: number, stored: boolean, bytes: number) {
  if (stored) {
    s.counters.repairFragments++;
    s.counters.repairBytes += bytes;
  }
  const task = s.repairs.tasks.find((t) => t.id === id);
  if (task === undefined) return;
  task.storesPending--;
  if (task.storesPending === 0) endTask(s, task, true);
}

function endTask(s: CustomerState, task: RepairTask, ok: boolean): void {
  const i = s.repairs.tasks.indexOf(task);
  if (i < 0) return;
  s.repairs.tasks.splice(i, 1);
  task.block.repairing = false;
  task.working = false;
  if (!ok) s.counters.repairTasksFailed++;
}
