/**
 * Backups: read each file block by block, seal it (encrypt, erasure-code, hash), send fragment i
 * to position i, and record the version only when every fragment of every block and of its
 * manifest has been acknowledged by the supplier at its position.
 *
 * At most `blocksInFlightMax` blocks are held in memory at once (being read, sealed, or waiting
 * for acknowledgements), so a backup of any size runs in constant memory. A fragment whose
 * supplier is offline waits in memory until it answers again or is replaced; a fragment whose
 * supplier acknowledged it and was fired afterwards is rebuilt by repair instead.
 *
 * Bounded progress (issue 11): a store that gets no answer is sent again at once, up to
 * `BACKUP_STORE_TRIES_MAX` in a row per position; then that position is given up for this
 * version (its fragments are left to repair, the family logic replaces a dead supplier). A
 * backup with no progress for `BACKUP_STALL_MS` gives up every position holding it up. A
 * position may be given up only while every block keeps at least {@link durableFloor}
 * fragments; past that the backup fails with one line naming the suppliers. A failed or
 * cancelled backup's version is dropped at once (never left `uploading`). Without repair (the
 * simulator's `--no-repair` baseline, which measures the erasure code alone) nothing fills a
 * given-up position later, and the version keeps fewer fragments: still, a backup must end
 * (the swarm found backups waiting for a departed supplier forever), so the same rules apply.
 *
 * @module
 */

import type { BlobResult, StepContext } from "../../core/actor.ts";
import { fromHex, toHex } from "../../core/ids.ts";
import type { MessageOf } from "../../core/protocol/mod.ts";
import { AUDIT_LEAF_BYTES, type StorageJobResult } from "../../core/storage.ts";
import {
  BACKUP_REDUNDANCY_KEPT_SHARE_MIN,
  BACKUP_STALL_MS,
  BACKUP_STORE_TRIES_MAX,
} from "../../core/limits.ts";
import {
  fire,
  markSeen,
  markSilent,
  onContractLost,
  reachable,
  rebuildableWithout,
  retryPositionAt,
} from "./family.ts";
import {
  addVersion,
  blockOfVersion,
  credit,
  findBlock,
  holders,
  holds,
  removeVersion,
} from "./catalogue.ts";
import { CANCELLED, type E } from "./protocol.ts";
import { dropRecord } from "./persist.ts";
import { blockChanged, noticeWhenRecorded, recordChanged, versionChanged } from "./journal.ts";
import { continuation, request } from "./requests.ts";
import type {
  BackupRun,
  BlockRec,
  CustomerState,
  FileRec,
  RepairTask,
  SourceFile,
  VersionRec,
} from "./state.ts";
import { dataBlockKey, fragmentKey, manifestBlockKey } from "../../parts/fragment_keys.ts";

/** A fresh record for a block whose fragments will be `${key}/${position}`. */
function newBlock(s: CustomerState, key: string, plainSize: number): BlockRec {
  const n = s.scheme.n;
  return {
    key,
    plainSize,
    cipherSize: 0,
    fragmentSize: 0,
    hashes: [],
    roots: [],
    heldAt: new Uint32Array(n),
    storing: new Uint8Array(n),
    pending: null,
    repairing: false,
  };
}

/** Starts the next queued backup when none runs and the family is complete. */
export function startBackup(s: CustomerState, ctx: StepContext, out: E[]): void {
  if (s.backups.run !== null || s.backups.queue.length === 0) return;
  if (!s.family.positions.every((p) => p.state === "active")) return;
  const job = s.backups.queue.shift()!;
  // Ids and salts come from the secret source: salts derive block keys, and suppliers see ids.
  const id = toHex(ctx.secret.bytes(16));
  if (s.catalogue.versions.length >= s.options.versionsMax) {
    const reason =
      `the catalogue holds ${s.catalogue.versions.length} versions already; delete some first`;
    out.push({ kind: "notice", notice: { type: "backup_failed", versionId: id, reason } });
    return;
  }
  const files: FileRec[] = job.files.map((f: SourceFile) => ({
    path: f.path,
    size: f.size,
    mode: f.mode,
    mtimeMs: f.mtimeMs,
    salt: ctx.secret.bytes(32),
    blocks: [],
  }));
  const version: VersionRec = {
    id,
    label: job.label,
    createdMs: ctx.nowMs,
    status: "uploading",
    files,
    manifest: null,
  };
  addVersion(s, version);
  const n = s.scheme.n;
  const blocks = files.reduce((t, f) => t + Math.ceil(f.size / s.options.blockBytes), 0);
  s.backups.run = {
    version,
    nextFile: 0,
    nextBlock: 0,
    inFlight: 0,
    uploading: [],
    phase: "blocks",
    misses: new Array(n).fill(0),
    skipped: new Uint8Array(n),
    progressAtMs: ctx.nowMs,
    fragmentsDone: 0,
    fragmentsTotal: (blocks + 1) * n,
  };
  armStall(s);
  versionChanged(s, id, true); // known before any fragment leaves: an interruption is visible
  out.push({ kind: "notice", notice: { type: "backup_started", versionId: id, label: job.label } });
  out.push({ kind: "trace", event: "backup_started", detail: { version: id } });
}

