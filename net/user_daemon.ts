/**
 * The user's daemon behind the local API: turns API calls into customer commands, follows the
 * customer's notices into job progress, reads the files to back up and writes restored ones.
 *
 * Backups: one at a time. The file or folder is walked without following symbolic links (each
 * is reported as skipped); the customer actor reads the files block by block through a source
 * store rooted at the backed-up folder. The API refuses a backup at once when fewer than all N
 * suppliers are hired and online: every fragment must be acknowledged before a version counts.
 *
 * Restores: into a destination that must not exist. Each file is written as `<name>.bitdust-part`
 * at the offsets the blocks arrive for, fsynced, given its mode and modification time, then
 * renamed into place. A failure (too few fragments, a full disk) removes the destination: nothing
 * half-written is left behind.
 *
 * Jobs (`bitdust jobs`, `bitdust cancel`, Ctrl-C on a following CLI): a backup is cancelled by
 * deleting its version in the customer, which stops the upload, drops the version from the
 * catalogue and asks the suppliers to remove what they already stored; the job ends once the
 * customer confirms, so the next backup never meets the old one. A restore is cancelled in the
 * customer (`cancel_restore`) and here: its destination is removed and blocks still arriving
 * are dropped. At most
 * {@link JOBS_ENDED_KEPT_MAX} ended jobs are remembered.
 *
 * @module
 */

import type {
  CustomerCommand,
  CustomerNotice,
  CustomerProtocol,
  CustomerState,
  SourceFile,
  VersionSummary,
} from "../actors/customer/mod.ts";
import { JOBS_ENDED_KEPT_MAX } from "../core/limits.ts";
import { catalogueHealth } from "../actors/customer/status.ts";
import { leaseMarginMs } from "../actors/customer/lease.ts";
import { ApiError, type DaemonControl, type JobView, type StatusReply } from "./api.ts";
import type { Host } from "./host.ts";
import type { RangedBlobStore, SizedList } from "./routed_store.ts";
import { SourceStore } from "./source_store.ts";

const ASK_TIMEOUT_MS = 10_000;
/** Most files one backup may hold. */
const BACKUP_FILES_MAX = 1_000_000;

/** A read-only store whose target changes per backup (the backed-up folder). */
export class SwitchableStore implements RangedBlobStore {
  target: SourceStore | null = null;

  #get(): SourceStore {
    if (this.target === null) throw new Error("no backup is running");
    return this.target;
  }

  read(key: string): Promise<Uint8Array | undefined> {
    return this.#get().read(key);
  }

  readRange(key: string, offset: number, length?: number): Promise<Uint8Array | undefined> {
    return this.#get().readRange(key, offset, length);
  }

  write(key: string, data: Uint8Array): Promise<void> {
    return this.#get().write(key, data);
  }

  delete(key: string): Promise<boolean> {
    return this.#get().delete(key);
  }

  list(prefix: string): Promise<string[]> {
    return this.#get().list(prefix);
  }

  listSizes(prefix: string): Promise<SizedList> {
    return this.#get().listSizes(prefix);
  }

  close(): void {
    this.target?.close();
    this.target = null;
  }
}

interface Job extends JobView {
  /** Why the user (or the progress bound) stopped it; set while the customer confirms. */
  cancelReason?: string;
  restoreId?: number;
  to?: string;
  /** Restored files' writes, one after another. */
  chain?: Promise<void>;
  versionFiles?: VersionSummary["files"];
}

/** The API's view of a running user node. */
export class UserDaemon implements DaemonControl {
  readonly #host: Host<CustomerState, CustomerProtocol>;
  readonly #source: SwitchableStore;
  readonly #jobs = new Map<string, Job>();
  #backup: Job | null = null;
  #nextJob = 1;
  #nextRestore = 1;

