/**
 * The ID server's family records: publish, fetch, and loading them back at start.
 *
 * A family record is sealed by its owner (the ID server cannot read it) and signed by the owner's
 * identity key, so the server only judges who may replace what:
 * - the owner's identity must be hosted here (`unknown_owner`), and the record must verify under
 *   that identity's signing key (`bad_signature`). The key is pinned: an identity is only ever
 *   replaced under the same key, so a record stays valid across identity revisions;
 * - a record is stored if the owner has none yet or its `revision` is higher; the same revision
 *   with the same bytes is `unchanged`; a lower revision, or the same one with other bytes, is
 *   `older_revision`;
 * - at most `familiesMax` owners have a record (`full`); before loading finished, `starting`.
 *
 * An accepted record is written to blob `family/<owner>` (the store of the identities) and
 * answered `stored` only once the write completed; a failed write is `io_error` and nothing
 * changes. While one record of an owner is being written (or its identity's blobs are being
 * deleted after expiry), another publish for that owner is answered `busy` at once, as is a
 * publish beyond `IDSERVER_WRITES_PENDING_MAX` blob operations in flight. Serialising the writes
 * of one owner keeps the blob and the memory at the same revision, whatever order a host
 * completes writes in.
 *
 * A record lives as long as its owner's identity: when the identity expires (`expiry.ts`), the
 * record goes with it, and while the identity is expired the record is neither served nor
 * replaced (`unknown_owner`). `issuedMs` is not judged: it is signed by the owner and read by
 * nobody, so a record from a fast clock harms only its owner, and refusing one would leave an
 * owner whose clock runs ahead without a record.
 *
 * Every reply carries the revision stored after the request (0 when the owner has none).
 *
 * @module
 */

import type { BlobResult, Effect, NodeId, StepContext } from "../../core/actor.ts";
import { encode, tryDecode } from "../../core/codec.ts";
import { bytesEqual } from "../../core/ids.ts";
import {
  type FamilyPublishOutcome,
  familyRecordCodec,
  type SignedFamilyRecord,
  verifyFamilyRecord,
} from "../../core/protocol/identity.ts";
import type { MessageOf } from "../../core/protocol/mod.ts";
import {
  answer,
  blobOpRoom,
  count,
  familyKey,
  type HostedFamily,
  type IdServerAnswer,
  type IdServerProtocol,
  type IdServerState,
  liveIdentity,
  type Requester,
} from "./state.ts";

type Out = Effect<IdServerProtocol>[];

/** A hosted copy of `record`: its own encoded bytes, and the record decoded from them. */
function hostedCopy(record: SignedFamilyRecord): HostedFamily {
  // `encode` returns a view of a shared slab, and a received record may be a view of a packet.
  const bytes = encode(familyRecordCodec, record).slice();
  const decoded = tryDecode(familyRecordCodec, bytes);
  if (!decoded.ok) throw new Error(`a family record does not decode after encoding`); // our bug
  return { record: decoded.value, bytes };
}

/** Judges a family publish; answers at once, or starts the write and answers when it is done. */
export function publishFamily(
  state: IdServerState,
  request: MessageOf<"family_publish">,
  requester: Requester,
  ctx: StepContext,
): Out {
  const { record, requestId } = request;
  const owner = record.owner;
  const stored = state.families.get(owner);
  const reply = (outcome: FamilyPublishOutcome): Out => {
    count(state, `family.publish.${outcome}`);
    const revision = state.families.get(owner)?.record.revision ?? 0;
    const message = { type: "family_publish_reply", requestId, owner, outcome, revision } as const;
    return [answer(requester, message)];
  };
  if (state.phase !== "ready") return reply("starting");
  const identity = liveIdentity(state, owner, ctx.nowMs);
  if (identity === undefined) return reply("unknown_owner");
  if (!verifyFamilyRecord(record, identity.signingKey, ctx.crypto)) return reply("bad_signature");
  if (stored !== undefined && record.revision <= stored.record.revision) {
    const same = record.revision === stored.record.revision &&
      bytesEqual(stored.bytes, encode(familyRecordCodec, record));
    return reply(same ? "unchanged" : "older_revision");
  }
  if (state.familyWriting.has(owner) || state.deleting.has(owner)) return reply("busy");
  const adding = stored === undefined;
  if (adding && state.families.size + state.familyWriting.size >= state.limits.familiesMax) {
    return reply("full");
  }
  if (!blobOpRoom(state)) return reply("busy");
  const entry = hostedCopy(record);
  const id = state.nextIoId++;
  state.familyWrites.set(id, { owner, entry, requester, requestId });
  state.familyWriting.add(owner);
  return [{ kind: "io", id, op: { op: "write", key: familyKey(owner), data: entry.bytes } }];
}

/** Completes the family write `id`: hosts the record if it was written, and answers. */
export function finishFamilyWrite(state: IdServerState, id: number, result: BlobResult): Out {
  const pending = state.familyWrites.get(id)!;
  state.familyWrites.delete(id);
  state.familyWriting.delete(pending.owner);
  const { owner, entry, requester, requestId } = pending;
  if (result.ok) state.families.set(owner, entry);
  const outcome: FamilyPublishOutcome = result.ok ? "stored" : "io_error";
  count(state, `family.publish.${outcome}`);
  const revision = state.families.get(owner)?.record.revision ?? 0;
  const reply = answer(requester, {
    type: "family_publish_reply",
    requestId,
    owner,
    outcome,
    revision,
  });
  if (result.ok) return [reply];
  const detail = { owner, error: result.error };
  return [reply, { kind: "trace", event: "idserver.family_write_failed", detail }];
}

/** Answers a family fetch: the hosted record, `not_found`, or `starting`. */
export function fetchFamily(
  state: IdServerState,
  request: MessageOf<"family_fetch">,
  nowMs: number,
): IdServerAnswer {
  const { requestId, owner } = request;
  const base = { type: "family_fetch_reply", requestId, owner } as const;
  if (state.phase !== "ready") {
    count(state, "family.fetch.starting");
    return { ...base, outcome: "starting", record: undefined };
  }
  const hosted = liveIdentity(state, owner, nowMs) === undefined
    ? undefined
    : state.families.get(owner);
  count(state, hosted === undefined ? "family.fetch.not_found" : "family.fetch.found");
  if (hosted === undefined) return { ...base, outcome: "not_found", record: undefined };
  return { ...base, outcome: "found", record: hosted.record };
}

/**
 * Hosts a family record read back from blob `key` at start, if it decodes, is filed under its
 * owner, and verifies under the owner's hosted identity; otherwise counts it as corrupt.
 */
export function loadFamily(
  state: IdServerState,
  key: string,
  result: BlobResult,
  ctx: StepContext,
): Out {
  const data = result.ok ? result.data : undefined;
  const decoded = data === undefined ? undefined : tryDecode(familyRecordCodec, data);
  const record = decoded?.ok ? decoded.value : undefined;
  const identity = record === undefined ? undefined : state.docs.get(record.owner);
  if (
    record === undefined || familyKey(record.owner) !== key || identity === undefined ||
    !verifyFamilyRecord(record, identity.signingKey, ctx.crypto)
  ) {
    count(state, "load.corrupt");
    count(state, "load.family_corrupt");
    return [{ kind: "trace", event: "idserver.load_corrupt", detail: { key } }];
  }
  const owner: NodeId = record.owner;
  if (state.families.has(owner) || state.families.size >= state.limits.familiesMax) {
    count(state, "load.family_skipped");
    return [];
  }
  state.families.set(owner, hostedCopy(record));
  count(state, "load.families");
  return [];
}
