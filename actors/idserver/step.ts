/**
 * The ID server: hosts signed identity documents, owners' family records and a directory of
 * supplier offers.
 *
 * Theory of operation.
 * - States: `idle` → (`start`) → `loading` → `ready`. Loading lists the blobs under `id/` and reads
 *   them, at most `IDSERVER_LOAD_READS_MAX` at a time, re-verifying each document; then it does
 *   the same with the family records under `family/`, verifying each against its owner's loaded
 *   identity (a damaged blob of either kind is skipped and counted as `load.corrupt`); then the
 *   actor emits the `ready` notice. Before `ready` every request is answered `starting`. A later
 *   `start` (back online) changes nothing.
 * - Publishing: a document is accepted only if it decodes, is within `IDENTITY_DOC_BYTES_MAX`,
 *   is validly self-signed, names the name it is uploaded under (HTTP), and is either new or a
 *   higher revision under the same signing key: `key_changed` refuses takeovers and name
 *   squatting, `older_revision` rollbacks, `conflict` a second document with the same revision.
 *   An accepted document is written to blob `id/<name>` and answered `stored` only when the write
 *   completed; until then it is not served, and other uploads of that name are answered `busy`,
 *   so writes of one name never race. At most `identitiesMax` names are hosted (`full`), at most
 *   `IDSERVER_WRITES_PENDING_MAX` blob writes and deletes are in flight (`busy`).
 * - Budgets of new names (`rate.ts`): at most `namesPerKeyMax` names under one signing key
 *   (`too_many_names`), and at most `blockRegistrationsMax` new names per address block per hour
 *   (`rate_limited`). A higher revision of a hosted name and a refresh are not new names. Every
 *   refusal is counted as `publish.<outcome>`; a refused publish takes no token.
 * - Refresh and expiry (`expiry.ts`, `records.ts`): a publish of the hosted document
 *   (`unchanged`) or of a higher revision refreshes the identity; the refresh time is kept in its
 *   blob, written again only when the one there is older than `IDSERVER_REFRESH_PERSIST_MS` (the
 *   cheap path: one signature check, no write). An identity not refreshed for `identityTtlMs` is
 *   not served and is dropped, with its family record and offer, by the next expiry sweeps.
 * - Family records (`families.ts`): an owner whose identity is hosted here publishes its sealed
 *   record signed by its identity key; a higher revision replaces it. Written to blob
 *   `family/<owner>` before it is answered `stored`, like documents; at most `familiesMax`.
 * - Offers (`offers.ts`): a supplier whose identity is hosted here announces "N free bytes until
 *   T", signed by its identity key. Offers live in memory only (suppliers re-announce well before
 *   they expire; losing them on restart costs one announcement round). At most `offersMax`.
 * - Timers: one `TimerTable` (core/timers.ts) in `state.timers`; `nextDeadlineMs` is its
 *   `next()`, `onTimeout` dispatches each expired kind (by deadline, then declaration order):
 *   - `offer_sweep`: armed by the first offer held; fires every `OFFER_SWEEP_INTERVAL_MS`,
 *     drops expired offers, re-arms while any offer is left, else stops.
 *   - `expiry_sweep`: armed when loading is done; fires every `IDSERVER_EXPIRY_SWEEP_MS`,
 *     drops some expired identities (`expiry.ts`), always re-arms.
 *   - `load_retry`: armed by a failed `list` while loading; fires after `LOAD_RETRY_MS`, lists
 *     again (stopping itself).
 * - Loading gives each identity the refresh time in its blob (a blob of the old format, none:
 *   refreshed at load time), but never older than `IDENTITY_LOAD_GRACE_MS` before the
 *   `identityTtlMs` runs out, so a server restored after a long outage lets its users refresh
 *   before anyone expires. More than `namesPerKeyMax` names of one key on disk (a flood from
 *   before the limit existed) load only up to the limit (`load.over_key_limit`).
 * - Messages (requests from nodes are answered by a message to the sender; the same requests from
 *   the host, e.g. the HTTP front, arrive as commands and are answered by notices):
 *
 * | request            | answer                   | outcomes                                 |
 * |--------------------|--------------------------|------------------------------------------|
 * | `identity_publish` | `identity_publish_reply` | stored, unchanged, or a refusal reason   |
 * | `identity_fetch`   | `identity_fetch_reply`   | found (with the document), not_found     |
 * | `offer_announce`   | `offer_announce_reply`   | stored, withdrawn, or a refusal reason   |
 * | `offer_query`      | `offer_query_reply`      | up to `count` live offers (random start) |
 * | `family_publish`   | `family_publish_reply`   | stored, unchanged, or a refusal reason   |
 * | `family_fetch`     | `family_fetch_reply`     | found (with the record), not_found       |
 * | `lease_claim`      | `lease_claim_reply`      | granted, or why not, with the lease held |
 * | `identity_list`    | `identity_list_reply`    | (command only) one sorted page of names  |
 *
 * Any other message is counted as `message.unexpected` and dropped. In the simulator a publish
 * comes as a message from a node, which has no IP address: its sender's name is its address
 * block for the registration budget.
 *
 * @module
 */

