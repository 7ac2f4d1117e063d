/**
 * Packets: the envelope every message between nodes travels in, and the receiver's checks.
 *
 * Envelope fields: `command` (the wire tag of the message in the payload, readable by a router
 * that cannot open a sealed payload), `sender`, `recipient`, `packetId` (chosen by the sender to
 * match answers to requests), `createdMs`, `seq` (per-sender sequence number) and `payload` (the
 * encoded message, or a box sealed to the recipient's X25519 key when `sealed` is set).
 *
 * Wire form: a format byte, then the fields in the project codec; a *signed* packet appends an
 * Ed25519 signature by the sender over `"BDPK"` and everything before the signature.
 *
 * ```
 * plain:  0x01 | command | sender | recipient | packetId | createdMs | seq | sealed | payload
 * signed: 0x02 | (same fields)                                                  | signature (64)
 * ```
 *
 * Who authenticates what (DESIGN.md): a direct link is authenticated once by its handshake, so a
 * packet whose sender is the authenticated peer of the link needs no signature. A packet that
 * arrives through anybody else (a router) must be signed by its sender, or it is refused as
 * `unsigned`. Sealed payloads bind the envelope (as associated data), so a router cannot move a
 * sealed payload into another envelope.
 *
 * {@link checkPacket} is a pure function over an explicit {@link PacketGuard}: the replay windows
 * and the counters. Every refusal is a value with a reason and a counter, never an exception:
 * `oversized`, `malformed`, `wrong_recipient`, `time_window`, `unknown_sender`, `unsigned`,
 * `bad_signature`, `replayed`; and `bad_seal` from {@link openPacket}.
 *
 * Signed statements ({@link signStatement}, {@link verifyStatement}) are the same idea for what
 * is not a packet but must be checked by a third party later: supplier offers, storage
 * contracts, family records. Each kind has its own 4-byte domain tag.
 *
 * Replay: the receiver keeps, per sender, the highest sequence seen and a bitmap of the last
 * {@link REPLAY_WINDOW} sequences; a sequence seen before, or older than the window, is a replay.
 * Senders must keep their sequence increasing across restarts: start it at
 * {@link initialSequence}(now). At most {@link REPLAY_SENDERS_MAX} windows are kept; when the
 * table is full the least recently active sender's window is dropped and its last packet time
 * becomes a floor: a sender without a window is accepted only for packets created after the floor
 * (a dropped sender's old packets stay refused; they are also outside the time window soon).
 *
 * @module
 */

import type { NodeId, StepCrypto } from "./actor.ts";
import { assert, AssertionError } from "./assert.ts";
import {
  bool,
  bytes,
  type Codec,
  decode,
  DecodeError,
  encode,
  Reader,
  string,
  struct,
  type StructOf,
  uint,
} from "./codec.ts";
import {
  MESSAGE_BYTES_MAX,
  NODE_ID_BYTES_MAX,
  PACKET_ID_BYTES_MAX,
  PACKET_PAYLOAD_BYTES_MAX,
  PACKET_TIME_SKEW_MS_MAX,
  REPLAY_SENDERS_MAX,
  REPLAY_WINDOW,
  SIGNATURE_BYTES,
} from "./limits.ts";

/** Format byte of a packet authenticated by its link. */
export const PACKET_PLAIN = 1;
/** Format byte of a packet signed by its sender. */
export const PACKET_SIGNED = 2;
/** Domain prefix of packet signatures, so no other signed object can pass for a packet. */
export const PACKET_SIGNATURE_DOMAIN: Uint8Array<ArrayBuffer> = Uint8Array.from([
  0x42,
  0x44,
  0x50,
  0x4b,
]);

const headerFields = {
  command: uint,
  sender: string(NODE_ID_BYTES_MAX),
  recipient: string(NODE_ID_BYTES_MAX),
  packetId: string(PACKET_ID_BYTES_MAX),
  createdMs: uint,
  seq: uint,
};
const headerCodec = struct(headerFields);
const packetCodec = struct({
  ...headerFields,
  sealed: bool,
  payload: bytes(PACKET_PAYLOAD_BYTES_MAX),
});

/** A packet envelope and its payload. */
export type Packet = StructOf<typeof packetCodec.fields>;

/** Why a packet was refused. */
export type PacketRejectReason =
  | "oversized"
  | "malformed"
  | "wrong_recipient"
  | "time_window"
  | "unknown_sender"
  | "unsigned"
  | "bad_signature"
  | "replayed"
  | "bad_seal";

/** Every {@link PacketRejectReason}, in the order the checks run. */
export const PACKET_REJECT_REASONS: readonly PacketRejectReason[] = [
  "oversized",
  "malformed",
  "wrong_recipient",
  "time_window",
  "unknown_sender",
  "unsigned",
  "bad_signature",
  "replayed",
  "bad_seal",
];

