/**
 * The deterministic discrete-event simulator: many actors, one virtual clock, one seed.
 *
 * Theory of operation. Every node is a real actor (`core/actor.ts`) with its own state, random
 * stream (derived from the run seed and the node's index) and simulated disk. The simulator pops
 * the earliest event from its queue, advances virtual time to it, and turns it into an input for
 * one node: a delivered message, a timeout, a finished blob operation or CPU job, a command, or a
 * start. It then runs the effects the actor returned: messages are encoded with the protocol codec
 * and handed to the network model, blob operations go to the node's disk, jobs run inline through
 * the configured runner, notices and trace events go to listeners. Time jumps from event to event.
 *
 * Packets on simulated links: each directed link numbers its packets; the receiver keeps a replay
 * window and drops duplicates and packets too far behind. The link stands in for the
 * authenticated session of the real transport: with frame faults on, some frames are altered or
 * forged in flight and fail the link's frame check, and some carry garbage from an authenticated
 * but broken peer and fail to decode. Every drop is counted by reason; none reaches the actor.
 *
 * Impostors: {@link Simulator.sendImpostor} sends a message that claims some node's name but is
 * authenticated by another key (`fromKey`), from a dedicated attacker node (its own uplink,
 * links and replay windows), through the network like any other frame: encoded, queued,
 * delayed, lost, duplicated. Frame faults do not apply: the link checks out, only the key behind
 * it is wrong. At delivery the sender is asked how the target stands toward the claimed name:
 * `unpinned` (the target holds no key for it: on the real network the transport's admission,
 * which confirms a name against the ID servers, stops such a frame; here it is dropped before
 * the actor), `stale` (the relationship holds but what the frame aimed at is gone: delivered,
 * not counted) or `pinned` (delivered and counted). A counted delivery is `refused` when the
 * step that handled it emitted an `auth.refused` trace, `accepted` when it did not; a network
 * of correct actors accepts none. Impostor frames are counted apart from the honest traffic.
 *
 * NAT and routers: a node behind NAT (`network.setNat`) can send to anyone; a message to it is
 * delivered only over a session it opened: it sent to the sender within `natIdleMs` (each
 * delivery over the session keeps it open, as a real NAT's mapping is kept by traffic both
 * ways). A send with `dial` (a reachability dial-back) never passes a NAT. Without a session, a
 * message to a NATed node goes through the router its identity names ({@link SimRelay}: the
 * stand-in for the identity lookup the real transport does): the frame is sealed in an envelope
 * and handed to the router node as a `relay` message; the router actor forwards it on the
 * node's session; at delivery the envelope is opened and the inner frame reaches the actor as
 * if it came from its sender, under the sender's key. Without a router (none, or the sender is
 * that router) the message is dropped and counted (`dropNat`). Bytes are counted by path:
 * sent directly, relayed (inner frames), forwarded by routers.
 *
 * Node lifecycle: online → offline (timers stop, messages to it are dropped, its disk stays;
 * completions of its blob operations and jobs wait until it returns) → online again (it gets a
 * `start` input and its overdue timer fires) … or departed (node and disk gone for good).
 *
 * Time is in whole milliseconds: every event is scheduled at the next whole millisecond at or
 * after the model's time, so `ctx.nowMs` is an integer as a real clock's would be.
 * Clocks: each node reads virtual time plus its own skew ({@link Simulator.setClockSkew}, 0
 * unless set), as real machines' clocks disagree; the deadlines it returns are in its own clock
 * and are armed at the matching virtual time.
 *
 * Determinism: nothing here reads the wall clock or `Math.random`, iterates a hash map to decide
 * an order, or depends on anything but the seed and the calls made to it. The trace hash covers
 * every delivery (impostors' included) and every trace effect; the same seed gives the same
 * hash.
 *
 * @module
 */

import type {
  Actor,
  BlobOp,
  BlobResult,
  Input,
  NodeId,
  Protocol,
  StepContext,
  StepCrypto,
} from "../core/actor.ts";
import { NO_EFFECTS } from "../core/actor.ts";
import { assert } from "../core/assert.ts";
import type { Codec } from "../core/codec.ts";
import { simNodeId } from "../core/ids.ts";
import { SIM_NODES_MAX } from "../core/limits.ts";
import { Random, type Seed } from "../core/prng.ts";
import { acceptSequence, type ReplayWindow } from "../core/replay_window.ts";
import {
  type Companion,
  DISARM,
  type EffectPort,
  encodeMessage,
  NodeShell,
  type ShellOptions,
} from "../core/shell.ts";
import { DEFAULT_DISK, type DiskConfig, SimDisk } from "./disk.ts";
import { EventQueue } from "./event_queue.ts";
import { Metrics } from "./metrics.ts";
import { DEFAULT_NETWORK, type LinkTiming, Network, type NetworkConfig } from "./network.ts";
import { checksum32, TraceHash } from "./trace_hash.ts";

/** Node status. */
export type NodeStatus = "online" | "offline" | "departed";

/** Link-level fault injection: probabilities per sent frame. */
export interface FrameFaults {
  /** A bit of the frame is flipped in flight (the link's frame check must catch it). */
  alter: number;
  /** A forged copy claiming the same sender is injected (fails the frame check). */
  forge: number;
  /** The sender's payload is replaced by random bytes under a valid frame check. */
  garbage: number;
}

