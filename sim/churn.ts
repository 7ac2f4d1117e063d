/**
 * The churn model: when nodes go offline, for how long, and which ones leave for good.
 *
 * Each eligible node alternates online spells and offline spells. Online spells are exponential
 * with mean `1 / churnPerDay` days (a node goes offline at a rate of `churnPerDay` per day);
 * offline spells are exponential with mean `downtimeHoursMean` hours. With probability
 * `permanent`, an offline spell is a departure instead: the node and its disk are gone for good
 * and the `onDepart` hook may put a fresh node in its place (the population stays constant). A
 * node that may not depart (a user) loses its machine instead: it goes offline as usual, and
 * the `onMachineLost` hook wipes its memory and disk, so it comes back with only its key.
 *
 * Every node's spells come from its own stream (`churn:<name>`), so adding a node or changing
 * what other nodes do does not move anyone's schedule.
 *
 * @module
 */

import type { Protocol } from "../core/actor.ts";
import { Random } from "../core/prng.ts";
import type { SimNode, Simulator } from "./simulator.ts";

/** Churn parameters, as the `sim` flags set them. */
export interface ChurnConfig {
  /** Offline events per node per simulated day (0 disables churn). */
  churnPerDay: number;
  /** Mean length of an offline spell, hours. */
  downtimeHoursMean: number;
  /** Share of offline spells that are departures for good. */
  permanent: number;
}

/** Hooks that tie churn to the workload. */
export interface ChurnHooks<P extends Protocol> {
  /** Whether this node may depart for good (users never do: they come back with their key). */
  canDepart(node: SimNode<P>): boolean;
  /** Called after a node departs; typically adds a fresh node and calls {@link Churn.watch}. */
  onDepart?(node: SimNode<P>, sim: Simulator<P>): void;
  /** Called when a node that may not depart has lost its machine (it is offline by then). */
  onMachineLost?(node: SimNode<P>, sim: Simulator<P>): void;
  /** Called after a node goes offline or comes back. */
  onChange?(node: SimNode<P>, sim: Simulator<P>): void;
}

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

/** Drives offline spells and departures for the nodes it watches. */
export class Churn<P extends Protocol> {
  readonly config: ChurnConfig;
  readonly #sim: Simulator<P>;
  readonly #hooks: ChurnHooks<P>;
  offlineSpells = 0;
  departures = 0;
  machinesLost = 0;
  #stopped = false;

  constructor(sim: Simulator<P>, config: ChurnConfig, hooks: ChurnHooks<P>) {
    this.#sim = sim;
    this.config = config;
    this.#hooks = hooks;
  }

  /** Ends churn: no node goes offline or departs any more (offline ones stay so until healed). */
  stop(): void {
    this.#stopped = true;
  }

  /** Starts churning `node` from now on. */
  watch(node: SimNode<P>): void {
    if (this.config.churnPerDay <= 0 || this.#stopped) return;
    const random = Random.stream(this.#sim.seed, `churn:${node.id}`);
    this.#scheduleOffline(node, random);
  }

  #scheduleOffline(node: SimNode<P>, random: Random): void {
    const sim = this.#sim;
    const uptimeMs = random.exponential(DAY_MS / this.config.churnPerDay);
    sim.at(sim.nowMs + uptimeMs, () => {
      if (node.status !== "online" || this.#stopped) return;
      const permanent = random.chance(this.config.permanent);
      if (permanent && this.#hooks.canDepart(node)) {
        this.departures++;
        sim.depart(node);
        this.#hooks.onDepart?.(node, sim);
        return;
      }
      this.offlineSpells++;
      sim.setOffline(node);
      if (permanent && this.#hooks.onMachineLost !== undefined) {
        this.machinesLost++;
        this.#hooks.onMachineLost(node, sim);
      }
      this.#hooks.onChange?.(node, sim);
      const downMs = random.exponential(this.config.downtimeHoursMean * HOUR_MS);
      sim.at(sim.nowMs + downMs, () => {
        if (node.status !== "offline" || this.#stopped) return;
        sim.setOnline(node);
        this.#hooks.onChange?.(node, sim);
        this.#scheduleOffline(node, random);
      });
    });
  }
}