/** Outcome of {@link checkPacket}: the packet, or why it was refused. */
export type PacketCheck =
  | { ok: true; packet: Packet; signed: boolean }
  | { ok: false; reason: PacketRejectReason; detail?: string };

/** Outcome of {@link decodePacket}. */
export type PacketDecode =
  | { ok: true; packet: Packet; signature?: Uint8Array; signedBytes?: Uint8Array }
  | { ok: false; reason: "oversized" | "malformed"; detail?: string };

/** A sender's first sequence number after starting at `nowMs`: above any it used before. */
export function initialSequence(nowMs: number): number {
  return Math.floor(nowMs) * REPLAY_WINDOW;
}

function frame(format: number, packet: Packet): Uint8Array<ArrayBuffer> {
  const body = encode(packetCodec, packet);
  const out = new Uint8Array(1 + body.length + (format === PACKET_SIGNED ? SIGNATURE_BYTES : 0));
  out[0] = format;
  out.set(body, 1);
  return out;
}

function signedInput(framed: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(PACKET_SIGNATURE_DOMAIN.length + framed.length);
  out.set(PACKET_SIGNATURE_DOMAIN);
  out.set(framed, PACKET_SIGNATURE_DOMAIN.length);
  return out;
}

/** Encodes a packet for a direct, link-authenticated connection. */
export function encodePacket(packet: Packet): Uint8Array<ArrayBuffer> {
  const out = frame(PACKET_PLAIN, packet);
  if (out.length > MESSAGE_BYTES_MAX) throw new RangeError(`packet over ${MESSAGE_BYTES_MAX}`);
  return out;
}

/** Encodes and signs a packet with the sender's key, for relaying through a third party. */
export function encodeSignedPacket(
  packet: Packet,
  sign: (data: Uint8Array) => Uint8Array,
): Uint8Array<ArrayBuffer> {
  const out = frame(PACKET_SIGNED, packet);
  if (out.length > MESSAGE_BYTES_MAX) throw new RangeError(`packet over ${MESSAGE_BYTES_MAX}`);
  const unsigned = out.subarray(0, out.length - SIGNATURE_BYTES);
  const signature = sign(signedInput(unsigned));
  assert(signature.length === SIGNATURE_BYTES, "Ed25519 signatures are 64 bytes");
  out.set(signature, out.length - SIGNATURE_BYTES);
  return out;
}

/** Decodes a packet's bytes; does not judge sender, time, replay or signature. */
export function decodePacket(bytes: Uint8Array): PacketDecode {
  if (bytes.length > MESSAGE_BYTES_MAX) return { ok: false, reason: "oversized" };
  if (bytes.length < 1) return { ok: false, reason: "malformed", detail: "empty packet" };
  const format = bytes[0];
  if (format !== PACKET_PLAIN && format !== PACKET_SIGNED) {
    return { ok: false, reason: "malformed", detail: `unknown packet format ${format}` };
  }
  const sigBytes = format === PACKET_SIGNED ? SIGNATURE_BYTES : 0;
  if (bytes.length < 1 + sigBytes) return { ok: false, reason: "malformed", detail: "truncated" };
  const end = bytes.length - sigBytes;
  let packet: Packet;
  try {
    packet = decode(packetCodec, bytes.subarray(1, end));
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
    return { ok: false, reason: "malformed", detail: e.message };
  }
  if (!packet.sealed && !commandMatches(packet)) {
    return { ok: false, reason: "malformed", detail: "command does not match the payload" };
  }
  if (sigBytes === 0) return { ok: true, packet };
  return {
    ok: true,
    packet,
    signature: bytes.subarray(end),
    signedBytes: signedInput(bytes.subarray(0, end)),
  };
}

/** Whether an open payload starts with the message tag the envelope announces. */
function commandMatches(packet: Packet): boolean {
  try {
    return new Reader(packet.payload).varuint() === packet.command;
  } catch (e) {
    if (e instanceof DecodeError) return false;
    throw e;
  }
}

/** One sender's replay state: highest sequence and a ring bitmap of the last window. */
export interface ReplayWindow {
  /** Highest sequence accepted from this sender. */
  highest: number;
  /** Bit `seq % REPLAY_WINDOW` is set when `seq` (within the window) was accepted. */
  seen: Uint32Array;
  /** Creation time of the newest packet accepted from this sender. */
  lastCreatedMs: number;
}

/** Counters of a {@link PacketGuard}: one per outcome. */
export type PacketCounters = Record<PacketRejectReason | "accepted" | "evicted", number>;

