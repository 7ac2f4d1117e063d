/**
 * An in-process {@link Transport}: endpoints registered on a {@link MemoryHub} send each other
 * messages without sockets. Authenticated by construction (the hub knows who sends), as the
 * simulator's link is; same semantics as the TCP transport, checked by the same contract suite.
 *
 * Theory of operation. Each endpoint keeps one bounded {@link OutboundQueue} per peer. `send`
 * copies the message into it and schedules a microtask that delivers the queue, in order, to the
 * peer's handler; so a burst of synchronous sends fills the queue and is refused past its bounds
 * exactly as on TCP, where writes complete only as the peer reads. A paused endpoint takes
 * nothing: messages for it wait in their senders' queues until it resumes. A pair of endpoints is
 * "connected" from the first message between them until either closes; both see `onPeer` then.
 *
 * @example
 * ```ts
 * import { MemoryHub } from "./transport_memory.ts";
 * const hub = new MemoryHub();
 * const a = hub.endpoint("alice");
 * const b = hub.endpoint("bob");
 * b.onMessage((from, bytes) => console.log(from, bytes.length)); // "alice" 3
 * a.send("bob", new Uint8Array(3));
 * await Promise.resolve();
 * await a.close();
 * await b.close();
 * ```
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { NodeId } from "../core/actor.ts";
import { isNodeId } from "../core/ids.ts";
import { TRANSPORT_PEERS_MAX } from "../core/limits.ts";
import {
  createTransportCounters,
  type MessageHandler,
  OutboundQueue,
  type PeerHandler,
  type QueueLimits,
  queueLimits,
  type SendRefusal,
  type SendResult,
  type Transport,
  type TransportCounters,
} from "./transport.ts";

/** A set of in-process endpoints that can reach each other. */
export class MemoryHub {
  readonly #endpoints = new Map<NodeId, MemoryTransport>();
  readonly endpointsMax: number;

  constructor(endpointsMax = TRANSPORT_PEERS_MAX) {
    this.endpointsMax = endpointsMax;
  }

