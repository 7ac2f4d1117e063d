/**
 * Episodic faults of the storage workload, for the seeded swarm: partitions (some one-way),
 * clogged nodes, bit rot on suppliers' disks, supplier processes that crash and restart from
 * their disk (writes in flight lost or torn), and per-node clock skew.
 *
 * Theory of operation. Each kind of episode is a Poisson process of its own, drawn from its own
 * random stream (`faults:<kind>`), so turning one kind on or off does not move another's
 * schedule. An episode is scheduled with `sim.at`; the next one is drawn when one fires, and
 * none fires once the run leaves its main phase (`active()` is false): healing stops them, and
 * the workload's heal clears what is left (partitions, clogs). Crashes restart a supplier from a
 * fresh state over its surviving disk, as a real process restarted by its service manager;
 * half of them strike at once, the other half as the chosen supplier next starts a write
 * (`Simulator.onNextWrite`), so that what a crash does to unfinished writes is exercised and
 * not only its timing.
 *
 * @module
 */

import { Random, type Seed } from "../../core/prng.ts";
import { STORED_FRAGMENT_PREFIX } from "../../parts/fragment_keys.ts";
import type { SimNode, Simulator } from "../simulator.ts";
import type { StorageSimProtocol } from "./world.ts";

type Sim = Simulator<StorageSimProtocol>;
type Node = SimNode<StorageSimProtocol>;

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

/** The episodic faults of a run (all off when absent). */
export interface EpisodeFaults {
  /** Partitions: episodes a day, mean hours each, share of nodes cut off, share one-way. */
  partitions?: { perDay: number; hours: number; share: number; oneWay: number };
  /** Clogged nodes: episodes a day, mean hours each, extra delay each way in ms. */
  clogs?: { perDay: number; hours: number; delayMs: number };
  /** Bit flips in stored fragments, per supplier disk per day. */
  bitRotPerDiskDay?: number;
  /**
   * Supplier process crashes per supplier per day; what a crash does to writes in flight
   * (probabilities, see `DiskConfig`); and the disks' per-operation latency in ms (a slower
   * disk keeps writes in flight longer).
   */
  crashes?: { perSupplierDay: number; lostWrite: number; tornWrite: number; diskMs: number };
  /** Largest clock skew in ms: each node's clock runs ahead by its own draw in [0, this]. */
  clockSkewMs?: number;
}

/** What the episodes did, for the report. */
export interface FaultTally {
  partitions: number;
  oneWay: number;
  clogs: number;
  bitFlips: number;
  crashes: number;
}

/** What the fault scheduler needs from the workload. */
export interface FaultHost {
  sim: Sim;
  seed: Seed;
  /** Whether episodes may still start (the main phase). */
  active(): boolean;
  /** Restarts `node`'s supplier process from its disk. */
  restartSupplier(node: Node): void;
}

/** Starts every configured kind of episode; returns the tally they fill in. */
export function scheduleEpisodes(host: FaultHost, faults: EpisodeFaults): FaultTally {
  const tally: FaultTally = { partitions: 0, oneWay: 0, clogs: 0, bitFlips: 0, crashes: 0 };
  const suppliers = () =>
    host.sim.nodes.filter((n) => n.role === "supplier" && n.status !== "departed");
  const p = faults.partitions;
  if (p !== undefined && p.perDay > 0) {
    const r = Random.stream(host.seed, "faults:partition");
    let until = 0;
    repeat(host, r, p.perDay, (sim) => {
      if (sim.nowMs < until) return; // one partition at a time
      const nodes = sim.nodes.filter((n) => n.status !== "departed").map((n) => n.index);
      const cut = r.shuffle(nodes).slice(0, Math.max(1, Math.round(p.share * nodes.length)));
      const oneWay = r.float() < p.oneWay;
      sim.network.partition([cut], oneWay);
      tally.partitions++;
      if (oneWay) tally.oneWay++;
      until = sim.nowMs + r.exponential(p.hours * HOUR_MS);
      const end = until;
      sim.at(end, (s) => {
        if (s.nowMs >= until) s.network.partition([]);
      });
    });
  }
  const c = faults.clogs;
  if (c !== undefined && c.perDay > 0) {
    const r = Random.stream(host.seed, "faults:clog");
    repeat(host, r, c.perDay, (sim) => {
      const live = sim.nodes.filter((n) => n.status !== "departed");
      const node = live[r.int(live.length)];
      sim.network.clog(node.index, Math.round(c.delayMs * (0.5 + r.float())));
      tally.clogs++;
      sim.at(sim.nowMs + r.exponential(c.hours * HOUR_MS), (s) => s.network.clog(node.index, 0));
    });
  }
  const rot = faults.bitRotPerDiskDay ?? 0;
  if (rot > 0) {
    const r = Random.stream(host.seed, "faults:rot");
    repeat(host, r, rot * suppliers().length, () => {
      const live = suppliers().filter((n) => n.disk !== null);
      if (live.length === 0) return;
      if (live[r.int(live.length)].disk!.rot(r, STORED_FRAGMENT_PREFIX) !== null) tally.bitFlips++;
    });
  }
  const k = faults.crashes;
  if (k !== undefined && k.perSupplierDay > 0) {
    const r = Random.stream(host.seed, "faults:crash");
    repeat(host, r, k.perSupplierDay * suppliers().length, () => {
      const live = suppliers();
      if (live.length === 0) return;
      const victim = live[r.int(live.length)];
      if (r.float() < 0.5) {
        host.restartSupplier(victim);
        tally.crashes++;
        return;
      }
      host.sim.onNextWrite(victim, () => {
        if (!host.active() || victim.status === "departed") return;
        host.restartSupplier(victim);
        tally.crashes++;
      });
    });
  }
  return tally;
}

/** Runs `fn` at the events of a Poisson process of `perDay` a day while the host is active. */
function repeat(host: FaultHost, r: Random, perDay: number, fn: (sim: Sim) => void): void {
  const next = (fromMs: number) => {
    host.sim.at(fromMs + r.exponential(DAY_MS / perDay), (sim) => {
      if (!host.active()) return;
      fn(sim);
      next(sim.nowMs);
    });
  };
  next(host.sim.nowMs);
}

/** Gives `node` a clock skew drawn uniformly in [0, `maxMs`] from `r`. */
export function skewClock(sim: Sim, node: Node, maxMs: number, r: Random): void {
  if (maxMs > 0) sim.setClockSkew(node, Math.round(r.float() * maxMs));
}
