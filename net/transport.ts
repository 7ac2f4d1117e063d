/**
 * Transports: how a real node's encoded messages reach other nodes, and how theirs reach it.
 *
 * One small interface, {@link Transport}, and two implementations that pass one contract suite
 * (`_transport_contract.ts`): `transport_memory.ts` (endpoints on an in-process hub, authenticated
 * by construction, for tests and single-process networks) and `tcp/` (TCP with an authenticated
 * handshake and AEAD on every frame). A transport carries opaque byte strings between named nodes:
 * encoded messages, each authenticated by the link it came on (no per-message signature).
 *
 * Semantics every implementation keeps:
 * - **Authenticity.** The `from` a message handler sees is the node that sent the bytes, and `key`
 *   the key it proved: the TCP handshake proves the key, and the listener admits the peer only
 *   when its {@link PeerResolver} binds the claimed name to that key (pinned, or confirmed on the
 *   node's own ID servers); the memory hub knows both. Nobody else can inject or alter a frame.
 * - **Order.** Messages from one sender to one receiver arrive in the order they were sent, each
 *   at most once; while both stay up and the receiver keeps reading, exactly once. A connection
 *   that fails loses what it had not written yet only if redialing fails too: the transport
 *   redials with backoff while messages wait, and counts what it finally gives up as dropped.
 * - **Size.** A message is at most `messageBytesMax` bytes ({@link MESSAGE_BYTES_MAX} by default);
 *   a larger one is refused at `send` as `oversized`, never cut.
 * - **Back-pressure.** `send` never blocks and never buffers without bound. Every peer has a queue
 *   of accepted, unwritten messages bounded in bytes and in count ({@link
 *   TRANSPORT_PEER_QUEUE_BYTES_MAX}, {@link TRANSPORT_PEER_QUEUE_FRAMES_MAX}), and all queues
 *   together are bounded too ({@link TRANSPORT_QUEUE_BYTES_MAX}). The queue drains only as fast as
 *   the peer reads (socket writes complete); when it is full, `send` refuses with `queue_full`,
 *   counts it, and the caller decides (drop, retry later, pick another supplier).
 *   {@link Transport.pending} tells how much waits for a peer.
 * - **Ownership.** `send` takes the bytes over: the transport may read them until they are
 *   written, so the caller must not change them afterwards (the codec's `encode` output is safe:
 *   its slabs are never reused while referenced). Received bytes belong to the handler.
 * - **Close.** After `close()` every `send` is refused as `closed`; queued messages are dropped
 *   (and counted); peers see the connection go (`onPeer(name, false)`).
 * - **Rejects are values.** A peer that breaks the protocol (oversized length prefix, garbage, an
 *   altered, replayed or reordered frame, a failed handshake) loses its connection; the reason is
 *   counted in {@link TransportCounters.rejected} and nothing is thrown.
 *
 * Wiring to `net/host.ts`:
 * ```ts ignore
 * const host = new Host({ ...options, send: (to, m) => transport.send(to, encode(codec, m)) });
 * transport.onMessage((from, bytes, fromKey) => {
 *   const r = tryDecode(codec, bytes);
 *   if (r.ok) host.deliver({ kind: "message", from, fromKey, message: r.value });
 * });
 * ```
 *
 * @module
 */

import type { NodeId } from "../core/actor.ts";
import { type IdentityCache, lookupIdentity } from "../core/identity_cache.ts";
import {
  MESSAGE_BYTES_MAX,
  TRANSPORT_PEER_QUEUE_BYTES_MAX,
  TRANSPORT_PEER_QUEUE_FRAMES_MAX,
  TRANSPORT_QUEUE_BYTES_MAX,
} from "../core/limits.ts";
import type { BindingVerdict, IdentityResolver } from "./identity_client.ts";

export type { BindingVerdict };

/** Why `send` refused a message. */
export type SendRefusal =
  | "oversized"
  | "queue_full"
  | "closed"
  | "invalid_peer"
  | "peers_full";

/** Every {@link SendRefusal}. */
const SEND_REFUSALS: readonly SendRefusal[] = [
  "oversized",
  "queue_full",
  "closed",
  "invalid_peer",
  "peers_full",
];

/** Outcome of {@link Transport.send}: accepted (queued in order), or refused and counted. */
export type SendResult = { ok: true } | { ok: false; reason: SendRefusal };

/**
 * Why a transport dropped a peer's connection or input, or refused one.
 *
 * Before authentication: `handshake_failed` (garbage, a bad document or signature, a hello for
 * another node), `handshake_timeout` (no verified finish within the pre-auth deadline),
 * `handshakes_full` and `block_handshakes_full` (too many unfinished handshakes in total, or
 * from the source's address block: the connection is closed at accept). After authentication,
 * refusing admission (the initiator is told, sealed): `unknown_peer`, `key_mismatch`,
 * `lookup_busy`, `lookup_failed` (the name->key binding is not confirmed), `connections_full`,
 * `block_connections_full`, `key_connections_full`, `peers_full` (room). On an open connection:
 * the frame problems, and `memory_full` (a large frame waited too long for the shared budget).
 */
