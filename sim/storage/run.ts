/**
 * The storage workload of `deno task sim`: a whole network of ID servers, suppliers and users
 * running the real actors under churn, and the report of what happened to the users' data.
 *
 * Phases:
 * 1. Main (`--days`): users back up at the start and at random times, keep two versions, and
 *    probe availability with restores at random times; every node but the ID servers churns;
 *    departed suppliers are replaced by fresh empty ones; users never depart.
 * 2. Measure: durability from the disks (see `checkers.ts`) and a scan for plaintext.
 * 3. Heal: churn stops, every node comes back online, and the network runs one more day (repair,
 *    unfinished uploads). Then every user restores every file of every version counted in phase
 *    2. A durable file that cannot be restored, or a lost one that can, is a checker failure:
 *    `check.durableUnrecovered` and `check.lostRecovered` must both be 0.
 *
 * With `--impostors R` an attacker (`impostors.ts`) sends R messages an hour claiming existing
 * names under other keys, through all three phases, final restores included. Every one that
 * reached a node pinning the claimed name and was not refused (`auth.refused`) is counted in
 * `check.impostorsAccepted`, which must be 0; the checkers above must see what they see without
 * the attacker.
 *
 * @module
 */

import { customerActor, type CustomerConfig, customerState } from "../../actors/customer/mod.ts";
import {
  idServerActor,
  type IdServerState,
  idServerState,
  invariants as idServerInvariants,
} from "../../actors/idserver/mod.ts";
import { httpFacade, type HttpFacadeState, httpFacadeState } from "../idserver_facade.ts";
import { supplierActor, type SupplierConfig, supplierState } from "../../actors/supplier/mod.ts";
import type { Actor, NodeId, Protocol } from "../../core/actor.ts";
import { bytesEqual } from "../../core/ids.ts";
import { Random } from "../../core/prng.ts";
import { messageCodec } from "../../core/protocol/mod.ts";
import { eccScheme } from "../../core/storage.ts";
import { Churn } from "../churn.ts";
import { FlagError, type SimFlags } from "../flags.ts";
import type { Report } from "../report.ts";
import type { NetworkConfig } from "../network.ts";
import {
  AUTH_REFUSED,
  type FrameFaults,
  type SimNode,
  SimulationError,
  Simulator,
} from "../simulator.ts";
import { Impostors } from "./impostors.ts";
import { routerCount, Routing, SIM_NAT_IDLE_MS, storageRelay } from "./routing.ts";
import {
  durableFiles,
  lostManifests,
  pendingWork,
  plaintextLeaks,
  supplierBytes,
} from "./checkers.ts";
import { type EpisodeFaults, type FaultTally, scheduleEpisodes, skewClock } from "./faults.ts";
import { Contents } from "./content.ts";
import { scheduleUser, User, type UserBehaviour } from "./users.ts";
import {
  nodeKeys,
  simCrypto,
  simIdentity,
  simJobs,
  simKeys,
  type StorageSimProtocol,
} from "./world.ts";

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/**
 * Writer lease of the simulated users (6 h, renewed every 2 h): long, so that the claims cost
 * few messages over a month; a single instance per user never waits for it.
 */
const SIM_WRITER_LEASE_MS = 6 * HOUR_MS;
const BLOCK_BYTES = 4 * 1024 * 1024;
/** Suppliers re-announce their offers every 12 h (offers live 24 h): each costs a signature. */
const ANNOUNCE_INTERVAL_MS = 12 * HOUR_MS;

type Sim = Simulator<StorageSimProtocol>;
type Node = SimNode<StorageSimProtocol>;

/** What the checkers measured at the end of the main phase. */
interface Measured {
  durable: Map<User, Map<string, boolean[]>>;
  stored: number;
  lost: number;
  storedBytes: number;
  leaks: string[];
  manifestsLost: number;
  disks: { total: number; orphaned: number };
}

/** What the final restores found. */
interface Recovered {
  recovered: number;
  durableUnrecovered: number;
  lostRecovered: number;
}

/** How the healing phase ended: hours until no user had work pending (-1: never), who had. */
interface Settled {
  hours: number;
  pending: string[];
}

/** Progress callback: share of the run done, events so far. */
export type Progress = (done: number, events: number) => void;

/** Options of the customers' monitoring, from the sim's flags. */
export interface StorageTuning {
  probeMinutes: number;
  fireAfterHours: number;
  auditHours: number;
}

