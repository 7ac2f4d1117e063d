/**
 * The TCP {@link Transport}: authenticated, encrypted, bounded.
 *
 * Theory of operation. Every peer the node talks to has one record: its bounded outbound queue,
 * at most one *active* connection (authenticated, used for writes and reads), at most one dial
 * in progress, its failures in a row and a retry timer. The records are bounded by
 * {@link TRANSPORT_PEERS_MAX}; a record with nothing left in it is forgotten. A record is made
 * by `send`, or by an inbound connection once it is admitted, never earlier.
 *
 * - `send` queues the message and *kicks* the peer: with an active connection, the pump writes
 *   the queue in order, one frame at a time, each write awaited (socket back-pressure reaches the
 *   queue, and the queue's bounds reach `send`); without one, a dial starts unless one is already
 *   running or a retry is armed.
 * - A dial resolves the name (`PeerResolver`), connects to its `tcp://` contacts in order and
 *   runs the initiator's handshake (`handshake.ts`), verdict included, under `handshakeTimeoutMs`.
 *   A failure arms a retry with exponential backoff and jitter (`backoff.ts`); after
 *   `dialAttemptsMax` failures in a row the queue is dropped and counted.
 * - Inbound, in three stages, and nothing about the peer is believed before the second:
 *   1. *Unauthenticated.* An accepted socket takes a handshake slot: at most `handshakesMax` in
 *      total and `handshakesPerBlockMax` per source address block (`address.ts`: IPv4 /24, IPv6
 *      /64), else it is closed at once (`handshakes_full`, `block_handshakes_full`). It must
 *      deliver a finish whose signature verifies within `preauthTimeoutMs`, else it is closed
 *      (`handshake_timeout`). What it sends changes nothing else: no peer record, no dial, no
 *      counter other than its refusal.
 *   2. *Authenticated, not admitted.* The peer proved a key K and claims a name N. Still in its
 *      slot, it is admitted only if N means K: the key pinned for N (`resolver.lookup`) is K,
 *      or, with nothing pinned, `resolver.confirm(N, K)` says so (a real node asks its own ID
 *      servers; at most `lookupsPerBlockMax` such checks per block at once, each under
 *      `admissionTimeoutMs`). Then room: at most `connectionsPerKeyMax` connections (open or
 *      being admitted) per key, `connectionsPerBlockMax` inbound connections per block,
 *      `connectionsMax` in total, and a peer record. Then the simultaneous-dial rule below.
 *   3. *Admitted.* The responder sends its verdict, sealed under the session keys (so it cannot
 *      be forged), as the first frame of the connection; a refusal is sent the same way, with a
 *      reason, then the socket is closed. Every refusal is counted in `counters.rejected`.
 * - One connection per pair. A responder that is itself dialing the same peer refuses an
 *   admitted peer as `duplicate` when its own name is the smaller one, and otherwise abandons its
 *   own dial: so both ends keep the connection dialed by the smaller name and never write on two
 *   at once. A peer whose boot id differs from its active connection's restarted: the new
 *   connection replaces the dead one.
 * - Memory. Frames up to `TCP_CONNECTION_READ_SHARE_BYTES` are read into each connection's own
 *   staging buffer; a larger frame is read into a buffer from one {@link FrameBufferPool} that
 *   all connections share (`readBufferBytesMax`), waiting (reading nothing, so its peer feels
 *   TCP back-pressure) while the pool has no room, closed past `readBufferWaitMsMax`
 *   (`memory_full`). The buffer goes back to the pool as soon as the frame is opened (the
 *   handler gets the plaintext in a buffer of its own). So what all peers together make the
 *   node hold for incoming frames is the pool plus one share per connection.
 * - A frame that fails its tag, is replayed or out of order, truncated or oversized closes the
 *   connection and is counted; its queued messages wait for a redial. A write that fails drops
 *   the message it was writing (it may or may not have arrived: at most once).
 * - A connection that moves no bytes for `idleTimeoutMs`, or a write stuck that long (a peer
 *   that stopped reading), is closed.
 * - A failing `accept()` (out of descriptors, say) is counted (`acceptErrors`), the loop pauses
 *   briefly (doubling from `acceptRetryMs` to `acceptRetryMsMax`) and accepts again; only
 *   `close()` or a listener that is gone ends it.
 *
 * The peer's identity (its name and the key it proved) stays with each connection and with
 * every message handed to the handler, for relays to come (issue 13).
 *
 * @module
 */

