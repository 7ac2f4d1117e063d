/**
 * State, configuration, protocol types and invariants of the router actor (see `step.ts` for
 * how it moves).
 *
 * @module
 */

import type { NodeId } from "../../core/actor.ts";
import { assert } from "../../core/assert.ts";
import {
  RELAY_ENVELOPE_BYTES_MAX,
  ROUTE_BANDWIDTH_SHARE_MAX,
  ROUTE_MISSED_PINGS_MAX,
  ROUTE_PING_MS,
  ROUTE_QUEUE_BYTES_MAX,
  ROUTE_QUEUE_FRAMES_MAX,
  ROUTER_BANDWIDTH_BYTES_PER_SEC,
  ROUTER_QUEUE_BYTES_MAX,
  ROUTER_REACH_CHECKS_PER_MINUTE,
  ROUTER_ROUTES_MAX,
} from "../../core/limits.ts";
import type { Message } from "../../core/protocol/mod.ts";
import type { RelayRefusal } from "../../core/protocol/relay.ts";
import { TimerTable } from "../../core/timers.ts";
import { type Bucket, bucket, bucketSane, readyAtMs } from "./_bucket.ts";
import { type HeapSlot, SlotHeap } from "./_heap.ts";

/** Commands from the router's own operator: a snapshot, or stop taking new work. */
export type RouterCommand = { type: "status" } | { type: "close" };

/** What the router has done since it started (the `status` notice carries a copy). */
export interface RouterCounters {
  /** Routes added, refreshed by a repeated register, released by their node. */
  routesAdded: number;
  routesRefreshed: number;
  routesReleased: number;
  /** Routes dropped after {@link ROUTE_MISSED_PINGS_MAX} unanswered pings in a row. */
  routesDropped: number;
  /** Registrations answered `full` (the table was at its maximum) or `refused` while closing. */
  routesFull: number;
  routesRefusedClosing: number;
  /** Requests refused for their link's key: another key than the route's, or none at all. */
  authRefused: number;
  /** Envelopes passed on, and their bytes. */
  relayedFrames: number;
  relayedBytes: number;
  /** Envelopes that waited in a queue before they went. */
  queuedFrames: number;
  /** Most bytes and frames ever waiting in all queues together. */
  queuedPeakBytes: number;
  queuedPeakFrames: number;
  /** Envelopes accepted but never passed on: their route went away first. */
  droppedFrames: number;
  droppedBytes: number;
  /** Relays refused, by reason. */
  refused: Record<RelayRefusal, number>;
  pingsSent: number;
  /** Pongs that kept a route, and pongs with a nonce not outstanding (late or made up). */
  pongs: number;
  pongsStale: number;
  /** Reachability checks dialed back, and answered `busy` (over the budget). */
  reachProbed: number;
  reachBusy: number;
  /** Messages a router does not take, or with a name no host should hand over. */
  unexpected: number;
}

/** A snapshot of the router, answering the `status` command. */
export interface RouterStatus {
  type: "status";
  name: NodeId;
  closing: boolean;
  routes: number;
  queuedBytes: number;
  queuedFrames: number;
  counters: RouterCounters;
  limits: RouterOptions;
}

/** What the router tells its operator. */
export type RouterNotice = RouterStatus;

/** The router's protocol: every message in (most are not its own), no jobs, no disk. */
export interface RouterProtocol {
  message: Message;
  job: never;
  jobResult: never;
  command: RouterCommand;
  notice: RouterNotice;
}

/** Everything that configures one router; only `name` is required. */
export interface RouterConfig {
  /** The router's node name. */
  name: NodeId;
  /** Relay bandwidth for everyone together, bytes per second. */
  bandwidthBytesPerSec?: number;
  /** Share of the bandwidth one route may take, in (0, 1]. */
  routeShare?: number;
  /** Most routes held at once. */
  routesMax?: number;
  /** Largest envelope passed on. */
  envelopeBytesMax?: number;
  /** Bounds of one route's queue, and of all queues together. */
  routeQueueBytesMax?: number;
  routeQueueFramesMax?: number;
  queueBytesMax?: number;
  /** Time between two pings of a route (told to the node at registration). */
  pingMs?: number;
  /** Unanswered pings in a row that drop a route. */
  missedPingsMax?: number;
  /** Dial-backs per minute, for everyone together. */
  reachChecksPerMinute?: number;
  /** Most envelopes passed on, and most routes pinged, by one step (the rest stays due). */
  workPerStepMax?: number;
}

