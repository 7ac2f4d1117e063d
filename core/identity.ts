/**
 * Identity documents: who a node is, how to reach it, and where its document is hosted.
 *
 * A document holds the node's name, its Ed25519 signing key and X25519 key-agreement key, its
 * contacts, its sources (the 1–6 ID servers that host it), a revision and a date, and an Ed25519
 * signature by the signing key over all of that, keys included.
 *
 * Encoding. The signed bytes are `"BDID"`, a version byte, then the body in the project codec
 * (fixed field order, minimal varints: one body has exactly one encoding). The binary document is
 * the signed bytes followed by the 64-byte signature, so a verifier needs no re-encoding. The JSON
 * rendering served over HTTP ({@link identityToJson}) carries the same fields with keys and
 * signature in lower-case hex and maps back to the identical bytes; unknown or missing fields are
 * refused, so the JSON is never more than a faithful view of the signed form.
 *
 * Names are node ids ({@link isNodeId}: 1–256 bytes of letters, digits and `._:@-`), so a name is
 * safe as a URL path segment and a blob key. A document's URL is `<source>/<name>.json`; sources
 * are `http(s)://host[:port][/path]` (no trailing slash) or, in the simulator, `sim://<node>`.
 * Contacts are `tcp://host:port`, `relay://<router name>` or `sim://<node>`.
 *
 * Peers' documents are checked as values ({@link checkIdentity}), never by exceptions; building a
 * bad document ourselves ({@link signIdentity}) is our bug and throws `RangeError`.
 *
 * @module
 */

import type { NodeId, StepCrypto } from "./actor.ts";
import {
  array,
  type Codec,
  decode,
  DecodeError,
  encode,
  fixedBytes,
  string,
  struct,
  uint,
} from "./codec.ts";
import { bytesEqual, fromHex, isNodeId, toHex } from "./ids.ts";
import {
  IDENTITY_CONTACTS_MAX,
  IDENTITY_DOC_BYTES_MAX,
  IDENTITY_SOURCES_MAX,
  IDENTITY_SOURCES_MIN,
  IDENTITY_URL_BYTES_MAX,
  NODE_ID_BYTES_MAX,
  PUBLIC_KEY_BYTES,
  SIGNATURE_BYTES,
} from "./limits.ts";

/** Leading bytes of every encoded identity document: `"BDID"` and the format version. */
export const IDENTITY_MAGIC: Uint8Array<ArrayBuffer> = Uint8Array.from([0x42, 0x44, 0x49, 0x44, 1]);
/** Value of the `format` field of the JSON rendering. */
export const IDENTITY_JSON_FORMAT = "bitdust-identity/1";

/** What a document says about its node, before signing. */
export interface IdentityBody {
  /** The node's name ({@link isNodeId}). */
  name: NodeId;
  /** Raw Ed25519 public key (32 bytes): signs this document and everything the node signs. */
  signingKey: Uint8Array;
  /** Raw X25519 public key (32 bytes): what others seal payloads to. */
  agreementKey: Uint8Array;
  /** How to reach the node: `tcp://host:port`, `relay://<router>`, `sim://<node>`. */
  contacts: string[];
  /** 1–6 ID-server base URLs hosting this document. */
  sources: string[];
  /** Grows with every new version; ID servers and caches refuse lower ones. */
  revision: number;
  /** When this revision was made, in ms since the epoch. */
  dateMs: number;
}

/** A signed identity document. */
export interface IdentityDocument extends IdentityBody {
  /** Ed25519 signature by `signingKey` over {@link identitySignedBytes}. */
  signature: Uint8Array;
}