import type { NodeId } from "../../core/actor.ts";
import { encodeIdentity, type IdentityDocument } from "../../core/identity.ts";
import { bytesEqual, isNodeId, toHex } from "../../core/ids.ts";
import {
  TCP_ACCEPT_RETRY_MS,
  TCP_ACCEPT_RETRY_MS_MAX,
  TCP_ADMISSION_TIMEOUT_MS,
  TCP_CONNECTIONS_MAX,
  TCP_CONNECTIONS_PER_BLOCK_MAX,
  TCP_CONNECTIONS_PER_KEY_MAX,
  TCP_DIAL_ATTEMPTS_MAX,
  TCP_FRAME_OVERHEAD_BYTES,
  TCP_HANDSHAKES_PER_BLOCK_MAX,
  TCP_INBOUND_HANDSHAKES_MAX,
  TCP_LOOKUPS_PER_BLOCK_MAX,
  TCP_PREAUTH_TIMEOUT_MS,
  TCP_READ_BUFFER_BYTES_MAX,
  TCP_READ_BUFFER_WAIT_MS_MAX,
  TRANSPORT_PEERS_MAX,
} from "../../core/limits.ts";
import { importPrivateKey } from "../../data/signing.ts";
import {
  type BindingVerdict,
  createTransportCounters,
  type InboundReject,
  type MessageHandler,
  OutboundQueue,
  parseTcpContact,
  type PeerHandler,
  type PeerInfo,
  type PeerResolver,
  type QueueLimits,
  queueLimits,
  type SendRefusal,
  type SendResult,
  type Transport,
  type TransportCounters,
} from "../transport.ts";
import { addressBlock } from "../../core/address.ts";
import { BACKOFF_BASE_MS, BACKOFF_MAX_MS, backoffDelayMs } from "./backoff.ts";
import { FrameBufferPool } from "./budget.ts";
import { closeQuietly, Connection, type ReadResult } from "./connection.ts";
import { FrameReader, writeAll } from "./frames.ts";
import {
  BOOT_ID_BYTES,
  HANDSHAKE_FAILURES,
  type HandshakeFailure,
  type HandshakeResult,
  initiate,
  type LocalIdentity,
  type RefuseReason,
  respond,
  verdictFrame,
} from "./handshake.ts";
import type { Session } from "./session.ts";

/** Default limit on a dial: connect, handshake and the responder's verdict. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Default time after which a connection without traffic, or with a stuck write, is closed. */
export const IDLE_TIMEOUT_MS = 120_000;

/** What a {@link TcpTransport} is made of. Limits default to the named maxima. */
export interface TcpTransportOptions extends QueueLimits {
  /** Our signed identity document (its name is ours). */
  identity: IdentityDocument;
  /** Our raw Ed25519 private key, matching `identity.signingKey`. */
  signingPrivateKey: Uint8Array;
  /** Where peers are, and which key each name means. */
  resolver: PeerResolver;
  /** Accepts inbound connections on it (the transport closes it); without one, dial-only. */
  listener?: Deno.Listener<Deno.TcpConn, Deno.NetAddr>;
  handshakeTimeoutMs?: number;
  /** Accept to verified finish, inbound (default {@link TCP_PREAUTH_TIMEOUT_MS}). */
  preauthTimeoutMs?: number;
  /** Longest binding check of an inbound peer (default {@link TCP_ADMISSION_TIMEOUT_MS}). */
  admissionTimeoutMs?: number;
  idleTimeoutMs?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  dialAttemptsMax?: number;
  /** Inbound connections not admitted yet (default {@link TCP_INBOUND_HANDSHAKES_MAX}). */
  handshakesMax?: number;
  handshakesPerBlockMax?: number;
  lookupsPerBlockMax?: number;
  connectionsMax?: number;
  connectionsPerBlockMax?: number;
  connectionsPerKeyMax?: number;
  readBufferBytesMax?: number;
  readBufferWaitMsMax?: number;
  acceptRetryMs?: number;
  acceptRetryMsMax?: number;
  /** Jitter source, [0, 1) (default `Math.random`). */
  random?: () => number;
  /** Clock in ms (default `Date.now`). */
  clock?: () => number;
  /** Receives trace events: handshake failures, refusals, idle closes, drops (default: none). */
  trace?: (event: string, detail?: Record<string, string | number | boolean>) => void;
  /** Receives an exception thrown by a handler (our bug); default `reportError`. */
  onFatal?: (error: unknown) => void;
}

/** An authenticated handshake with the reader that holds any bytes read past it. */
type Authenticated = HandshakeResult & { ok: true } & { reader: FrameReader };
type Outcome =
  | Authenticated
  | { ok: false; reason: HandshakeFailure | "unreachable"; detail?: string; refused?: boolean };

/** Why an authenticated inbound peer is not admitted (the first counted, all told as below). */
type AdmitRefusal = Exclude<BindingVerdict, "ok"> | "duplicate" | RoomRefusal;
type RoomRefusal =
  | "connections_full"
  | "block_connections_full"
  | "key_connections_full"
  | "peers_full";

interface Dial {
  readonly abort: AbortController;
  superseded: boolean;
}

interface Peer {
  readonly name: NodeId;
  readonly queue: OutboundQueue;
  active: Connection | undefined;
  dial: Dial | undefined;
  failures: number;
  retry: ReturnType<typeof setTimeout> | undefined;
  pumping: boolean;
}