/** Reads more blocks while there is room, sends pending fragments, finishes when all is held. */
export function pumpBackup(s: CustomerState, ctx: StepContext, out: E[]): void {
  const run = s.backups.run;
  if (run === null) return;
  if (stalled(s, run)) {
    onStall(s, ctx, out, run);
    if (s.backups.run !== run) return;
  }
  while (run.phase === "blocks" && run.inFlight < s.options.blocksInFlightMax) {
    if (!readNextBlock(s, run, out)) break;
  }
  if (run.phase === "blocks" && run.nextFile >= run.version.files.length && sealing(run) === 0) {
    sealManifest(s, ctx, run, out);
  }
  for (const block of run.uploading) sendStores(s, ctx, out, block, null);
  if (run.phase === "finishing" && run.inFlight === 0) return finish(s, run, out);
}

/**
 * Holds the `backup_stall` timer at the running backup's stall deadline (`BACKUP_STALL_MS`
 * after its latest progress), or stops it.
 */
function armStall(s: CustomerState): void {
  const run = s.backups.run;
  if (run === null) s.deadlines.stop("backup_stall");
  else s.deadlines.set("backup_stall", run.progressAtMs + BACKUP_STALL_MS);
}

/** The running backup made progress at `atMs` (never moves its latest progress back). */
function progressed(s: CustomerState, run: BackupRun, atMs: number): void {
  run.progressAtMs = Math.max(run.progressAtMs, atMs);
  armStall(s);
}

/**
 * Whether the running backup is stalled: its `backup_stall` timer fired (it is stopped while
 * the backup runs) and it is not merely waiting to be finished. {@link pumpBackup} then gives
 * up the positions holding it up, or fails it, before anything else, so that whatever the
 * give-up frees (the manifest's turn, the end of the backup) follows in the same step.
 */
function stalled(s: CustomerState, run: BackupRun): boolean {
  const finished = run.phase === "finishing" && run.inFlight === 0;
  return !finished && s.deadlines.at("backup_stall") === null;
}

/**
 * Fewest fragments of each block a backup must have acknowledged: K plus half the redundancy
 * (`BACKUP_REDUNDANCY_KEPT_SHARE_MIN`), so a version done without some positions still survives
 * the loss of further suppliers until repair fills the gaps.
 */
export function durableFloor(k: number, n: number): number {
  return Math.min(n, k + Math.ceil((n - k) * BACKUP_REDUNDANCY_KEPT_SHARE_MIN));
}

/** No progress for a while: give up every position holding the backup up, or fail. */
function onStall(s: CustomerState, ctx: StepContext, out: E[], run: BackupRun): void {
  const late = new Set<number>();
  for (const b of run.uploading) {
    for (let p = 0; p < b.heldAt.length; p++) {
      if (!holds(s, b, p) && run.skipped[p] === 0) late.add(p);
    }
  }
  const minutes = Math.round(BACKUP_STALL_MS / 60_000);
  if (late.size === 0) {
    return failBackup(s, out, `no progress for ${minutes} min (reading or sealing blocks)`);
  }
  progressed(s, run, ctx.nowMs);
  for (const p of late) {
    if (!giveUpPosition(s, out, run, p, `made no progress for ${minutes} min`)) return;
  }
}

/**
 * Stops waiting for position `p` in this backup: its fragments are left to repair (if it
 * runs). Fails the
 * backup instead when that would leave fewer than {@link durableFloor} positions; returns
 * whether the backup goes on.
 */
