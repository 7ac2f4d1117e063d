/**
 * What the simulated users do and what they observe: back up at the start and at random times,
 * keep their two newest versions, and probe availability by restoring a random file at random
 * times and comparing it byte for byte with the original.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { NodeId } from "../../core/actor.ts";
import type { Random } from "../../core/prng.ts";
import type {
  CustomerConfig,
  CustomerCounters,
  CustomerNotice,
  CustomerState,
} from "../../actors/customer/mod.ts";
import type { SimNode, Simulator } from "../simulator.ts";
import type { Contents, FileId } from "./content.ts";
import type { StorageSimProtocol } from "./world.ts";

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** How the simulated users behave. */
export interface UserBehaviour {
  files: number;
  fileSize: number;
  /** Mean days between two backups of one user after the first. */
  backupIntervalDays: number;
  /** Mean days between two availability probes of one user. */
  probeIntervalDays: number;
  /** Versions each user keeps; older ones are deleted once a newer one is complete. */
  keepVersions: number;
}

/** One version as the user knows it. */
export interface UserVersion {
  versionId: string;
  number: number;
  complete: boolean;
  deleted: boolean;
}

/** A restore the workload started, and what came back. */
interface RestoreCheck {
  kind: "probe" | "final";
  versionId: string;
  files: FileId[];
  sizes: number[];
  receivedBytes: number;
  mismatches: number;
  done: boolean;
  ok: boolean;
}

type Sim = Simulator<StorageSimProtocol>;

/** One simulated user and the record of what it did. */
export class User {
  readonly node: SimNode<StorageSimProtocol>;
  readonly random: Random;
  readonly versions: UserVersion[] = [];
  readonly restores = new Map<number, RestoreCheck>();
  #nextNumber = 0;
  #nextRestoreId = 1;
  backupsFailed = 0;

  /** Machines this user lost (each time it came back with only the key). */
  machinesLost = 0;

  constructor(
    node: SimNode<StorageSimProtocol>,
    random: Random,
    readonly config: CustomerConfig,
  ) {
    this.node = node;
    this.random = random;
  }

  /** Counters of the customer nodes this user had before the current one. */
  readonly #earlier = new Map<keyof CustomerCounters, number>();

  /** A counter of the user's customer, summed over every machine the user had. */
  counter(name: keyof CustomerCounters): number {
    return (this.#earlier.get(name) ?? 0) + this.state.counters[name];
  }

  /**
   * The machine is about to be wiped: its counters are kept for the report, and restores it was
   * running will never answer and are forgotten.
   */
  machineLost(): void {
    for (const [name, value] of Object.entries(this.state.counters)) {
      const key = name as keyof CustomerCounters;
      this.#earlier.set(key, (this.#earlier.get(key) ?? 0) + value);
    }
    this.machinesLost++;
    for (const [id, r] of this.restores) if (!r.done) this.restores.delete(id);
  }

  get id(): NodeId {
    return this.node.id;
  }

  get state(): CustomerState {
    return this.node.state as CustomerState;
  }

  /** The identity of file `file` of version `number`. */
  fileId(number: number, file: number): FileId {
    return { customer: this.id, version: number, file };
  }

  /** Asks the user's node to back up a new version of all its files. */
  backup(sim: Sim, contents: Contents, b: UserBehaviour): void {
    if (this.node.status !== "online") return;
    const number = this.#nextNumber++;
    const files = Array.from({ length: b.files }, (_, f) => ({
      path: contents.path(this.fileId(number, f)),
      size: b.fileSize,
      mode: 0o644,
      mtimeMs: Math.floor(sim.nowMs),
    }));
    sim.command(this.node, { type: "backup", label: `v${number}`, files });
  }

  /** Restores files of a version and checks them against the originals. */
  restore(sim: Sim, kind: "probe" | "final", version: UserVersion, files: number[], size: number) {
    const restoreId = this.#nextRestoreId++;
    this.restores.set(restoreId, {
      kind,
      versionId: version.versionId,
      files: files.map((f) => this.fileId(version.number, f)),
      sizes: files.map(() => size),
      receivedBytes: 0,
      mismatches: 0,
      done: false,
      ok: false,
    });
    sim.command(this.node, {
      type: "restore",
      restoreId,
      versionId: version.versionId,
      files,
    });
    return restoreId;
  }

  /** Whether a restore of this user is still running. */
  get restoring(): boolean {
    for (const r of this.restores.values()) if (!r.done) return true;
    return false;
  }

  /** Handles what the user's node reports; returns versions the user now wants deleted. */
  onNotice(n: CustomerNotice, contents: Contents, b: UserBehaviour, keep: boolean): string[] {
    switch (n.type) {
      case "backup_started":
        this.versions.push({
          versionId: n.versionId,
          number: Number(n.label.slice(1)),
          complete: false,
          deleted: false,
        });
        return [];
      case "backup_done":
        return this.#completed(n.versionId, b, keep);
      case "backup_failed":
        this.backupsFailed++;
        return [];
      case "restored_block":
        this.#checkBlock(n, contents);
        return [];
      case "restore_done":
      case "restore_failed":
        this.#finish(n.restoreId, n.type === "restore_done");
        return [];
      default:
        return [];
    }
  }

  #completed(versionId: string, b: UserBehaviour, keep: boolean): string[] {
    const v = this.versions.find((x) => x.versionId === versionId);
    if (v === undefined) return [];
    v.complete = true;
    if (keep) return [];
    const live = this.versions.filter((x) => x.complete && !x.deleted);
    const drop = live.slice(0, Math.max(0, live.length - b.keepVersions));
    for (const x of drop) x.deleted = true;
    return drop.map((x) => x.versionId);
  }

