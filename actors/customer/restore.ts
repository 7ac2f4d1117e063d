/**
 * Restores: for every block of the asked files, gather K verified fragments, decrypt, and hand
 * the plaintext to the user as `restored_block` notices (the host writes it at `offset`). Blocks
 * are restored a few at a time, in order; a restore fails as soon as one block cannot be had,
 * with a message that says how many fragments are missing.
 *
 * Fail fast: before a restore starts, before each block is asked for, and when a fetch fails or
 * times out, the fragments on suppliers believed online are counted (status.ts); when fewer
 * than K are there the restore fails at once with one line naming the offline suppliers and
 * how many are needed, instead of asking offline suppliers and waiting for each request to time
 * out. At the start the belief may be old (a supplier back since its last probe, when probes
 * are rare with repair off), so those are probed first and the restore fails only if they stay
 * silent (one request timeout). A supplier killed just before a restore is still believed
 * online: its fetch times out once (marking it offline), then this check applies.
 *
 * @module
 */

import type { StepContext } from "../../core/actor.ts";
import type { StorageJobResult } from "../../core/storage.ts";
import { probeStaleOffline } from "./family.ts";
import { holders } from "./catalogue.ts";
import { askMore, newGather, possibleOnline } from "./gather.ts";
import { CANCELLED, type E } from "./protocol.ts";
import { continuation } from "./requests.ts";
import type { BlockRec, CustomerState, RestoreBlock, RestoreRun, VersionRec } from "./state.ts";
import { notRestorableLine, onlineFragments, versionHealth } from "./status.ts";

/** Queues a restore; answers at once when the version or a file does not exist. */
export function queueRestore(
  s: CustomerState,
  out: E[],
  restoreId: number,
  versionId: string,
  files: number[],
): void {
  const fail = (reason: string): void => {
    out.push({ kind: "notice", notice: { type: "restore_failed", restoreId, reason, missing: 0 } });
  };
  const v = s.catalogue.versions.find((x) => x.id === versionId);
  if (v === undefined) return fail(`no version ${versionId}; list the versions with 'ls'`);
  if (v.status !== "complete") return fail(`version ${versionId} is not completely backed up`);
  const wanted = files.length === 0 ? v.files.map((_, i) => i) : files;
  const bad = wanted.find((i) => !(Number.isInteger(i) && i >= 0 && i < v.files.length));
  if (bad !== undefined) return fail(`version ${versionId} has no file number ${bad}`);
  if (s.restores.length >= s.options.queuedMax) return fail("too many restores queued; try later");
  s.restores.push({
    restoreId,
    versionId,
    files: wanted,
    fileCursor: 0,
    blockCursor: 0,
    active: [],
    restoredFiles: 0,
    probed: null,
    probedLate: null,
  });
}

function versionOf(s: CustomerState, run: RestoreRun): VersionRec | undefined {
  return s.catalogue.versions.find((v) => v.id === run.versionId);
}

/**
 * Advances the queued restores in order: the first one starts blocks while there is room and
 * finishes when done; when it ends (done or failed) the next one starts at once, without
 * waiting for another input.
 */
export function pumpRestore(s: CustomerState, ctx: StepContext, out: E[]): void {
  for (let guard = 0; guard <= s.options.queuedMax; guard++) {
    const run = s.restores[0];
    if (run === undefined) return;
    pumpOne(s, ctx, out, run);
    if (s.restores[0] === run) return; // still running: wait for its answers
  }
}

/** The blocks of the files `run` restores. */
function wantedBlocks(v: VersionRec, run: RestoreRun): BlockRec[] {
  return run.files.flatMap((i) => v.files[i].blocks);
}

/** Fails `run` with one line if some block lacks K fragments on online suppliers. */
function failIfUnreachable(s: CustomerState, out: E[], run: RestoreRun, v: VersionRec): boolean {
  const h = versionHealth(s, v, wantedBlocks(v, run));
  if (h.blocksNotRestorableNow === 0) return false;
  failRestore(s, out, run, notRestorableLine(h), h.blocksNotRestorableNow);
  return true;
}

/**
 * At a restore's start: whether it may begin. When it cannot be had from the suppliers believed
 * online, those believed offline on old evidence are probed first (at most a request timeout;
 * answers mark them online), and only then is it failed with one line. With repair on every
 * member is probed each probe interval, so the evidence is fresh and it fails at once.
 */