/** Sizes of a network of `nodes` nodes: ID servers, users, suppliers. */
function roles(flags: SimFlags) {
  const nodes = flags.nodes;
  const idServers = Math.max(1, Math.min(6, Math.round(nodes / 100)));
  const routers = routerCount(flags);
  const users = Math.max(1, Math.round(flags.customers * nodes));
  const suppliers = nodes - idServers - routers - users;
  return { idServers, routers, users, suppliers };
}

/** Faults beyond churn, for swarm tests: they apply in the main phase and heal with it. */
export interface StorageFaults extends EpisodeFaults {
  network?: Partial<NetworkConfig>;
  frames?: Partial<FrameFaults>;
  /** Probability that a disk operation fails. */
  diskFailure?: number;
  /**
   * Keys the impostors (`--impostors`) claim names under: `fresh` (default) or `stolen` (the
   * claimed node's own key, which no receiver can refuse: the checker must count it).
   */
  impostorKeys?: "fresh" | "stolen";
  /**
   * Tests only: every supplier and customer refuses (as `auth.refused`) a message whose key is
   * not the claimed name's own: an ideal of what the actors do once they pin keys, with which
   * the impostor checkers must read zero and the user-visible outcome must not move.
   */
  idealPinning?: boolean;
  /**
   * Not a fault: users retry a failed backup this long after it failed (the swarm's users do,
   * so that a hostile world still stores something; the default workload's users wait for
   * their next scheduled backup).
   */
  backupRetryMs?: number;
}

/** Runs the storage workload described by `flags` and returns the report body. */
export function runStorage(flags: SimFlags, tuning: StorageTuning, progress?: Progress): Report {
  return simulateStorage(flags, tuning, {}, progress).report;
}

/** Runs the storage workload; returns the report and the finished run for inspection. */
export function simulateStorage(
  flags: SimFlags,
  tuning: StorageTuning,
  faults: StorageFaults,
  progress?: Progress,
): { report: Report; run: StorageRun } {
  const scheme = eccScheme(flags.ecc);
  if (scheme === null) throw new FlagError(`--ecc: bad ECC scheme ${flags.ecc}`);
  const counts = roles(flags);
  if (counts.suppliers < scheme.n) {
    throw new FlagError(
      `${flags.nodes} nodes leave ${counts.suppliers} suppliers, fewer than the ${scheme.n} ` +
        `an ${flags.ecc} family needs; use more --nodes or fewer --customers or --routers`,
    );
  }
  const run = new StorageRun(flags, tuning, scheme, faults);
  return { report: run.run(progress), run };
}

/** One run of the storage workload. */
class StorageRun {
  readonly sim: Sim;
  readonly contents: Contents;
  readonly users: User[] = [];
  /** Users by node index (notices arrive for every node: no scan over all users). */
  readonly #userOf = new Map<number, User>();
  readonly idServers: NodeId[] = [];
  readonly random: Random;
  readonly behaviour: UserBehaviour;
  readonly churn: Churn<StorageSimProtocol>;
  readonly routing: Routing;
  phase: "main" | "heal" = "main";
  /** The attacker, when `--impostors` is on. */
  impostors: Impostors | null = null;
  supplierCapacity = 0;
  quotaBytes = 0;
  /** Each supplier's configuration, by node index: a crashed process restarts from it. */
  readonly #supplierConfigs = new Map<number, SupplierConfig>();
  /** Draws each node's clock skew (when the faults skew clocks). */
  readonly #skewRandom: Random;
  /** What the episodic faults did (when there are any). */
  tally: FaultTally | null = null;

  constructor(
    readonly flags: SimFlags,
    readonly tuning: StorageTuning,
    readonly scheme: NonNullable<ReturnType<typeof eccScheme>>,
    readonly faults: StorageFaults = {},
  ) {
    this.contents = new Contents(flags.seed);
    this.random = Random.stream(flags.seed, "workload");
    this.#skewRandom = Random.stream(flags.seed, "faults:skew");
    this.behaviour = {
      files: flags.files,
      fileSize: flags.fileSize,
      backupIntervalDays: 10,
      probeIntervalDays: 1,
      keepVersions: 2,
    };
    this.sim = new Simulator<StorageSimProtocol>({
      seed: flags.seed,
      codec: messageCodec,
      runJob: simJobs,
      cryptoFor: simCrypto(flags.seed),
      keyFor: simKeys(flags.seed),
      onNotice: (node, notice) => this.#onNotice(node, notice),
      checkEvery: flags.checkEvery,
      relay: storageRelay(flags.seed, () => this.sim),
      natIdleMs: SIM_NAT_IDLE_MS,
      network: faults.network,
      faults: faults.frames,
      disk: {
        failure: faults.diskFailure ?? 0,
        ...(faults.crashes === undefined ? {} : {
          lostWrite: faults.crashes.lostWrite,
          tornWrite: faults.crashes.tornWrite,
          opLatencyMs: faults.crashes.diskMs,
        }),
      },
    });
    this.churn = new Churn(this.sim, {
      churnPerDay: flags.churn,
      downtimeHoursMean: flags.downtimeHours,
      permanent: flags.permanent,
    }, {
      canDepart: (node) => this.phase === "main" && node.role === "supplier",
      onDepart: () => this.#addSupplier(),
      onMachineLost: (node) => this.#loseMachine(node),
    });
    this.routing = new Routing(this.sim, flags);
  }