const bodyFields = {
  name: string(NODE_ID_BYTES_MAX),
  signingKey: fixedBytes(PUBLIC_KEY_BYTES),
  agreementKey: fixedBytes(PUBLIC_KEY_BYTES),
  contacts: array(string(IDENTITY_URL_BYTES_MAX), IDENTITY_CONTACTS_MAX),
  sources: array(string(IDENTITY_URL_BYTES_MAX), IDENTITY_SOURCES_MAX),
  revision: uint,
  dateMs: uint,
};
const bodyCodec: Codec<IdentityBody> = struct(bodyFields);
const documentCodec: Codec<IdentityDocument> = struct({
  ...bodyFields,
  signature: fixedBytes(SIGNATURE_BYTES),
});

/** Why a peer's identity document was refused. */
export type IdentityRejectReason =
  | "oversized"
  | "malformed"
  | "invalid_name"
  | "invalid_contacts"
  | "invalid_sources"
  | "bad_signature";

/** Every {@link IdentityRejectReason}, for counters and exhaustive tests. */
export const IDENTITY_REJECT_REASONS: readonly IdentityRejectReason[] = [
  "oversized",
  "malformed",
  "invalid_name",
  "invalid_contacts",
  "invalid_sources",
  "bad_signature",
];

/** A checked document with its encoding, or why it was refused. */
export type IdentityResult =
  | { ok: true; doc: IdentityDocument; bytes: Uint8Array<ArrayBuffer> }
  | { ok: false; reason: IdentityRejectReason; detail?: string };

const HTTP_SOURCE = String
  .raw`https?:\/\/[A-Za-z0-9.\-]+(?::[0-9]{1,5})?(?:\/[A-Za-z0-9._~\-\/]*)?`;
const SIM_SOURCE = String.raw`sim:\/\/[A-Za-z0-9._:@-]+`;
const SOURCE_RE = new RegExp(`^(?:${HTTP_SOURCE}|${SIM_SOURCE})$`);
const CONTACT_RE = /^(?:tcp:\/\/[A-Za-z0-9.\-]+:[0-9]{1,5}|(?:relay|sim):\/\/[A-Za-z0-9._:@-]+)$/;

/** Whether `s` is a valid ID-server base URL for an identity's sources. */
export function isSourceUrl(s: string): boolean {
  return s.length <= IDENTITY_URL_BYTES_MAX && SOURCE_RE.test(s) && !s.endsWith("/");
}

/** Whether `s` is a valid contact: `tcp://host:port`, `relay://<router>` or `sim://<node>`. */
export function isContactUrl(s: string): boolean {
  return s.length <= IDENTITY_URL_BYTES_MAX && CONTACT_RE.test(s);
}

/** The URL of `name`'s document on the ID server `source`. */
export function identityUrl(source: string, name: NodeId): string {
  return `${source}/${name}.json`;
}

/** The first rule `body` breaks, or `null` when it is well formed (signature not checked). */
export function validateIdentityBody(body: IdentityBody): IdentityRejectReason | null {
  if (!isNodeId(body.name)) return "invalid_name";
  if (!body.contacts.every(isContactUrl)) return "invalid_contacts";
  if (new Set(body.contacts).size !== body.contacts.length) return "invalid_contacts";
  const sources = body.sources;
  if (sources.length < IDENTITY_SOURCES_MIN || sources.length > IDENTITY_SOURCES_MAX) {
    return "invalid_sources";
  }
  if (!sources.every(isSourceUrl) || new Set(sources).size !== sources.length) {
    return "invalid_sources";
  }
  return null;
}

/** The bytes the signature covers: magic, version, then the canonical body. */
export function identitySignedBytes(body: IdentityBody): Uint8Array<ArrayBuffer> {
  const encoded = encode(bodyCodec, pickBody(body));
  const out = new Uint8Array(IDENTITY_MAGIC.length + encoded.length);
  out.set(IDENTITY_MAGIC);
  out.set(encoded, IDENTITY_MAGIC.length);
  return out;
}

function pickBody(d: IdentityBody): IdentityBody {
  return {
    name: d.name,
    signingKey: d.signingKey,
    agreementKey: d.agreementKey,
    contacts: d.contacts,
    sources: d.sources,
    revision: d.revision,
    dateMs: d.dateMs,
  };
}