/** What one address block holds of the inbound limits now. */
interface BlockUse {
  handshakes: number;
  lookups: number;
  connections: number;
}

type Settings = Required<
  Omit<TcpTransportOptions, "listener" | "trace" | "onFatal" | keyof QueueLimits>
>;

/** A node's TCP transport. See the module notes. */
export class TcpTransport implements Transport {
  readonly self: NodeId;
  readonly messageBytesMax: number;
  readonly counters: TransportCounters = createTransportCounters();
  /** Handshakes that failed, by reason, on either side (refusals we got included). */
  readonly handshakeFailures = Object.fromEntries(
    HANDSHAKE_FAILURES.map((r) => [r, 0]),
  ) as Record<HandshakeFailure, number>;
  /** The buffers of large incoming frames, shared by every connection within one budget. */
  readonly readPool: FrameBufferPool;
  readonly #o: Settings;
  readonly #limits: Required<QueueLimits>;
  readonly #listener: Deno.Listener<Deno.TcpConn, Deno.NetAddr> | undefined;
  readonly #trace: TcpTransportOptions["trace"];
  readonly #onFatal: (error: unknown) => void;
  readonly #peers = new Map<NodeId, Peer>();
  readonly #handshaking = new Set<Deno.Conn>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #stop = new AbortController();
  #local: LocalIdentity;
  /** Inbound connections not admitted yet. */
  #handshakes = 0;
  readonly #blocks = new Map<string, BlockUse>();
  /** Connections open or being admitted, by the hex of the key that authenticated them. */
  readonly #keys = new Map<string, number>();
  #connections = 0;
  #queuedBytes = 0;
  #handler: MessageHandler | undefined;
  #peerHandler: PeerHandler | undefined;
  #paused: { promise: Promise<void>; resolve: () => void } | undefined;
  #closed = false;

