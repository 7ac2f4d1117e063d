/**
 * The handshake that opens every TCP connection: both identities proven, session keys agreed,
 * and only then the responder's verdict, sealed under those keys.
 *
 * Four messages, each one length-prefixed frame (`frames.ts`) of at most
 * {@link TCP_HANDSHAKE_FRAME_BYTES_MAX} bytes. The first three are a type byte then fields in
 * the project codec; the fourth is the first frame of the responder's session (`session.ts`):
 *
 * ```
 * 1 hello    I -> R: version | I's identity document | R's name | I's ephemeral X25519 | I's boot
 * 2 reply    R -> I: R's identity document | R's ephemeral X25519 | R's boot | sig_R (64)
 * 3 finish   I -> R: sig_I (64)
 * 4 verdict  R -> I: sealed(R -> I key, counter 0): one byte, 0 accept, else the refusal's code
 *                    (1 duplicate, 2 busy, 3 unknown peer, 4 key mismatch, 5 lookup busy,
 *                    6 lookup failed)
 *
 * th    = SHA-256("bitdust/tcp/v2" | u32 len | hello | u32 len | reply without sig_R)
 * sig_R = Ed25519(R's key, "bitdust/tcp/v2 responder" | th)
 * sig_I = Ed25519(I's key, "bitdust/tcp/v2 initiator" | th)
 * keys  = HKDF-SHA256(X25519(e_I, e_R), salt th, info "bitdust/tcp/v2 session keys", 64)
 *         first 32 bytes: I -> R, last 32: R -> I
 * ```
 *
 * What the responder does before authentication: it reads the hello, checks it without state
 * (version, the hello names it, the document is well formed and self-signed and is not its own
 * name) and replies; anything else closes the connection. It then waits for the finish; only a
 * finish whose signature verifies authenticates the initiator, and only then does the caller
 * (`transport.ts`) decide whether to admit it: the tie-break between simultaneous dials, room,
 * and whether the name the initiator claims is bound to the key it proved. So nothing a peer
 * can send without the private key of the identity it claims changes any state of the
 * responder: no counter that gates anything, no slot beyond its own unauthenticated one, no
 * peer record, no dial decision. The verdict is sealed under the session keys, so a refusal
 * cannot be forged by anyone on the path (a forged one fails its tag: the dial fails, as when
 * the path cuts the connection, which such a party can always do).
 *
 * Properties:
 * - Mutual authentication. The initiator accepts only a reply whose document carries the name it
 *   dialed and the key its resolver gave for it, and whose sig_R verifies under that key; the
 *   responder accepts only a finish whose sig_I verifies under the key of the document in the
 *   hello. Each signature covers th, so both ephemerals, both documents (names and keys), the
 *   responder's name once more, both boot ids and the protocol label with its version.
 * - Identities bound to the transcript (no unknown key-share, no identity misbinding): each
 *   signer signs both identities, as in ISO/IEC 9798-3 and SIGMA's signed-identity variant, so a
 *   party in the middle cannot splice its own identity into either side's view. Each role signs
 *   a different label, so a signature cannot be reflected. Fresh ephemerals on both sides make
 *   every th unique, so a replayed hello or finish fails.
 * - Key confirmation. The initiator gets it from the verdict: opening it proves the responder
 *   derived the same keys. The responder gets it from the first data frame, and already knows
 *   from sig_I that the initiator chose e_I for this very exchange with it.
 * - Forward secrecy: the session keys come from ephemerals only; a signing key stolen later does
 *   not open recorded sessions.
 * - What an observer learns: both identity documents travel in clear (names, public keys,
 *   contacts, ID servers, revision), with the boot ids and the sizes and timing of frames.
 *   Everything after the handshake is sealed; an accepting and a refusing verdict look the same.
 *
 * Why no identity hiding (Noise XX would encrypt both static identities, hiding them from a
 * passive observer, and the initiator's also from an active one): the documents are public by
 * design (any ID server serves them to anyone), and a listening node's `tcp://` contact in its
 * document already ties its address to its name, so hiding the responder buys nothing. Hiding
 * the initiator matters only for a node that does not listen (no contact in its document): an
 * observer on its network learns that the address it connects from is that name. We accept that
 * for now: doing it right means encrypting the hello's document under a key derived from a first
 * DH, one more round trip before the responder can check anything, and a second handshake
 * design to review; it is worth doing together with relays (issue 13), where routers learn names
 * anyway.
 *
 * The boot id is random per transport instance: it tells a peer that restarted (new boot id,
 * its old connections are dead) from a second connection of the same instance (a simultaneous
 * dial, settled by `transport.ts`).
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
import { COUNTER_BYTES, Session, TAG_BYTES } from "./session.ts";

/** Version byte of the hello. Version 2: the verdict comes after the finish, sealed. */
export const HANDSHAKE_VERSION = 2;
/** Bytes of a boot id. */
export const BOOT_ID_BYTES = 16;
/** Bytes of a raw X25519 public key. */
const EPHEMERAL_BYTES = 32;

const LABEL = "bitdust/tcp/v2";
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
/** Body of a sealed verdict: counter, one byte, tag. */
const VERDICT_BODY_BYTES = COUNTER_BYTES + 1 + TAG_BYTES;

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