export type InboundReject =
  | "oversized"
  | "malformed"
  | "truncated"
  | "bad_tag"
  | "replayed"
  | "out_of_order"
  | "memory_full"
  | "handshake_failed"
  | "handshake_timeout"
  | "handshakes_full"
  | "block_handshakes_full"
  | "unknown_peer"
  | "key_mismatch"
  | "lookup_busy"
  | "lookup_failed"
  | "connections_full"
  | "block_connections_full"
  | "key_connections_full"
  | "peers_full";

/** Every {@link InboundReject}. */
const INBOUND_REJECTS: readonly InboundReject[] = [
  "oversized",
  "malformed",
  "truncated",
  "bad_tag",
  "replayed",
  "out_of_order",
  "memory_full",
  "handshake_failed",
  "handshake_timeout",
  "handshakes_full",
  "block_handshakes_full",
  "unknown_peer",
  "key_mismatch",
  "lookup_busy",
  "lookup_failed",
  "connections_full",
  "block_connections_full",
  "key_connections_full",
  "peers_full",
];

/** What a transport has done, for metrics and tests. Counts only grow. */
export interface TransportCounters {
  /** Messages written to peers, and their bytes (without framing). */
  framesSent: number;
  bytesSent: number;
  /** Messages delivered to the handler, and their bytes. */
  framesReceived: number;
  bytesReceived: number;
  /** Accepted messages never written (connection lost for good, peer unreachable, close). */
  framesDropped: number;
  /** Connections authenticated, and connections ended (any reason). */
  connectionsOpened: number;
  connectionsClosed: number;
  /** Dials that failed (no address, refused, handshake failed); each one backs off. */
  dialFailures: number;
  /** `send` refusals by reason. */
  refused: Record<SendRefusal, number>;
  /** Inbound problems by reason; each closed a connection or refused one. */
  rejected: Record<InboundReject, number>;
  /** Failed `accept()` calls (out of descriptors, say); the listener keeps accepting. */
  acceptErrors: number;
}

/** Fresh counters, all zero. */
export function createTransportCounters(): TransportCounters {
  const refused = {} as Record<SendRefusal, number>;
  for (const r of SEND_REFUSALS) refused[r] = 0;
  const rejected = {} as Record<InboundReject, number>;
  for (const r of INBOUND_REJECTS) rejected[r] = 0;
  return {
    framesSent: 0,
    bytesSent: 0,
    framesReceived: 0,
    bytesReceived: 0,
    framesDropped: 0,
    connectionsOpened: 0,
    connectionsClosed: 0,
    dialFailures: 0,
    refused,
    rejected,
    acceptErrors: 0,
  };
}

/**
 * Receives one message; `bytes` is the handler's to keep. `key` is the raw Ed25519 key that
 * authenticated the connection it came on (the peer's identity key).
 */
export type MessageHandler = (from: NodeId, bytes: Uint8Array, key: Uint8Array) => void;

/** Told when a peer's connection comes up (`true`) or goes with none left (`false`). */
export type PeerHandler = (peer: NodeId, up: boolean) => void;

/** A node's link to every other node. See the module notes for the semantics. */
export interface Transport {
  /** This node's name. */
  readonly self: NodeId;
  /** Largest message `send` accepts. */
  readonly messageBytesMax: number;
  /** What happened so far. */
  readonly counters: TransportCounters;
  /** Queues `bytes` for `to`, in order; refuses (as a value, counted) when it cannot. */
  send(to: NodeId, bytes: Uint8Array): SendResult;
  /** Sets the handler of incoming messages (one at a time; messages with none are dropped). */
  onMessage(handler: MessageHandler): void;
  /** Sets the handler of connection changes. */
  onPeer(handler: PeerHandler): void;
  /** Messages and bytes accepted for `to` and not yet written. */
  pending(to: NodeId): { frames: number; bytes: number };
  /** Stops reading from every peer; their queues fill and their sends get refused. */
  pause(): void;
  /** Reads again after {@link pause}. */
  resume(): void;
  /** Refuses further sends, drops queued messages, closes every connection and timer. */
  close(): Promise<void>;
}

/** Bounds of the outbound queues (the defaults are the named limits). */
export interface QueueLimits {
  /** Largest message (default {@link MESSAGE_BYTES_MAX}). */
  messageBytesMax?: number;
  /** Bytes queued per peer (default {@link TRANSPORT_PEER_QUEUE_BYTES_MAX}). */
  peerQueueBytesMax?: number;
  /** Messages queued per peer (default {@link TRANSPORT_PEER_QUEUE_FRAMES_MAX}). */
  peerQueueFramesMax?: number;
  /** Bytes queued over all peers (default {@link TRANSPORT_QUEUE_BYTES_MAX}). */
  queueBytesMax?: number;
}

