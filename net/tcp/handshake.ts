/**
 * The handshake that opens every TCP connection: both identities proven, session keys agreed.
 *
 * Three messages, each one length-prefixed frame (`frames.ts`) of at most
 * {@link TCP_HANDSHAKE_FRAME_BYTES_MAX} bytes, a type byte then fields in the project codec:
 *
 * ```
 * 1 hello   I -> R: version | I's identity document | R's name | I's ephemeral X25519 | I's boot id
 * 2 reply   R -> I: R's identity document | R's ephemeral X25519 | R's boot id | sig_R (64)
 * 3 finish  I -> R: sig_I (64)
 * 4 refuse  R -> I: reason (1 duplicate, 2 busy, 3 wrong peer, 4 key mismatch)   instead of reply
 *
 * th    = SHA-256("bitdust/tcp/v1" | u32 len | hello | u32 len | reply without sig_R)
 * sig_R = Ed25519(R's key, "bitdust/tcp/v1 responder" | th)
 * sig_I = Ed25519(I's key, "bitdust/tcp/v1 initiator" | th)
 * keys  = HKDF-SHA256(X25519(e_I, e_R), salt th, info "bitdust/tcp/v1 session keys", 64)
 *         first 32 bytes: I -> R, last 32: R -> I
 * ```
 *
 * So each signature covers both ephemerals, both names (inside both documents, and R's name
 * once more in the hello), both boot ids and the protocol label, and each role signs a different
 * label, so a signature cannot be reflected. Checks, on each side:
 * - the peer's document is well formed and self-signed (`checkIdentity`);
 * - the initiator: the document's name is the name it dialed and its signing key is the one the
 *   resolver gave; the responder: the hello names it, and the initiator's key is the one it
 *   already knows for that name, when it knows one (`admit`);
 * - the transcript signature verifies under the document's key; the peer's ephemeral is a valid
 *   X25519 point with a non-zero shared secret.
 *
 * The boot id is random per transport instance: it tells a peer that restarted (new boot id,
 * its old connections are dead) from a second connection of the same instance (a simultaneous
 * dial, settled by `transport.ts`). A refusal is unauthenticated and only tells the dialer to
 * back off; a forged one costs it a retry, nothing more.
 *
 * Timeouts are the caller's: it closes the connection, which ends any read in progress here.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import {
  createHash,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
} from "node:crypto";
import type { NodeId } from "../../core/actor.ts";
import { bytes, encode, fixedBytes, string, struct, tryDecode, u8 } from "../../core/codec.ts";
import { checkIdentity, type IdentityDocument } from "../../core/identity.ts";
import { bytesEqual } from "../../core/ids.ts";
import {
  IDENTITY_DOC_BYTES_MAX,
  NODE_ID_BYTES_MAX,
  SIGNATURE_BYTES,
  TCP_HANDSHAKE_FRAME_BYTES_MAX,
} from "../../core/limits.ts";
import { signWith, verifySignature } from "../../data/signing.ts";
import { frame, type FrameReader } from "./frames.ts";
import { Session } from "./session.ts";

/** Version byte of the hello. */
export const HANDSHAKE_VERSION = 1;
/** Bytes of a boot id. */
export const BOOT_ID_BYTES = 16;
/** Bytes of a raw X25519 public key. */
export const EPHEMERAL_BYTES = 32;

const LABEL = "bitdust/tcp/v1";
const utf8 = new TextEncoder();
const LABEL_BYTES = utf8.encode(LABEL);
const RESPONDER_LABEL = utf8.encode(`${LABEL} responder`);
const INITIATOR_LABEL = utf8.encode(`${LABEL} initiator`);
const KEYS_INFO = utf8.encode(`${LABEL} session keys`);
/** DER prefix that makes a raw X25519 public key an SPKI document (RFC 8410). */
const SPKI_X25519 = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00];

const HELLO = 1;
const REPLY = 2;
const FINISH = 3;
const REFUSE = 4;

const helloCodec = struct({
  version: u8,
  identity: bytes(IDENTITY_DOC_BYTES_MAX),
  responder: string(NODE_ID_BYTES_MAX),
  ephemeral: fixedBytes(EPHEMERAL_BYTES),
  boot: fixedBytes(BOOT_ID_BYTES),
});
const replyCodec = struct({
  identity: bytes(IDENTITY_DOC_BYTES_MAX),
  ephemeral: fixedBytes(EPHEMERAL_BYTES),
  boot: fixedBytes(BOOT_ID_BYTES),
});

/** Why a responder refuses a hello. */
export type RefuseReason = "duplicate" | "busy" | "wrong_peer" | "key_mismatch";
const REFUSE_CODES: readonly RefuseReason[] = ["duplicate", "busy", "wrong_peer", "key_mismatch"];

/** Why a handshake did not produce a session. */
export type HandshakeFailure =
  | "timeout"
  | "eof"
  | "io_error"
  | "oversized"
  | "malformed"
  | "bad_identity"
  | "wrong_peer"
  | "key_mismatch"
  | "bad_signature"
  | "bad_key"
  | "duplicate"
  | "busy";

