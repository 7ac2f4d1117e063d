/**
 * Messages of identities and ID servers, tags 16–47, and the signed supplier offer.
 *
 * | tag | message                | from → to           | answer                   |
 * |-----|------------------------|---------------------|--------------------------|
 * | 16  | `identity_publish`     | any node → ID server | `identity_publish_reply` |
 * | 17  | `identity_publish_reply` | ID server → node   |                          |
 * | 18  | `identity_fetch`       | any node → ID server | `identity_fetch_reply`   |
 * | 19  | `identity_fetch_reply` | ID server → node     |                          |
 * | 20  | `offer_announce`       | supplier → ID server | `offer_announce_reply`   |
 * | 21  | `offer_announce_reply` | ID server → supplier |                          |
 * | 22  | `offer_query`          | customer → ID server | `offer_query_reply`      |
 * | 23  | `offer_query_reply`    | ID server → customer |                          |
 * | 24  | `family_publish`       | customer → ID server | `family_publish_reply`   |
 * | 25  | `family_publish_reply` | ID server → customer |                          |
 * | 26  | `family_fetch`         | customer → ID server | `family_fetch_reply`     |
 * | 27  | `family_fetch_reply`   | ID server → customer |                          |
 * | 28  | `lease_claim`          | customer → ID server | `lease_claim_reply`      |
 * | 29  | `lease_claim_reply`    | ID server → customer |                          |
 *
 * Every request carries a `requestId` chosen by the asker, echoed in the answer.
 *
 * A **supplier offer** says "supplier S offers N free bytes, from `issuedMs` until `expiresMs`",
 * signed by S's identity key over `"BDOF"`, a version byte and the canonical body (a signed
 * statement, `core/statement.ts`), so an ID server cannot invent or inflate offers and a customer
 * can verify each one it is handed against S's identity. An offer with `freeBytes` 0 withdraws
 * the supplier's earlier offer.
 *
 * A **writer lease** (issue 11) says "instance I of owner O, on machine M, may write from
 * `issuedMs` until `expiresMs`, at epoch E", signed by O's identity key over `"BDWL"`: only one
 * daemon of an identity changes its storage at a time. See `actors/idserver/leases.ts` for the
 * rules an ID server applies and `actors/customer/lease.ts` for the holder's side.
 *
 * @module
 */

import type { StepCrypto } from "../actor.ts";
import {
  array,
  bool,
  bytes,
  fixedBytes,
  oneOf,
  optional,
  string,
  struct,
  type StructOf,
  uint,
} from "../codec.ts";
import { IDENTITY_REJECT_REASONS } from "../identity.ts";
import { signStatement, verifyStatement } from "../statement.ts";
import {
  FAMILY_SEALED_BYTES_MAX,
  IDENTITY_DOC_BYTES_MAX,
  NODE_ID_BYTES_MAX,
  OFFER_QUERY_EXCLUDE_MAX,
  OFFER_QUERY_RESULTS_MAX,
  SIGNATURE_BYTES,
  WRITER_LEASE_INSTANCE_BYTES,
  WRITER_LEASE_MACHINE_BYTES_MAX,
} from "../limits.ts";

/** Domain tag and version of offer signatures (see `statementBytes` in `core/statement.ts`). */
const OFFER_DOMAIN = "BDOF";
const OFFER_VERSION = 1;

const offerBodyFields = {
  supplier: string(NODE_ID_BYTES_MAX),
  freeBytes: uint,
  issuedMs: uint,
  expiresMs: uint,
};
const offerBodyCodec = struct(offerBodyFields);
/** Codec of a signed supplier offer. */
const offerCodec = struct({ ...offerBodyFields, signature: fixedBytes(SIGNATURE_BYTES) });

/** What a supplier offers, before signing. */
export type OfferBody = StructOf<typeof offerBodyFields>;
/** A supplier offer signed by the supplier. */
export type SignedOffer = StructOf<typeof offerCodec.fields>;

function offerBody(o: OfferBody): OfferBody {
  return {
    supplier: o.supplier,
    freeBytes: o.freeBytes,
    issuedMs: o.issuedMs,
    expiresMs: o.expiresMs,
  };
}

/** Signs an offer with the supplier's own key (`ctx.crypto.sign`). */
export function signOffer(body: OfferBody, sign: (data: Uint8Array) => Uint8Array): SignedOffer {
  const signature = signStatement(
    OFFER_DOMAIN,
    OFFER_VERSION,
    offerBodyCodec,
    offerBody(body),
    sign,
  );
  return { ...offerBody(body), signature };
}

