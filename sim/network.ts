/**
 * The simulated network: when (and whether) a message sent now reaches its recipient.
 *
 * Model, per message of `size` bytes from node `a` to node `b`:
 * 1. Upload: `a`'s uplink sends one message at a time at `a`'s upload rate; a message waits for
 *    the ones queued before it. Transmission ends at `txEnd`.
 * 2. Propagation: the link `a↔b` has a base latency drawn once per link (log-normal around
 *    `latencyMsMedian`, symmetric, derived by hashing the pair, so it costs no memory), and each
 *    message adds log-normal jitter.
 * 3. Download: `b`'s downlink receives one message at a time at `b`'s download rate.
 * 4. Faults: with probability `loss` the message vanishes; with `duplicate` a second copy follows
 *    later; with `reorder` it is delayed by up to twice its latency and may overtake or be
 *    overtaken. Otherwise links are FIFO like a TCP connection: a message never arrives before one
 *    sent earlier on the same link.
 * 5. Partitions: every node belongs to a group (0 by default); messages between groups are
 *    dropped, at send time and again at delivery time (a partition can start while in flight).
 *    A one-way partition drops only what the listed groups send out of their group: they still
 *    hear everyone, nobody hears them (a broken return path, a half-open connection).
 * 6. Clogging: a clogged node's messages, both ways, take `clogMs` longer (a congested or
 *    bufferbloated link: late, not lost).
 *
 * 7. NAT: a node behind NAT ({@link Network.setNat}) can send to anyone but cannot be dialed. The
 *    network keeps the flag; the simulator enforces it, because whether a session is open is a
 *    property of the links it owns (see `sim/simulator.ts`, "NAT and routers").
 *
 * Per-node state is a few typed-array slots; per-link state ({@link LinkTiming}) is created by
 * the caller for links that carry traffic and holds the link's base latency and FIFO horizon.
 *
 * @module
 */

import { hashString32, mix32, type Random } from "../core/prng.ts";
import { assert } from "../core/assert.ts";

/** Network parameters: rates in bytes per second, times in ms, faults as probabilities. */
export interface NetworkConfig {
  latencyMsMedian: number;
  /** Spread of per-link base latency (sigma of the log-normal). */
  latencySigma: number;
  /** Spread of per-message jitter around the link's base (sigma of the log-normal). */
  jitterSigma: number;
  uploadBytesPerSec: number;
  downloadBytesPerSec: number;
  /** Spread of per-node bandwidth (sigma of a log-normal factor). */
  bandwidthSigma: number;
  loss: number;
  duplicate: number;
  reorder: number;
}

/** A home-broadband-like default: 40 ms median, 20 Mbit/s up, 100 Mbit/s down, no faults. */
export const DEFAULT_NETWORK: NetworkConfig = {
  latencyMsMedian: 40,
  latencySigma: 0.5,
  jitterSigma: 0.1,
  uploadBytesPerSec: 2_500_000,
  downloadBytesPerSec: 12_500_000,
  bandwidthSigma: 0.5,
  loss: 0,
  duplicate: 0,
  reorder: 0,
};

/** Checks a configuration; returns a one-line complaint or `null`. */
function validateNetwork(c: NetworkConfig): string | null {
  for (const key of ["loss", "duplicate", "reorder"] as const) {
    if (!(c[key] >= 0 && c[key] <= 1)) return `${key} must be between 0 and 1, got ${c[key]}`;
  }
  if (!(c.latencyMsMedian >= 0)) return `latency must be >= 0, got ${c.latencyMsMedian}`;
  if (!(c.uploadBytesPerSec > 0 && c.downloadBytesPerSec > 0)) return "bandwidth must be > 0";
  return null;
}

/** Outcome of {@link Network.transmit}: up to two arrival times (a duplicate), or none. */
export interface Transmission {
  /** Number of copies that will arrive: 0 (lost or partitioned), 1 or 2. */
  copies: number;
  first: number;
  second: number;
  /** Why nothing arrives, when `copies` is 0. */
  dropped: "" | "loss" | "partition";
}