/** Every {@link HandshakeFailure}. */
export const HANDSHAKE_FAILURES: readonly HandshakeFailure[] = [
  "timeout",
  "eof",
  "io_error",
  "oversized",
  "malformed",
  "bad_identity",
  "wrong_peer",
  "key_mismatch",
  "bad_signature",
  "bad_key",
  "duplicate",
  "busy",
];

/** What a node proves itself with. */
export interface LocalIdentity {
  /** Our signed document. */
  doc: IdentityDocument;
  /** Its binary encoding (`encodeIdentity`). */
  docBytes: Uint8Array;
  /** Our Ed25519 private key (`importPrivateKey`). */
  signingKey: KeyObject;
  /** This transport instance's random boot id. */
  boot: Uint8Array;
}

/** The stream a handshake runs over. */
export interface HandshakeIo {
  reader: FrameReader;
  write(bytes: Uint8Array): Promise<void>;
}

/** Outcome of a handshake. */
export type HandshakeResult =
  | { ok: true; peer: IdentityDocument; peerBoot: Uint8Array; session: Session }
  | { ok: false; reason: HandshakeFailure; detail?: string };

/** A responder's verdict on a hello whose document checked out. */
export type AdmitDecision = "ok" | RefuseReason;

const fail = (reason: HandshakeFailure, detail?: string): HandshakeResult =>
  detail === undefined ? { ok: false, reason } : { ok: false, reason, detail };

interface Ephemeral {
  privateKey: KeyObject;
  publicKey: Uint8Array;
}

function ephemeral(): Ephemeral {
  const pair = generateKeyPairSync("x25519");
  const der = pair.publicKey.export({ format: "der", type: "spki" });
  return { privateKey: pair.privateKey, publicKey: new Uint8Array(der.subarray(-32)) };
}

/** The shared secret with a peer's raw public key; `null` for an invalid or low-order key. */
function agree(own: KeyObject, peerPublic: Uint8Array): Uint8Array | null {
  try {
    const publicKey = createPublicKey({
      key: Buffer.from([...SPKI_X25519, ...peerPublic]),
      format: "der",
      type: "spki",
    });
    const secret = new Uint8Array(diffieHellman({ privateKey: own, publicKey }));
    return secret.some((b) => b !== 0) ? secret : null;
  } catch {
    return null;
  }
}

/** The transcript hash over the hello and the unsigned part of the reply. */
export function transcriptHash(hello: Uint8Array, replyUnsigned: Uint8Array): Uint8Array {
  const h = createHash("sha256").update(LABEL_BYTES);
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, hello.length);
  h.update(len).update(hello);
  new DataView(len.buffer).setUint32(0, replyUnsigned.length);
  h.update(len).update(replyUnsigned);
  return new Uint8Array(h.digest());
}

function roleInput(label: Uint8Array, th: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(label.length + th.length);
  out.set(label);
  out.set(th, label.length);
  return out;
}

/** The session of one side: `initiator` says which half of the keys it sends with. */
function deriveSession(secret: Uint8Array, th: Uint8Array, initiator: boolean): Session {
  const okm = new Uint8Array(hkdfSync("sha256", secret, th, KEYS_INFO, 64));
  const ir = okm.subarray(0, 32);
  const ri = okm.subarray(32);
  return initiator ? new Session(ir, ri) : new Session(ri, ir);
}

function typed(type: number, body: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(1 + body.length);
  out[0] = type;
  out.set(body, 1);
  return out;
}

/** Reads one handshake frame as an owned copy. */
async function readFrame(io: HandshakeIo): Promise<Uint8Array | HandshakeResult> {
  const r = await io.reader.next(TCP_HANDSHAKE_FRAME_BYTES_MAX);
  if (r.ok) return r.body.length > 0 ? r.body.slice() : fail("malformed", "empty frame");
  if (r.reason === "truncated") return fail("eof", "stream ended inside a frame");
  return fail(r.reason, r.detail);
}

function checkDoc(bytes: Uint8Array): { doc: IdentityDocument } | HandshakeResult {
  const checked = checkIdentity(bytes, { verify: verifySignature });
  return checked.ok ? { doc: checked.doc } : fail("bad_identity", checked.reason);
}

async function sendFrame(io: HandshakeIo, body: Uint8Array): Promise<HandshakeResult | null> {
  try {
    await io.write(frame(body));
    return null;
  } catch (e) {
    return fail("io_error", e instanceof Error ? e.message : String(e));
  }
}

/** What the initiator expects of the node it dials. */
export interface DialTarget {
  /** The name it dialed. */
  name: NodeId;
  /** The signing key the resolver gave for that name. */
  signingKey: Uint8Array;
}