  constructor(host: Host<CustomerState, CustomerProtocol>, source: SwitchableStore) {
    this.#host = host;
    this.#source = source;
    host.subscribe((n) => this.#onNotice(n));
  }

  /** Every running job, oldest first. */
  jobs(): JobView[] {
    return [...this.#jobs.values()].filter((j) => j.state === "running").map(view);
  }

  /** Cancels running job `id`; answers at once, the job ends when the customer confirms. */
  cancel(id: string, reason = "cancelled by the user"): JobView {
    const job = this.#jobs.get(id);
    if (job === undefined) throw new ApiError(404, "no_job", `no job ${id}; see 'bitdust jobs'`);
    if (job.state !== "running") {
      throw new ApiError(409, "ended", `job ${id} has already ended (${job.state})`);
    }
    this.#stop(job, reason);
    return view(job);
  }

  #stop(job: Job, reason: string): void {
    if (job.cancelReason !== undefined) return;
    job.cancelReason = reason;
    if (job.kind === "backup") {
      // Deleting the version also removes the fragments already stored, at once. A backup
      // still queued in the customer (its family incomplete) is taken off the queue.
      if (job.version !== "") this.#deleteRunning(job.version);
      else this.#host.deliver({ kind: "command", command: { type: "cancel_backup" } });
      return;
    }
    job.state = "failed";
    job.error = reason;
    this.#host.deliver({
      kind: "command",
      command: { type: "cancel_restore", restoreId: job.restoreId! },
    });
    job.chain = job.chain!.then(() => Deno.remove(job.to!, { recursive: true }).catch(() => {}));
  }

  #deleteRunning(versionId: string): void {
    this.#host.deliver({ kind: "command", command: { type: "delete", versionId } });
  }

  #forgetEnded(): void {
    const ended = [...this.#jobs.values()].filter((j) => j.state !== "running");
    for (const j of ended.slice(0, Math.max(0, ended.length - JOBS_ENDED_KEPT_MAX))) {
      this.#jobs.delete(j.jobId);
    }
  }

  #ask<T>(command: CustomerCommand, pick: (n: CustomerNotice) => T | undefined): Promise<T> {
    return new Promise((resolve, reject) => {
      const off = this.#host.subscribe((n) => {
        const v = pick(n);
        if (v === undefined) return;
        off();
        clearTimeout(timer);
        resolve(v);
      });
      const timer = setTimeout(() => {
        off();
        reject(new ApiError(503, "busy", "the node did not answer in time; try again"));
      }, ASK_TIMEOUT_MS);
      this.#host.deliver({ kind: "command", command });
    });
  }

  async status(): Promise<StatusReply & { messagesRefused: number }> {
    const s = await this.#ask({ type: "status" }, (n) => (n.type === "status" ? n : undefined));
    const running = [...this.#jobs.values()].find((j) => j.state === "running") ?? null;
    // Health from online suppliers only, the same computation `ls` and restore use.
    const health = catalogueHealth(this.#host.state);
    const complete = health.filter((h) => h.state === "complete");
    return {
      name: this.#host.state.name,
      scheme: s.scheme,
      positions: s.positions,
      blocksDegraded: s.blocksDegraded,
      blocksAtRisk: complete.reduce((n, h) => n + h.blocksNotRestorableNow, 0),
      blocksRestorableNow: complete.reduce((n, h) => n + h.blocksRestorableNow, 0),
      health,
      versions: this.#host.state.catalogue.versions.length,
      job: running === null ? null : view(running),
      phase: s.phase,
      versionsToRecover: s.versionsToRecover,
      recoveryProblem: s.recoveryProblem,
      writerLease: writerLeaseLine(this.#host.state, Date.now()),
      // Impostor messages refused (`bitdust status --json`): see the customer's status.
      messagesRefused: s.messagesRefused,
      requestsTimedOut: this.#host.state.counters.timeouts,
    };
  }

  versions(): Promise<VersionSummary[]> {
    return this.#ask({ type: "list" }, (n) => (n.type === "versions" ? n.versions : undefined));
  }

  job(id: string): JobView | undefined {
    const job = this.#jobs.get(id);
    return job === undefined ? undefined : view(job);
  }

  #newJob(kind: "backup" | "restore", bytesTotal: number): Job {
    this.#forgetEnded();
    const job: Job = {
      jobId: String(this.#nextJob++),
      kind,
      version: "",
      state: "running",
      bytesDone: 0,
      bytesTotal,
      result: "",
      error: "",
      warnings: [],
      waitingFor: "",
    };
    this.#jobs.set(job.jobId, job);
    return job;
  }

  async startBackup(path: string): Promise<string> {
    if (this.#backup !== null) throw new ApiError(409, "busy", "a backup is already running");
    const standby = writerLeaseLine(this.#host.state, Date.now());
    if (standby !== null) throw new ApiError(409, "not_writer", standby);
    const s = await this.status();
    const online = s.positions.filter((p) => p.state === "active" && p.online).length;
    if (online < s.positions.length) {
      throw new ApiError(
        503,
        "too_few_suppliers",
        `only ${online} of ${s.positions.length} suppliers are hired and online; a backup needs ` +
          `all of them: start more suppliers, or wait while the daemon finds them`,
      );
    }
    const { root, files, warnings } = await walk(path);
    this.#source.target?.close();
    this.#source.target = await SourceStore.open(root);
    const job = this.#newJob("backup", files.reduce((n, f) => n + f.size, 0));
    job.warnings = warnings;
    this.#backup = job;
    this.#host.deliver({ kind: "command", command: { type: "backup", label: path, files } });
    return job.jobId;
  }

  async deleteVersion(target: string): Promise<void> {
    const versions = await this.versions();
    const v = pickVersion(versions, target);
    if (v === undefined) throw new ApiError(404, "no_version", `no version ${target}`);
    const answer = await this.#ask(
      { type: "delete", versionId: v.versionId },
      (n) =>
        n.type === "deleted" && n.versionId === v.versionId
          ? ""
          : n.type === "command_failed" && n.command === "delete"
          ? n.reason
          : undefined,
    );
    if (answer !== "") throw new ApiError(404, "no_version", answer);
  }

  async startRestore(target: string, to: string): Promise<string> {
    if (await exists(to)) throw new ApiError(409, "destination_exists", `${to} already exists`);
    const versions = await this.versions();
    const plan = restorePlan(versions, target);
    if (plan === undefined) {
      throw new ApiError(404, "not_found", `no version or backed-up file matches ${target}`);
    }
    try {
      await Deno.mkdir(to, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new ApiError(409, "destination", `cannot create ${to}: ${(e as Error).message}`);
    }
    const files = plan.version.files;
    const total = plan.files.reduce((n, i) => n + files[i].size, 0);
    const job = this.#newJob("restore", total);
    job.restoreId = this.#nextRestore++;
    job.to = to;
    job.chain = Promise.resolve();
    job.versionFiles = files;
    job.version = plan.version.versionId;
    logJob(`restore of version ${job.version} into ${to} started`);
    this.#host.deliver({
      kind: "command",
      command: {
        type: "restore",
        restoreId: job.restoreId,
        versionId: plan.version.versionId,
        files: plan.files,
      },
    });
    return job.jobId;
  }

  #restoreJob(restoreId: number): Job | undefined {
    for (const j of this.#jobs.values()) if (j.restoreId === restoreId) return j;
    return undefined;
  }

  #onNotice(n: CustomerNotice): void {
    const b = this.#backup;
    if (b !== null) {
      onBackupNotice(b, n, () => (this.#backup = null));
      if (n.type === "backup_started" && b.cancelReason !== undefined) {
        this.#deleteRunning(n.versionId);
      }
    }
    if ("restoreId" in n) {
      const job = this.#restoreJob(n.restoreId);
      if (job !== undefined && job.state === "running") onRestoreNotice(job, n);
    }
  }
}

function view(j: Job): JobView {
  return {
    jobId: j.jobId,
    kind: j.kind,
    version: j.version,
    state: j.state,
    bytesDone: j.bytesDone,
    bytesTotal: j.bytesTotal,
    result: j.result,
    error: j.error,
    warnings: j.warnings,
    waitingFor: j.waitingFor,
  };
}

function onBackupNotice(job: Job, n: CustomerNotice, end: () => void): void {
  switch (n.type) {
    case "backup_started":
      job.result = n.versionId;
      job.version = n.versionId;
      return;
    case "backup_progress":
      job.bytesDone = n.bytesDone;
      return;
    case "backup_recording":
      job.bytesDone = job.bytesTotal;
      job.waitingFor = "an ID server to keep the family record that lists this version";
      return;
    case "backup_done":
      job.bytesDone = job.bytesTotal;
      job.result = n.versionId;
      job.state = "done";
      return end();
    case "backup_failed":
      job.error = job.cancelReason ?? n.reason;
      job.state = "failed";
      return end();
    case "command_failed":
      if (n.command !== "backup") return;
      job.error = n.reason;
      job.state = "failed";
      return end();
  }
}

function onRestoreNotice(job: Job, n: CustomerNotice): void {
  const to = job.to!;
  const then = (f: () => Promise<void>) => {
    job.chain = job.chain!.then(async () => {
      if (job.state !== "running") return;
      try {
        await f();
      } catch (e) {
        await failRestore(job, writeError(e, to));
      }
    });
  };
  switch (n.type) {
    case "restored_block": {
      const file = job.versionFiles![n.fileIndex];
      return then(async () => {
        await writeAt(`${safeJoin(to, file.path)}.bitdust-part`, n.offset, n.data);
        job.bytesDone += n.data.length;
      });
    }
    case "restored_file":
      return then(() => finishFile(safeJoin(to, n.file.path), n.file));
    case "restore_done":
      return then(() => {
        job.state = "done";
        job.result = to;
        logJob(`restore of version ${job.version} done`);
        return Promise.resolve();
      });
    case "restore_failed":
      logJob(`restore of version ${job.version} failed: ${n.reason}`);
      return then(() => failRestore(job, n.reason));
  }
}

/** The daemon's log line for a job, named by its version (the job number means nothing later). */
function logJob(line: string): void {
  console.error(`${new Date().toISOString()} ${line}`);
}

async function failRestore(job: Job, reason: string): Promise<void> {
  job.state = "failed";
  job.error = reason;
  await Deno.remove(job.to!, { recursive: true }).catch(() => {});
}

/** The one line a failed restore write becomes (a full disk says so). */
export function writeError(e: unknown, to: string): string {
  const message = (e as Error).message ?? String(e);
  if (/no space|ENOSPC|os error 28/i.test(message)) {
    return `the disk holding ${to} is full; free some space and restore again`;
  }
  return `cannot write into ${to}: ${message}`;
}

/** `dir/rel` for a manifest path, refusing anything that would leave `dir`. */
export function safeJoin(dir: string, rel: string): string {
  const parts = rel.split("/");
  if (rel.startsWith("/") || parts.some((p) => p === ".." || p === "" || p === ".")) {
    throw new Error(`refusing the unsafe path ${JSON.stringify(rel)}`);
  }
  return `${dir}/${rel}`;
}

async function writeAt(path: string, offset: number, data: Uint8Array): Promise<void> {
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  const file = await Deno.open(path, { write: true, create: true, mode: 0o600 });
  try {
    await file.seek(offset, Deno.SeekMode.Start);
    for (let at = 0; at < data.length;) at += await file.write(data.subarray(at));
  } finally {
    file.close();
  }
}

async function finishFile(
  path: string,
  f: { size: number; mode: number; mtimeMs: number },
): Promise<void> {
  const part = `${path}.bitdust-part`;
  if (f.size === 0) await writeAt(part, 0, new Uint8Array(0));
  const file = await Deno.open(part, { write: true });
  try {
    await file.truncate(f.size);
    await file.syncData();
  } finally {
    file.close();
  }
  await Deno.chmod(part, f.mode & 0o7777);
  const mtime = new Date(f.mtimeMs);
  await Deno.utime(part, mtime, mtime);
  await Deno.rename(part, path);
}

/** Walks `path` (a file or a folder) into the list a backup reads; symlinks are skipped. */
export async function walk(
  path: string,
): Promise<{ root: string; files: SourceFile[]; warnings: string[] }> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch {
    throw new ApiError(404, "not_found", `${path} does not exist`);
  }
  const warnings: string[] = [];
  const files: SourceFile[] = [];
  const entry = (rel: string, i: Deno.FileInfo) => ({
    path: rel,
    size: i.size,
    mode: (i.mode ?? 0o644) & 0o7777,
    mtimeMs: i.mtime?.getTime() ?? 0,
  });
  if (info.isFile) {
    const slash = path.lastIndexOf("/");
    return {
      root: path.slice(0, slash) || "/",
      files: [entry(path.slice(slash + 1), info)],
      warnings,
    };
  }
  if (!info.isDirectory) throw new ApiError(400, "not_a_file", `${path} is not a file or folder`);
  const visit = async (rel: string) => {
    const here = rel === "" ? path : `${path}/${rel}`;
    const names = [];
    for await (const e of Deno.readDir(here)) names.push(e.name);
    names.sort();
    for (const name of names) {
      const child = rel === "" ? name : `${rel}/${name}`;
      const i = await Deno.lstat(`${path}/${child}`);
      if (i.isSymlink) warnings.push(`skipped symbolic link ${child}`);
      else if (i.isDirectory) await visit(child);
      else if (i.isFile) files.push(entry(child, i));
      else warnings.push(`skipped ${child}: not a regular file`);
      if (files.length > BACKUP_FILES_MAX) {
        throw new ApiError(400, "too_many_files", `more than ${BACKUP_FILES_MAX} files`);
      }
    }
  };
  await visit("");
  return { root: path, files, warnings };
}

/** How many candidates an ambiguous prefix lists. */
const CANDIDATES_SHOWN = 5;

/**
 * The version a target names: an id or a unique prefix of one (4 characters at least). A hex
 * prefix that several versions share is refused with their ids, whatever its length, so a
 * user never reads "no version" for a prefix that matches.
 */
export function pickVersion(versions: VersionSummary[], target: string) {
  const exact = versions.find((v) => v.versionId === target);
  if (exact !== undefined) return exact;
  if (target === "") return undefined;
  const matches = versions.filter((v) => v.versionId.startsWith(target));
  if (matches.length > 1 && (target.length >= 4 || /^[0-9a-f]+$/.test(target))) {
    const shown = matches.slice(0, CANDIDATES_SHOWN).map((v) => `${v.versionId.slice(0, 8)}...`);
    const more = matches.length > CANDIDATES_SHOWN
      ? ` and ${matches.length - CANDIDATES_SHOWN} more`
      : "";
    throw new ApiError(
      400,
      "ambiguous",
      `ambiguous: ${target} matches ${shown.join(", ")}${more}; give more characters`,
    );
  }
  if (target.length < 4) return undefined;
  return matches[0];
}

/** What to restore for `target`: a whole version, or the newest copy of one file. */
export function restorePlan(
  versions: VersionSummary[],
  target: string,
): { version: VersionSummary; files: number[] } | undefined {
  const v = pickVersion(versions, target);
  if (v !== undefined) {
    if (!v.complete) {
      throw new ApiError(409, "incomplete", `version ${v.versionId} was not completely backed up`);
    }
    return { version: v, files: v.files.map((_, i) => i) };
  }
  const complete = versions.filter((x) => x.complete).sort((a, b) => b.createdMs - a.createdMs);
  for (const version of complete) {
    const i = version.files.findIndex((f) =>
      f.path === target || `${version.label}/${f.path}` === target ||
      (version.label.endsWith(`/${f.path}`) && version.label === target)
    );
    if (i >= 0) return { version, files: [i] };
  }
  return undefined;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Why this daemon does not write now (issue 11: another machine holds the writer lease, or none
 * was granted yet), as the line a user reads; `null` while it holds the lease.
 */
export function writerLeaseLine(s: CustomerState, nowMs: number): string | null {
  const l = s.lease;
  if (l === null) return null;
  const holder = l.holder !== null && l.holder.expiresMs > nowMs ? l.holder : null;
  const who = holder === null ? "" : `another machine (${holder.machine}) holds the writer ` +
    `lease until ${new Date(holder.expiresMs).toISOString()}`;
  if (l.otherSeen && s.phase === "ready") {
    const newer = l.superseded === null ? "" : `${l.superseded.suppliers} suppliers have seen ` +
      `this identity write at epoch ${l.superseded.epoch}, above this daemon's: `;
    const last = l.holder === null ? "another machine" : `another machine (${l.holder.machine})`;
    const head = newer +
      (who === "" ? `${last} held the writer lease since this daemon started` : who);
    return `${head}; this home's catalogue may be out of date, so this daemon will not write: ` +
      "stop it, move its data directory aside and run `bitdust key import` to continue from " +
      "the network's catalogue";
  }
  if (who !== "") return `${who}; waiting (run with --take-over to move it here)`;
  if (l.held === null) return "waiting for the writer lease from the ID servers";
  if (nowMs < l.writableFromMs) {
    const from = new Date(l.writableFromMs).toISOString();
    return `took over the writer lease; writing from ${from}, once the old holder has stopped`;
  }
  if (nowMs >= l.held.expiresMs - leaseMarginMs(l)) {
    return "the writer lease could not be renewed (ID servers unreachable); not writing";
  }
  return null;
}