/**
 * Signs `body` with `sign` (the owner's Ed25519 key). Throws `RangeError` if the body is not well
 * formed or too large: building a bad document is the caller's bug.
 */
export function signIdentity(
  body: IdentityBody,
  sign: (data: Uint8Array) => Uint8Array,
): IdentityDocument {
  const problem = validateIdentityBody(body);
  if (problem !== null) throw new RangeError(`identity body is not valid: ${problem}`);
  const signed = identitySignedBytes(body);
  if (signed.length + SIGNATURE_BYTES > IDENTITY_DOC_BYTES_MAX) {
    throw new RangeError(`identity document over ${IDENTITY_DOC_BYTES_MAX} bytes`);
  }
  const signature = sign(signed);
  if (signature.length !== SIGNATURE_BYTES) throw new RangeError("signature is not 64 bytes");
  return { ...pickBody(body), signature: signature.slice() };
}

/** The binary form of `doc`: signed bytes then signature, in a buffer of its own. */
export function encodeIdentity(doc: IdentityDocument): Uint8Array<ArrayBuffer> {
  const encoded = encode(documentCodec, doc);
  const out = new Uint8Array(IDENTITY_MAGIC.length + encoded.length);
  out.set(IDENTITY_MAGIC);
  out.set(encoded, IDENTITY_MAGIC.length);
  return out;
}

/** Decodes and validates a document's bytes without checking its signature. */
export function decodeIdentity(bytes: Uint8Array): IdentityResult {
  if (bytes.length > IDENTITY_DOC_BYTES_MAX) return { ok: false, reason: "oversized" };
  const m = IDENTITY_MAGIC;
  if (bytes.length < m.length || !bytesEqual(bytes.subarray(0, m.length), m)) {
    return { ok: false, reason: "malformed", detail: "not an identity document (bad magic)" };
  }
  let doc: IdentityDocument;
  try {
    doc = decode(documentCodec, bytes.subarray(m.length));
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
    return { ok: false, reason: "malformed", detail: e.message };
  }
  doc.signingKey = doc.signingKey.slice();
  doc.agreementKey = doc.agreementKey.slice();
  doc.signature = doc.signature.slice();
  const problem = validateIdentityBody(doc);
  if (problem !== null) return { ok: false, reason: problem };
  return { ok: true, doc, bytes: bytes.slice() };
}

/** Whether `doc` carries a valid signature by its own signing key. */
export function verifyIdentity(doc: IdentityDocument, crypto: Pick<StepCrypto, "verify">): boolean {
  return crypto.verify(doc.signingKey, identitySignedBytes(doc), doc.signature);
}

/** Decodes, validates and verifies a peer's document: the one check every receiver runs. */
export function checkIdentity(
  bytes: Uint8Array,
  crypto: Pick<StepCrypto, "verify">,
): IdentityResult {
  const result = decodeIdentity(bytes);
  if (!result.ok) return result;
  const signed = result.bytes.subarray(0, result.bytes.length - SIGNATURE_BYTES);
  if (!crypto.verify(result.doc.signingKey, signed, result.doc.signature)) {
    return { ok: false, reason: "bad_signature" };
  }
  return result;
}

/** The JSON rendering of a document, as `GET /<name>.json` serves it. */
export interface IdentityJson {
  format: typeof IDENTITY_JSON_FORMAT;
  name: string;
  signingKey: string;
  agreementKey: string;
  contacts: string[];
  sources: string[];
  revision: number;
  dateMs: number;
  signature: string;
}

const JSON_KEYS = [
  "format",
  "name",
  "signingKey",
  "agreementKey",
  "contacts",
  "sources",
  "revision",
  "dateMs",
  "signature",
].sort().join();