/** Runs the initiator's side: hello, check the reply, finish. */
export async function initiate(
  io: HandshakeIo,
  local: LocalIdentity,
  target: DialTarget,
): Promise<HandshakeResult> {
  const eph = ephemeral();
  const hello = typed(
    HELLO,
    encode(helloCodec, {
      version: HANDSHAKE_VERSION,
      identity: local.docBytes,
      responder: target.name,
      ephemeral: eph.publicKey,
      boot: local.boot,
    }),
  );
  const sent = await sendFrame(io, hello);
  if (sent !== null) return sent;
  const body = await readFrame(io);
  if (!(body instanceof Uint8Array)) return body;
  if (body[0] === REFUSE) {
    const reason = REFUSE_CODES[body[1] - 1];
    return body.length === 2 && reason !== undefined
      ? fail(reason, "refused by the peer")
      : fail("malformed", "bad refusal");
  }
  if (body[0] !== REPLY || body.length < 1 + SIGNATURE_BYTES) return fail("malformed", "no reply");
  const unsigned = body.subarray(0, body.length - SIGNATURE_BYTES);
  const reply = tryDecode(replyCodec, unsigned.subarray(1));
  if (!reply.ok) return fail("malformed", reply.reason);
  const checked = checkDoc(reply.value.identity);
  if (!("doc" in checked)) return checked;
  const doc = checked.doc;
  if (doc.name !== target.name) return fail("wrong_peer", doc.name);
  if (!bytesEqual(doc.signingKey, target.signingKey)) return fail("key_mismatch", doc.name);
  const th = transcriptHash(hello, unsigned);
  const sigR = body.subarray(body.length - SIGNATURE_BYTES);
  if (!verifySignature(doc.signingKey, roleInput(RESPONDER_LABEL, th), sigR)) {
    return fail("bad_signature", "responder");
  }
  const secret = agree(eph.privateKey, reply.value.ephemeral);
  if (secret === null) return fail("bad_key");
  const sigI = signWith(local.signingKey, roleInput(INITIATOR_LABEL, th));
  const done = await sendFrame(io, typed(FINISH, sigI));
  if (done !== null) return done;
  const session = deriveSession(secret, th, true);
  return { ok: true, peer: doc, peerBoot: reply.value.boot.slice(), session };
}

/**
 * Runs the responder's side: read the hello, check it, let `admit` decide (tie-breaks, limits,
 * known keys), reply, check the finish.
 */
export async function respond(
  io: HandshakeIo,
  local: LocalIdentity,
  admit: (peer: IdentityDocument, peerBoot: Uint8Array) => AdmitDecision,
): Promise<HandshakeResult> {
  const hello = await readFrame(io);
  if (!(hello instanceof Uint8Array)) return hello;
  if (hello[0] !== HELLO) return fail("malformed", "no hello");
  const h = tryDecode(helloCodec, hello.subarray(1));
  if (!h.ok) return fail("malformed", h.reason);
  if (h.value.version !== HANDSHAKE_VERSION) return fail("malformed", "unknown version");
  const checked = checkDoc(h.value.identity);
  if (!("doc" in checked)) return checked;
  const doc = checked.doc;
  const decision = h.value.responder !== local.doc.name
    ? "wrong_peer"
    : doc.name === local.doc.name
    ? "wrong_peer"
    : admit(doc, h.value.boot);
  if (decision !== "ok") {
    await sendFrame(io, Uint8Array.of(REFUSE, REFUSE_CODES.indexOf(decision) + 1));
    return fail(decision, doc.name);
  }
  return await replyAndFinish(io, local, hello, doc, h.value.ephemeral, h.value.boot.slice());
}

async function replyAndFinish(
  io: HandshakeIo,
  local: LocalIdentity,
  hello: Uint8Array,
  doc: IdentityDocument,
  peerEphemeral: Uint8Array,
  peerBoot: Uint8Array,
): Promise<HandshakeResult> {
  const eph = ephemeral();
  const secret = agree(eph.privateKey, peerEphemeral);
  if (secret === null) return fail("bad_key");
  const unsigned = typed(
    REPLY,
    encode(replyCodec, { identity: local.docBytes, ephemeral: eph.publicKey, boot: local.boot }),
  );
  const th = transcriptHash(hello, unsigned);
  const sigR = signWith(local.signingKey, roleInput(RESPONDER_LABEL, th));
  const reply = new Uint8Array(unsigned.length + SIGNATURE_BYTES);
  reply.set(unsigned);
  reply.set(sigR, unsigned.length);
  const sent = await sendFrame(io, reply);
  if (sent !== null) return sent;
  const finish = await readFrame(io);
  if (!(finish instanceof Uint8Array)) return finish;
  if (finish[0] !== FINISH || finish.length !== 1 + SIGNATURE_BYTES) {
    return fail("malformed", "no finish");
  }
  if (!verifySignature(doc.signingKey, roleInput(INITIATOR_LABEL, th), finish.subarray(1))) {
    return fail("bad_signature", "initiator");
  }
  return { ok: true, peer: doc, peerBoot, session: deriveSession(secret, th, false) };
}