import type { Actor, BlobResult, Effect, Input, NodeId, StepContext } from "../../core/actor.ts";
import { NO_EFFECTS } from "../../core/actor.ts";
import { assert } from "../../core/assert.ts";
import { checkIdentity } from "../../core/identity.ts";
import { bytesEqual } from "../../core/ids.ts";
import {
  IDENTITY_LOAD_GRACE_MS,
  IDSERVER_LIST_PAGE_MAX,
  IDSERVER_LOAD_READS_MAX,
  IDSERVER_REFRESH_PERSIST_MS,
} from "../../core/limits.ts";
import type { PublishOutcome } from "../../core/protocol/identity.ts";
import type { Message, MessageOf } from "../../core/protocol/mod.ts";
import { fetchFamily, finishFamilyWrite, loadFamily, publishFamily } from "./families.ts";
import { claimLease, fetchLease } from "./leases.ts";
import { armExpiry, finishDelete, sweepIdentities } from "./expiry.ts";
import { announceOffer, queryOffers, sweepOffers } from "./offers.ts";
import { addressBlock, requesterAddress, takeRegistration } from "./rate.ts";
import { decodeRecord, encodeRecord } from "./records.ts";
import {
  answer,
  blobOpRoom,
  count,
  countKeyName,
  DOC_KEY_PREFIX,
  docKey,
  FAMILY_KEY_PREFIX,
  firstAfter,
  type HostedIdentity,
  type IdServerAnswer,
  type IdServerProtocol,
  type IdServerRequest,
  type IdServerState,
  insertName,
  invariants,
  keyOf,
  liveIdentity,
  type PendingWrite,
  type Requester,
} from "./state.ts";

type Out = Effect<IdServerProtocol>[];

/** How long to wait before listing the documents again after a failed list. */
export const LOAD_RETRY_MS = 1000;

/** Applies one input to the ID server. */
export function step(
  state: IdServerState,
  input: Input<IdServerProtocol>,
  ctx: StepContext,
): readonly Effect<IdServerProtocol>[] {
  switch (input.kind) {
    case "start":
      return state.phase === "idle" ? beginLoad(state) : NO_EFFECTS;
    case "command":
      return onRequest(state, input.command, { via: "command" }, ctx);
    case "message":
      return onMessage(state, input.from, input.message, ctx);
    case "io_done":
      return onIoDone(state, input.id, input.result, ctx);
    case "timeout":
      return onTimeout(state, ctx);
    case "job_done":
      assert(false, "the ID server never runs jobs");
  }
}

/** Earliest armed timer: the offer sweep, the expiry sweep or the load retry. */
export function nextDeadlineMs(state: IdServerState): number | null {
  return state.timers.next();
}

/** The ID server as an {@link Actor}. */
export const idServerActor: Actor<IdServerState, IdServerProtocol> = {
  step,
  nextDeadlineMs,
  invariants,
};