function reachableOrProbed(
  s: CustomerState,
  ctx: StepContext,
  out: E[],
  run: RestoreRun,
  v: VersionRec,
): boolean {
  const h = versionHealth(s, v, wantedBlocks(v, run));
  if (h.blocksNotRestorableNow === 0) return true;
  run.probed ??= probeStaleOffline(s, ctx, out);
  const asking = run.probed.some((i) =>
    s.family.positions[i].state === "active" &&
    !s.family.positions[i].online && s.family.positions[i].probePending
  );
  if (asking) return false;
  failRestore(s, out, run, notRestorableLine(h), h.blocksNotRestorableNow);
  return false;
}

/**
 * Whether members believed offline on old evidence are being probed for `run` (probing them the
 * first time it is asked; once per restore: a member that answers and is still no use, one
 * that says it has no contract, say, must not be probed again on every answer).
 */
function probingStale(s: CustomerState, ctx: StepContext, out: E[], run: RestoreRun): boolean {
  run.probedLate ??= probeStaleOffline(s, ctx, out);
  return run.probedLate.some((i) =>
    s.family.positions[i].state === "active" && !s.family.positions[i].online &&
    s.family.positions[i].probePending
  );
}

function pumpOne(s: CustomerState, ctx: StepContext, out: E[], run: RestoreRun): void {
  const v = versionOf(s, run);
  if (v === undefined) return failRestore(s, out, run, "the version was deleted meanwhile", 0);
  const starting = run.fileCursor === 0 && run.blockCursor === 0 && run.active.length === 0;
  if (starting && !reachableOrProbed(s, ctx, out, run, v)) return;
  while (run.active.length < s.options.blocksInFlightMax && run.fileCursor < run.files.length) {
    const fileIndex = run.files[run.fileCursor];
    const file = v.files[fileIndex];
    if (run.blockCursor >= file.blocks.length) {
      run.fileCursor++;
      run.blockCursor = 0;
      if (!run.active.some((a) => a.fileIndex === fileIndex)) fileDone(s, out, run, v, fileIndex);
      continue;
    }
    if (onlineFragments(s, file.blocks[run.blockCursor]) < s.scheme.k) {
      // A supplier went offline since the restore started.
      if (failIfUnreachable(s, out, run, v)) return;
    }
    const blockIndex = run.blockCursor++;
    const g: RestoreBlock = {
      ...newGather(s, file.blocks[blockIndex]),
      role: "restore",
      run,
      fileIndex,
      blockIndex,
    };
    run.active.push(g);
    if (!askMore(s, ctx, out, g)) return gatherFailed(s, out, run, g);
  }
  for (const g of run.active) {
    if (!g.working || g.got + g.inFlight >= s.scheme.k) continue;
    // A fetch failed or timed out (its supplier is offline now): fail at once if only offline
    // suppliers are left to ask, rather than wait a request timeout on each of them; but not
    // while a member believed offline on old evidence is being probed (its answer brings it
    // back: the swarm saw a restore fail on a rotten fragment while the one good copy sat on
    // a member that was online, only not probed since the day before).
    if (possibleOnline(s, g) < s.scheme.k) {
      if (probingStale(s, ctx, out, run)) continue;
      if (failIfUnreachable(s, out, run, v)) return;
    }
    if (!askMore(s, ctx, out, g)) return gatherFailed(s, out, run, g);
  }
  if (run.fileCursor >= run.files.length && run.active.length === 0) {
    s.restores.shift();
    s.counters.restoresDone++;
    out.push({
      kind: "notice",
      notice: { type: "restore_done", restoreId: run.restoreId, files: run.restoredFiles },
    });
  }
}

/** The gather of `g` has K fragments: decrypt. */
export function openGathered(s: CustomerState, out: E[], run: RestoreRun, g: RestoreBlock): void {
  const v = versionOf(s, run)!;
  const file = v.files[g.fileIndex];
  g.working = false;
  const gather = { role: "restore" as const, restoreId: run.restoreId, block: g.block.key };
  const id = continuation(s, { kind: "open", gather });
  out.push({
    kind: "job",
    id,
    job: {
      type: "open",
      fileKey: s.fileKey,
      fileSalt: file.salt,
      blockIndex: g.blockIndex,
      scheme: s.scheme.text,
      fragments: g.fragments,
      cipherSize: g.block.cipherSize,
      fragmentHashes: g.block.hashes,
    },
  });
}

