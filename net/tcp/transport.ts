/**
 * The TCP {@link Transport}: authenticated, encrypted, bounded.
 *
 * Theory of operation. Every peer the node talks to has one record: its bounded outbound queue,
 * at most one *active* connection (authenticated, used for writes and reads), at most one dial
 * in progress, the number of inbound handshakes that named it, its failures in a row and a retry
 * timer. The records are bounded by {@link TRANSPORT_PEERS_MAX}; a record with nothing left in it
 * is forgotten.
 *
 * - `send` queues the message and *kicks* the peer: with an active connection, the pump writes
 *   the queue in order, one frame at a time, each write awaited (socket back-pressure reaches the
 *   queue, and the queue's bounds reach `send`); without one, a dial starts unless one is already
 *   running, an inbound handshake from that peer is under way, or a retry is armed.
 * - A dial resolves the name (`PeerResolver`), connects to its `tcp://` contacts in order and
 *   runs the initiator's handshake (`handshake.ts`) under {@link HANDSHAKE_TIMEOUT_MS}. A failure
 *   arms a retry with exponential backoff and jitter (`backoff.ts`); after `dialAttemptsMax`
 *   failures in a row the queue is dropped and counted.
 * - The listener accepts at most `handshakesMax` unauthenticated connections at once, each for
 *   at most the handshake timeout; more are closed at once and counted (`connections_full`).
 *   One IP address may hold at most `handshakesPerAddressMax` of them (`address_full`), so a
 *   single host opening silent connections cannot lock everybody else out.
 * - One connection per pair. A responder that is itself dialing the same peer refuses the hello
 *   as `duplicate` when its own name is the smaller one, and otherwise abandons its own dial: so
 *   both ends keep the connection dialed by the smaller name and never write on two at once. A
 *   hello carrying another boot id than the active connection's means the peer restarted: the
 *   new connection replaces the dead one.
 * - A frame that fails its tag, is replayed or out of order, truncated or oversized closes the
 *   connection and is counted; its queued messages wait for a redial. A write that fails drops
 *   the message it was writing (it may or may not have arrived: at most once).
 * - A connection with no traffic for `idleTimeoutMs`, or a write stuck that long (a peer that
 *   stopped reading), is closed.
 *
 * @module
 */