/** A job's outcome as the configured runner reports it. */
export interface JobOutcome<R> {
  result: R;
  /** Simulated CPU time, in ms, before the result is delivered (0 by default). */
  costMs?: number;
}

/** Everything that configures a run besides the nodes. */
export interface SimConfig<P extends Protocol> {
  seed: Seed;
  codec: Codec<P["message"]>;
  network?: Partial<NetworkConfig>;
  disk?: Partial<DiskConfig>;
  faults?: Partial<FrameFaults>;
  /** Runs CPU jobs inline. Required if any actor emits `job` effects. */
  runJob?: (job: P["job"], node: SimNode<P>) => JobOutcome<P["jobResult"]>;
  /** Creates a node's crypto on first use. Required if any actor touches `ctx.crypto`. */
  cryptoFor?: (node: SimNode<P>) => StepCrypto;
  /**
   * The raw Ed25519 key node `node` authenticates its links with, asked once when it is added;
   * receivers see it as `fromKey`. Without it every node's messages carry `fromKey` null.
   */
  keyFor?: (node: SimNode<P>) => Uint8Array | null;
  /** Called for every `notice` effect. */
  onNotice?: (node: SimNode<P>, notice: P["notice"], sim: Simulator<P>) => void;
  /** Called for every `trace` effect, for logs; the hash covers them either way. */
  onTrace?: (node: SimNode<P>, event: string, detail: Record<string, unknown> | undefined) => void;
  /** Call `invariants` after steps at all (default true). */
  checkInvariants?: boolean;
  /**
   * Call them after every `checkEvery`-th step of each node (default 1: every step); with more,
   * call {@link Simulator.checkAll} at the end so that nothing goes unchecked in the end state.
   */
  checkEvery?: number;
  /** How nodes behind NAT are reached (see the module header); without it NAT only drops. */
  relay?: SimRelay<P>;
  /** How long a NAT keeps a session open without traffic, in ms (default 5 min). */
  natIdleMs?: number;
}

/** How the simulator reaches nodes behind NAT through routers (see the module header). */
export interface SimRelay<P extends Protocol> {
  /** The router `target`'s identity names now (`relay://<router>`), or `null`. */
  contactOf(target: SimNode<P>): NodeId | null;
  /** Whether `node` is a router: what it sends is counted as forwarded, never wrapped. */
  isRouter(node: SimNode<P>): boolean;
  /** The message that asks the router to pass `frame` (sealed) from `from` to `to`. */
  wrap(from: SimNode<P>, to: SimNode<P>, frame: Uint8Array): P["message"];
  /**
   * `message`, delivered to `node`, opened: `undefined` if it is not a relayed envelope, `null`
   * if it is one that does not open or does not verify, else its sender's name and inner frame.
   */
  open(
    node: SimNode<P>,
    message: P["message"],
  ): { from: NodeId; frame: Uint8Array } | null | undefined;
}

/** Default of {@link SimConfig.natIdleMs}. */
const NAT_IDLE_MS = 5 * 60_000;

/**
 * One simulated node. `S` is its actor's state: {@link Simulator.addNode} returns the node
 * typed by the actor it was given; a node taken from {@link Simulator.nodes} has `unknown`
 * state, which a caller narrows by its role (`node.state as CustomerState`).
 */
export interface SimNode<P extends Protocol, S = unknown> {
  readonly index: number;
  readonly id: NodeId;
  readonly role: string;
  readonly actor: Actor<S, P>;
  /** The actor's state (the shell's: reading or replacing it here is the same). */
  state: S;
  /** The shell that steps it (`core/shell.ts`). */
  readonly shell: NodeShell<S, P>;
  readonly random: Random;
  /** Stream for the node's secrets (`ctx.secret`): derived from the seed like the others. */
  readonly secret: Random;
  /** The key its links are authenticated by (see {@link SimConfig.keyFor}). */
  signingKey: Uint8Array | null;
  status: NodeStatus;
  /** Created on first blob operation. */
  disk: SimDisk | null;
  crypto: StepCrypto | null;
  /** Completions that arrived while offline, delivered when the node returns. */
  held: Input<P>[] | null;
  /** Generation of the armed timer event; an event of an older one is stale. */
  timerGen: number;
  /** Outgoing links that have carried traffic, by recipient index. */
  links: Map<number, SimLink> | null;
  /** Bumped by {@link Simulator.restart}: completions of an earlier incarnation are dropped. */
  incarnation: number;
  /** How far its clock is ahead of virtual time, in ms (>= 0). */
  readonly skewMs: number;
}

/** One directed link: network timing, the sender's sequence, the receiver's replay window. */
interface SimLink extends LinkTiming, ReplayWindow {
  sendSeq: number;
  /** When the sender last sent on it, or a session over it was used (NAT mappings). */
  lastSentMs: number;
}

/** A failure of the simulation itself (a bug): carries what is needed to reproduce it. */
export class SimulationError extends Error {
  override name = "SimulationError";
  constructor(
    message: string,
    readonly seed: Seed,
    readonly atMs: number,
    override readonly cause?: unknown,
  ) {
    super(`${message} (seed ${JSON.stringify(seed)}, at ${atMs.toFixed(3)} ms virtual)`);
  }
}

const enum Kind {
  Deliver,
  Timer,
  Io,
  Job,
  Call,
  Impostor,
}