function giveUpPosition(
  s: CustomerState,
  out: E[],
  run: BackupRun,
  p: number,
  why: string,
): boolean {
  if (run.skipped[p] === 1) return true;
  const n = s.scheme.n;
  const left = n - run.skipped.reduce((t, x) => t + x, 0) - 1;
  const floor = durableFloor(s.scheme.k, n);
  const who = s.family.positions[p].supplier ?? `position ${p}`;
  if (left < floor) {
    const others = [...run.skipped].map((x, q) => (x === 1 ? s.family.positions[q].supplier : null))
      .filter((x) => x !== null);
    const also = others.length === 0 ? "" : ` (already going on without ${others.join(", ")})`;
    failBackup(
      s,
      out,
      `supplier ${who} ${why}${also}; a backup needs at least ${floor} of ${n} suppliers ` +
        `answering: check 'bitdust status' and try again`,
    );
    return false;
  }
  run.skipped[p] = 1;
  out.push({ kind: "trace", event: "backup_position_skipped", detail: { position: p, why } });
  for (const block of [...run.uploading]) {
    if (block.pending !== null) block.pending[p] = undefined;
    if (blockDone(s, run, block)) releaseBlock(s, block, out);
  }
  return true;
}

function blockDone(s: CustomerState, run: BackupRun, block: BlockRec): boolean {
  for (let p = 0; p < block.heldAt.length; p++) {
    if (!holds(s, block, p) && run.skipped[p] !== 1) return false;
  }
  return true;
}

function sealing(run: BackupRun): number {
  return run.inFlight - run.uploading.length;
}

function readNextBlock(s: CustomerState, run: BackupRun, out: E[]): boolean {
  const files = run.version.files;
  while (run.nextFile < files.length) {
    const file = files[run.nextFile];
    const offset = run.nextBlock * s.options.blockBytes;
    if (offset >= file.size) {
      run.nextFile++;
      run.nextBlock = 0;
      continue;
    }
    const length = Math.min(s.options.blockBytes, file.size - offset);
    const blockIndex = run.nextBlock++;
    const block = newBlock(s, dataBlockKey(run.version.id, run.nextFile, blockIndex), length);
    file.blocks.push(block);
    run.inFlight++;
    const source = { block: block.key, fileIndex: run.nextFile, blockIndex };
    const id = continuation(s, { kind: "source", ...source });
    out.push({ kind: "io", id, op: { op: "read", key: `src:${file.path}`, offset, length } });
    return true;
  }
  return false;
}

/** A block of a source file was read: seal it, or fail the backup if the file changed. */
export function onSourceRead(
  s: CustomerState,
  out: E[],
  c: { block: string; fileIndex: number; blockIndex: number },
  result: BlobResult,
): void {
  const run = s.backups.run;
  const block = run === null ? null : blockOfVersion(run.version, c.block);
  if (run === null || block === null) return; // an abandoned backup
  const file = run.version.files[c.fileIndex];
  const blockIndex = c.blockIndex;
  if (!result.ok || result.data === undefined) {
    const why = result.ok ? "no data" : result.error;
    return failBackup(s, out, `cannot read ${file.path}: ${why}`);
  }
  if (result.data.length !== block.plainSize) {
    const offset = blockIndex * s.options.blockBytes;
    const reason = `${file.path} changed during the backup: expected ${block.plainSize} bytes ` +
      `at offset ${offset}, read ${result.data.length}`;
    return failBackup(s, out, reason);
  }
  const id = continuation(s, { kind: "seal", block: block.key });
  out.push({
    kind: "job",
    id,
    job: {
      type: "seal",
      fileKey: s.fileKey,
      fileSalt: file.salt,
      blockIndex,
      plaintext: result.data,
      scheme: s.scheme.text,
    },
  });
}

/** A block (or the manifest) was sealed: keep its fragments until every position has them. */
export function onSealed(
  s: CustomerState,
  ctx: StepContext,
  out: E[],
  key: string,
  result: StorageJobResult,
): void {
  const run = s.backups.run;
  const block = run === null ? null : blockOfVersion(run.version, key);
  if (run === null || block === null) return; // an abandoned backup
  if (result.type !== "sealed") {
    failBackup(
      s,
      out,
      `sealing failed: ${result.type === "failed" ? result.message : result.type}`,
    );
    return;
  }
  block.cipherSize = result.cipherSize;
  block.fragmentSize = result.fragmentSize;
  block.hashes = result.fragmentHashes;
  block.roots = result.merkleRoots;
  block.pending = result.fragments;
  progressed(s, run, ctx.nowMs);
  run.uploading.push(block);
  sendStores(s, ctx, out, block, null);
}