/** {@link QueueLimits} with every default filled in. */
export function queueLimits(o: QueueLimits = {}): Required<QueueLimits> {
  const limits = {
    messageBytesMax: o.messageBytesMax ?? MESSAGE_BYTES_MAX,
    peerQueueBytesMax: o.peerQueueBytesMax ?? TRANSPORT_PEER_QUEUE_BYTES_MAX,
    peerQueueFramesMax: o.peerQueueFramesMax ?? TRANSPORT_PEER_QUEUE_FRAMES_MAX,
    queueBytesMax: o.queueBytesMax ?? TRANSPORT_QUEUE_BYTES_MAX,
  };
  if (limits.messageBytesMax > MESSAGE_BYTES_MAX || limits.peerQueueFramesMax < 1) {
    throw new RangeError("queue limits out of range");
  }
  return limits;
}

/**
 * A bounded FIFO of one peer's accepted, unwritten messages. `push` says why it cannot take a
 * message; the caller counts the refusal.
 */
export class OutboundQueue {
  readonly #items: Uint8Array[] = [];
  #head = 0;
  bytes = 0;

  /** Messages waiting. */
  get frames(): number {
    return this.#items.length - this.#head;
  }

  /** Whether `n` more bytes fit under every bound; `totalBytes` is the count over all peers. */
  fits(n: number, limits: Required<QueueLimits>, totalBytes: number): boolean {
    return this.frames < limits.peerQueueFramesMax &&
      this.bytes + n <= limits.peerQueueBytesMax && totalBytes + n <= limits.queueBytesMax;
  }

  push(bytes: Uint8Array): void {
    this.#items.push(bytes);
    this.bytes += bytes.length;
  }

  /** The oldest message, without removing it. */
  peek(): Uint8Array | undefined {
    return this.#items[this.#head];
  }

  /** Removes and returns the oldest message. */
  shift(): Uint8Array | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = EMPTY;
    this.bytes -= item.length;
    if (this.#head === this.#items.length) {
      this.#items.length = 0;
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items.splice(0, this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** Empties the queue; returns how many messages it held. */
  clear(): number {
    const n = this.frames;
    this.#items.length = 0;
    this.#head = 0;
    this.bytes = 0;
    return n;
  }
}

const EMPTY = new Uint8Array(0);

/** What a dialer must know about a peer: the key it signs with and where it listens. */
export interface PeerInfo {
  /** Raw Ed25519 public key from the peer's identity document. */
  signingKey: Uint8Array;
  /** The document's contacts; the TCP transport dials the `tcp://host:port` ones in order. */
  contacts: readonly string[];
}

/** Where peers are, from identity documents, and which key each name means. */
export interface PeerResolver {
  /**
   * Finds `name`; `undefined` when it cannot be found. A cached answer is fine unless `refresh`
   * is set: the transport asks for a fresh one after a dial to the cached contacts failed.
   */
  resolve(name: NodeId, options?: { refresh?: boolean }): Promise<PeerInfo | undefined>;
  /**
   * What is already known about `name`, without any request: the key pinned for it. A listener
   * admits a peer whose proven key is the pinned one, and refuses one under another key.
   * `undefined`: nothing pinned.
   */
  lookup?(name: NodeId): PeerInfo | undefined;
  /**
   * Confirms, for a name nothing is pinned for, that it means `key`: from sources the node
   * trusts (its own ID servers), never from the peer's own say, with bounded work. Without it a
   * listener admits only names `lookup` knows.
   */
  confirm?(name: NodeId, key: Uint8Array): Promise<BindingVerdict>;
}

/**
 * A {@link PeerResolver} over a node's identity cache. With `resolver`, names that are not cached,
 * and refreshes, are fetched from their ID servers (the cache verifies and pins them). It has no
 * `confirm`: a listener using it admits only cached names (`node_runtime.ts` has the resolver
 * of a real node).
 */
export function identityPeerResolver(
  cache: IdentityCache,
  resolver?: IdentityResolver,
): PeerResolver {
  const lookup = (name: NodeId): PeerInfo | undefined => {
    const doc = lookupIdentity(cache, name);
    return doc === undefined ? undefined : { signingKey: doc.signingKey, contacts: doc.contacts };
  };
  return {
    lookup,
    async resolve(name, options) {
      const cached = lookup(name);
      if (resolver === undefined || (cached !== undefined && !options?.refresh)) return cached;
      const r = await resolver.resolve(name);
      return r.ok ? { signingKey: r.doc.signingKey, contacts: r.doc.contacts } : lookup(name);
    },
  };
}

/** A fixed table of peers, for tests and static setups: only its names are admitted. */
export function staticPeerResolver(peers: Map<NodeId, PeerInfo>): PeerResolver {
  return {
    lookup: (name) => peers.get(name),
    resolve: (name) => Promise.resolve(peers.get(name)),
  };
}

/** Host and port of a `tcp://host:port` contact; `undefined` for any other contact. */
export function parseTcpContact(contact: string): { hostname: string; port: number } | undefined {
  const m = /^tcp:\/\/([A-Za-z0-9.\-]+):([0-9]{1,5})$/.exec(contact);
  if (m === null) return undefined;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? { hostname: m[1], port } : undefined;
}