/** A receiver's explicit packet-checking state. */
export interface PacketGuard {
  /** This node's name: packets for anybody else are refused. */
  readonly self: NodeId;
  /** Replay windows by sender, least recently active first; at most {@link REPLAY_SENDERS_MAX}. */
  readonly windows: Map<NodeId, ReplayWindow>;
  /** Most windows kept (defaults to {@link REPLAY_SENDERS_MAX}). */
  readonly windowsMax: number;
  /** Packets from senders without a window must be created after this time. */
  floorMs: number;
  /** How many packets ended in each outcome. */
  readonly counters: PacketCounters;
}

/** A fresh guard for node `self`. */
export function createPacketGuard(self: NodeId, windowsMax = REPLAY_SENDERS_MAX): PacketGuard {
  assert(windowsMax >= 1, "a guard keeps at least one window");
  const counters = { accepted: 0, evicted: 0 } as PacketCounters;
  for (const r of PACKET_REJECT_REASONS) counters[r] = 0;
  return { self, windows: new Map(), windowsMax, floorMs: -1, counters };
}

/** What {@link checkPacket} needs to know besides the bytes. */
export interface PacketCheckContext {
  /** Receiver's clock. */
  nowMs: number;
  /**
   * The authenticated peer of the link the bytes came through, when it is a direct link. A
   * packet from anybody else (`from !== sender`, or no `from`) must be signed.
   */
  from?: NodeId;
  /** The Ed25519 signing key of a known sender, `undefined` for an unknown one. */
  signingKeyOf(sender: NodeId): Uint8Array | undefined;
  /** Signature verification (the host's {@link StepCrypto}). */
  crypto: Pick<StepCrypto, "verify">;
}

function reject(guard: PacketGuard, reason: PacketRejectReason, detail?: string): PacketCheck {
  guard.counters[reason]++;
  return detail === undefined ? { ok: false, reason } : { ok: false, reason, detail };
}

/**
 * Runs every receiver check on `bytes`, in order: size, decoding, recipient, time window, known
 * sender, signature (required unless `from` is the sender), replay. Records the sequence only
 * when every other check passed, so forged packets cannot burn a sender's sequence numbers.
 */
export function checkPacket(
  guard: PacketGuard,
  bytes: Uint8Array,
  ctx: PacketCheckContext,
): PacketCheck {
  const decoded = decodePacket(bytes);
  if (!decoded.ok) return reject(guard, decoded.reason, decoded.detail);
  const p = decoded.packet;
  if (p.recipient !== guard.self) return reject(guard, "wrong_recipient", p.recipient);
  if (Math.abs(p.createdMs - ctx.nowMs) > PACKET_TIME_SKEW_MS_MAX) {
    return reject(guard, "time_window", `${p.createdMs - ctx.nowMs} ms off`);
  }
  const key = ctx.signingKeyOf(p.sender);
  if (key === undefined) return reject(guard, "unknown_sender", p.sender);
  const signed = decoded.signature !== undefined;
  if (!signed && ctx.from !== p.sender) return reject(guard, "unsigned");
  if (signed && !ctx.crypto.verify(key, decoded.signedBytes!, decoded.signature!)) {
    return reject(guard, "bad_signature");
  }
  if (!acceptSequence(guard, p.sender, p.seq, p.createdMs)) {
    return reject(guard, "replayed", `${p.sender}#${p.seq}`);
  }
  guard.counters.accepted++;
  return { ok: true, packet: p, signed };
}

/** Records (`sender`, `seq`) if it is new; `false` for a replay. */
function acceptSequence(guard: PacketGuard, sender: NodeId, seq: number, createdMs: number) {
  let w = guard.windows.get(sender);
  if (w === undefined) {
    if (createdMs <= guard.floorMs) return false;
    if (guard.windows.size >= guard.windowsMax) evictOldest(guard);
    w = { highest: seq, seen: new Uint32Array(REPLAY_WINDOW / 32), lastCreatedMs: createdMs };
  } else if (seq > w.highest) {
    clearBetween(w.seen, w.highest, seq);
    w.highest = seq;
  } else if (w.highest - seq >= REPLAY_WINDOW || isSeen(w.seen, seq)) {
    return false;
  }
  markSeen(w.seen, seq);
  w.lastCreatedMs = Math.max(w.lastCreatedMs, createdMs);
  guard.windows.delete(sender); // re-insert: Map order is least recently active first
  guard.windows.set(sender, w);
  return true;
}

function evictOldest(guard: PacketGuard): void {
  const [oldest, w] = guard.windows.entries().next().value!;
  guard.windows.delete(oldest);
  guard.floorMs = Math.max(guard.floorMs, w.lastCreatedMs);
  guard.counters.evicted++;
}