/** Whether `offer` is signed by the holder of `signingKey`. */
export function verifyOffer(
  offer: SignedOffer,
  signingKey: Uint8Array,
  crypto: Pick<StepCrypto, "verify">,
): boolean {
  const body = offerBody(offer);
  return verifyStatement(
    OFFER_DOMAIN,
    OFFER_VERSION,
    offerBodyCodec,
    body,
    offer.signature,
    signingKey,
    crypto,
  );
}

/** Outcomes of publishing an identity document to an ID server. */
export const PUBLISH_OUTCOMES = [
  "stored",
  "unchanged",
  ...IDENTITY_REJECT_REASONS,
  "name_mismatch",
  "key_changed",
  "older_revision",
  "conflict",
  "full",
  "busy",
  "starting",
  "io_error",
  // Appended (issue 10), so the wire indexes of the outcomes above stay as they were.
  "too_many_names",
  "rate_limited",
] as const;
/**
 * One of {@link PUBLISH_OUTCOMES}; all but `stored` and `unchanged` are refusals.
 * `too_many_names`: the signing key already holds the most names the server hosts per key;
 * `rate_limited`: the requester's address block registered its hourly share of new names.
 */
export type PublishOutcome = typeof PUBLISH_OUTCOMES[number];

/** Outcomes of fetching a document. */
const FETCH_OUTCOMES = ["found", "not_found", "starting"] as const;
/** One of {@link FETCH_OUTCOMES}. */
export type FetchOutcome = typeof FETCH_OUTCOMES[number];

/** Outcomes of announcing an offer; all but `stored` and `withdrawn` are refusals. */
export const OFFER_OUTCOMES = [
  "stored",
  "withdrawn",
  "invalid",
  "unknown_supplier",
  "bad_signature",
  "expired",
  "too_long",
  "stale",
  "full",
  "starting",
] as const;
/** One of {@link OFFER_OUTCOMES}. */
export type OfferOutcome = typeof OFFER_OUTCOMES[number];

/** Domain tag and version of family-record signatures. */
const FAMILY_DOMAIN = "BDFR";
const FAMILY_VERSION = 1;

const familyBodyFields = {
  owner: string(NODE_ID_BYTES_MAX),
  revision: uint,
  issuedMs: uint,
  sealed: bytes(FAMILY_SEALED_BYTES_MAX),
};
const familyBodyCodec = struct(familyBodyFields);
/** Codec of a signed family record. */
export const familyRecordCodec = struct({
  ...familyBodyFields,
  signature: fixedBytes(SIGNATURE_BYTES),
});

/** A family record before signing. */
export type FamilyBody = StructOf<typeof familyBodyFields>;
/** A family record signed by its owner. */
export type SignedFamilyRecord = StructOf<typeof familyRecordCodec.fields>;

function familyBody(r: FamilyBody): FamilyBody {
  return { owner: r.owner, revision: r.revision, issuedMs: r.issuedMs, sealed: r.sealed };
}

/** Signs a family record with the owner's own key (`ctx.crypto.sign`). */
export function signFamilyRecord(
  body: FamilyBody,
  sign: (data: Uint8Array) => Uint8Array,
): SignedFamilyRecord {
  const signature = signStatement(
    FAMILY_DOMAIN,
    FAMILY_VERSION,
    familyBodyCodec,
    familyBody(body),
    sign,
  );
  return { ...familyBody(body), signature };
}

/** Whether `record` is signed by the holder of `signingKey`. */
export function verifyFamilyRecord(
  record: SignedFamilyRecord,
  signingKey: Uint8Array,
  crypto: Pick<StepCrypto, "verify">,
): boolean {
  return verifyStatement(
    FAMILY_DOMAIN,
    FAMILY_VERSION,
    familyBodyCodec,
    familyBody(record),
    record.signature,
    signingKey,
    crypto,
  );
}

/** Outcomes of publishing a family record; all but `stored` and `unchanged` are refusals. */
export const FAMILY_PUBLISH_OUTCOMES = [
  "stored",
  "unchanged",
  "unknown_owner",
  "bad_signature",
  "older_revision",
  "full",
  "starting",
  "io_error",
  // Appended (issue 10): another write of the owner's record, or too many writes, in flight.
  "busy",
] as const;
/** One of {@link FAMILY_PUBLISH_OUTCOMES}. */
export type FamilyPublishOutcome = typeof FAMILY_PUBLISH_OUTCOMES[number];

/** Domain tag and version of writer-lease signatures. */
const LEASE_DOMAIN = "BDWL";
const LEASE_VERSION = 1;