function onMessage(state: IdServerState, from: NodeId, message: Message, ctx: StepContext): Out {
  switch (message.type) {
    case "identity_publish":
    case "identity_fetch":
    case "offer_announce":
    case "offer_query":
    case "family_publish":
    case "family_fetch":
    case "lease_claim":
      return onRequest(state, message, { via: "message", from }, ctx);
    default:
      count(state, "message.unexpected");
      return [{
        kind: "trace",
        event: "idserver.unexpected",
        detail: { from, type: message.type },
      }];
  }
}

function onRequest(
  state: IdServerState,
  request: IdServerRequest,
  requester: Requester,
  ctx: StepContext,
): Out {
  const requestId = request.requestId;
  switch (request.type) {
    case "identity_publish":
      return publish(state, request, requester, ctx);
    case "identity_fetch":
      return [answer(requester, fetchDocument(state, request, ctx.nowMs))];
    case "identity_list":
      return [answer(requester, list(state, request))];
    case "offer_announce": {
      const outcome = announceOffer(state, request.offer, ctx);
      const supplier = request.offer.supplier;
      return [answer(requester, { type: "offer_announce_reply", requestId, supplier, outcome })];
    }
    case "offer_query": {
      const offers = queryOffers(state, request, ctx);
      return [answer(requester, { type: "offer_query_reply", requestId, offers })];
    }
    case "family_publish":
      return publishFamily(state, request, requester, ctx);
    case "family_fetch":
      return [answer(requester, fetchFamily(state, request, ctx.nowMs))];
    case "lease_claim":
      return [answer(requester, claimLease(state, request, ctx))];
    case "lease_fetch":
      return [answer(requester, fetchLease(state, request.requestId, request.owner, ctx.nowMs))];
  }
}

function publish(
  state: IdServerState,
  request: IdServerRequest & { type: "identity_publish" },
  requester: Requester,
  ctx: StepContext,
): Out {
  const reply = (outcome: PublishOutcome, name: string, revision = 0): Out => {
    count(state, `publish.${outcome}`);
    const requestId = request.requestId;
    return [
      answer(requester, { type: "identity_publish_reply", requestId, name, outcome, revision }),
    ];
  };
  const asked = request.name ?? "";
  if (state.phase !== "ready") return reply("starting", asked);
  const checked = checkIdentity(request.document, ctx.crypto);
  if (!checked.ok) return reply(checked.reason, asked);
  const doc = checked.doc;
  const name = doc.name;
  if (request.name !== undefined && request.name !== name) return reply("name_mismatch", asked);
  if (state.writing.has(name) || state.deleting.has(name)) return reply("busy", name);
  const old = state.docs.get(name);
  if (old !== undefined) {
    if (!bytesEqual(old.signingKey, doc.signingKey)) {
      return reply("key_changed", name, old.revision);
    }
    if (doc.revision < old.revision) return reply("older_revision", name, old.revision);
    if (doc.revision === old.revision) {
      if (!bytesEqual(old.bytes, checked.bytes)) return reply("conflict", name, old.revision);
      return refresh(state, name, old, requester, request.requestId, ctx.nowMs);
    }
  } else {
    const held = state.keyNames.get(keyOf(doc.signingKey)) ?? 0;
    if (held >= state.limits.namesPerKeyMax) return reply("too_many_names", name);
    if (state.docs.size + state.writing.size >= state.limits.identitiesMax) {
      return reply("full", name);
    }
  }
  if (!blobOpRoom(state)) return reply("busy", name);
  const adding = old === undefined;
  if (adding) {
    const from = requester.via === "message" ? requester.from : undefined;
    const block = addressBlock(requesterAddress(request.address, from));
    const { registrationBlocksMax: blocksMax, blockRegistrationsMax: perBlock } = state.limits;
    const taken = takeRegistration(state.registrations, block, perBlock, blocksMax, ctx.nowMs);
    if (taken.shared) count(state, "publish.rate_table_full");
    if (!taken.ok) return reply("rate_limited", name);
    countKeyName(state, doc.signingKey, 1);
  }
  const nowMs = ctx.nowMs;
  const entry: HostedIdentity = {
    revision: doc.revision,
    signingKey: doc.signingKey,
    bytes: checked.bytes,
    refreshedMs: nowMs,
    persistedMs: nowMs,
  };
  const requestId = request.requestId;
  return startWrite(state, { kind: "store", name, entry, adding, requester, requestId });
}