/**
 * Why a responder refuses an authenticated initiator. `busy` stands for every capacity limit
 * (the responder counts which one); the binding reasons come from the resolver.
 */
export type RefuseReason =
  | "duplicate"
  | "busy"
  | "unknown_peer"
  | "key_mismatch"
  | "lookup_busy"
  | "lookup_failed";
/** Every {@link RefuseReason}, in the order of their codes on the wire (1, 2, ...). */
export const REFUSE_REASONS: readonly RefuseReason[] = [
  "duplicate",
  "busy",
  "unknown_peer",
  "key_mismatch",
  "lookup_busy",
  "lookup_failed",
];

/** Why a handshake did not produce a session (on either side, including refusals received). */
export type HandshakeFailure =
  | "timeout"
  | "eof"
  | "io_error"
  | "oversized"
  | "malformed"
  | "bad_identity"
  | "wrong_peer"
  | "bad_signature"
  | "bad_key"
  | "bad_verdict"
  | RefuseReason;

/** Every {@link HandshakeFailure}. */
export const HANDSHAKE_FAILURES: readonly HandshakeFailure[] = [
  "timeout",
  "eof",
  "io_error",
  "oversized",
  "malformed",
  "bad_identity",
  "wrong_peer",
  "bad_signature",
  "bad_key",
  "bad_verdict",
  ...REFUSE_REASONS,
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

/** Outcome of a handshake: an authenticated peer and the session with it, or why not. */
export type HandshakeResult =
  | { ok: true; peer: IdentityDocument; peerBoot: Uint8Array; session: Session }
  | HandshakeFailed;

/** A handshake that failed; `refused`: the responder's sealed verdict refused us. */
export type HandshakeFailed = {
  ok: false;
  reason: HandshakeFailure;
  detail?: string;
  refused?: boolean;
};

const fail = (reason: HandshakeFailure, detail?: string): HandshakeFailed =>
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
function transcriptHash(hello: Uint8Array, replyUnsigned: Uint8Array): Uint8Array {
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
async function readFrame(io: HandshakeIo, maxBytes = TCP_HANDSHAKE_FRAME_BYTES_MAX) {
  const r = await io.reader.next(maxBytes);
  if (r.ok) return r.body.length > 0 ? r.body.slice() : fail("malformed", "empty frame");
  if (r.reason === "truncated") return fail("eof", "stream ended inside a frame");
  return fail(r.reason === "memory_full" ? "io_error" : r.reason, r.detail);
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

/** Runs the initiator's side: hello, check the reply, finish, open the verdict. */
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
  const verdict = await readVerdict(io, session);
  if (verdict !== "ok") return verdict;
  return { ok: true, peer: doc, peerBoot: reply.value.boot.slice(), session };
}

async function readVerdict(io: HandshakeIo, session: Session): Promise<"ok" | HandshakeResult> {
  const r = await io.reader.next(VERDICT_BODY_BYTES);
  if (!r.ok) {
    if (r.reason === "oversized") return fail("bad_verdict", r.detail);
    return fail(r.reason === "truncated" || r.reason === "eof" ? "eof" : "io_error", r.detail);
  }
  const opened = session.open(r.body);
  if (!opened.ok || opened.message.length !== 1) return fail("bad_verdict", "not sealed by R");
  const code = opened.message[0];
  if (code === 0) return "ok";
  const reason = REFUSE_REASONS[code - 1];
  return reason === undefined
    ? fail("bad_verdict", `code ${code}`)
    : { ok: false, reason, refused: true };
}

/** The sealed verdict frame (length prefix included) that tells the initiator `decision`. */
export function verdictFrame(session: Session, decision: "ok" | RefuseReason): Uint8Array {
  const code = decision === "ok" ? 0 : REFUSE_REASONS.indexOf(decision) + 1;
  return session.seal(Uint8Array.of(code));
}

/**
 * Runs the responder's side up to authentication: read and check the hello, reply, verify the
 * finish. The caller decides on admission and sends the {@link verdictFrame}; see the module
 * notes for why nothing is decided earlier.
 */
export async function respond(io: HandshakeIo, local: LocalIdentity): Promise<HandshakeResult> {
  const hello = await readFrame(io);
  if (!(hello instanceof Uint8Array)) return hello;
  if (hello[0] !== HELLO) return fail("malformed", "no hello");
  const h = tryDecode(helloCodec, hello.subarray(1));
  if (!h.ok) return fail("malformed", h.reason);
  if (h.value.version !== HANDSHAKE_VERSION) return fail("malformed", "unknown version");
  if (h.value.responder !== local.doc.name) return fail("wrong_peer", h.value.responder);
  const checked = checkDoc(h.value.identity);
  if (!("doc" in checked)) return checked;
  const doc = checked.doc;
  if (doc.name === local.doc.name) return fail("wrong_peer", "our own name");
  const eph = ephemeral();
  const secret = agree(eph.privateKey, h.value.ephemeral);
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
  const session = deriveSession(secret, th, false);
  return { ok: true, peer: doc, peerBoot: h.value.boot.slice(), session };
}