/** Timing state of one directed link, owned by the caller (one per sender and recipient). */
export interface LinkTiming {
  /** Base one-way latency in ms. */
  baseMs: number;
  /** Latest planned arrival on this link, for FIFO order. */
  lastArrival: number;
}

/** Per-node queues and per-link FIFO state of the simulated network. */
export class Network {
  #config: NetworkConfig;
  readonly #random: Random;
  readonly #salt: number;
  #upFreeAt = new Float64Array(64);
  #downFreeAt = new Float64Array(64);
  #upRate = new Float64Array(64);
  #downRate = new Float64Array(64);
  #group = new Int32Array(64);
  #clogMs = new Float64Array(64);
  #nat = new Uint8Array(64);
  /** The partition drops only what listed groups send out (see the module comment). */
  #oneWay = false;
  /** Whether any node was clogged since the last heal (the common case pays one branch). */
  #clogged = false;
  #nodes = 0;
  readonly #out: Transmission = { copies: 0, first: 0, second: 0, dropped: "" };

  constructor(config: NetworkConfig, random: Random) {
    const problem = validateNetwork(config);
    if (problem !== null) throw new RangeError(problem);
    this.#config = config;
    this.#random = random;
    this.#salt = random.fork("links").nextU32();
  }

  /** The current parameters. */
  get config(): NetworkConfig {
    return this.#config;
  }