/**
 * The hosted document was published again: it is refreshed now; its blob is rewritten only when
 * the refresh time there is older than `IDSERVER_REFRESH_PERSIST_MS` and a write can start.
 */
function refresh(
  state: IdServerState,
  name: NodeId,
  hosted: HostedIdentity,
  requester: Requester,
  requestId: number,
  nowMs: number,
): Out {
  hosted.refreshedMs = Math.max(hosted.refreshedMs, nowMs);
  count(state, "publish.refreshed");
  if (nowMs - hosted.persistedMs < IDSERVER_REFRESH_PERSIST_MS || !blobOpRoom(state)) {
    count(state, "publish.unchanged");
    const revision = hosted.revision;
    return [answer(requester, {
      type: "identity_publish_reply",
      requestId,
      name,
      outcome: "unchanged",
      revision,
    })];
  }
  return startWrite(state, {
    kind: "refresh",
    name,
    entry: hosted,
    adding: false,
    requester,
    requestId,
  });
}

/** Writes `pending`'s record; the publish is answered when the write completes. */
function startWrite(state: IdServerState, pending: PendingWrite): Out {
  const id = state.nextIoId++;
  const { name, entry } = pending;
  state.writes.set(id, pending);
  state.writing.add(name);
  const data = encodeRecord(entry.bytes, entry.refreshedMs);
  return [{ kind: "io", id, op: { op: "write", key: docKey(name), data } }];
}

function finishWrite(state: IdServerState, id: number, result: BlobResult): Out {
  const pending = state.writes.get(id)!;
  state.writes.delete(id);
  state.writing.delete(pending.name);
  const { name, entry, requester, requestId } = pending;
  let outcome: PublishOutcome = "io_error";
  if (pending.kind === "refresh") {
    // The document is hosted either way; a refresh time not written only shortens its life
    // after a restart.
    outcome = "unchanged";
    if (result.ok) entry.persistedMs = entry.refreshedMs;
    else count(state, "publish.refresh_write_failed");
  } else if (result.ok) {
    if (!state.docs.has(name)) insertName(state.names, name);
    state.docs.set(name, entry);
    outcome = "stored";
  } else if (pending.adding) {
    countKeyName(state, entry.signingKey, -1);
  }
  count(state, `publish.${outcome}`);
  const revision = state.docs.get(name)?.revision ?? 0;
  const reply = answer(requester, {
    type: "identity_publish_reply",
    requestId,
    name,
    outcome,
    revision,
  });
  if (result.ok) return [reply];
  const detail = { name, error: result.error };
  return [reply, { kind: "trace", event: "idserver.write_failed", detail }];
}

function fetchDocument(
  state: IdServerState,
  request: MessageOf<"identity_fetch">,
  nowMs: number,
): IdServerAnswer {
  const { requestId, name } = request;
  const base = { type: "identity_fetch_reply", requestId, name } as const;
  if (state.phase !== "ready") {
    count(state, "fetch.starting");
    return { ...base, outcome: "starting", document: undefined };
  }
  const hosted = liveIdentity(state, name, nowMs);
  count(state, hosted === undefined ? "fetch.not_found" : "fetch.found");
  if (hosted === undefined) return { ...base, outcome: "not_found", document: undefined };
  return { ...base, outcome: "found", document: hosted.bytes };
}

function list(
  state: IdServerState,
  request: IdServerRequest & { type: "identity_list" },
): IdServerAnswer {
  count(state, "list");
  const limit = Math.max(0, Math.min(request.limit, IDSERVER_LIST_PAGE_MAX));
  const from = firstAfter(state.names, request.after);
  const names = state.names.slice(from, from + limit);
  const more = from + names.length < state.names.length;
  return { type: "identity_list_reply", requestId: request.requestId, names, more };
}

function beginLoad(state: IdServerState): Out {
  state.phase = "loading";
  const id = state.nextIoId++;
  state.load.listId = id;
  state.timers.stop("load_retry");
  const prefix = state.load.stage === "identities" ? DOC_KEY_PREFIX : FAMILY_KEY_PREFIX;
  return [{ kind: "io", id, op: { op: "list", prefix } }];
}