/** A block was decrypted (or could not be). */
export function onOpened(
  s: CustomerState,
  out: E[],
  ref: { restoreId: number; block: string },
  result: StorageJobResult,
): void {
  const run = s.restores[0];
  if (run === undefined || run.restoreId !== ref.restoreId) return; // it failed meanwhile
  const g = run.active.find((a) => a.block.key === ref.block);
  if (g === undefined) return;
  const v = versionOf(s, run);
  if (v === undefined) return;
  if (result.type !== "opened") {
    const why = result.type === "failed" ? result.message : result.type;
    return failRestore(
      s,
      out,
      run,
      `block ${g.blockIndex} of ${v.files[g.fileIndex].path}: ${why}`,
      0,
    );
  }
  run.active.splice(run.active.indexOf(g), 1);
  out.push({
    kind: "notice",
    notice: {
      type: "restored_block",
      restoreId: run.restoreId,
      fileIndex: g.fileIndex,
      blockIndex: g.blockIndex,
      offset: g.blockIndex * s.options.blockBytes,
      data: result.plaintext,
    },
  });
  const issuedAll = run.fileCursor > run.files.indexOf(g.fileIndex);
  if (issuedAll && !run.active.some((a) => a.fileIndex === g.fileIndex)) {
    fileDone(s, out, run, v, g.fileIndex);
  }
}

function fileDone(s: CustomerState, out: E[], run: RestoreRun, v: VersionRec, fileIndex: number) {
  const f = v.files[fileIndex];
  run.restoredFiles++;
  out.push({
    kind: "notice",
    notice: {
      type: "restored_file",
      restoreId: run.restoreId,
      fileIndex,
      file: { path: f.path, size: f.size, mode: f.mode, mtimeMs: f.mtimeMs },
    },
  });
  void s;
}

/** A block cannot be gathered: the restore fails, saying how many fragments are missing. */
function gatherFailed(s: CustomerState, out: E[], run: RestoreRun, g: RestoreBlock): void {
  const v = versionOf(s, run)!;
  const k = s.scheme.k;
  const n = s.scheme.n;
  const held = holders(s, g.block);
  const missing = k - g.got;
  const path = v.files[g.fileIndex].path;
  const off = versionHealth(s, v, [g.block]).offline;
  // Counts that add up: held = fetched + failed + offline or not asked.
  const reason = `block ${g.blockIndex} of ${path}: only ${g.got} of the ${k} fragments needed ` +
    `could be fetched (${missing} missing); of ${n} suppliers, ${held} were recorded as ` +
    `holding it: ${g.got} sent it, ${g.failed} did not answer or lacked it` +
    (off.length === 0 ? "" : `; offline: ${off.join(", ")}`);
  failRestore(s, out, run, reason, missing);
}

function failRestore(
  s: CustomerState,
  out: E[],
  run: RestoreRun,
  reason: string,
  missing: number,
): void {
  for (const g of run.active) g.working = false;
  s.restores = s.restores.filter((r) => r !== run);
  s.counters.restoresFailed++;
  out.push({
    kind: "notice",
    notice: { type: "restore_failed", restoreId: run.restoreId, reason, missing },
  });
  out.push({ kind: "trace", event: "restore_failed", detail: { missing } });
}

/**
 * Stops a restore, running or queued. Answers still in flight for it find no run and are
 * dropped, as after any failed restore.
 */
export function cancelRestore(s: CustomerState, out: E[], restoreId: number): void {
  const run = s.restores.find((r) => r.restoreId === restoreId);
  if (run === undefined) {
    const reason = `no restore ${restoreId} is running`;
    out.push({
      kind: "notice",
      notice: { type: "command_failed", command: "cancel_restore", reason },
    });
    return;
  }
  for (const g of run.active) g.working = false; // late answers to its fetches are dropped
  s.restores = s.restores.filter((r) => r !== run);
  s.counters.restoresFailed++;
  out.push({
    kind: "notice",
    notice: { type: "restore_failed", restoreId, reason: CANCELLED, missing: 0 },
  });
  out.push({ kind: "trace", event: "restore_cancelled", detail: { restore: restoreId } });
}