  /** Changes parameters from now on (a healed phase turns faults off, say). */
  reconfigure(change: Partial<NetworkConfig>): void {
    const next = { ...this.#config, ...change };
    const problem = validateNetwork(next);
    if (problem !== null) throw new RangeError(problem);
    this.#config = next;
  }

  /** Registers node `index` (indices are dense and never reused), drawing its bandwidth. */
  addNode(index: number, random: Random): void {
    assert(index === this.#nodes, `nodes must be added in order: ${index} != ${this.#nodes}`);
    if (index >= this.#upRate.length) this.#grow();
    const c = this.config;
    this.#upRate[index] = c.uploadBytesPerSec * Math.exp(c.bandwidthSigma * random.normal());
    this.#downRate[index] = c.downloadBytesPerSec * Math.exp(c.bandwidthSigma * random.normal());
    this.#nodes++;
  }

  #grow(): void {
    const n = this.#upRate.length * 2;
    const grow = <T extends Float64Array | Int32Array>(old: T, fresh: T): T => {
      fresh.set(old);
      return fresh;
    };
    this.#upFreeAt = grow(this.#upFreeAt, new Float64Array(n));
    this.#downFreeAt = grow(this.#downFreeAt, new Float64Array(n));
    this.#upRate = grow(this.#upRate, new Float64Array(n));
    this.#downRate = grow(this.#downRate, new Float64Array(n));
    this.#group = grow(this.#group, new Int32Array(n));
    this.#clogMs = grow(this.#clogMs, new Float64Array(n));
    const nat = new Uint8Array(n);
    nat.set(this.#nat);
    this.#nat = nat;
  }

  /** Puts `node` behind NAT (it can dial out, nobody can dial it) or takes it out. */
  setNat(node: number, behind: boolean): void {
    assert(node < this.#nodes, `no node ${node}`);
    this.#nat[node] = behind ? 1 : 0;
  }

  /** Whether `node` is behind NAT. */
  isNat(node: number): boolean {
    return this.#nat[node] === 1;
  }

  /** Number of nodes registered. */
  get nodes(): number {
    return this.#nodes;
  }

  /**
   * Puts each listed node in group `i` of `groups`; unlisted nodes go to group 0. With
   * `oneWay`, only messages from a listed group out of it are dropped.
   */
  partition(groups: readonly (readonly number[])[], oneWay = false): void {
    this.#group.fill(0);
    this.#oneWay = oneWay;
    groups.forEach((members, g) => {
      for (const m of members) this.#group[m] = g + 1;
    });
  }

  /** Delays every message to or from `node` by `ms` more (0: unclogged). */
  clog(node: number, ms: number): void {
    assert(ms >= 0 && Number.isFinite(ms), `a clog is a delay >= 0 ms, got ${ms}`);
    this.#clogMs[node] = ms;
    if (ms > 0) this.#clogged = true;
  }

  /** Removes every partition and clog. */
  heal(): void {
    this.#group.fill(0);
    this.#clogMs.fill(0);
    this.#clogged = false;
    this.#oneWay = false;
  }

  /** Whether a message from `a` reaches `b` (partitions only). */
  connected(a: number, b: number): boolean {
    const g = this.#group[a];
    return g === this.#group[b] || (this.#oneWay && g === 0);
  }

  /** Base one-way latency of the link `a↔b` in ms (symmetric, stable for a run). */
  baseLatencyMs(a: number, b: number): number {
    const lo = a < b ? a : b;
    const hi = a < b ? b : a;
    const h1 = mix32(lo * 0x9e3779b1 + hi + this.#salt);
    const h2 = mix32(h1 ^ hashString32("latency", hi));
    // Box–Muller from two hash-derived uniforms: a log-normal factor without stored state.
    const u = (h1 + 1) / 4294967297;
    const v = h2 / 4294967296;
    const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    return this.config.latencyMsMedian * Math.exp(this.config.latencySigma * z);
  }

  /** Timing state for a new directed link `from → to`. */
  link(from: number, to: number): LinkTiming {
    return { baseMs: from === to ? 0 : this.baseLatencyMs(from, to), lastArrival: -Infinity };
  }

  /**
   * Plans the delivery of a `size`-byte message sent at `nowMs` over `link` (from
   * {@link Network.link}). The returned object is reused by the next call: read it first.
   */
  transmit(
    from: number,
    to: number,
    size: number,
    nowMs: number,
    link: LinkTiming,
  ): Transmission {
    const out = this.#out;
    const c = this.config;
    const rng = this.#random;
    out.copies = 0;
    out.dropped = "";
    const group = this.#group[from];
    if (group !== this.#group[to] && !(this.#oneWay && group === 0)) {
      out.dropped = "partition";
      return out;
    }
    // The sender's uplink is busy until the message has left, lost or not.
    const txStart = Math.max(nowMs, this.#upFreeAt[from]);
    const txEnd = txStart + (size * 1000) / this.#upRate[from];
    this.#upFreeAt[from] = txEnd;
    if (c.loss > 0 && rng.float() < c.loss) {
      out.dropped = "loss";
      return out;
    }
    const base = link.baseMs;
    let latency = c.jitterSigma > 0 ? base * Math.exp(c.jitterSigma * rng.normal()) : base;
    if (this.#clogged) latency += this.#clogMs[from] + this.#clogMs[to];
    const reordered = c.reorder > 0 && rng.float() < c.reorder;
    if (reordered) latency += rng.float() * 2 * base;
    let arrival: number;
    if (reordered) {
      // A reordered message bypasses both FIFO and the downlink queue (which is planned in send
      // order and would otherwise put it back in line).
      arrival = txEnd + latency + (size * 1000) / this.#downRate[to];
    } else {
      arrival = this.#download(to, txEnd + latency, size);
      if (link.lastArrival > arrival) arrival = link.lastArrival;
      link.lastArrival = arrival;
    }
    out.copies = 1;
    out.first = arrival;
    if (c.duplicate > 0 && rng.float() < c.duplicate) {
      out.copies = 2;
      out.second = this.#download(to, arrival + rng.float() * 2 * base, size);
    }
    return out;
  }

  #download(to: number, start: number, size: number): number {
    const begin = Math.max(start, this.#downFreeAt[to]);
    const end = begin + (size * 1000) / this.#downRate[to];
    this.#downFreeAt[to] = end;
    return end;
  }
}
