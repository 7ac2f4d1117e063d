/**
 * A small scripted storage network for scenario tests: one ID server, some suppliers, one user,
 * no churn unless the script makes it. Reads like the story it tests:
 *
 * ```ts
 * const net = new Scenario({ seed: 1, ecc: "rs:4+4", suppliers: 16 });
 * const v = net.backup({ "a.txt": bytes });
 * net.offline(net.family().slice(0, 5));
 * net.restore(v); // fails: fragments missing
 * ```
 *
 * @module
 */

import { customerActor, type CustomerNotice, customerState } from "../../actors/customer/mod.ts";
import type { CustomerConfig, CustomerOptions, CustomerState } from "../../actors/customer/mod.ts";
import { idServerActor, type IdServerState, idServerState } from "../../actors/idserver/mod.ts";
import { httpFacade, type HttpFacadeState, httpFacadeState } from "../idserver_facade.ts";
import { supplierActor, supplierState } from "../../actors/supplier/mod.ts";
import type { Actor, NodeId } from "../../core/actor.ts";
import { bytesEqual } from "../../core/ids.ts";
import { sha256 } from "../../data/merkle.ts";
import { Random } from "../../core/prng.ts";
import { messageCodec } from "../../core/protocol/mod.ts";
import { eccScheme } from "../../core/storage.ts";
import type { NetworkConfig } from "../network.ts";
import { type FrameFaults, type SimNode, Simulator } from "../simulator.ts";
import {
  nodeKeys,
  simCrypto,
  simIdentity,
  simJobs,
  simKeys,
  type StorageSimProtocol,
} from "./world.ts";
import { fragmentKey, storedFragmentBlob } from "../../parts/fragment_keys.ts";

const HOUR_MS = 3_600_000;

/** What a scenario is built from. */
export interface ScenarioOptions {
  seed: number;
  ecc: string;
  suppliers: number;
  customer?: Partial<CustomerOptions>;
  network?: Partial<NetworkConfig>;
  faults?: Partial<FrameFaults>;
  /**
   * Test hooks for a misbehaving node: wraps the actor of each supplier added (by its name), or
   * the user's actor. The wrapper sees every input and effect of the real actor.
   */
  wrapSupplier?: (actor: AnyActor, name: NodeId) => AnyActor;
  wrapUser?: (actor: AnyActor) => AnyActor;
  /**
   * The user's `ctx.secret` draws from its `ctx.random` stream, as secrets were drawn before
   * they had a source of their own: lets a test show what an attacker who knows that stream
   * would get away with.
   */
  userSecretFromRandom?: boolean;
  /** The user's writer lease (`actors/customer/lease.ts`); none by default. */
  lease?: CustomerConfig["lease"];
}

// deno-lint-ignore no-explicit-any
type AnyActor = Actor<any, StorageSimProtocol>;

/** Outcome of a restore. */
export interface RestoreOutcome {
  ok: boolean;
  reason: string;
  missing: number;
  files: Map<string, Uint8Array>;
}

type Node = SimNode<StorageSimProtocol>;

/** One user, its suppliers and an ID server, driven step by step. */
export class Scenario {
  readonly sim: Simulator<StorageSimProtocol>;
  readonly user: Node;
  readonly suppliers: Node[] = [];
  readonly notices: CustomerNotice[] = [];
  readonly sources = new Map<string, Uint8Array>();
  #restoreId = 1;
  readonly #config: Parameters<typeof customerState>[0];
  readonly #wrapSupplier: ScenarioOptions["wrapSupplier"];