/** How the target of an impostor frame stands toward the name it claims, at delivery. */
export type ImpostorStanding = "pinned" | "stale" | "unpinned";

/** What became of one impostor frame (see {@link Simulator.sendImpostor}). */
export type ImpostorOutcome = "refused" | "accepted" | "stale" | "unpinned" | "dropped";

/** A message an impostor sends: it claims `from`, its link is authenticated by `fromKey`. */
export interface ImpostorFrame<P extends Protocol> {
  to: NodeId;
  /** The name claimed. */
  from: NodeId;
  /** The key the impostor's link is authenticated by (the receiver's `fromKey`). */
  fromKey: Uint8Array | null;
  message: P["message"];
  /** Asked at delivery, before the actor sees the frame (default: always `pinned`). */
  standing?: (target: SimNode<P>) => ImpostorStanding;
  /** Told once what became of the frame. */
  onOutcome?: (outcome: ImpostorOutcome) => void;
}

/** An impostor frame in flight; both copies of a duplicated frame share it. */
interface ImpostorInFlight<P extends Protocol> {
  frame: Uint8Array;
  spec: ImpostorFrame<P>;
  settled: boolean;
}

interface SimEvent {
  t: number;
  seq: number;
  kind: Kind;
  node: number;
  /** Deliver: sender index. Timer: generation. Io/Job: effect id. */
  a: number;
  /** Deliver: link sequence number. Io/Job: the node's incarnation. */
  b: number;
  /** Deliver: frame bytes. Io: result. Job: result. Call: callback. */
  payload: unknown;
  /** Deliver: frame check value (when frame faults are on). */
  check: number;
  /** Deliver: the link it travels on. */
  link: SimLink | null;
}

/** Counters the hot path keeps as fields; published into {@link Simulator.metrics} on demand. */
export interface SimCounters {
  events: number;
  steps: number;
  sent: number;
  delivered: number;
  bytesSent: number;
  dropLoss: number;
  dropPartition: number;
  dropOffline: number;
  dropUnroutable: number;
  dropReplay: number;
  dropFrameCheck: number;
  dropMalformed: number;
  duplicates: number;
  /** Impostor frames handed to the network (none of them is in `sent` or `delivered`). */
  impostorSent: number;
  /** Impostor frames delivered to a target that pins the claimed name. */
  impostorDelivered: number;
  /** Of those, handled by a step that emitted `auth.refused`. */
  impostorRefused: number;
  /** Of those, handled by a step that did not: each one is a hole. */
  impostorAccepted: number;
  /** Delivered, but what they aimed at was gone; not counted above. */
  impostorStale: number;
  /** Dropped at delivery: the target pins no key for the name (admission stops these). */
  impostorUnpinned: number;
  /** Lost, partitioned, to an offline node, or behind the replay window. */
  impostorDropped: number;
  /** Writes and deletes in flight at a crash that the disk undid. */
  writesLost: number;
  /** Writes in flight at a crash that left a prefix of their bytes. */
  writesTorn: number;
  /** Messages to a node behind NAT with no session open and no router to go through. */
  dropNat: number;
  /** Bytes nodes other than routers sent directly (every frame, routers' own excepted). */
  bytesDirect: number;
  /** Messages sealed and handed to a router, and their inner frames' bytes. */
  relayWrapped: number;
  relayBytes: number;
  /** Bytes routers sent (their forwards, mostly). */
  bytesRouted: number;
  /** Relayed envelopes opened at their recipient, and ones that did not open or verify. */
  relayOpened: number;
  relayRejected: number;
}