  /**
   * Registers a new endpoint named `name`. Throws `RangeError` when the name is invalid, taken by
   * an open endpoint, or the hub is full: a wiring bug of the caller.
   */
  endpoint(name: NodeId, limits: QueueLimits = {}, signingKey?: Uint8Array): MemoryTransport {
    if (!isNodeId(name)) throw new RangeError(`not a node name: ${name}`);
    if (this.#endpoints.has(name)) throw new RangeError(`endpoint ${name} is already open`);
    if (this.#endpoints.size >= this.endpointsMax) throw new RangeError("memory hub is full");
    const key = signingKey ?? nameKey(name);
    const endpoint = new MemoryTransport(this, name, limits, key);
    this.#endpoints.set(name, endpoint);
    return endpoint;
  }

  /** The open endpoint named `name`. */
  get(name: NodeId): MemoryTransport | undefined {
    return this.#endpoints.get(name);
  }

  /** Every open endpoint. */
  all(): IterableIterator<MemoryTransport> {
    return this.#endpoints.values();
  }

  /** Forgets a closed endpoint (called by its `close`). */
  remove(endpoint: MemoryTransport): void {
    if (this.#endpoints.get(endpoint.self) === endpoint) this.#endpoints.delete(endpoint.self);
  }
}

/** One node's endpoint on a {@link MemoryHub}. */
class MemoryTransport implements Transport {
  readonly self: NodeId;
  readonly counters: TransportCounters = createTransportCounters();
  readonly messageBytesMax: number;
  readonly #hub: MemoryHub;
  readonly #limits: Required<QueueLimits>;
  readonly #queues = new Map<NodeId, OutboundQueue>();
  readonly #scheduled = new Set<NodeId>();
  readonly #connected = new Set<NodeId>();
  #handler: MessageHandler | undefined;
  #peerHandler: PeerHandler | undefined;
  #queuedBytes = 0;
  #paused = false;
  #closed = false;

  /** The key peers see this endpoint's messages authenticated by. */
  readonly signingKey: Uint8Array;

  /** Use {@link MemoryHub.endpoint}. */
  constructor(hub: MemoryHub, self: NodeId, limits: QueueLimits, signingKey: Uint8Array) {
    this.#hub = hub;
    this.self = self;
    this.signingKey = signingKey;
    this.#limits = queueLimits(limits);
    this.messageBytesMax = this.#limits.messageBytesMax;
  }

  send(to: NodeId, bytes: Uint8Array): SendResult {
    if (this.#closed) return this.#refuse("closed");
    if (to === this.self || !isNodeId(to)) return this.#refuse("invalid_peer");
    if (bytes.length > this.messageBytesMax) return this.#refuse("oversized");
    let q = this.#queues.get(to);
    if (q === undefined) {
      if (this.#queues.size >= TRANSPORT_PEERS_MAX) return this.#refuse("peers_full");
      q = new OutboundQueue();
      this.#queues.set(to, q);
    }
    if (!q.fits(bytes.length, this.#limits, this.#queuedBytes)) return this.#refuse("queue_full");
    q.push(bytes.slice());
    this.#queuedBytes += bytes.length;
    this.#schedule(to);
    return { ok: true };
  }

  #refuse(reason: SendRefusal): SendResult {
    this.counters.refused[reason]++;
    return { ok: false, reason };
  }

  #schedule(to: NodeId): void {
    if (this.#scheduled.has(to)) return;
    this.#scheduled.add(to);
    queueMicrotask(() => this.#pump(to));
  }

  /** Delivers the queue for `to` while the peer is open and reading. */
  #pump(to: NodeId): void {
    this.#scheduled.delete(to);
    const q = this.#queues.get(to);
    if (this.#closed || q === undefined) return;
    const peer = this.#hub.get(to);
    if (peer === undefined) {
      this.#drop(to, q);
      return;
    }
    if (peer.#paused) return; // its resume() kicks us
    if (!this.#connected.has(to)) {
      this.#connected.add(to);
      peer.#connected.add(this.self);
      this.counters.connectionsOpened++;
      peer.counters.connectionsOpened++;
      this.#peerHandler?.(to, true);
      peer.#peerHandler?.(this.self, true);
    }
    for (let m = q.shift(); m !== undefined; m = q.shift()) {
      this.#queuedBytes -= m.length;
      this.counters.framesSent++;
      this.counters.bytesSent += m.length;
      peer.#receive(this.self, m, this.signingKey);
      if (this.#closed || peer.#closed || peer.#paused) break;
    }
    if (q.frames === 0) this.#queues.delete(to);
    else if (peer.#closed) this.#drop(to, q);
  }

  #drop(to: NodeId, q: OutboundQueue): void {
    this.#queuedBytes -= q.bytes;
    this.counters.framesDropped += q.clear();
    this.#queues.delete(to);
  }

  #receive(from: NodeId, bytes: Uint8Array, key: Uint8Array): void {
    this.counters.framesReceived++;
    this.counters.bytesReceived += bytes.length;
    if (this.#handler === undefined) this.counters.framesDropped++;
    else this.#handler(from, bytes, key);
  }

  onMessage(handler: MessageHandler): void {
    this.#handler = handler;
  }

  onPeer(handler: PeerHandler): void {
    this.#peerHandler = handler;
  }

  pending(to: NodeId): { frames: number; bytes: number } {
    const q = this.#queues.get(to);
    return { frames: q?.frames ?? 0, bytes: q?.bytes ?? 0 };
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    if (!this.#paused || this.#closed) return;
    this.#paused = false;
    for (const sender of this.#hub.all()) {
      if (sender.#queues.has(this.self)) sender.#schedule(this.self);
    }
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#hub.remove(this);
    for (const [to, q] of this.#queues) this.#drop(to, q);
    for (const name of this.#connected) {
      const peer = this.#hub.get(name);
      this.counters.connectionsClosed++;
      if (peer === undefined || !peer.#connected.delete(this.self)) continue;
      peer.counters.connectionsClosed++;
      peer.#peerHandler?.(this.self, false);
      if (peer.#queues.has(this.self)) peer.#schedule(this.self); // drops, counted
    }
    this.#connected.clear();
    return Promise.resolve();
  }
}

/** A stand-in key for an endpoint given none: SHA-256 of its name (the hub vouches for names). */
function nameKey(name: NodeId): Uint8Array {
  return new Uint8Array(createHash("sha256").update(name).digest());
}