  constructor(options: TcpTransportOptions) {
    this.#limits = queueLimits(options);
    this.messageBytesMax = this.#limits.messageBytesMax;
    this.#o = {
      identity: options.identity,
      signingPrivateKey: options.signingPrivateKey,
      resolver: options.resolver,
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS,
      preauthTimeoutMs: options.preauthTimeoutMs ?? TCP_PREAUTH_TIMEOUT_MS,
      admissionTimeoutMs: options.admissionTimeoutMs ?? TCP_ADMISSION_TIMEOUT_MS,
      idleTimeoutMs: options.idleTimeoutMs ?? IDLE_TIMEOUT_MS,
      backoffBaseMs: options.backoffBaseMs ?? BACKOFF_BASE_MS,
      backoffMaxMs: options.backoffMaxMs ?? BACKOFF_MAX_MS,
      dialAttemptsMax: options.dialAttemptsMax ?? TCP_DIAL_ATTEMPTS_MAX,
      handshakesMax: options.handshakesMax ?? TCP_INBOUND_HANDSHAKES_MAX,
      handshakesPerBlockMax: options.handshakesPerBlockMax ?? TCP_HANDSHAKES_PER_BLOCK_MAX,
      lookupsPerBlockMax: options.lookupsPerBlockMax ?? TCP_LOOKUPS_PER_BLOCK_MAX,
      connectionsMax: options.connectionsMax ?? TCP_CONNECTIONS_MAX,
      connectionsPerBlockMax: options.connectionsPerBlockMax ?? TCP_CONNECTIONS_PER_BLOCK_MAX,
      connectionsPerKeyMax: options.connectionsPerKeyMax ?? TCP_CONNECTIONS_PER_KEY_MAX,
      readBufferBytesMax: options.readBufferBytesMax ?? TCP_READ_BUFFER_BYTES_MAX,
      readBufferWaitMsMax: options.readBufferWaitMsMax ?? TCP_READ_BUFFER_WAIT_MS_MAX,
      acceptRetryMs: options.acceptRetryMs ?? TCP_ACCEPT_RETRY_MS,
      acceptRetryMsMax: options.acceptRetryMsMax ?? TCP_ACCEPT_RETRY_MS_MAX,
      random: options.random ?? Math.random,
      clock: options.clock ?? Date.now,
    };
    this.readPool = new FrameBufferPool(this.#o.readBufferBytesMax);
    this.#trace = options.trace;
    this.#onFatal = options.onFatal ?? reportError;
    this.self = options.identity.name;
    this.#local = localIdentity(options.identity, options.signingPrivateKey);
    this.#listener = options.listener;
    if (this.#listener !== undefined) this.#track(this.#acceptLoop(this.#listener));
  }

  /** Where the listener listens, if there is one. */
  get address(): Deno.NetAddr | undefined {
    return this.#listener?.addr;
  }

  /** Inbound connections accepted and not admitted or refused yet. */
  get handshakesInProgress(): number {
    return this.#handshakes;
  }

  /** Uses a new revision of our document for the handshakes to come. */
  setIdentity(identity: IdentityDocument): void {
    if (identity.name !== this.self) throw new RangeError("an identity cannot change its name");
    this.#local = { ...localIdentity(identity, this.#o.signingPrivateKey), boot: this.#local.boot };
  }

  send(to: NodeId, bytes: Uint8Array): SendResult {
    if (this.#closed) return this.#refuse("closed");
    if (to === this.self || !isNodeId(to)) return this.#refuse("invalid_peer");
    if (bytes.length > this.messageBytesMax) return this.#refuse("oversized");
    const p = this.#peer(to);
    if (p === undefined) return this.#refuse("peers_full");
    if (!p.queue.fits(bytes.length, this.#limits, this.#queuedBytes)) {
      this.#forgetIfIdle(p);
      return this.#refuse("queue_full");
    }
    p.queue.push(bytes);
    this.#queuedBytes += bytes.length;
    this.#kick(p);
    return { ok: true };
  }

  onMessage(handler: MessageHandler): void {
    this.#handler = handler;
  }

  onPeer(handler: PeerHandler): void {
    this.#peerHandler = handler;
  }

  pending(to: NodeId): { frames: number; bytes: number } {
    const q = this.#peers.get(to)?.queue;
    return { frames: q?.frames ?? 0, bytes: q?.bytes ?? 0 };
  }

  /** Peers with an active connection. */
  connectedPeers(): NodeId[] {
    return [...this.#peers.values()].filter((p) => p.active !== undefined).map((p) => p.name);
  }

  /** The key that authenticated `peer`'s active connection, if it has one. */
  peerKey(peer: NodeId): Uint8Array | undefined {
    return this.#peers.get(peer)?.active?.peerKey;
  }

  pause(): void {
    if (this.#paused !== undefined || this.#closed) return;
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#paused = { promise, resolve };
  }

  resume(): void {
    const paused = this.#paused;
    this.#paused = undefined;
    paused?.resolve();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stop.abort();
    try {
      this.#listener?.close();
    } catch {
      // already closed
    }
    this.resume();
    for (const conn of this.#handshaking) closeQuietly(conn);
    for (const p of this.#peers.values()) {
      clearTimeout(p.retry);
      p.retry = undefined;
      p.dial?.abort.abort();
      this.#dropQueue(p, "closed");
      if (p.active !== undefined) this.#ended(p, p.active);
    }
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
    this.#peers.clear();
  }

  #refuse(reason: SendRefusal): SendResult {
    this.counters.refused[reason]++;
    return { ok: false, reason };
  }

  #track(task: Promise<void>): void {
    const tracked: Promise<void> = task.catch((e) => this.#onFatal(e)).finally(() => {
      this.#tasks.delete(tracked);
    });
    this.#tasks.add(tracked);
  }

  /** The record of `name`, created when there is room; `undefined` when the table is full. */
  #peer(name: NodeId): Peer | undefined {
    let p = this.#peers.get(name);
    if (p !== undefined) return p;
    if (this.#peers.size >= TRANSPORT_PEERS_MAX) return undefined;
    p = {
      name,
      queue: new OutboundQueue(),
      active: undefined,
      dial: undefined,
      failures: 0,
      retry: undefined,
      pumping: false,
    };
    this.#peers.set(name, p);
    return p;
  }

  #forgetIfIdle(p: Peer): void {
    const idle = p.active === undefined && p.dial === undefined && p.retry === undefined &&
      p.queue.frames === 0 && !p.pumping;
    if (idle && this.#peers.get(p.name) === p) this.#peers.delete(p.name);
  }

  #dropQueue(p: Peer, why: string): void {
    const bytes = p.queue.bytes;
    const frames = p.queue.clear();
    if (frames === 0) return;
    this.#queuedBytes -= bytes;
    this.counters.framesDropped += frames;
    this.#trace?.("transport.dropped", { peer: p.name, frames, why });
  }

  /** Moves `p`'s queue along: write it, or get a connection to write it on. */
  #kick(p: Peer): void {
    if (this.#closed) return;
    const a = p.active;
    if (a !== undefined) {
      if (!p.pumping && (p.queue.frames > 0 || a.hasPrelude)) this.#track(this.#pump(p));
      return;
    }
    if (p.dial !== undefined || p.retry !== undefined) return;
    if (p.queue.frames > 0) this.#dial(p);
    else this.#forgetIfIdle(p);
  }

  /** Writes `p`'s queue on its active connection, one frame at a time, in order. */
  async #pump(p: Peer): Promise<void> {
    p.pumping = true;
    try {
      for (let c = p.active; c !== undefined && !c.closed; c = p.active) {
        if (c.hasPrelude) {
          // The sealed verdict goes out before any message, even with nothing queued.
          const ok = await c.writePrelude(this.#o.clock);
          if (this.#closed) return;
          if (!ok) {
            this.#ended(p, c);
            break;
          }
          continue;
        }
        const m = p.queue.peek();
        if (m === undefined) break;
        const ok = await c.write(m, this.#o.clock);
        if (this.#closed) return;
        p.queue.shift();
        this.#queuedBytes -= m.length;
        if (!ok) {
          this.counters.framesDropped++;
          this.#ended(p, c);
          break;
        }
        this.counters.framesSent++;
        this.counters.bytesSent += m.length;
      }
    } finally {
      p.pumping = false;
    }
    this.#kick(p);
  }

  // -------------------------------------------------------------------------------------------
  // Dialing

  #dial(p: Peer): void {
    const dial: Dial = { abort: new AbortController(), superseded: false };
    p.dial = dial;
    this.#track(this.#runDial(p, dial));
  }

  async #runDial(p: Peer, dial: Dial): Promise<void> {
    const info = await this.#resolve(p);
    let outcome: Outcome = { ok: false, reason: "unreachable", detail: "unknown name" };
    let conn: Deno.TcpConn | undefined;
    if (info !== undefined && !dial.abort.signal.aborted) {
      const timer = setTimeout(() => dial.abort.abort(), this.#o.handshakeTimeoutMs);
      try {
        conn = await this.#connect(info.contacts, dial.abort.signal);
        outcome = conn === undefined
          ? { ok: false, reason: "unreachable", detail: "no contact answered" }
          : await this.#handshakeOut(conn, p.name, info.signingKey, dial.abort.signal);
      } finally {
        clearTimeout(timer);
      }
    }
    p.dial = undefined;
    if (outcome.ok && conn !== undefined && !this.#closed && !dial.superseded) {
      this.#adoptDialed(p, conn, outcome);
      return;
    }
    if (outcome.ok) outcome.reader.dispose();
    if (conn !== undefined) closeQuietly(conn);
    if (this.#closed) return;
    if (dial.superseded) this.#kick(p);
    else if (!outcome.ok) this.#dialFailed(p, outcome);
  }

  /** What the resolver says of `p`; a resolver that throws is treated as knowing nothing. */
  async #resolve(p: Peer): Promise<PeerInfo | undefined> {
    try {
      return await this.#o.resolver.resolve(p.name, { refresh: p.failures > 0 });
    } catch (e) {
      this.#trace?.("transport.resolver_failed", { peer: p.name, error: String(e) });
      return undefined;
    }
  }

  async #connect(contacts: readonly string[], signal: AbortSignal) {
    for (const contact of contacts) {
      const addr = parseTcpContact(contact);
      if (addr === undefined || signal.aborted) continue;
      try {
        return await Deno.connect({ ...addr, signal });
      } catch {
        // refused, unreachable or aborted: try the next contact
      }
    }
    return undefined;
  }

  async #handshakeOut(
    conn: Deno.TcpConn,
    name: NodeId,
    signingKey: Uint8Array,
    signal: AbortSignal,
  ): Promise<Outcome> {
    const onAbort = () => closeQuietly(conn);
    signal.addEventListener("abort", onAbort, { once: true });
    this.#handshaking.add(conn);
    const reader = this.#reader(conn);
    try {
      const io = { reader, write: (b: Uint8Array) => writeAll(conn, b) };
      const result = await initiate(io, this.#local, { name, signingKey });
      if (result.ok) return { ...result, reader };
      reader.dispose();
      return signal.aborted ? { ok: false, reason: "timeout" } : result;
    } finally {
      this.#handshaking.delete(conn);
      signal.removeEventListener("abort", onAbort);
    }
  }

  #reader(conn: Deno.Conn): FrameReader {
    return new FrameReader(conn, { pool: this.readPool, waitMs: this.#o.readBufferWaitMsMax });
  }

  #dialFailed(p: Peer, outcome: Outcome & { ok: false }): void {
    const { reason, detail } = outcome;
    this.#trace?.("transport.dial_failed", {
      peer: p.name,
      reason,
      detail: detail ?? "",
      refused: outcome.refused === true,
    });
    if (reason === "duplicate") {
      // The peer is dialing us and its dial wins; retry only in case it never arrives.
      this.handshakeFailures.duplicate++;
      p.retry = setTimeout(() => this.#retry(p), this.#backoff(1));
      return;
    }
    if (reason !== "unreachable") this.#countHandshakeFailure(reason, outcome.refused === true);
    this.counters.dialFailures++;
    p.failures++;
    if (p.failures >= this.#o.dialAttemptsMax || p.queue.frames === 0) {
      this.#dropQueue(p, `dial failed ${p.failures} times: ${reason}`);
      p.failures = 0;
      this.#forgetIfIdle(p);
      return;
    }
    p.retry = setTimeout(() => this.#retry(p), this.#backoff(p.failures));
  }

  #retry(p: Peer): void {
    p.retry = undefined;
    this.#kick(p);
  }

  #backoff(failures: number): number {
    const o = this.#o;
    return backoffDelayMs(failures, o.backoffBaseMs, o.backoffMaxMs, o.random);
  }

  /** Counts a handshake that failed; `refused`: the peer refused us (not our rejection). */
  #countHandshakeFailure(reason: HandshakeFailure, refused: boolean): void {
    this.handshakeFailures[reason]++;
    if (refused) return;
    const rejected = this.counters.rejected;
    if (reason === "timeout") rejected.handshake_timeout++;
    else if (reason === "oversized") rejected.oversized++;
    else rejected.handshake_failed++;
  }