/** Renders `doc` as JSON-ready data; {@link identityFromJson} maps it back to the same bytes. */
export function identityToJson(doc: IdentityDocument): IdentityJson {
  return {
    format: IDENTITY_JSON_FORMAT,
    name: doc.name,
    signingKey: toHex(doc.signingKey),
    agreementKey: toHex(doc.agreementKey),
    contacts: [...doc.contacts],
    sources: [...doc.sources],
    revision: doc.revision,
    dateMs: doc.dateMs,
    signature: toHex(doc.signature),
  };
}

function hexField(v: unknown, size: number): Uint8Array<ArrayBuffer> | null {
  if (typeof v !== "string" || v.length !== 2 * size || !/^[0-9a-f]*$/.test(v)) return null;
  return fromHex(v);
}

function stringList(v: unknown, max: number): string[] | null {
  if (!Array.isArray(v) || v.length > max) return null;
  return v.every((s) => typeof s === "string") ? v as string[] : null;
}

function isUint(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Parses the JSON rendering (already `JSON.parse`d) into the binary form, then decodes and
 * validates that like {@link decodeIdentity}. Does not check the signature.
 */
export function identityFromJson(value: unknown): IdentityResult {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, reason: "malformed", detail: "not a JSON object" };
  }
  const o = value as Record<string, unknown>;
  if (Object.keys(o).sort().join() !== JSON_KEYS || o.format !== IDENTITY_JSON_FORMAT) {
    return { ok: false, reason: "malformed", detail: `fields must be exactly ${JSON_KEYS}` };
  }
  const signingKey = hexField(o.signingKey, PUBLIC_KEY_BYTES);
  const agreementKey = hexField(o.agreementKey, PUBLIC_KEY_BYTES);
  const signature = hexField(o.signature, SIGNATURE_BYTES);
  const contacts = stringList(o.contacts, IDENTITY_CONTACTS_MAX);
  const sources = stringList(o.sources, IDENTITY_SOURCES_MAX);
  if (
    typeof o.name !== "string" || signingKey === null || agreementKey === null ||
    signature === null || contacts === null || sources === null || !isUint(o.revision) ||
    !isUint(o.dateMs)
  ) {
    return { ok: false, reason: "malformed", detail: "a field has the wrong type or size" };
  }
  const doc: IdentityDocument = {
    name: o.name,
    signingKey,
    agreementKey,
    contacts,
    sources,
    revision: o.revision,
    dateMs: o.dateMs,
    signature,
  };
  let bytes: Uint8Array;
  try {
    bytes = encodeIdentity(doc);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    return { ok: false, reason: "oversized", detail: e.message };
  }
  return decodeIdentity(bytes);
}

/**
 * The next revision of `doc` with `changes` applied: revision plus one, date `nowMs` (never
 * earlier than the previous date). Sign it with {@link signIdentity}.
 */
export function reviseIdentity(
  doc: IdentityBody,
  changes: Partial<Pick<IdentityBody, "contacts" | "sources" | "agreementKey">>,
  nowMs: number,
): IdentityBody {
  return {
    ...pickBody(doc),
    ...changes,
    revision: doc.revision + 1,
    dateMs: Math.max(nowMs, doc.dateMs),
  };
}

/**
 * Sources after rotation: `dead` ones removed, then filled from `candidates` (in their order,
 * skipping dead and present ones) up to the original count, or at least {@link
 * IDENTITY_SOURCES_MIN}. Returns `null` when no valid set can be formed.
 */
export function rotateSources(
  sources: readonly string[],
  dead: readonly string[],
  candidates: readonly string[],
): string[] | null {
  const deadSet = new Set(dead);
  const next = sources.filter((s) => !deadSet.has(s));
  const want = Math.max(sources.length, IDENTITY_SOURCES_MIN);
  for (const c of candidates) {
    if (next.length >= want) break;
    if (!deadSet.has(c) && !next.includes(c) && isSourceUrl(c)) next.push(c);
  }
  return next.length >= IDENTITY_SOURCES_MIN ? next : null;
}