/** {@link RouterConfig} with every default filled in. */
export type RouterOptions = Required<RouterConfig>;

/** Default configuration of a router: the limits of `core/limits.ts`. */
export const ROUTER_DEFAULTS: Omit<RouterOptions, "name"> = {
  bandwidthBytesPerSec: ROUTER_BANDWIDTH_BYTES_PER_SEC,
  routeShare: ROUTE_BANDWIDTH_SHARE_MAX,
  routesMax: ROUTER_ROUTES_MAX,
  envelopeBytesMax: RELAY_ENVELOPE_BYTES_MAX,
  routeQueueBytesMax: ROUTE_QUEUE_BYTES_MAX,
  routeQueueFramesMax: ROUTE_QUEUE_FRAMES_MAX,
  queueBytesMax: ROUTER_QUEUE_BYTES_MAX,
  pingMs: ROUTE_PING_MS,
  missedPingsMax: ROUTE_MISSED_PINGS_MAX,
  reachChecksPerMinute: ROUTER_REACH_CHECKS_PER_MINUTE,
  workPerStepMax: 1024,
};

/** An envelope waiting for its route's bandwidth, with its authenticated sender. */
export interface Queued {
  from: NodeId;
  envelope: Uint8Array;
}

/** One route: a node reachable through this router, pinned to the key that registered it. */
export interface Route {
  readonly name: NodeId;
  readonly key: Uint8Array;
  /** Nonce of the ping not answered yet, or 0 when the last ping was answered (or none sent). */
  nonce: number;
  /** Pings in a row left unanswered. */
  missed: number;
  /** The next ping: `atMs` is when (staggered per route), in the router's ping heap always. */
  readonly ping: HeapSlot;
  /** When the head envelope may go by the route's share; in the drain heap while queued. */
  readonly drain: HeapSlot;
  /** The route's share of the bandwidth. */
  readonly bucket: Bucket;
  /** Envelopes waiting, oldest first (`null` when none ever waited, to save a little memory). */
  queue: Queued[] | null;
  queuedBytes: number;
}

/** Kinds of the router's timers. */
const TIMER_KINDS = ["drain", "ping"] as const;
/** One of {@link TIMER_KINDS}. */
export type RouterTimer = (typeof TIMER_KINDS)[number];

/** Everything one router holds (in memory only: nodes register again after a restart). */
export interface RouterState {
  readonly options: RouterOptions;
  closing: boolean;
  readonly routes: Map<NodeId, Route>;
  /** Every route by its next ping. */
  readonly pings: SlotHeap<Route>;
  /** Routes with a queue by when their head may go by their own share. */
  readonly drains: SlotHeap<Route>;
  /** The whole router's bandwidth. */
  readonly bandwidth: Bucket;
  /** Dial-backs left (one token a check). */
  readonly reach: Bucket;
  queuedBytes: number;
  queuedFrames: number;
  /** Source of heap tie-breaks and of ping nonces (both only need to be distinct). */
  seq: number;
  /** `drain`: the next envelope may go; `ping`: the ping heap's top is due. */
  readonly deadlines: TimerTable<RouterTimer>;
  readonly counters: RouterCounters;
}

/** Seconds in a minute (the reach budget is per minute, bucket rates per second). */
const MINUTE_SECONDS = 60;
/** A bandwidth bucket holds this many seconds of its rate (at least one envelope, though). */
const BURST_SECONDS = 1;

/**
 * A bandwidth bucket's capacity: one second's worth of `perSec`, but never less than the
 * largest envelope, so that a full bucket always lets any envelope through (16 MiB through a
 * route's 3 MB/s share: the bucket then needs more than 5 s to fill again).
 */
function shareCapacity(o: RouterOptions, perSec: number): number {
  return Math.max(perSec * BURST_SECONDS, o.envelopeBytesMax);
}

/** A fresh router: no routes, full buckets, nothing armed. */
export function routerState(config: RouterConfig, nowMs = 0): RouterState {
  const options: RouterOptions = { ...ROUTER_DEFAULTS, ...config };
  checkOptions(options);
  const reachPerSec = options.reachChecksPerMinute / MINUTE_SECONDS;
  return {
    options,
    closing: false,
    routes: new Map(),
    pings: new SlotHeap((r: Route) => r.ping),
    drains: new SlotHeap((r: Route) => r.drain),
    bandwidth: bucket(
      options.bandwidthBytesPerSec,
      shareCapacity(options, options.bandwidthBytesPerSec),
      nowMs,
    ),
    reach: bucket(reachPerSec, options.reachChecksPerMinute, nowMs),
    queuedBytes: 0,
    queuedFrames: 0,
    seq: 1,
    deadlines: new TimerTable(TIMER_KINDS),
    counters: zeroCounters(),
  };
}