  // -------------------------------------------------------------------------------------------
  // Accepting

  async #acceptLoop(listener: Deno.Listener<Deno.TcpConn, Deno.NetAddr>): Promise<void> {
    let failures = 0;
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
        failures = 0;
      } catch (e) {
        if (this.#closed || listenerGone(e)) return;
        // Transient (out of descriptors, a connection reset before we took it): pause, go on.
        failures++;
        this.counters.acceptErrors++;
        this.#trace?.("transport.accept_failed", { error: String(e), failures });
        const o = this.#o;
        await this.#sleep(Math.min(o.acceptRetryMsMax, o.acceptRetryMs * 2 ** (failures - 1)));
        continue;
      }
      if (this.#closed) {
        closeQuietly(conn);
        return;
      }
      this.#take(conn);
    }
  }

  /** Waits `ms`, or less if the transport closes meanwhile. */
  async #sleep(ms: number): Promise<void> {
    const signal = this.#stop.signal;
    if (signal.aborted) return;
    const { promise, resolve } = Promise.withResolvers<void>();
    const timer = setTimeout(resolve, ms);
    const onAbort = () => resolve();
    signal.addEventListener("abort", onAbort, { once: true });
    await promise;
    clearTimeout(timer);
    signal.removeEventListener("abort", onAbort);
  }

  /** Gives an accepted socket a handshake slot, or closes it when there is none. */
  #take(conn: Deno.TcpConn): void {
    const block = addressBlock((conn.remoteAddr as Deno.NetAddr).hostname);
    const use = this.#blocks.get(block);
    let full: InboundReject | undefined;
    if (this.#handshakes >= this.#o.handshakesMax) full = "handshakes_full";
    else if ((use?.handshakes ?? 0) >= this.#o.handshakesPerBlockMax) {
      full = "block_handshakes_full";
    }
    if (full !== undefined) {
      this.counters.rejected[full]++;
      closeQuietly(conn);
      return;
    }
    this.#handshakes++;
    this.#blockUse(block).handshakes++;
    this.#track(this.#accept(conn, block));
  }

  #blockUse(block: string): BlockUse {
    let use = this.#blocks.get(block);
    if (use === undefined) {
      this.#blocks.set(block, use = { handshakes: 0, lookups: 0, connections: 0 });
    }
    return use;
  }

  #blockLeft(block: string, what: keyof BlockUse): void {
    const use = this.#blocks.get(block);
    if (use === undefined) return;
    use[what]--;
    if (use.handshakes + use.lookups + use.connections === 0) this.#blocks.delete(block);
  }

  #keyCount(keyHex: string, delta: number): void {
    const n = (this.#keys.get(keyHex) ?? 0) + delta;
    if (n > 0) this.#keys.set(keyHex, n);
    else this.#keys.delete(keyHex);
  }

  /** An inbound connection from its accept to its admission or refusal. */
  async #accept(conn: Deno.TcpConn, block: string): Promise<void> {
    this.#handshaking.add(conn);
    const reader = this.#reader(conn);
    let admitted = false;
    try {
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        closeQuietly(conn);
      }, this.#o.preauthTimeoutMs);
      let result: HandshakeResult;
      try {
        result = await respond({ reader, write: (b) => writeAll(conn, b) }, this.#local);
      } finally {
        clearTimeout(timer);
      }
      if (!result.ok) {
        const reason = timedOut ? "timeout" : result.reason;
        this.#countHandshakeFailure(reason, false);
        this.#trace?.("transport.handshake_failed", { reason, detail: result.detail ?? "" });
        return;
      }
      if (this.#closed) return;
      admitted = await this.#admission(conn, { ...result, reader }, block);
    } finally {
      this.#handshaking.delete(conn);
      this.#handshakes--;
      this.#blockLeft(block, "handshakes");
      if (!admitted) {
        reader.dispose();
        closeQuietly(conn);
      }
    }
  }

  /**
   * Admits an authenticated inbound peer or refuses it (sealed verdict, counted); see stage 2
   * of the module notes. Resolves whether it was admitted.
   */
  async #admission(conn: Deno.TcpConn, auth: Authenticated, block: string): Promise<boolean> {
    const name = auth.peer.name;
    const keyHex = toHex(auth.peer.signingKey);
    if ((this.#keys.get(keyHex) ?? 0) >= this.#o.connectionsPerKeyMax) {
      await this.#refuseAdmission(conn, auth, "key_connections_full");
      return false;
    }
    this.#keyCount(keyHex, 1);
    try {
      const binding = await this.#confirm(name, auth.peer.signingKey, block);
      if (this.#closed) return false;
      const decision = binding === "ok" ? this.#admit(auth, block) : binding;
      if (typeof decision !== "string") {
        const prelude = verdictFrame(auth.session, "ok");
        this.#install(decision, conn, auth, name, block, prelude);
        return true;
      }
      await this.#refuseAdmission(conn, auth, decision);
      return false;
    } finally {
      this.#keyCount(keyHex, -1);
    }
  }

  /** Whether `name` means `key`: pinned, or confirmed by the resolver (bounded per block). */
  async #confirm(name: NodeId, key: Uint8Array, block: string): Promise<BindingVerdict> {
    const resolver = this.#o.resolver;
    let pinned: PeerInfo | undefined;
    try {
      pinned = resolver.lookup?.(name);
    } catch {
      return "lookup_failed";
    }
    if (pinned !== undefined) return bytesEqual(pinned.signingKey, key) ? "ok" : "key_mismatch";
    if (resolver.confirm === undefined) return "unknown_peer";
    const use = this.#blockUse(block);
    if (use.lookups >= this.#o.lookupsPerBlockMax) return "lookup_busy";
    use.lookups++;
    // Given up at the admission deadline, or at once when the transport closes.
    const { promise: late, resolve } = Promise.withResolvers<BindingVerdict>();
    const timer = setTimeout(() => resolve("lookup_failed"), this.#o.admissionTimeoutMs);
    const onStop = () => resolve("lookup_failed");
    this.#stop.signal.addEventListener("abort", onStop, { once: true });
    try {
      return await Promise.race([resolver.confirm(name, key), late]);
    } catch (e) {
      this.#trace?.("transport.resolver_failed", { peer: name, error: String(e) });
      return "lookup_failed";
    } finally {
      clearTimeout(timer);
      this.#stop.signal.removeEventListener("abort", onStop);
      this.#blockLeft(block, "lookups");
    }
  }

  /**
   * Room and the simultaneous-dial rule for a peer whose binding is confirmed: the peer record
   * to install the connection in, or why not. Abandons our own dial when the peer's wins.
   */
  #admit(auth: Authenticated, block: string): Peer | AdmitRefusal {
    const name = auth.peer.name;
    const existing = this.#peers.get(name);
    const a = existing?.active;
    const iWin = this.self < name;
    if (iWin && existing?.dial !== undefined) return "duplicate";
    if (iWin && a !== undefined && a.dialer === this.self && a.peerBoot === toHex(auth.peerBoot)) {
      return "duplicate";
    }
    if (a === undefined && this.#connections >= this.#o.connectionsMax) return "connections_full";
    const fromBlock = (this.#blocks.get(block)?.connections ?? 0) - (a?.block === block ? 1 : 0);
    if (fromBlock >= this.#o.connectionsPerBlockMax) return "block_connections_full";
    const p = existing ?? this.#peer(name);
    if (p === undefined) return "peers_full";
    if (p.dial !== undefined) {
      p.dial.superseded = true;
      p.dial.abort.abort();
    }
    return p;
  }

  /** Tells an authenticated peer why it is not admitted, sealed, and counts it. */
  async #refuseAdmission(conn: Deno.TcpConn, auth: Authenticated, why: AdmitRefusal) {
    if (why === "duplicate") this.handshakeFailures.duplicate++;
    else this.counters.rejected[why]++;
    this.#trace?.("transport.admission_refused", { peer: auth.peer.name, why });
    const told: RefuseReason = why === "connections_full" || why === "block_connections_full" ||
        why === "key_connections_full" || why === "peers_full"
      ? "busy"
      : why;
    await sealedWrite(conn, auth.session, told);
  }

  // -------------------------------------------------------------------------------------------
  // Connections

  /** Makes a dialed connection `p`'s active one, unless the tie-break keeps the old one. */
  #adoptDialed(p: Peer, conn: Deno.TcpConn, result: Authenticated): void {
    const peerBoot = toHex(result.peerBoot);
    const winner = this.self < p.name ? this.self : p.name;
    const old = p.active;
    const keepOld = old !== undefined && !old.closed && old.peerBoot === peerBoot &&
      old.dialer === winner && this.self !== winner;
    if (keepOld || (old === undefined && this.#connections >= this.#o.connectionsMax)) {
      if (!keepOld) this.counters.rejected.connections_full++;
      result.reader.dispose();
      closeQuietly(conn);
      this.#kick(p);
      return;
    }
    this.#install(p, conn, result, this.self, null, null);
  }

  /** Installs an authenticated connection as `p`'s active one (replacing any old one). */
  #install(
    p: Peer,
    conn: Deno.TcpConn,
    auth: Authenticated,
    dialer: NodeId,
    block: string | null,
    prelude: Uint8Array | null,
  ): void {
    const keyHex = toHex(auth.peer.signingKey);
    const ids = {
      peer: p.name,
      peerKey: auth.peer.signingKey,
      keyHex,
      dialer,
      peerBoot: toHex(auth.peerBoot),
      block,
    };
    const c = new Connection(conn, auth.reader, auth.session, ids, this.#o.clock(), prelude);
    const old = p.active;
    p.active = c;
    this.#connections++;
    this.#keyCount(keyHex, 1);
    if (block !== null) this.#blockUse(block).connections++;
    this.counters.connectionsOpened++;
    p.failures = 0;
    clearTimeout(p.retry);
    p.retry = undefined;
    if (old !== undefined) this.#ended(p, old);
    else this.#peerHandler?.(p.name, true);
    this.#armIdle(p, c, this.#o.idleTimeoutMs);
    this.#track(this.#readLoop(p, c));
    this.#kick(p);
  }

  async #readLoop(p: Peer, c: Connection): Promise<void> {
    const maxBytes = this.messageBytesMax + TCP_FRAME_OVERHEAD_BYTES;
    // Declared out here and cleared after each delivery: a binding inside the loop would keep
    // the last message alive in the async function's frame while the next one is read (16 MiB
    // per connection, measured, and promoted to the old generation by then).
    let r: ReadResult | undefined;
    while (!c.ended) {
      r = undefined;
      if (this.#paused !== undefined) await this.#paused.promise;
      if (c.ended) break;
      r = await c.read(maxBytes);
      if (!r.ok) {
        if (r.reason !== "end" && !c.ended) {
          this.counters.rejected[r.reason]++;
          this.#trace?.("transport.frame_rejected", { peer: p.name, reason: r.reason });
        }
        break;
      }
      c.lastActiveMs = this.#o.clock();
      if (this.#paused !== undefined) await this.#paused.promise; // hold it, deliver later
      if (c.ended) break;
      this.counters.framesReceived++;
      this.counters.bytesReceived += r.message.length;
      this.#deliver(p.name, r.message, c.peerKey);
    }
    this.#ended(p, c);
  }

  #deliver(from: NodeId, message: Uint8Array, key: Uint8Array): void {
    if (this.#handler === undefined) {
      this.counters.framesDropped++;
      return;
    }
    try {
      this.#handler(from, message, key);
    } catch (e) {
      this.#onFatal(e);
    }
  }

  /** Lets go of connection `c` of `p` (idempotent); a peer left without one may redial. */
  #ended(p: Peer, c: Connection): void {
    if (c.ended) return;
    c.ended = true;
    c.close();
    this.#connections--;
    this.#keyCount(c.keyHex, -1);
    if (c.block !== null) this.#blockLeft(c.block, "connections");
    this.counters.connectionsClosed++;
    if (p.active !== c) return;
    p.active = undefined;
    if (!this.#closed) {
      this.#peerHandler?.(p.name, false);
      this.#kick(p);
    }
  }

  #armIdle(p: Peer, c: Connection, delayMs: number): void {
    c.idleTimer = setTimeout(() => {
      if (c.ended) return;
      const now = this.#o.clock();
      if (c.reader.bytesRead !== c.seenBytes) {
        // Bytes arrived (a large frame in progress counts): not idle.
        c.seenBytes = c.reader.bytesRead;
        c.lastActiveMs = now;
      }
      const idle = this.#o.idleTimeoutMs;
      const stuck = c.writeStartedMs !== null && now - c.writeStartedMs >= idle;
      const quiet = now - c.lastActiveMs >= idle && p.queue.frames === 0 && !p.pumping;
      if (stuck || quiet) {
        this.#trace?.("transport.idle_close", { peer: p.name, stuck });
        this.#ended(p, c);
        return;
      }
      const next = Math.min(c.lastActiveMs, c.writeStartedMs ?? Infinity) + idle;
      this.#armIdle(p, c, Math.max(10, next > now ? next - now : idle / 4));
    }, delayMs);
  }
}

/** Whether an accept() error means the listener is gone for good (closed), not a hiccup. */
function listenerGone(e: unknown): boolean {
  return e instanceof Deno.errors.BadResource || e instanceof Deno.errors.Interrupted;
}

/** Writes a sealed refusal; a peer that does not read it loses nothing but the reason. */
async function sealedWrite(conn: Deno.Conn, session: Session, reason: RefuseReason) {
  try {
    await writeAll(conn, verdictFrame(session, reason));
  } catch {
    // gone already
  }
}

function localIdentity(identity: IdentityDocument, signingPrivateKey: Uint8Array): LocalIdentity {
  const boot = crypto.getRandomValues(new Uint8Array(BOOT_ID_BYTES));
  return {
    doc: identity,
    docBytes: encodeIdentity(identity),
    signingKey: importPrivateKey(signingPrivateKey),
    boot,
  };
}