export class Simulator<P extends Protocol> {
  readonly seed: Seed;
  readonly metrics = new Metrics();
  readonly trace = new TraceHash();
  readonly network: Network;
  readonly nodes: SimNode<P>[] = [];
  readonly counters: SimCounters = {
    events: 0,
    steps: 0,
    sent: 0,
    delivered: 0,
    bytesSent: 0,
    dropLoss: 0,
    dropPartition: 0,
    dropOffline: 0,
    dropUnroutable: 0,
    dropReplay: 0,
    dropFrameCheck: 0,
    dropMalformed: 0,
    duplicates: 0,
    impostorSent: 0,
    impostorDelivered: 0,
    impostorRefused: 0,
    impostorAccepted: 0,
    impostorStale: 0,
    impostorUnpinned: 0,
    impostorDropped: 0,
    writesLost: 0,
    writesTorn: 0,
    dropNat: 0,
    bytesDirect: 0,
    relayWrapped: 0,
    relayBytes: 0,
    bytesRouted: 0,
    relayOpened: 0,
    relayRejected: 0,
  };
  #now = 0;
  readonly #queue = new EventQueue<SimEvent>();
  readonly #byId = new Map<NodeId, number>();
  readonly #config: SimConfig<P>;
  readonly #disk: DiskConfig;
  #faults: FrameFaults;
  #faultsOn: boolean;
  readonly #random: Random;
  /** Calls to make once a node next starts a tracked write (see {@link onNextWrite}). */
  readonly #onWrite = new Map<number, (sim: Simulator<P>) => void>();
  /** Draws what a crash does to writes in flight (made on the first crash that can hurt). */
  #crashRandom: Random | null = null;
  readonly #check: boolean;
  readonly #ctx: {
    nowMs: number;
    random: Random;
    secret: Random;
    self: NodeId;
    crypto: StepCrypto;
  };
  #ctxNode: SimNode<P> | null = null;
  /** `auth.refused` trace effects applied so far (read around an impostor's delivery). */
  #refusals = 0;
  #watch: ((from: SimNode<P>, to: NodeId, message: P["message"]) => void) | null = null;
  readonly #natIdleMs: number;

  constructor(config: SimConfig<P>) {
    this.seed = config.seed;
    this.#config = config;
    this.#random = Random.stream(config.seed, "simulator");
    this.network = new Network(
      { ...DEFAULT_NETWORK, ...config.network },
      Random.stream(config.seed, "network"),
    );
    this.#disk = { ...DEFAULT_DISK, ...config.disk };
    this.#faults = { alter: 0, forge: 0, garbage: 0, ...config.faults };
    this.#faultsOn = this.#faults.alter + this.#faults.forge + this.#faults.garbage > 0;
    this.#check = config.checkInvariants ?? true;
    this.#natIdleMs = config.natIdleMs ?? NAT_IDLE_MS;
    const cryptoOfCurrent = () => this.#cryptoOf(this.#ctxNode!);
    this.#ctx = {
      nowMs: 0,
      random: this.#random,
      secret: this.#random,
      self: "",
      get crypto(): StepCrypto {
        return cryptoOfCurrent();
      },
    };
  }

  /** Current virtual time in ms. */
  get nowMs(): number {
    return this.#now;
  }

  /** Number of pending events. */
  get pending(): number {
    return this.#queue.size;
  }

  /**
   * Adds a node running `actor` from `state`; it boots (gets `start`) at the current time.
   * Its name is `n<index>` unless `id` is given; `companion` runs beside it (`core/shell.ts`).
   */
  addNode<S>(
    role: string,
    actor: Actor<S, P>,
    state: S,
    id?: NodeId,
    companion?: Companion<P>,
  ): SimNode<P, S> {
    const index = this.nodes.length;
    assert(index < SIM_NODES_MAX, `more than ${SIM_NODES_MAX} nodes`);
    const name = id ?? simNodeId(index);
    assert(!this.#byId.has(name), `duplicate node name ${name}`);
    const random = Random.stream(this.seed, `node:${index}`);
    const shell = {
      actor,
      state,
      codec: this.#config.codec,
      checkInvariants: this.#check,
      checkEvery: this.#config.checkEvery,
      companion,
    };
    const secret = Random.stream(this.seed, `secret:${index}`);
    const node = new NodeRecord<P, S>(index, name, role, shell, random, secret);
    node.signingKey = this.#config.keyFor?.(node) ?? null;
    this.nodes.push(node);
    this.#byId.set(name, index);
    this.network.addNode(index, random.fork("bandwidth"));
    this.#traceEvent(index, "node_added");
    this.#guard(node, { kind: "start" });
    return node;
  }

  /**
   * Sets how far `node`'s clock is ahead of virtual time, in whole ms. Its `ctx.nowMs` and
   * timeouts read virtual time plus the skew; the deadlines it returns are in its own clock and
   * are armed at the matching virtual time. Virtual time is the slowest clock (skews are >= 0):
   * what matters is how far clocks differ, and no actor's clock reads before 0, which a real
   * clock never does either (times go on the wire unsigned).
   */
  setClockSkew(node: SimNode<P>, skewMs: number): void {
    assert(
      Number.isSafeInteger(skewMs) && skewMs >= 0,
      "a clock skew is a whole number of ms >= 0",
    );
    (node as NodeRecord<P>).skewMs = skewMs;
    if (node.status !== "online") return;
    node.timerGen++; // the armed timer was set for the old clock
    node.shell.forgetTimer();
    const arm = node.shell.rearm(this.#now + skewMs);
    if (arm !== null && arm !== DISARM) this.#arm(node, arm - skewMs);
  }

  /** Changes the frame faults from now on. */
  setFaults(change: Partial<FrameFaults>): void {
    this.#faults = { ...this.#faults, ...change };
    this.#faultsOn = this.#faults.alter + this.#faults.forge + this.#faults.garbage > 0;
  }

  /** Changes the probability that a disk operation fails, on every disk, from now on. */
  setDiskFailure(failure: number): void {
    this.#disk.failure = failure;
  }

  /**
   * Calls `fn` right after `node` next starts a write or delete its disk tracks (one the disk's
   * crash faults can hurt), before that operation completes: a crash scheduled this way finds
   * the write in flight. Replaces an earlier call for the same node.
   */
  onNextWrite(node: SimNode<P>, fn: (sim: Simulator<P>) => void): void {
    this.#onWrite.set(node.index, fn);
  }

  /** Changes what crashes do to writes in flight, on every disk, from now on. */
  setCrashDamage(lostWrite: number, tornWrite: number): void {
    this.#disk.lostWrite = lostWrite;
    this.#disk.tornWrite = tornWrite;
  }

  /** The node's disk, created (empty, with the run's disk configuration) on first use. */
  diskOf(node: SimNode<P>): SimDisk {
    if (node.disk === null) node.disk = new SimDisk(this.#disk);
    return node.disk;
  }

  /**
   * Runs every node's invariants now, departed ones too (their state stays as they left it):
   * the end-of-run check of a simulator that samples them (`checkEvery` above 1). A violation
   * is a {@link SimulationError} naming the node.
   */
  checkAll(): void {
    if (!this.#check) return;
    for (const node of this.nodes) {
      try {
        (node as NodeRecord<P>).check();
      } catch (e) {
        throw this.#wrap(e, `node ${node.id} (${node.role}) failed its final check`);
      }
    }
  }

  /** The node named `id`, if it was ever added. */
  node(id: NodeId): SimNode<P> | undefined {
    const i = this.#byId.get(id);
    return i === undefined ? undefined : this.nodes[i];
  }

  /** Takes a node offline: its timers stop and messages to it are dropped; its disk survives. */
  setOffline(node: SimNode<P>): void {
    if (node.status !== "online") return;
    node.status = "offline";
    node.held = [];
    this.#traceEvent(node.index, "offline");
  }

  /** Brings an offline node back: it gets `start`, held completions, and overdue timers. */
  setOnline(node: SimNode<P>): void {
    if (node.status !== "offline") return;
    node.status = "online";
    this.#traceEvent(node.index, "online");
    const held = node.held ?? [];
    node.held = null;
    this.#guard(node, { kind: "start" });
    for (const input of held) if (node.status === "online") this.#guard(node, input);
  }

  /**
   * The node's process dies and starts again from `state` (what it kept in memory is lost, its
   * disk is not): pending completions and timers of the old process are dropped, then it gets
   * `start`. An offline node restarts when it comes back.
   */
  restart(node: SimNode<P>, state: unknown): void {
    if (node.status === "departed") return;
    if (node.disk !== null && node.disk.inFlight > 0) {
      this.#crashRandom ??= Random.stream(this.seed, "disk-crash");
      const damage = node.disk.crash(this.#crashRandom);
      this.counters.writesLost += damage.lost;
      this.counters.writesTorn += damage.torn;
    }
    node.shell.reset(state);
    node.incarnation++;
    node.timerGen++;
    this.#traceEvent(node.index, "restarted");
    if (node.status === "offline") {
      node.held = [];
      return;
    }
    this.#guard(node, { kind: "start" });
  }

  /** The node leaves for good: state and disk are gone, its name never answers again. */
  depart(node: SimNode<P>): void {
    if (node.status === "departed") return;
    node.status = "departed";
    node.disk = null;
    node.held = null;
    node.timerGen++;
    node.shell.forgetTimer();
    this.#traceEvent(node.index, "departed");
  }

  /** Schedules `fn` at virtual time `atMs` (not before now). Runs in seed-determined order. */
  at(atMs: number, fn: (sim: Simulator<P>) => void): void {
    this.#push(Kind.Call, Math.max(atMs, this.#now), -1, 0, 0, fn, 0, null);
  }

  /** Delivers a command from the node's own user now (as an event, after the current one). */
  command(node: SimNode<P>, command: P["command"]): void {
    this.at(this.#now, () => {
      if (node.status === "online") this.#guard(node, { kind: "command", command });
    });
  }

  /**
   * Adds the node impostor frames leave from: a node of the network (its uplink, latency and
   * partition group are modelled) that runs no protocol and is never churned.
   */
  addAttacker(id: NodeId = "impostor"): SimNode<P> {
    return this.addNode("attacker", INERT_ACTOR as Actor<null, P>, null, id);
  }

  /**
   * Sends `frame` from `attacker` (see {@link addAttacker}) to `frame.to`, claiming the name
   * `frame.from` under the key `frame.fromKey`; see the module header for what is counted.
   */
  sendImpostor(attacker: SimNode<P>, frame: ImpostorFrame<P>): void {
    const target = this.#byId.get(frame.to);
    const c = this.counters;
    c.impostorSent++;
    if (target === undefined || this.nodes[target].status === "departed") {
      this.#settle({ frame: EMPTY_FRAME, spec: frame, settled: false }, "dropped");
      return;
    }
    const bytes = encodeMessage(this.#config.codec, frame.message);
    const flight: ImpostorInFlight<P> = { frame: bytes, spec: frame, settled: false };
    const link = this.#linkOf(attacker, target);
    const seq = link.sendSeq++;
    const plan = this.network.transmit(attacker.index, target, bytes.length, this.#now, link);
    if (plan.copies === 0) {
      this.#settle(flight, "dropped");
      return;
    }
    this.#push(Kind.Impostor, plan.first, target, attacker.index, seq, flight, 0, link);
    if (plan.copies === 2) {
      this.#push(Kind.Impostor, plan.second, target, attacker.index, seq, flight, 0, link);
    }
  }

  /**
   * Shows `watch` every message a node sends, as it leaves (an attacker watching the traffic);
   * `null` stops it. `watch` may send impostor frames, nothing else.
   */
  watchSends(watch: ((from: SimNode<P>, to: NodeId, message: P["message"]) => void) | null) {
    this.#watch = watch;
  }

  /** Runs events until virtual time `untilMs` (inclusive) or until none are left. */
  runUntil(untilMs: number, maxEvents = Infinity): void {
    const queue = this.#queue;
    let budget = maxEvents;
    while (budget-- > 0) {
      const next = queue.peek();
      if (next === undefined || next.t > untilMs) break;
      queue.pop();
      this.#now = next.t;
      this.counters.events++;
      this.#dispatch(next);
    }
    if (queue.size === 0 || queue.peek()!.t > untilMs) this.#now = Math.max(this.#now, untilMs);
  }

  /** Runs until the queue is empty or `maxEvents` events have run; returns whether it emptied. */
  runUntilIdle(maxEvents = 10_000_000): boolean {
    this.runUntil(Infinity, maxEvents);
    return this.#queue.size === 0;
  }

  /** Publishes the hot-path counters into {@link metrics} and returns a snapshot. */
  snapshotMetrics(): Record<string, number> {
    for (const [key, value] of Object.entries(this.counters)) this.metrics.set(`sim.${key}`, value);
    return this.metrics.snapshot();
  }

  // -------------------------------------------------------------------------------------------

  #push(
    kind: Kind,
    t: number,
    node: number,
    a: number,
    b: number,
    payload: unknown,
    check: number,
    link: SimLink | null,
  ): void {
    // Virtual time advances in whole milliseconds, like a real clock: actors see integer times.
    this.#queue.push({ t: Math.ceil(t), seq: 0, kind, node, a, b, payload, check, link });
  }

  #dispatch(ev: SimEvent): void {
    switch (ev.kind) {
      case Kind.Deliver:
        return this.#deliver(ev);
      case Kind.Timer:
        return this.#timer(ev);
      case Kind.Io:
      case Kind.Job: {
        const node = this.nodes[ev.node];
        if (ev.kind === Kind.Io && ev.check !== 0) node.disk?.synced(ev.check);
        if (ev.b !== node.incarnation) return; // issued before a restart: the process is gone
        const input: Input<P> = ev.kind === Kind.Io
          ? { kind: "io_done", id: ev.a, result: ev.payload as BlobResult }
          : { kind: "job_done", id: ev.a, result: ev.payload as P["jobResult"] };
        if (node.status === "online") this.#guard(node, input);
        else if (node.status === "offline") node.held!.push(input);
        return;
      }
      case Kind.Impostor:
        return this.#deliverImpostor(ev);
      case Kind.Call:
        try {
          (ev.payload as (sim: Simulator<P>) => void)(this);
        } catch (e) {
          throw this.#wrap(e, "scheduled call failed");
        }
        return;
    }
  }

  #deliver(ev: SimEvent): void {
    const node = this.nodes[ev.node];
    const from = ev.a;
    if (node.status !== "online") {
      this.counters.dropOffline++;
      return;
    }
    if (!this.network.connected(from, ev.node)) {
      this.counters.dropPartition++;
      return;
    }
    const frame = ev.payload as Uint8Array;
    if (this.#faultsOn && checksum32(frame) !== ev.check) {
      this.counters.dropFrameCheck++;
      return;
    }
    if (!acceptSequence(ev.link!, ev.b)) {
      this.counters.dropReplay++;
      return;
    }
    const message = node.shell.decode(frame);
    if (message === undefined) {
      this.counters.dropMalformed++;
      return;
    }
    this.counters.delivered++;
    const trace = this.trace;
    trace.number(ev.t);
    trace.word(from);
    trace.word(ev.node);
    trace.bytes(frame);
    const relay = this.#config.relay;
    const opened = relay === undefined ? undefined : relay.open(node, message);
    if (opened !== undefined) return this.#deliverOpened(node, opened);
    const sender = this.nodes[from];
    this.#guard(node, {
      kind: "message",
      from: sender.id,
      fromKey: sender.signingKey,
      message,
    });
  }

  /** A relayed envelope, opened: its inner message reaches the actor from its sender. */
  #deliverOpened(node: SimNode<P>, opened: { from: NodeId; frame: Uint8Array } | null): void {
    const c = this.counters;
    const sender = opened === null ? undefined : this.#byId.get(opened.from);
    if (opened === null || sender === undefined) {
      c.relayRejected++;
      return;
    }
    const message = node.shell.decode(opened.frame);
    if (message === undefined) {
      c.dropMalformed++;
      return;
    }
    c.relayOpened++;
    const from = this.nodes[sender];
    this.#guard(node, { kind: "message", from: from.id, fromKey: from.signingKey, message });
  }

  #deliverImpostor(ev: SimEvent): void {
    const flight = ev.payload as ImpostorInFlight<P>;
    if (flight.settled) return; // the second copy of a duplicated frame
    const node = this.nodes[ev.node];
    if (
      node.status !== "online" || !this.network.connected(ev.a, ev.node) ||
      !acceptSequence(ev.link!, ev.b)
    ) {
      return this.#settle(flight, "dropped");
    }
    const spec = flight.spec;
    const standing = spec.standing?.(node) ?? "pinned";
    if (standing === "unpinned") return this.#settle(flight, "unpinned");
    // The attacker's own messages: one that does not decode is a bug of the workload.
    const message = node.shell.decode(flight.frame);
    assert(message !== undefined, "an impostor frame does not decode");
    const trace = this.trace;
    trace.number(ev.t);
    trace.word(ev.a);
    trace.word(ev.node);
    trace.string(spec.from);
    if (spec.fromKey !== null) trace.bytes(spec.fromKey);
    trace.bytes(flight.frame);
    const before = this.#refusals;
    this.#guard(node, {
      kind: "message",
      from: spec.from,
      fromKey: spec.fromKey,
      message,
    });
    if (standing === "stale") return this.#settle(flight, "stale");
    this.#settle(flight, this.#refusals > before ? "refused" : "accepted");
  }

  #settle(flight: ImpostorInFlight<P>, outcome: ImpostorOutcome): void {
    flight.settled = true;
    const c = this.counters;
    switch (outcome) {
      case "refused":
        c.impostorDelivered++;
        c.impostorRefused++;
        break;
      case "accepted":
        c.impostorDelivered++;
        c.impostorAccepted++;
        break;
      case "stale":
        c.impostorStale++;
        break;
      case "unpinned":
        c.impostorUnpinned++;
        break;
      case "dropped":
        c.impostorDropped++;
        break;
    }
    this.trace.string(outcome);
    flight.spec.onOutcome?.(outcome);
  }

  #timer(ev: SimEvent): void {
    const node = this.nodes[ev.node];
    if (ev.a !== node.timerGen) return; // superseded
    if (node.status !== "online") {
      node.shell.forgetTimer(); // re-armed when it comes back
      return;
    }
    const local = this.#now + node.skewMs;
    const fired = node.shell.fired(local);
    if (fired === true) this.#guard(node, { kind: "timeout", nowMs: local });
    else if (fired !== null) this.#arm(node, fired - node.skewMs);
  }

  #arm(node: SimNode<P>, atMs: number): void {
    node.timerGen++;
    this.#push(Kind.Timer, atMs, node.index, node.timerGen, 0, null, 0, null);
  }

  /** Runs one step, turning an unexpected exception into a {@link SimulationError}. */
  #guard(node: SimNode<P>, input: Input<P>): void {
    const outer = this.#current;
    this.#current = node;
    try {
      this.#step(node, input);
    } catch (e) {
      throw this.#wrap(e, `node ${node.id} (${node.role}) failed on ${input.kind}`);
    } finally {
      this.#current = outer;
    }
    const arm = node.shell.rearm(this.#now + node.skewMs);
    if (arm === null) return;
    if (arm === DISARM) node.timerGen++;
    else this.#arm(node, arm - node.skewMs);
  }

  #step(node: SimNode<P>, input: Input<P>): void {
    const ctx = this.#ctx;
    ctx.nowMs = this.#now + node.skewMs;
    ctx.random = node.random;
    ctx.secret = node.secret;
    ctx.self = node.id;
    this.#ctxNode = node;
    this.counters.steps++;
    node.shell.step(input, ctx as StepContext, this.#port);
  }

  #wrap(e: unknown, what: string): SimulationError {
    if (e instanceof SimulationError) return e;
    const detail = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    return new SimulationError(`${what}: ${detail}`, this.seed, this.#now, e);
  }

  /** The node whose step is running: the port's effects are its. */
  #current: SimNode<P> | null = null;

  /** Where every node's effects go (see `core/shell.ts`); the running node is `#current`. */
  readonly #port: EffectPort<P> = {
    send: (to, message, dial) => this.#send(this.#current!, to, message, dial === true),
    io: (id, op) => this.#io(this.#current!, id, op),
    job: (id, job) => this.#job(this.#current!, id, job),
    notice: (notice) => this.#config.onNotice?.(this.#current!, notice, this),
    trace: (event, detail) => {
      const node = this.#current!;
      if (event === AUTH_REFUSED) this.#refusals++;
      this.#traceEvent(node.index, event);
      this.#config.onTrace?.(node, event, detail);
    },
  };

  #io(node: SimNode<P>, id: number, op: BlobOp): void {
    const { result, costMs, token } = this.diskOf(node).apply(op, node.random);
    const t = this.#now + costMs;
    this.#push(Kind.Io, t, node.index, id, node.incarnation, result, token, null);
    if (token !== 0 && this.#onWrite.size > 0) {
      const hook = this.#onWrite.get(node.index);
      if (hook !== undefined) {
        this.#onWrite.delete(node.index);
        this.at(this.#now, hook); // runs before the completion, which is at least 1 ms later
      }
    }
  }

  #job(node: SimNode<P>, id: number, job: P["job"]): void {
    const runJob = this.#config.runJob;
    assert(runJob !== undefined, "an actor emitted a job but the simulation has no runJob");
    const outcome = runJob(job, node);
    const t = this.#now + (outcome.costMs ?? 0);
    this.#push(Kind.Job, t, node.index, id, node.incarnation, outcome.result, 0, null);
  }

  #send(node: SimNode<P>, to: NodeId, message: P["message"], dial = false): void {
    const target = this.#byId.get(to);
    const c = this.counters;
    if (target === undefined || this.nodes[target].status === "departed") {
      c.dropUnroutable++;
      return;
    }
    if (this.#watch !== null) this.#watch(node, to, message);
    const frame = encodeMessage(this.#config.codec, message);
    if (this.network.isNat(target) && !this.#sessionOpen(node, target, dial)) {
      return this.#sendRelayed(node, this.nodes[target], frame, dial);
    }
    this.#transmit(node, target, frame);
  }

  /** Whether `target` (behind NAT) has a session open to `node`; using it keeps it open. */
  #sessionOpen(node: SimNode<P>, target: number, dial: boolean): boolean {
    if (dial) return false;
    const back = this.nodes[target].links?.get(node.index);
    if (back === undefined || back.lastSentMs < this.#now - this.#natIdleMs) return false;
    back.lastSentMs = this.#now;
    return true;
  }

  /** `frame` to `target`, behind NAT without a session: through its router, or dropped. */
  #sendRelayed(node: SimNode<P>, target: SimNode<P>, frame: Uint8Array, dial: boolean): void {
    const c = this.counters;
    const relay = this.#config.relay;
    const router = dial || relay === undefined ? null : relay.contactOf(target);
    const via = router === null ? undefined : this.#byId.get(router);
    if (via === undefined || via === node.index || this.nodes[via].status === "departed") {
      c.dropNat++;
      return;
    }
    c.relayWrapped++;
    c.relayBytes += frame.length;
    const wrapped = encodeMessage(this.#config.codec, relay!.wrap(node, target, frame));
    this.#transmit(node, via, wrapped, true);
  }

  /** Hands an encoded frame to the network model (and the frame faults). */
  #transmit(node: SimNode<P>, target: number, frame: Uint8Array, relayed = false): void {
    const c = this.counters;
    c.sent++;
    c.bytesSent += frame.length;
    if (!relayed) {
      // A relayed frame's inner bytes are counted by the caller (`relayBytes`).
      if (this.#config.relay?.isRouter(node) === true) c.bytesRouted += frame.length;
      else c.bytesDirect += frame.length;
    }
    const link = this.#linkOf(node, target);
    link.lastSentMs = this.#now;
    const seq = link.sendSeq++;
    const plan = this.network.transmit(node.index, target, frame.length, this.#now, link);
    if (plan.copies === 0) {
      if (plan.dropped === "loss") c.dropLoss++;
      else c.dropPartition++;
      return;
    }
    let check = 0;
    if (this.#faultsOn) {
      frame = this.#injectFaults(node.index, target, frame, seq, plan.first, link);
      check = this.#lastCheck;
    }
    this.#push(Kind.Deliver, plan.first, target, node.index, seq, frame, check, link);
    if (plan.copies === 2) {
      c.duplicates++;
      this.#push(Kind.Deliver, plan.second, target, node.index, seq, frame, check, link);
    }
  }

  #linkOf(node: SimNode<P>, target: number): SimLink {
    const links = node.links ?? (node.links = new Map());
    let link = links.get(target);
    if (link === undefined) {
      const timing = this.network.link(node.index, target);
      link = { ...timing, sendSeq: 0, recvHighest: -1, recvMask: 0, lastSentMs: -Infinity };
      links.set(target, link);
    }
    return link;
  }

  #lastCheck = 0;

  /** Applies frame faults; leaves the valid frame check of the original in `#lastCheck`. */
  #injectFaults(
    from: number,
    to: number,
    frame: Uint8Array,
    seq: number,
    at: number,
    link: SimLink,
  ): Uint8Array {
    const f = this.#faults;
    const rng = this.#random;
    if (f.garbage > 0 && rng.float() < f.garbage) {
      // An authenticated peer sending nonsense: the frame check passes, decoding must not.
      frame = rng.bytes(1 + rng.int(Math.max(1, frame.length)));
    }
    this.#lastCheck = checksum32(frame);
    if (f.forge > 0 && rng.float() < f.forge) {
      const forged = rng.bytes(frame.length);
      this.#push(Kind.Deliver, at, to, from, seq, forged, rng.nextU32(), link);
    }
    if (f.alter > 0 && rng.float() < f.alter && frame.length > 0) {
      const altered = frame.slice();
      altered[rng.int(altered.length)] ^= 1 << rng.int(8);
      return altered;
    }
    return frame;
  }

  #cryptoOf(node: SimNode<P>): StepCrypto {
    if (node.crypto === null) {
      const make = this.#config.cryptoFor;
      assert(make !== undefined, "an actor used ctx.crypto but the simulation has no cryptoFor");
      node.crypto = make(node);
    }
    return node.crypto;
  }

  #traceEvent(index: number, event: string): void {
    this.trace.number(this.#now);
    this.trace.word(index);
    this.trace.string(event);
  }
}