const leaseBodyFields = {
  owner: string(NODE_ID_BYTES_MAX),
  epoch: uint,
  instance: string(WRITER_LEASE_INSTANCE_BYTES),
  machine: string(WRITER_LEASE_MACHINE_BYTES_MAX),
  issuedMs: uint,
  expiresMs: uint,
  takeOver: bool,
};
const leaseBodyCodec = struct(leaseBodyFields);
/** Codec of a signed writer lease. */
const leaseCodec = struct({ ...leaseBodyFields, signature: fixedBytes(SIGNATURE_BYTES) });
/** A writer lease before signing. */
export type LeaseBody = StructOf<typeof leaseBodyFields>;
/** A writer lease signed by its owner. */
export type SignedLease = StructOf<typeof leaseCodec.fields>;

function leaseBody(l: LeaseBody): LeaseBody {
  return {
    owner: l.owner,
    epoch: l.epoch,
    instance: l.instance,
    machine: l.machine,
    issuedMs: l.issuedMs,
    expiresMs: l.expiresMs,
    takeOver: l.takeOver,
  };
}

/** Signs a writer lease with the owner's own key (`ctx.crypto.sign`). */
export function signLease(body: LeaseBody, sign: (data: Uint8Array) => Uint8Array): SignedLease {
  const signature = signStatement(
    LEASE_DOMAIN,
    LEASE_VERSION,
    leaseBodyCodec,
    leaseBody(body),
    sign,
  );
  return { ...leaseBody(body), signature };
}

/** Whether `lease` is signed by the holder of `signingKey`. */
export function verifyLease(
  lease: SignedLease,
  signingKey: Uint8Array,
  crypto: Pick<StepCrypto, "verify">,
): boolean {
  return verifyStatement(
    LEASE_DOMAIN,
    LEASE_VERSION,
    leaseBodyCodec,
    leaseBody(lease),
    lease.signature,
    signingKey,
    crypto,
  );
}

/**
 * Outcomes of claiming a writer lease: `granted` (stored; the claimant holds it) or a refusal.
 * `held`: another instance holds an unexpired lease (the reply carries it); `stale_epoch`: a
 * take-over whose epoch is not above the current one; `bad_span`: already expired, or longer
 * than the server accepts.
 */
export const LEASE_OUTCOMES = [
  "granted",
  "held",
  "stale_epoch",
  "bad_span",
  "unknown_owner",
  "bad_signature",
  "full",
  "starting",
] as const;
/** One of {@link LEASE_OUTCOMES}. */
export type LeaseOutcome = typeof LEASE_OUTCOMES[number];

const document = bytes(IDENTITY_DOC_BYTES_MAX);
const name = string(NODE_ID_BYTES_MAX);

/** Wire table of the identity and ID-server messages. */
export const identityMessages = {
  identity_publish: [16, struct({ requestId: uint, document })],
  identity_publish_reply: [
    17,
    struct({ requestId: uint, name, outcome: oneOf(PUBLISH_OUTCOMES), revision: uint }),
  ],
  identity_fetch: [18, struct({ requestId: uint, name })],
  identity_fetch_reply: [
    19,
    struct({ requestId: uint, name, outcome: oneOf(FETCH_OUTCOMES), document: optional(document) }),
  ],
  offer_announce: [20, struct({ requestId: uint, offer: offerCodec })],
  offer_announce_reply: [
    21,
    struct({ requestId: uint, supplier: name, outcome: oneOf(OFFER_OUTCOMES) }),
  ],
  offer_query: [
    22,
    struct({
      requestId: uint,
      count: uint,
      minFreeBytes: uint,
      exclude: array(name, OFFER_QUERY_EXCLUDE_MAX),
    }),
  ],
  offer_query_reply: [
    23,
    struct({ requestId: uint, offers: array(offerCodec, OFFER_QUERY_RESULTS_MAX) }),
  ],
  family_publish: [24, struct({ requestId: uint, record: familyRecordCodec })],
  family_publish_reply: [
    25,
    struct({
      requestId: uint,
      owner: name,
      outcome: oneOf(FAMILY_PUBLISH_OUTCOMES),
      revision: uint,
    }),
  ],
  family_fetch: [26, struct({ requestId: uint, owner: name })],
  family_fetch_reply: [
    27,
    struct({
      requestId: uint,
      owner: name,
      outcome: oneOf(FETCH_OUTCOMES),
      record: optional(familyRecordCodec),
    }),
  ],
  lease_claim: [28, struct({ requestId: uint, lease: leaseCodec })],
  lease_claim_reply: [
    29,
    struct({
      requestId: uint,
      owner: name,
      outcome: oneOf(LEASE_OUTCOMES),
      /** The lease the server holds after the claim (the claimant's when granted). */
      current: optional(leaseCodec),
      /** On a granted take-over: the other instance's lease it replaced. */
      replaced: optional(leaseCodec),
    }),
  ],
} as const;