import type { NodeId } from "../../core/actor.ts";
import { encodeIdentity, type IdentityDocument } from "../../core/identity.ts";
import { bytesEqual, isNodeId, toHex } from "../../core/ids.ts";
import {
  TCP_CONNECTIONS_MAX,
  TCP_DIAL_ATTEMPTS_MAX,
  TCP_FRAME_OVERHEAD_BYTES,
  TCP_HANDSHAKES_MAX,
  TCP_HANDSHAKES_PER_ADDRESS_MAX,
  TRANSPORT_PEERS_MAX,
} from "../../core/limits.ts";
import { importPrivateKey } from "../../data/signing.ts";
import {
  createTransportCounters,
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
import { BACKOFF_BASE_MS, BACKOFF_MAX_MS, backoffDelayMs } from "./backoff.ts";
import { closeQuietly, Connection } from "./connection.ts";
import { FrameReader, writeAll } from "./frames.ts";
import {
  type AdmitDecision,
  BOOT_ID_BYTES,
  HANDSHAKE_FAILURES,
  type HandshakeFailure,
  type HandshakeResult,
  initiate,
  type LocalIdentity,
  respond,
} from "./handshake.ts";

/** Default limit on a handshake (connect included for dials). */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Default time after which a connection without traffic, or with a stuck write, is closed. */
export const IDLE_TIMEOUT_MS = 120_000;

/** What a {@link TcpTransport} is made of. Limits default to the named maxima. */
export interface TcpTransportOptions extends QueueLimits {
  /** Our signed identity document (its name is ours). */
  identity: IdentityDocument;
  /** Our raw Ed25519 private key, matching `identity.signingKey`. */
  signingPrivateKey: Uint8Array;
  /** Where peers are and which keys they sign with. */
  resolver: PeerResolver;
  /** Accepts inbound connections on it (the transport closes it); without one, dial-only. */
  listener?: Deno.Listener<Deno.TcpConn, Deno.NetAddr>;
  handshakeTimeoutMs?: number;
  idleTimeoutMs?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  dialAttemptsMax?: number;
  handshakesMax?: number;
  handshakesPerAddressMax?: number;
  connectionsMax?: number;
  /** Jitter source, [0, 1) (default `Math.random`). */
  random?: () => number;
  /** Clock in ms (default `Date.now`). */
  clock?: () => number;
  /** Receives trace events: handshake failures, idle closes, drops (default: none). */
  trace?: (event: string, detail?: Record<string, string | number | boolean>) => void;
  /** Receives an exception thrown by a handler (our bug); default `reportError`. */
  onFatal?: (error: unknown) => void;
}

/** An authenticated handshake with the reader that holds any bytes read past it. */
type Authenticated = HandshakeResult & { ok: true } & { reader: FrameReader };
type Outcome =
  | Authenticated
  | { ok: false; reason: HandshakeFailure | "unreachable"; detail?: string };

interface Dial {
  readonly abort: AbortController;
  superseded: boolean;
}

interface Peer {
  readonly name: NodeId;
  readonly queue: OutboundQueue;
  active: Connection | undefined;
  dial: Dial | undefined;
  inbound: number;
  failures: number;
  retry: ReturnType<typeof setTimeout> | undefined;
  pumping: boolean;
}

type Settings = Required<
  Omit<TcpTransportOptions, "listener" | "trace" | "onFatal" | keyof QueueLimits>
>;

/** A node's TCP transport. See the module notes. */
export class TcpTransport implements Transport {
  readonly self: NodeId;
  readonly messageBytesMax: number;
  readonly counters: TransportCounters = createTransportCounters();
  /** Handshakes that failed, by reason (the detail behind `counters.rejected`). */
  readonly handshakeFailures = Object.fromEntries(
    HANDSHAKE_FAILURES.map((r) => [r, 0]),
  ) as Record<HandshakeFailure, number>;
  readonly #o: Settings;
  readonly #limits: Required<QueueLimits>;
  readonly #listener: Deno.Listener<Deno.TcpConn, Deno.NetAddr> | undefined;
  readonly #trace: TcpTransportOptions["trace"];
  readonly #onFatal: (error: unknown) => void;
  readonly #peers = new Map<NodeId, Peer>();
  readonly #handshaking = new Set<Deno.Conn>();
  readonly #tasks = new Set<Promise<void>>();
  #local: LocalIdentity;
  #inboundHandshakes = 0;
  /** Unfinished inbound handshakes by remote IP address. */
  readonly #handshakesByAddress = new Map<string, number>();
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
      idleTimeoutMs: options.idleTimeoutMs ?? IDLE_TIMEOUT_MS,
      backoffBaseMs: options.backoffBaseMs ?? BACKOFF_BASE_MS,
      backoffMaxMs: options.backoffMaxMs ?? BACKOFF_MAX_MS,
      dialAttemptsMax: options.dialAttemptsMax ?? TCP_DIAL_ATTEMPTS_MAX,
      handshakesMax: options.handshakesMax ?? TCP_HANDSHAKES_MAX,
      handshakesPerAddressMax: options.handshakesPerAddressMax ?? TCP_HANDSHAKES_PER_ADDRESS_MAX,
      connectionsMax: options.connectionsMax ?? TCP_CONNECTIONS_MAX,
      random: options.random ?? Math.random,
      clock: options.clock ?? Date.now,
    };
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
      inbound: 0,
      failures: 0,
      retry: undefined,
      pumping: false,
    };
    this.#peers.set(name, p);
    return p;
  }

  #forgetIfIdle(p: Peer): void {
    const idle = p.active === undefined && p.dial === undefined && p.inbound === 0 &&
      p.retry === undefined && p.queue.frames === 0 && !p.pumping;
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
    if (p.active !== undefined) {
      if (!p.pumping && p.queue.frames > 0) this.#track(this.#pump(p));
      return;
    }
    if (p.dial !== undefined || p.inbound > 0 || p.retry !== undefined) return;
    if (p.queue.frames > 0) this.#dial(p);
    else this.#forgetIfIdle(p);
  }

  /** Writes `p`'s queue on its active connection, one frame at a time, in order. */
  async #pump(p: Peer): Promise<void> {
    p.pumping = true;
    try {
      for (let c = p.active; c !== undefined && !c.closed; c = p.active) {
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
      this.#adopt(p, conn, outcome, this.self);
      return;
    }
    if (conn !== undefined) closeQuietly(conn);
    if (this.#closed) return;
    if (dial.superseded) this.#kick(p);
    else if (!outcome.ok) this.#dialFailed(p, outcome.reason, outcome.detail);
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
    try {
      const reader = new FrameReader(conn);
      const io = { reader, write: (b: Uint8Array) => writeAll(conn, b) };
      const result = await initiate(io, this.#local, { name, signingKey });
      if (result.ok) return { ...result, reader };
      return signal.aborted ? { ok: false, reason: "timeout" } : result;
    } finally {
      this.#handshaking.delete(conn);
      signal.removeEventListener("abort", onAbort);
    }
  }

  #dialFailed(p: Peer, reason: HandshakeFailure | "unreachable", detail?: string): void {
    this.#trace?.("transport.dial_failed", { peer: p.name, reason, detail: detail ?? "" });
    if (reason === "duplicate") {
      // The peer is dialing us and its dial wins; retry only in case it never arrives.
      p.retry = setTimeout(() => this.#retry(p), this.#backoff(1));
      return;
    }
    if (reason !== "unreachable") this.#countHandshakeFailure(reason);
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

  #countHandshakeFailure(reason: HandshakeFailure): void {
    this.handshakeFailures[reason]++;
    const rejected = this.counters.rejected;
    if (reason === "timeout") rejected.handshake_timeout++;
    else if (reason === "oversized") rejected.oversized++;
    else if (reason === "busy") rejected.connections_full++;
    else if (reason !== "duplicate") rejected.handshake_failed++;
  }

  // -------------------------------------------------------------------------------------------
  // Accepting

  async #acceptLoop(listener: Deno.Listener<Deno.TcpConn, Deno.NetAddr>): Promise<void> {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch {
        return; // the listener was closed
      }
      if (this.#closed) {
        closeQuietly(conn);
        return;
      }
      if (this.#inboundHandshakes >= this.#o.handshakesMax) {
        this.counters.rejected.connections_full++;
        closeQuietly(conn);
        continue;
      }
      const address = (conn.remoteAddr as Deno.NetAddr).hostname;
      const fromAddress = this.#handshakesByAddress.get(address) ?? 0;
      if (fromAddress >= this.#o.handshakesPerAddressMax) {
        this.counters.rejected.address_full++;
        closeQuietly(conn);
        continue;
      }
      this.#handshakesByAddress.set(address, fromAddress + 1);
      this.#track(this.#accept(conn, address));
    }
  }

  async #accept(conn: Deno.TcpConn, address: string): Promise<void> {
    this.#inboundHandshakes++;
    this.#handshaking.add(conn);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      closeQuietly(conn);
    }, this.#o.handshakeTimeoutMs);
    let admitted: Peer | undefined;
    const reader = new FrameReader(conn);
    const io = { reader, write: (b: Uint8Array) => writeAll(conn, b) };
    let result: HandshakeResult;
    try {
      result = await respond(io, this.#local, (doc, boot) => {
        const decision = this.#admit(doc, boot);
        if (decision === "ok") (admitted = this.#peers.get(doc.name)!).inbound++;
        return decision;
      });
    } finally {
      clearTimeout(timer);
      this.#handshaking.delete(conn);
      this.#inboundHandshakes--;
      const left = (this.#handshakesByAddress.get(address) ?? 1) - 1;
      if (left > 0) this.#handshakesByAddress.set(address, left);
      else this.#handshakesByAddress.delete(address);
    }
    if (admitted !== undefined) admitted.inbound--;
    if (result.ok && admitted !== undefined && !this.#closed) {
      this.#adopt(admitted, conn, { ...result, reader }, result.peer.name);
      return;
    }
    closeQuietly(conn);
    if (!result.ok) {
      const reason = timedOut ? "timeout" : result.reason;
      this.#countHandshakeFailure(reason);
      this.#trace?.("transport.handshake_refused", { reason, detail: result.detail ?? "" });
    }
    if (admitted !== undefined) this.#kick(admitted);
  }

  /** A responder's verdict on a checked hello: known key, room, and the simultaneous-dial rule. */
  #admit(doc: IdentityDocument, boot: Uint8Array): AdmitDecision {
    if (this.#closed) return "busy";
    const known = this.#o.resolver.lookup?.(doc.name);
    if (known !== undefined && !bytesEqual(known.signingKey, doc.signingKey)) {
      return "key_mismatch";
    }
    const p = this.#peer(doc.name);
    if (p === undefined) return "busy";
    const iWin = this.self < doc.name;
    const a = p.active;
    if (iWin && p.dial !== undefined) return "duplicate";
    if (iWin && a !== undefined && a.dialer === this.self && a.peerBoot === toHex(boot)) {
      return "duplicate";
    }
    if (a === undefined && this.#connections >= this.#o.connectionsMax) return "busy";
    if (p.dial !== undefined) {
      p.dial.superseded = true;
      p.dial.abort.abort();
    }
    return "ok";
  }

  // -------------------------------------------------------------------------------------------
  // Connections

  /** Makes an authenticated connection `p`'s active one, unless the tie-break keeps the old. */
  #adopt(
    p: Peer,
    conn: Deno.TcpConn,
    result: Authenticated,
    dialer: NodeId,
  ): void {
    const peerBoot = toHex(result.peerBoot);
    const winner = this.self < p.name ? this.self : p.name;
    const old = p.active;
    const keepOld = old !== undefined && !old.closed && old.peerBoot === peerBoot &&
      old.dialer === winner && dialer !== winner;
    if (keepOld || (old === undefined && this.#connections >= this.#o.connectionsMax)) {
      if (!keepOld) this.counters.rejected.connections_full++;
      closeQuietly(conn);
      this.#kick(p);
      return;
    }
    const ids = { peer: p.name, peerKey: result.peer.signingKey, dialer, peerBoot };
    const c = new Connection(conn, result.reader, result.session, ids, this.#o.clock());
    p.active = c;
    this.#connections++;
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
    while (!c.ended) {
      if (this.#paused !== undefined) await this.#paused.promise;
      if (c.ended) break;
      const r = await c.read(maxBytes);
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

function localIdentity(identity: IdentityDocument, signingPrivateKey: Uint8Array): LocalIdentity {
  const boot = crypto.getRandomValues(new Uint8Array(BOOT_ID_BYTES));
  return {
    doc: identity,
    docBytes: encodeIdentity(identity),
    signingKey: importPrivateKey(signingPrivateKey),
    boot,
  };
}