  constructor(o: ScenarioOptions) {
    const scheme = eccScheme(o.ecc);
    if (scheme === null) throw new RangeError(`bad scheme ${o.ecc}`);
    this.sim = new Simulator<StorageSimProtocol>({
      seed: o.seed,
      codec: messageCodec,
      runJob: simJobs,
      cryptoFor: simCrypto(o.seed),
      keyFor: simKeys(o.seed),
      network: o.network,
      faults: o.faults,
      onNotice: (node, notice) => {
        if (node === this.user) this.notices.push(notice as CustomerNotice);
      },
    });
    this.#wrapSupplier = o.wrapSupplier;
    // The ID server as every storage run has it: behind the HTTP translators (idserver_facade).
    const server = httpFacade(idServerActor);
    const ids = this.sim.addNode("idserver", server, httpFacadeState(idServerState()));
    for (let i = 0; i < o.suppliers; i++) this.addSupplier(ids.id);
    const name = `n${this.sim.nodes.length}`;
    this.#config = {
      name,
      idServers: [ids.id],
      scheme,
      fileKey: Random.stream(o.seed, "file key").bytes(32),
      identityDocument: simIdentity(name, nodeKeys(o.seed, name), [ids.id]),
      options: { quotaBytes: 64 * 1024 * 1024, ...o.customer },
      lease: o.lease,
    };
    const userActor = o.wrapUser?.(customerActor) ?? customerActor;
    this.user = this.sim.addNode("customer", userActor, customerState(this.#config));
    if (o.userSecretFromRandom) (this.user as { secret: Random }).secret = this.user.random;
    this.sim.diskOf(this.user).mounts.set("src:", (key, offset, length) => {
      const data = this.sources.get(key.slice(4));
      return data === undefined ? null : data.slice(offset, offset + length);
    });
    this.runFor(HOUR_MS);
  }

  /** The user's daemon is killed and started again: only its disk survives. */
  restartUser(): void {
    this.sim.restart(this.user, customerState(this.#config));
  }

  /**
   * The user's machine is lost: memory and disk are wiped and it starts again with only the
   * key (and, with `scheme`, configured for another ECC scheme).
   */
  loseMachine(scheme?: string): void {
    const disk = this.sim.diskOf(this.user);
    disk.wipe();
    const config = { ...this.#config };
    if (scheme !== undefined) config.scheme = eccScheme(scheme)!;
    this.sim.restart(this.user, customerState(config));
  }

  /** Starts a backup without waiting for it. */
  startBackup(files: Record<string, Uint8Array>): void {
    for (const [path, data] of Object.entries(files)) this.sources.set(path, data);
    const list = Object.entries(files).map(([path, data]) => ({
      path,
      size: data.length,
      mode: 0o600,
      mtimeMs: 1_700_000_000_000,
    }));
    this.sim.command(this.user, { type: "backup", label: "test", files: list });
  }

  /** Adds a fresh supplier announcing at `idServer`. */
  addSupplier(idServer: NodeId = "n0"): Node {
    const name = `n${this.sim.nodes.length}`;
    const keys = nodeKeys(this.sim.seed, name);
    const node = this.sim.addNode(
      "supplier",
      this.#wrapSupplier?.(supplierActor, name) ?? supplierActor,
      supplierState({
        name,
        identityDocument: simIdentity(name, keys, [idServer]),
        capacityBytes: 1024 ** 3,
        idServers: [idServer],
      }),
    );
    this.suppliers.push(node);
    return node;
  }

  /** The ID server's node (the first node). */
  get idServer(): Node {
    return this.sim.nodes[0];
  }

  /** The ID server actor's own state, inside its HTTP facade. */
  get idServerState(): IdServerState {
    return (this.idServer.state as HttpFacadeState<IdServerState>).server;
  }

  /** The user's state. */
  get state(): CustomerState {
    return this.user.state as CustomerState;
  }

  /** Runs the network for `ms` of virtual time. */
  runFor(ms: number): void {
    this.sim.runUntil(this.sim.nowMs + ms);
  }

  /** The current family, by position (null where empty). */
  family(): (NodeId | null)[] {
    return this.state.family.positions.map((p) => (p.state === "active" ? p.supplier : null));
  }

  /**
   * Positions whose supplier, looked at from outside, is alive and really holds an intact copy
   * of its fragment of every block of every version.
   */
  fullMembers(): number {
    const s = this.state;
    return s.family.positions.filter((p, i) => {
      if (p.state !== "active") return false;
      const node = this.sim.node(p.supplier!);
      if (node === undefined || node.status === "departed" || node.disk === null) return false;
      return s.catalogue.versions.every((v) =>
        [...v.files.flatMap((f) => f.blocks), ...(v.manifest ? [v.manifest] : [])].every((b) => {
          const data = node.disk!.blobs.get(
            storedFragmentBlob(this.user.id, fragmentKey(b.key, i)),
          );
          return data !== undefined && bytesEqual(sha256(data), b.hashes[i]);
        })
      );
    }).length;
  }

  #node(id: NodeId): Node {
    const node = this.sim.node(id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  /** Takes these nodes offline. */
  offline(ids: (NodeId | null)[]): void {
    for (const id of ids) if (id !== null) this.sim.setOffline(this.#node(id));
  }

  /** Brings these nodes back. */
  online(ids: (NodeId | null)[]): void {
    for (const id of ids) if (id !== null) this.sim.setOnline(this.#node(id));
  }

  /** These nodes leave for good, disks and all. */
  depart(ids: (NodeId | null)[]): void {
    for (const id of ids) if (id !== null) this.sim.depart(this.#node(id));
  }

  /** Backs up `files` (path to bytes); returns the version id. Throws if it does not finish. */
  backup(files: Record<string, Uint8Array>, withinMs = 6 * HOUR_MS): string {
    const before = this.notices.length;
    this.startBackup(files);
    const done = this.#waitFor(
      before,
      withinMs,
      (n) => n.type === "backup_done" || n.type === "backup_failed",
    );
    if (done === undefined) throw new Error("the backup did not finish in time");
    if (done.type !== "backup_done") throw new Error(`backup failed: ${JSON.stringify(done)}`);
    return done.versionId;
  }

  /** Restores every file of a version; waits for the answer. */
  restore(versionId: string, withinMs = 6 * HOUR_MS): RestoreOutcome {
    const restoreId = this.#restoreId++;
    const before = this.notices.length;
    this.sim.command(this.user, { type: "restore", restoreId, versionId, files: [] });
    const end = this.#waitFor(
      before,
      withinMs,
      (n) =>
        (n.type === "restore_done" || n.type === "restore_failed") && n.restoreId === restoreId,
    );
    if (end === undefined) throw new Error("the restore did not finish in time");
    const version = this.state.catalogue.versions.find((v) => v.id === versionId)!;
    const files = new Map<string, Uint8Array>();
    for (const n of this.notices.slice(before)) {
      if (n.type !== "restored_block" || n.restoreId !== restoreId) continue;
      const f = version.files[n.fileIndex];
      const out = files.get(f.path) ?? new Uint8Array(f.size);
      out.set(n.data, n.offset);
      files.set(f.path, out);
    }
    for (const n of this.notices.slice(before)) {
      if (n.type === "restored_file" && n.restoreId === restoreId && n.file.size === 0) {
        files.set(n.file.path, new Uint8Array(0));
      }
    }
    if (end.type === "restore_failed") {
      return { ok: false, reason: end.reason, missing: end.missing, files };
    }
    return { ok: true, reason: "", missing: 0, files };
  }

  #waitFor(
    from: number,
    withinMs: number,
    match: (n: CustomerNotice) => boolean,
  ): CustomerNotice | undefined {
    const deadline = this.sim.nowMs + withinMs;
    while (this.sim.nowMs < deadline) {
      const found = this.notices.slice(from).find(match);
      if (found !== undefined) return found;
      this.sim.runUntil(Math.min(deadline, this.sim.nowMs + 60_000));
    }
    return this.notices.slice(from).find(match);
  }
}