  run(progress?: Progress): Report {
    const started = this.#build();
    const endMs = this.flags.days * DAY_MS;
    const finalMs = endMs + 3 * DAY_MS;
    if (this.flags.impostors > 0) {
      const customers = this.users.map((u) => u.node);
      this.impostors = new Impostors(this.sim, this.flags.seed, {
        ratePerHour: this.flags.impostors,
        keys: this.faults.impostorKeys ?? "fresh",
      }, () => customers);
      this.impostors.start(finalMs);
    }
    this.#startEpisodes();
    this.#runPhase(endMs, (t) => progress?.(0.9 * t / endMs, this.sim.counters.events));
    const measured = this.#measure();
    this.#heal();
    const healEnd = endMs + DAY_MS;
    const settled = this.#settle(healEnd, () => progress?.(0.95, this.sim.counters.events));
    const recovered = this.#recoverAll(measured.durable, finalMs);
    progress?.(1, this.sim.counters.events);
    this.#finalChecks();
    return this.#report(started, measured, recovered, settled);
  }

  /**
   * The checks the actors (or `--check-every`) run only now and then between steps, on every
   * node once more.
   */
  #finalChecks(): void {
    this.sim.checkAll();
    for (const id of this.idServers) {
      const state = this.sim.node(id)!.state as HttpFacadeState<IdServerState>;
      try {
        idServerInvariants(state.server, true);
      } catch (e) {
        const what = `node ${id} (idserver) failed its final check: ${(e as Error).message}`;
        throw new SimulationError(what, this.flags.seed, this.sim.nowMs, e);
      }
    }
  }

  /**
   * Runs the healing phase to `untilMs` hour by hour, asking every user after each hour
   * whether it has work pending ({@link pendingWork}). The liveness bound is the phase's
   * length: every user must reach a moment with nothing pending within it. Work found later
   * (an audit that catches a rotten fragment during healing) is new work, not a failure to
   * converge. Returns the hours until the last user got there (-1: one never did), and why
   * each user that never did was still busy at the end.
   */
  #settle(untilMs: number, tick: () => void): Settled {
    const startMs = this.sim.nowMs;
    const waiting = new Set(this.users);
    let lastMs = startMs;
    for (let t = startMs + HOUR_MS; waiting.size > 0; t += HOUR_MS) {
      this.sim.runUntil(Math.min(t, untilMs));
      tick();
      for (const user of waiting) {
        if (pendingWork(user.node, this.flags.repair) === null) waiting.delete(user);
      }
      if (waiting.size === 0) lastMs = this.sim.nowMs;
      if (t >= untilMs) break;
    }
    this.sim.runUntil(untilMs);
    const pending = [...waiting].map((u) =>
      `${u.node.id}: ${pendingWork(u.node, this.flags.repair) ?? "done only at the end"}`
    );
    const hours = waiting.size > 0 ? -1 : Math.round((lastMs - startMs) / HOUR_MS);
    return { hours, pending };
  }

  #runPhase(untilMs: number, tick: (t: number) => void): void {
    const slice = Math.max(HOUR_MS, (untilMs - this.sim.nowMs) / 100);
    for (let t = this.sim.nowMs + slice;; t += slice) {
      this.sim.runUntil(Math.min(t, untilMs));
      tick(this.sim.nowMs);
      if (t >= untilMs) break;
    }
  }

  #build(): ReturnType<typeof roles> {
    const counts = roles(this.flags);
    const perVersion = this.flags.files *
        (Math.ceil(
          (this.flags.fileSize + 16 * Math.ceil(this.flags.fileSize / BLOCK_BYTES)) /
            this.scheme.k,
        ) + 64) + 64 * 1024;
    this.quotaBytes = 4 * perVersion + 1024 * 1024;
    const perSupplier = (counts.users * this.scheme.n) / Math.max(1, counts.suppliers);
    this.supplierCapacity = this.quotaBytes * Math.ceil(3 * perSupplier + 4);
    for (let i = 0; i < counts.idServers; i++) {
      const node = this.sim.addNode(
        "idserver",
        httpFacade(idServerActor),
        httpFacadeState(idServerState()),
      );
      this.#skew(node);
      this.idServers.push(node.id);
    }
    this.routing.addRouters(counts.routers, this.churn);
    const isUser = new Set(
      this.random.shuffle(
        Array.from({ length: counts.users + counts.suppliers }, (_, i) => i),
      ).slice(0, counts.users),
    );
    for (let i = 0; i < counts.users + counts.suppliers; i++) {
      if (isUser.has(i)) this.#addUser();
      else this.#addSupplier();
    }
    return counts;
  }

  /** The actor as is, or behind the ideal pinning of {@link StorageFaults.idealPinning}. */
  #actor<S, P extends Protocol>(actor: Actor<S, P>): Actor<S, P> {
    if (this.faults.idealPinning !== true) return actor;
    const sim = this.sim;
    return {
      ...actor,
      step(state, input, ctx) {
        if (input.kind === "message" && input.fromKey !== null) {
          const want = sim.node(input.from)?.signingKey;
          if (want !== undefined && want !== null && !bytesEqual(want, input.fromKey)) {
            const type = (input.message as { type: string }).type;
            const detail = { from: input.from, type, why: "not its key" };
            return [{ kind: "trace", event: AUTH_REFUSED, detail }];
          }
        }
        return actor.step(state, input, ctx);
      },
    };
  }

  #addSupplier(): Node {
    const name = `n${this.sim.nodes.length}`;
    const keys = nodeKeys(this.flags.seed, name);
    const random = Random.stream(this.flags.seed, `servers:${name}`);
    const servers = random.shuffle([...this.idServers]).slice(
      0,
      Math.min(2, this.idServers.length),
    );
    const config: SupplierConfig = {
      name,
      identityDocument: simIdentity(name, keys, servers),
      capacityBytes: this.supplierCapacity,
      idServers: servers,
      announceIntervalMs: ANNOUNCE_INTERVAL_MS,
      offerTtlMs: 2 * ANNOUNCE_INTERVAL_MS,
    };
    const node = this.sim.addNode(
      "supplier",
      this.#actor(supplierActor),
      supplierState(config),
      name,
      this.routing.client(),
    );
    this.routing.place(node);
    if (this.faults.crashes !== undefined) this.#supplierConfigs.set(node.index, config);
    this.#skew(node);
    this.churn.watch(node);
    return node;
  }

  #addUser(): void {
    const name = `n${this.sim.nodes.length}`;
    const random = Random.stream(this.flags.seed, `user:${name}`);
    const config: CustomerConfig = {
      name,
      idServers: this.idServers,
      scheme: this.scheme,
      fileKey: random.bytes(32),
      identityDocument: simIdentity(name, nodeKeys(this.flags.seed, name), this.idServers),
      // One instance per user, kept across restarts (and a lost machine's replacement): it
      // claims its writer lease from the ID servers at start and renews it at a third.
      lease: { instance: name, machine: name, leaseMs: SIM_WRITER_LEASE_MS },
      options: {
        repair: this.flags.repair,
        quotaBytes: this.quotaBytes,
        blockBytes: BLOCK_BYTES,
        probeIntervalMs: this.tuning.probeMinutes * 60_000,
        offlineAfterMs: 3 * this.tuning.probeMinutes * 60_000,
        fireAfterMs: this.tuning.fireAfterHours * HOUR_MS,
        auditIntervalMs: this.tuning.auditHours * HOUR_MS,
      },
    };
    const node = this.sim.addNode(
      "customer",
      this.#actor(customerActor),
      customerState(config),
      name,
      this.routing.client(),
    );
    this.routing.place(node);
    this.#skew(node);
    const user = new User(node, random, config);
    this.users.push(user);
    this.#userOf.set(node.index, user);
    this.sim.diskOf(node).mounts.set(
      "src:",
      (key, offset, length) => this.#source(user, key, offset, length),
    );
    scheduleUser(
      this.sim,
      user,
      this.contents,
      this.behaviour,
      this.flags.days * DAY_MS,
      () => this.phase === "main",
    );
    this.churn.watch(node);
  }

  #skew(node: Node): void {
    skewClock(this.sim, node, this.faults.clockSkewMs ?? 0, this.#skewRandom);
  }

  /** Starts the episodic faults, if the run has any. */
  #startEpisodes(): void {
    const f = this.faults;
    const any = f.partitions ?? f.clogs ?? f.bitRotPerDiskDay ?? f.crashes;
    if (any === undefined) return;
    this.tally = scheduleEpisodes({
      sim: this.sim,
      seed: this.flags.seed,
      active: () => this.phase === "main",
      restartSupplier: (node) => {
        const config = this.#supplierConfigs.get(node.index);
        if (config !== undefined) this.sim.restart(node, supplierState(config));
      },
    }, f);
  }

  /**
   * A user's machine is lost while offline: memory and disk are gone (the source files stay: the
   * person still has them); it comes back as a new machine with only the user's key.
   */
  #loseMachine(node: Node): void {
    const user = this.#userOf.get(node.index);
    if (user === undefined) return;
    const disk = this.sim.diskOf(node);
    disk.wipe();
    user.machineLost();
    this.sim.restart(node, customerState(user.config));
  }

  /** Serves a user's source file from the deterministic contents. */
  #source(user: User, key: string, offset: number, length: number): Uint8Array | null {
    const m = /\/v(\d+)\/file-(\d+)\.bin$/.exec(key);
    if (m === null) return null;
    const id = user.fileId(Number(m[1]), Number(m[2]));
    return this.contents.read(id, this.flags.fileSize, offset, length);
  }

  #onNotice(node: Node, notice: StorageSimProtocol["notice"]): void {
    if (node.role !== "customer") return;
    const user = this.#userOf.get(node.index);
    if (user === undefined) return;
    const drop = user.onNotice(
      notice as Parameters<User["onNotice"]>[0],
      this.contents,
      this.behaviour,
      this.phase !== "main",
    );
    const retryMs = this.faults.backupRetryMs;
    if (notice.type === "backup_failed" && retryMs !== undefined && this.phase === "main") {
      this.sim.at(this.sim.nowMs + retryMs, () => {
        if (this.phase === "main") user.backup(this.sim, this.contents, this.behaviour);
      });
    }
    for (const versionId of drop) this.sim.command(node, { type: "delete", versionId });
  }

  #measure(): Measured {
    const lookup = (id: string) => this.sim.node(id);
    const durable = new Map<User, Map<string, boolean[]>>();
    let stored = 0;
    let lost = 0;
    let storedBytes = 0;
    let manifestsLost = 0;
    for (const user of this.users) {
      manifestsLost += lostManifests(user.node, lookup);
      const files = durableFiles(user.node, lookup);
      durable.set(user, files);
      for (const list of files.values()) {
        stored += list.length;
        lost += list.filter((ok) => !ok).length;
      }
      for (const v of user.state.catalogue.versions) {
        if (v.status !== "complete") continue;
        const blocks = v.files.flatMap((f) => f.blocks);
        if (v.manifest !== null) blocks.push(v.manifest);
        for (const b of blocks) storedBytes += b.fragmentSize * this.scheme.n;
      }
    }
    const leaks = [
      ...plaintextLeaks(this.sim.nodes, this.contents),
      ...this.routing.leaks(this.contents),
    ];
    const disks = supplierBytes(this.sim.nodes, lookup);
    return { durable, stored, lost, storedBytes, leaks, manifestsLost, disks };
  }

  #heal(): void {
    this.phase = "heal";
    this.churn.stop();
    this.sim.network.reconfigure({ loss: 0, duplicate: 0, reorder: 0 });
    this.sim.network.heal();
    this.sim.setFaults({ alter: 0, forge: 0, garbage: 0 });
    this.sim.setDiskFailure(0);
    for (const node of this.sim.nodes) if (node.status === "offline") this.sim.setOnline(node);
  }

  #recoverAll(durable: Map<User, Map<string, boolean[]>>, deadlineMs: number): Recovered {
    // One restore of a version's durable files, and one of each lost file on its own: a restore
    // stops at its first block that cannot be gathered, so a lost file must not hide durable ones.
    const expected = new Map<User, Map<number, boolean[]>>();
    for (const [user, versions] of durable) {
      const ids = new Map<number, boolean[]>();
      for (const [versionId, files] of versions) {
        const v = user.versions.find((x) => x.versionId === versionId);
        if (v === undefined || files.length === 0) continue;
        const kept = files.flatMap((ok, i) => (ok ? [i] : []));
        const lost = files.flatMap((ok, i) => (ok ? [] : [i]));
        for (const group of [kept, ...lost.map((i) => [i])]) {
          if (group.length === 0) continue;
          const restoreId = user.restore(this.sim, "final", v, group, this.flags.fileSize);
          ids.set(restoreId, group.map((i) => files[i]));
        }
      }
      expected.set(user, ids);
    }
    this.sim.runUntil(deadlineMs);
    let recovered = 0;
    let durableUnrecovered = 0;
    let lostRecovered = 0;
    for (const [user, ids] of expected) {
      for (const [restoreId, files] of ids) {
        const check = user.restores.get(restoreId)!;
        const allDurable = files.every((x) => x);
        if (check.ok) recovered += files.length;
        if (check.ok && !allDurable) lostRecovered += files.filter((x) => !x).length;
        if (!check.ok && allDurable) durableUnrecovered += files.length;
      }
    }
    return { recovered, durableUnrecovered, lostRecovered };
  }

  /** The report's `check` section: what the checkers saw (all must read 0 in a swarm). */
  #checks(m: Measured, r: Recovered, settled: Settled): Report {
    return {
      plaintextLeaks: m.leaks.length,
      wrongBytes: this.users.reduce((a, u) => a + u.mismatches, 0),
      recovered: r.recovered,
      durableUnrecovered: r.durableUnrecovered,
      lostRecovered: r.lostRecovered,
      impostorsAccepted: this.sim.counters.impostorAccepted,
      settledHours: settled.hours,
      unsettled: settled.pending.length,
      unsettledFirst: settled.pending[0] ?? "none",
    };
  }

  #report(
    counts: ReturnType<typeof roles>,
    m: Measured,
    r: Recovered,
    settled: Settled,
  ): Report {
    const c = this.sim.counters;
    const sum = (f: (u: User) => number) => this.users.reduce((a, u) => a + f(u), 0);
    const [probesOk, probesFailed] = this.users.reduce(
      ([a, b], u) => {
        const [x, y] = u.tally("probe");
        return [a + x, b + y];
      },
      [0, 0],
    );
    const repairBytes = sum((u) => u.counter("repairBytes"));
    return {
      roles: { ...counts },
      files: { stored: m.stored, lost: m.lost },
      manifestsLost: m.manifestsLost,
      durability: m.stored === 0 ? 1 : (m.stored - m.lost) / m.stored,
      availability: probesOk + probesFailed === 0 ? 1 : probesOk / (probesOk + probesFailed),
      probes: { ok: probesOk, failed: probesFailed },
      storedBytes: m.storedBytes,
      supplierBytes: { total: m.disks.total, orphaned: m.disks.orphaned },
      repair: {
        bytes: repairBytes,
        ratio: m.storedBytes === 0 ? 0 : repairBytes / m.storedBytes,
        fragments: sum((u) => u.counter("repairFragments")),
      },
      suppliers: {
        replaced: sum((u) => u.counter("replaced")),
        fired: sum((u) => u.counter("fired")),
        departed: this.churn.departures,
      },
      audits: {
        passed: sum((u) => u.counter("auditsPassed")),
        failed: sum((u) => u.counter("auditsFailed")),
      },
      check: this.#checks(m, r, settled),
      impostors: {
        sent: c.impostorSent,
        delivered: c.impostorDelivered,
        refused: c.impostorRefused,
        stale: c.impostorStale,
        unpinned: c.impostorUnpinned,
        dropped: c.impostorDropped,
        kindsDelivered: this.impostors?.kindsWith("refused", "accepted").length ?? 0,
        acceptedKinds: this.impostors?.kindsWith("accepted").join(",") || "none",
      },
      backupsFailed: sum((u) => u.backupsFailed),
      machines: {
        lost: sum((u) => u.machinesLost),
        recovered: sum((u) => u.counter("recoveries")),
        versionsRecovered: sum((u) => u.counter("versionsRecovered")),
      },
      ...this.routing.report(),
      ...(this.tally === null ? {} : {
        faults: { ...this.tally, writesLost: c.writesLost, writesTorn: c.writesTorn },
      }),
      messages: c.sent,
      events: c.events,
      simMs: this.sim.nowMs,
      traceHash: this.sim.trace.hex(),
    };
  }
}