  #checkBlock(n: Extract<CustomerNotice, { type: "restored_block" }>, contents: Contents) {
    const r = this.restores.get(n.restoreId);
    if (r === undefined) return;
    const i = r.files.findIndex((f) => f.file === this.#fileOf(r, n.fileIndex));
    if (i < 0) {
      r.mismatches++;
      return;
    }
    const want = contents.read(r.files[i], r.sizes[i], n.offset, n.data.length);
    if (want.length !== n.data.length || Buffer.compare(want, n.data) !== 0) r.mismatches++;
    r.receivedBytes += n.data.length;
  }

  #fileOf(_r: RestoreCheck, fileIndex: number): number {
    return fileIndex; // version files are numbered as the workload created them
  }

  #finish(restoreId: number, done: boolean): void {
    const r = this.restores.get(restoreId);
    if (r === undefined) return;
    r.done = true;
    const expected = r.sizes.reduce((a, x) => a + x, 0);
    r.ok = done && r.mismatches === 0 && r.receivedBytes === expected;
  }

  /** Counts of finished restores of a kind: [succeeded, failed]. */
  tally(kind: "probe" | "final"): [number, number] {
    let ok = 0;
    let bad = 0;
    for (const r of this.restores.values()) {
      if (r.kind !== kind || !r.done) continue;
      if (r.ok) ok++;
      else bad++;
    }
    return [ok, bad];
  }

  /** Mismatched bytes seen in any restore (must stay 0: wrong plaintext never reaches a user). */
  get mismatches(): number {
    let n = 0;
    for (const r of this.restores.values()) n += r.mismatches;
    return n;
  }
}

/** Schedules a user's backups and probes for the main phase, ending at `endMs`. */
export function scheduleUser(
  sim: Sim,
  user: User,
  contents: Contents,
  b: UserBehaviour,
  endMs: number,
  active: () => boolean,
): void {
  const first = HOUR_MS * (1 + user.random.float());
  const backupLoop = (at: number) => {
    if (at >= endMs) return;
    sim.at(at, () => {
      if (!active()) return;
      user.backup(sim, contents, b);
      backupLoop(sim.nowMs + user.random.exponential(b.backupIntervalDays * DAY_MS));
    });
  };
  backupLoop(first);
  const probeLoop = (at: number) => {
    if (at >= endMs) return;
    sim.at(at, () => {
      if (!active()) return;
      probe(sim, user, b);
      probeLoop(sim.nowMs + user.random.exponential(b.probeIntervalDays * DAY_MS));
    });
  };
  probeLoop(first + user.random.exponential(b.probeIntervalDays * DAY_MS));
}

function probe(sim: Sim, user: User, b: UserBehaviour): void {
  if (user.node.status !== "online" || user.restoring || b.files === 0) return;
  const live = user.versions.filter((v) => v.complete && !v.deleted);
  if (live.length === 0) return;
  const v = user.random.pick(live);
  user.restore(sim, "probe", v, [user.random.int(b.files)], b.fileSize);
}