function checkOptions(o: RouterOptions): void {
  const positive = (v: number) => Number.isFinite(v) && v > 0;
  const count = (v: number) => Number.isSafeInteger(v) && v > 0;
  if (!positive(o.bandwidthBytesPerSec)) throw new RangeError("bandwidth must be positive");
  if (!(o.routeShare > 0 && o.routeShare <= 1)) throw new RangeError("route share not in (0, 1]");
  const counts = [
    o.routesMax,
    o.envelopeBytesMax,
    o.routeQueueBytesMax,
    o.routeQueueFramesMax,
    o.queueBytesMax,
    o.pingMs,
    o.missedPingsMax,
    o.reachChecksPerMinute,
    o.workPerStepMax,
  ];
  if (!counts.every(count)) throw new RangeError("router limits must be positive integers");
}

function zeroCounters(): RouterCounters {
  return {
    routesAdded: 0,
    routesRefreshed: 0,
    routesReleased: 0,
    routesDropped: 0,
    routesFull: 0,
    routesRefusedClosing: 0,
    authRefused: 0,
    relayedFrames: 0,
    relayedBytes: 0,
    queuedFrames: 0,
    queuedPeakBytes: 0,
    queuedPeakFrames: 0,
    droppedFrames: 0,
    droppedBytes: 0,
    refused: { no_route: 0, oversized: 0, queue_full: 0, rate: 0, closing: 0 },
    pingsSent: 0,
    pongs: 0,
    pongsStale: 0,
    reachProbed: 0,
    reachBusy: 0,
    unexpected: 0,
  };
}

/** A fresh route of `name` under `key`, first pinged at `pingAtMs`. */
export function newRoute(
  state: RouterState,
  name: NodeId,
  key: Uint8Array,
  pingAtMs: number,
  nowMs: number,
): Route {
  const o = state.options;
  const perSec = o.bandwidthBytesPerSec * o.routeShare;
  return {
    name,
    key: key.slice(),
    nonce: 0,
    missed: 0,
    ping: { atMs: pingAtMs, seq: state.seq++, index: -1 },
    drain: { atMs: 0, seq: 0, index: -1 },
    bucket: bucket(perSec, shareCapacity(o, perSec), nowMs),
    queue: null,
    queuedBytes: 0,
  };
}

/** Asserts the router's invariants (see `step.ts`); throws `AssertionError` on a bug. */
export function invariants(state: RouterState): void {
  const o = state.options;
  assert(state.routes.size <= o.routesMax, "router: more routes than routesMax");
  assert(state.pings.size === state.routes.size, "router: a route is missing its ping");
  assert(state.pings.sane() && state.drains.sane(), "router: a heap is out of order");
  let bytes = 0;
  let frames = 0;
  let queued = 0;
  for (const [name, r] of state.routes) {
    assert(r.name === name && state.pings.has(r), "router: route table and ping heap disagree");
    assert(r.missed < o.missedPingsMax, "router: a dead route was kept");
    assert(bucketSane(r.bucket), "router: a route's tokens are out of range");
    const q = r.queue ?? [];
    let sum = 0;
    for (const item of q) sum += item.envelope.length;
    assert(sum === r.queuedBytes, "router: a queue's bytes do not add up");
    assert(q.length <= o.routeQueueFramesMax, "router: a queue holds too many frames");
    assert(r.queuedBytes <= o.routeQueueBytesMax, "router: a queue holds too many bytes");
    assert((q.length > 0) === state.drains.has(r), "router: a queue without a drain deadline");
    if (q.length > 0) {
      queued++;
      assert(r.drain.atMs === readyAtMs(r.bucket, q[0].envelope.length), "router: stale drain");
    }
    bytes += sum;
    frames += q.length;
  }
  assert(queued === state.drains.size, "router: the drain heap holds a route not queued");
  assert(bytes === state.queuedBytes && frames === state.queuedFrames, "router: queue totals");
  assert(state.queuedBytes <= o.queueBytesMax, "router: queues over their total bound");
  assert(bucketSane(state.bandwidth) && bucketSane(state.reach), "router: tokens out of range");
  assert(state.deadlines.at("ping") === (state.pings.top()?.ping.atMs ?? null), "router: ping");
  assert((state.deadlines.at("drain") === null) === (queued === 0), "router: drain timer");
}