function onIoDone(state: IdServerState, id: number, result: BlobResult, ctx: StepContext): Out {
  if (state.writes.has(id)) return finishWrite(state, id, result);
  if (state.familyWrites.has(id)) return finishFamilyWrite(state, id, result);
  if (state.deletes.has(id)) return finishDelete(state, id, result);
  const load = state.load;
  if (id === load.listId) {
    load.listId = null;
    if (!result.ok) {
      count(state, "load.list_failed");
      state.timers.set("load_retry", ctx.nowMs + LOAD_RETRY_MS);
      return [{ kind: "trace", event: "idserver.list_failed", detail: { error: result.error } }];
    }
    load.keys = result.keys ?? [];
    load.next = 0;
    return continueLoad(state, ctx.nowMs);
  }
  const key = load.reads.get(id);
  assert(key !== undefined, `io completion ${id} matches no request`);
  load.reads.delete(id);
  const out = load.stage === "identities"
    ? loadDocument(state, key, result, ctx)
    : loadFamily(state, key, result, ctx);
  return out.concat(continueLoad(state, ctx.nowMs));
}

function loadDocument(
  state: IdServerState,
  key: string,
  result: BlobResult,
  ctx: StepContext,
): Out {
  const record = result.ok && result.data !== undefined ? decodeRecord(result.data) : null;
  const checked = record === null ? undefined : checkIdentity(record.document, ctx.crypto);
  if (checked === undefined || !checked.ok || docKey(checked.doc.name) !== key) {
    count(state, "load.corrupt");
    return [{ kind: "trace", event: "idserver.load_corrupt", detail: { key } }];
  }
  const doc = checked.doc;
  if (state.docs.has(doc.name) || state.docs.size >= state.limits.identitiesMax) {
    count(state, "load.skipped");
    return [];
  }
  if ((state.keyNames.get(keyOf(doc.signingKey)) ?? 0) >= state.limits.namesPerKeyMax) {
    count(state, "load.over_key_limit");
    return [];
  }
  const nowMs = ctx.nowMs;
  const persisted = record!.refreshedMs;
  const graceFrom = nowMs - state.limits.identityTtlMs + IDENTITY_LOAD_GRACE_MS;
  insertName(state.names, doc.name);
  countKeyName(state, doc.signingKey, 1);
  state.docs.set(doc.name, {
    revision: doc.revision,
    signingKey: doc.signingKey,
    bytes: checked.bytes,
    refreshedMs: persisted === null ? nowMs : Math.min(nowMs, Math.max(persisted, graceFrom)),
    persistedMs: persisted ?? 0,
  });
  if (persisted === null) count(state, "load.unrefreshed_format");
  return [];
}

function continueLoad(state: IdServerState, nowMs: number): Out {
  const load = state.load;
  const out: Out = [];
  while (load.reads.size < IDSERVER_LOAD_READS_MAX && load.next < load.keys.length) {
    const key = load.keys[load.next++];
    const id = state.nextIoId++;
    load.reads.set(id, key);
    out.push({ kind: "io", id, op: { op: "read", key } });
  }
  if (load.reads.size === 0 && load.next >= load.keys.length) {
    if (load.stage === "identities") {
      load.stage = "families";
      load.keys = [];
      return out.concat(beginLoad(state));
    }
    state.phase = "ready";
    load.keys = [];
    armExpiry(state, nowMs);
    const corrupt = state.counters["load.corrupt"] ?? 0;
    out.push({ kind: "notice", notice: { type: "ready", identities: state.docs.size, corrupt } });
  }
  return out;
}

function onTimeout(state: IdServerState, ctx: StepContext): Out {
  const out: Out = [];
  for (const kind of state.timers.expired(ctx.nowMs)) {
    switch (kind) {
      case "offer_sweep":
        sweepOffers(state, ctx.nowMs); // re-arms or stops itself
        break;
      case "expiry_sweep":
        out.push(...sweepIdentities(state, ctx.nowMs)); // re-arms itself
        break;
      case "load_retry":
        out.push(...beginLoad(state)); // stops it
        break;
    }
  }
  return out;
}