/**
 * A {@link SimNode}: a class, so every node has one shape and its `state` costs no closure. It
 * is its own shell (one object per node, not two: 32 bytes of heap less per idle node, the
 * kernel bench's memory figure), so `actor` and `state` are the shell's own fields.
 */
class NodeRecord<P extends Protocol, S = unknown> extends NodeShell<S, P> implements SimNode<P, S> {
  signingKey: Uint8Array | null = null;
  status: NodeStatus = "online";
  disk: SimDisk | null = null;
  crypto: StepCrypto | null = null;
  held: Input<P>[] | null = null;
  timerGen = 0;
  links: Map<number, SimLink> | null = null;
  incarnation = 0;
  skewMs = 0;

  constructor(
    readonly index: number,
    readonly id: NodeId,
    readonly role: string,
    shell: ShellOptions<S, P>,
    readonly random: Random,
    readonly secret: Random,
  ) {
    super(shell);
  }

  get shell(): NodeShell<S, P> {
    return this;
  }
}

/** The trace event of an actor that refused a message whose key is not the one it pinned. */
export const AUTH_REFUSED = "auth.refused";

const EMPTY_FRAME = new Uint8Array(0);

/** The attacker's actor: it runs no protocol. */
const INERT_ACTOR: Actor<null, Protocol> = {
  step: () => NO_EFFECTS,
  nextDeadlineMs: () => null,
  invariants: () => {},
};