function isSeen(seen: Uint32Array, seq: number): boolean {
  const slot = seq % REPLAY_WINDOW;
  return (seen[slot >>> 5] & (1 << (slot & 31))) !== 0;
}

function markSeen(seen: Uint32Array, seq: number): void {
  const slot = seq % REPLAY_WINDOW;
  seen[slot >>> 5] |= 1 << (slot & 31);
}

/** Clears the slots of sequences `from + 1 .. to`, which the window now moves over. */
function clearBetween(seen: Uint32Array, from: number, to: number): void {
  if (to - from >= REPLAY_WINDOW) {
    seen.fill(0);
    return;
  }
  for (let s = from + 1; s <= to; s++) {
    const slot = s % REPLAY_WINDOW;
    seen[slot >>> 5] &= ~(1 << (slot & 31));
  }
}

/** Sealing primitives, as `data/seal.ts` provides them (core imports nothing outside core). */
export interface PayloadSealer {
  sealTo(
    recipientPublicKey: Uint8Array,
    plaintext: Uint8Array,
    options?: { associatedData?: Uint8Array },
  ): Uint8Array;
  openSealed(
    recipientPrivateKey: Uint8Array,
    sealed: Uint8Array,
    options?: { associatedData?: Uint8Array },
  ): Uint8Array;
}

/** The envelope bytes a sealed payload is bound to. */
function headerBytes(p: Packet): Uint8Array<ArrayBuffer> {
  return encode(headerCodec, p).slice();
}

/**
 * `packet` with its payload sealed to the recipient's X25519 public key and bound to the
 * envelope. Only the recipient can open it, and only inside this envelope.
 */
export function sealPacket(
  packet: Packet,
  recipientAgreementKey: Uint8Array,
  sealer: PayloadSealer,
): Packet {
  if (packet.sealed) throw new RangeError("packet payload is already sealed");
  const payload = sealer.sealTo(recipientAgreementKey, packet.payload, {
    associatedData: headerBytes(packet),
  });
  return { ...packet, sealed: true, payload };
}

/**
 * Opens a sealed payload with this node's X25519 private key. Altered or misdirected boxes, and
 * contents that do not match the envelope's command, are refused as `bad_seal` and counted.
 */
export function openPacket(
  guard: PacketGuard,
  packet: Packet,
  agreementPrivateKey: Uint8Array,
  sealer: PayloadSealer,
): PacketCheck {
  if (!packet.sealed) return { ok: true, packet, signed: false };
  let payload: Uint8Array;
  try {
    payload = sealer.openSealed(agreementPrivateKey, packet.payload, {
      associatedData: headerBytes(packet),
    });
  } catch (e) {
    if (e instanceof AssertionError) throw e;
    return reject(guard, "bad_seal", e instanceof Error ? e.message : String(e));
  }
  const open = { ...packet, sealed: false, payload };
  if (!commandMatches(open)) return reject(guard, "bad_seal", "command does not match");
  return { ok: true, packet: open, signed: false };
}

/**
 * The bytes a signature over a structured statement covers: a 4-byte ASCII `domain` tag and a
 * version byte, then `value` in `codec`'s canonical encoding. Distinct domains (`"BDOF"` supplier
 * offers, `"BDCT"` storage contracts, `"BDFM"` family records, ...) keep a signature made for one
 * kind of statement from passing for another.
 */
export function statementBytes<T>(
  domain: string,
  version: number,
  codec: Codec<T>,
  value: T,
): Uint8Array<ArrayBuffer> {
  if (!/^[A-Z]{4}$/.test(domain)) throw new RangeError(`domain must be 4 capitals: ${domain}`);
  if (!(version >= 0 && version <= 255)) throw new RangeError(`bad version ${version}`);
  const encoded = encode(codec, value);
  const out = new Uint8Array(5 + encoded.length);
  for (let i = 0; i < 4; i++) out[i] = domain.charCodeAt(i);
  out[4] = version;
  out.set(encoded, 5);
  return out;
}

/** Signs a statement (see {@link statementBytes}) with the signer's key. */
export function signStatement<T>(
  domain: string,
  version: number,
  codec: Codec<T>,
  value: T,
  sign: (data: Uint8Array) => Uint8Array,
): Uint8Array<ArrayBuffer> {
  return sign(statementBytes(domain, version, codec, value)).slice();
}

/** Whether `signature` signs the statement under the raw Ed25519 `publicKey`. */
export function verifyStatement<T>(
  domain: string,
  version: number,
  codec: Codec<T>,
  value: T,
  signature: Uint8Array,
  publicKey: Uint8Array,
  crypto: Pick<StepCrypto, "verify">,
): boolean {
  return crypto.verify(publicKey, statementBytes(domain, version, codec, value), signature);
}