function sealManifest(s: CustomerState, ctx: StepContext, run: BackupRun, out: E[]): void {
  const v = run.version;
  run.phase = "manifest";
  run.inFlight++;
  const block = newBlock(s, manifestBlockKey(v.id), 0);
  v.manifest = block;
  const id = continuation(s, { kind: "seal", block: block.key });
  const manifest = {
    versionId: fromHex(v.id),
    createdMs: Math.max(0, Math.floor(v.createdMs)),
    label: v.label,
    scheme: s.scheme.text,
    blockBytes: s.options.blockBytes,
    leafBytes: AUDIT_LEAF_BYTES,
    files: v.files.map((f) => ({
      path: f.path,
      size: f.size,
      mode: f.mode,
      mtimeMs: f.mtimeMs,
      salt: f.salt,
      blocks: f.blocks.map((b) => ({
        plainSize: b.plainSize,
        cipherSize: b.cipherSize,
        wrappedKey: undefined,
        fragmentHashes: b.hashes,
        merkleRoots: b.roots,
      })),
    })),
  };
  out.push({
    kind: "job",
    id,
    job: {
      type: "seal_manifest",
      manifest,
      fileKey: s.fileKey,
      salt: ctx.secret.bytes(32),
      scheme: s.scheme.text,
    },
  });
  run.phase = "finishing";
}

/**
 * Sends the fragments of `block` that its positions lack: from memory during a backup, or the
 * rebuilt ones of a repair (`fragments`, with the task to report to).
 */
export function sendStores(
  s: CustomerState,
  ctx: StepContext,
  out: E[],
  block: BlockRec,
  repair: RepairTask | null,
): void {
  const source = repair === null ? block.pending : repair.rebuilt;
  if (source === null) return;
  for (let p = 0; p < block.heldAt.length; p++) {
    const data = source[p];
    if (data === undefined || holds(s, block, p) || block.storing[p] === 1) continue;
    if (repair !== null && !repair.targets.includes(p)) continue;
    if (!reachable(s, p, ctx.nowMs)) continue;
    const supplier = s.family.positions[p].supplier!;
    const sent = request(s, ctx, out, supplier, {
      type: "store",
      key: fragmentKey(block.key, p),
      hash: block.hashes[p],
      data,
    }, {
      kind: "store",
      position: p,
      block: block.key,
      bytes: block.fragmentSize,
      repair: repair?.id ?? null,
    });
    if (!sent) return;
    block.storing[p] = 1;
    if (repair !== null) repair.storesPending++;
  }
}

/**
 * A store to position `p` was refused as superseded (another instance of us writes at a newer
 * epoch): not done, asked again after the usual wait (not at once, or it would loop).
 */
export function onStoreSuperseded(s: CustomerState, ctx: StepContext, p: number, key: string) {
  const block = findBlock(s, key);
  if (block !== null) block.storing[p] = 0;
  markSilent(s, p, ctx.nowMs);
}

/** A supplier answered a store. */
export function onStoreReply(
  s: CustomerState,
  ctx: StepContext,
  out: E[],
  p: number,
  key: string,
  m: MessageOf<"store_reply">,
  from: string,
): void {
  const block = findBlock(s, key);
  if (block !== null) block.storing[p] = 0;
  if (s.family.positions[p].supplier !== from) return; // fired meanwhile
  markSeen(s, p, ctx.nowMs);
  const run = block === null ? null : ownRun(s, block);
  if (run !== null) run.misses[p] = 0;
  if (m.outcome === "stored") {
    if (block === null) return; // its version was deleted meanwhile
    credit(s, block, p);
    blockChanged(s, block);
    s.counters.uploadedBytes += block.fragmentSize;
    if (run !== null) {
      progressed(s, run, ctx.nowMs);
      run.fragmentsDone++;
    }
    if (block.pending !== null) {
      block.pending[p] = undefined;
      const done = run === null
        ? holders(s, block) === block.heldAt.length
        : blockDone(s, run, block);
      if (done) releaseBlock(s, block, out);
    }
    return;
  }
  s.counters.refused++;
  const full = m.outcome === "over_quota" || m.outcome === "no_space";
  if (m.outcome === "no_contract") {
    // A lapsed reservation is asked for again; a lost contract with our fragments is fired.
    markSilent(s, p, ctx.nowMs);
    onContractLost(s, ctx, out, p);
  } else if (full) {
    // A full supplier still holds what it stored: replace it only if that can be rebuilt.
    if (s.options.repair && rebuildableWithout(s, p)) {
      fire(s, ctx, out, p, `store refused: ${m.outcome}`);
    } else markSilent(s, p, ctx.nowMs);
  } else {
    markSilent(s, p, ctx.nowMs); // busy, io_error, bad_hash: try again later
  }
}

/** The running backup when `block` is one of its blocks still uploading, else null. */
function ownRun(s: CustomerState, block: BlockRec): BackupRun | null {
  const run = s.backups.run;
  return run !== null && block.pending !== null && run.uploading.includes(block) ? run : null;
}

/**
 * A store got no answer. A backup's store is sent again at once (the timeout was the wait), up
 * to `BACKUP_STORE_TRIES_MAX` in a row; then the position is given up for this version.
 */
export function onStoreTimeout(
  s: CustomerState,
  ctx: StepContext,
  out: E[],
  p: number,
  key: string,
) {
  const block = findBlock(s, key);
  if (block !== null) block.storing[p] = 0;
  if (s.family.positions[p].state !== "active") return;
  markSilent(s, p, ctx.nowMs);
  const run = block === null ? null : ownRun(s, block);
  if (run === null || run.skipped[p] === 1) return;
  run.misses[p]++;
  if (run.misses[p] < BACKUP_STORE_TRIES_MAX) {
    retryPositionAt(s, p, ctx.nowMs, ctx.nowMs); // try again now, not after a probe interval
    return;
  }
  giveUpPosition(s, out, run, p, `did not answer ${run.misses[p]} stores in a row`);
}

function releaseBlock(s: CustomerState, block: BlockRec, out: E[]): void {
  block.pending = null;
  const run = s.backups.run;
  if (run === null) return;
  const i = run.uploading.indexOf(block);
  if (i < 0) return;
  run.uploading.splice(i, 1);
  run.inFlight--;
  progressed(s, run, s.nowMs);
  const total = run.version.files.reduce((n, f) => n + f.size, 0);
  const done = run.version.files.reduce(
    (n, f) => n + f.blocks.filter((b) => b.pending === null && b.cipherSize > 0).length,
    0,
  );
  out.push({
    kind: "notice",
    notice: {
      type: "backup_progress",
      versionId: run.version.id,
      bytesDone: Math.min(total, done * s.options.blockBytes),
      bytesTotal: total,
      fragmentsDone: run.fragmentsDone,
      fragmentsTotal: run.fragmentsTotal,
    },
  });
}

function finish(s: CustomerState, run: BackupRun, out: E[]): void {
  const v = run.version;
  v.status = "complete";
  recordChanged(s);
  s.backups.run = null;
  armStall(s);
  s.counters.backupsDone++;
  const bytes = v.files.reduce((n, f) => n + f.size, 0);
  // The user hears of it only once the version's record is on the local disk.
  noticeWhenRecorded(s, v.id, {
    type: "backup_done",
    versionId: v.id,
    files: v.files.length,
    bytes,
  });
  out.push({ kind: "trace", event: "backup_done", detail: { version: v.id, bytes } });
}

/** Why backups fail once another instance of this identity is known to write (`lease.ts`). */
export const DIVERGED = "another machine running this identity has written since this daemon " +
  "started, so this one no longer writes (see `bitdust status`)";

/**
 * Fails the running backup and every queued one with `reason`: for a customer that will never
 * write again (`lease.ts`), whose backups would otherwise wait for ever.
 */
export function failBackups(s: CustomerState, out: E[], reason: string): void {
  failBackup(s, out, reason);
  while (s.backups.queue.shift() !== undefined) {
    out.push({ kind: "notice", notice: { type: "backup_failed", versionId: "", reason } });
  }
}

/** Abandons the running backup: its version is dropped, its fragments asked to be removed. */
export function failBackup(s: CustomerState, out: E[], reason: string): void {
  const run = s.backups.run;
  if (run === null) return;
  s.backups.run = null;
  armStall(s);
  const v = run.version;
  removeVersion(s, v);
  for (const f of v.files) for (const b of f.blocks) b.pending = null;
  dropRecord(s, out, v.id);
  out.push({ kind: "notice", notice: { type: "backup_failed", versionId: v.id, reason } });
  out.push({ kind: "trace", event: "backup_failed", detail: { version: v.id } });
}

/** Stops the running backup, else the next queued one; says so when there is none. */
export function cancelBackup(s: CustomerState, out: E[]): void {
  if (s.backups.run !== null) return failBackup(s, out, CANCELLED);
  if (s.backups.queue.shift() !== undefined) {
    // Never started: no version, no fragments.
    out.push({
      kind: "notice",
      notice: { type: "backup_failed", versionId: "", reason: CANCELLED },
    });
    return;
  }
  const reason = "no backup is running";
  out.push({
    kind: "notice",
    notice: { type: "command_failed", command: "cancel_backup", reason },
  });
}

/** Queues a backup of `files` (refused with a notice when the queue is full). */
export function queueBackup(s: CustomerState, out: E[], label: string, files: SourceFile[]): void {
  if (s.backups.queue.length >= s.options.queuedMax) {
    const reason = "too many backups queued; try later";
    out.push({ kind: "notice", notice: { type: "command_failed", command: "backup", reason } });
    return;
  }
  s.backups.queue.push({ label, files });
}
