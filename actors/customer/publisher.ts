/**
 * Keeping a user's data findable with only the key: the family record and the identity.
 *
 * Whenever the family or the set of complete versions changes (a `record_changed` event), the
 * customer seals a recovery record (scheme, who holds each position and under which key, each
 * version's id and manifest size; see `data/recovery.ts`) under its file key, signs it as a
 * family record with a revision above the last one, and sends it to every ID server. A refusal
 * `older_revision` (another machine of the same user, or a clock that went back) raises the
 * revision past the server's and publishes again; `unknown_owner` publishes the identity first
 * when the customer has one to publish; silence is retried on the next probe round
 * (`probeIntervalMs`), other refusals after `hireRetryMs`. A backup is reported done only once a
 * record listing it is stored ({@link noticeWhenPublished}). Owns `s.publisher`.
 *
 * @module
 */

import type { StepContext } from "../../core/actor.ts";
import {
  FAMILY_SEALED_BYTES_MAX,
  IDENTITY_REFRESH_MS,
  PUBLIC_KEY_BYTES,
  RECOVERY_VERSIONS_MAX,
} from "../../core/limits.ts";
import { signFamilyRecord } from "../../core/protocol/identity.ts";
import type { MessageOf } from "../../core/protocol/mod.ts";
import type { RecoveryRecord, StorageJobResult } from "../../core/storage.ts";
import type { CustomerNotice, E } from "./protocol.ts";
import { recordChanged } from "./journal.ts";
import { canRequest, continuation, request } from "./requests.ts";
import type { CustomerState } from "./state.ts";

const utf8 = new TextEncoder();

/**
 * Emits `notice` once a family record naming version `versionId` is stored on an ID server: a
 * backup is done only when a new machine with only the key would find it. Other notices, and
 * versions the record cannot list, pass at once.
 */
export function noticeWhenPublished(
  s: CustomerState,
  out: E[],
  versionId: string,
  notice: CustomerNotice,
): void {
  if (notice.type !== "backup_done") {
    out.push({ kind: "notice", notice });
    return;
  }
  const list = s.publisher.waiting.get(versionId) ?? [];
  list.push(notice);
  s.publisher.waiting.set(versionId, list);
  s.publisher.dirty = true;
  out.push({ kind: "notice", notice: { type: "backup_recording", versionId } });
}

/**
 * Sends the identity document (when the customer has one) to every ID server, and arms the next
 * refresh about a day later (`IDENTITY_REFRESH_MS`, ±10%): ID servers drop identities that
 * nobody refreshes for `IDENTITY_TTL_MS`. A refresh is answered `unchanged`.
 */
export function publishIdentity(s: CustomerState, ctx: StepContext, out: E[]): void {
  const document = s.identityDocument;
  if (document === null) return;
  const jitter = 0.9 + 0.2 * ctx.random.float();
  s.deadlines.set("identity_refresh", ctx.nowMs + Math.round(IDENTITY_REFRESH_MS * jitter));
  for (const server of s.idServers) {
    request(s, ctx, out, server, { type: "identity_publish", document }, {
      kind: "identity_publish",
    });
  }
}

/** Publishes the identity again unless a publish of it is already awaiting answers. */
export function republishIdentity(s: CustomerState, ctx: StepContext, out: E[]): void {
  for (const r of s.requests.values()) if (r.purpose.kind === "identity_publish") return;
  publishIdentity(s, ctx, out);
}

/** An identity publish went unanswered: its refresh comes after `hireRetryMs`, not a day. */
export function retryIdentityPublish(s: CustomerState, ctx: StepContext): void {
  const due = s.deadlines.at("identity_refresh");
  const retryMs = ctx.nowMs + s.options.hireRetryMs;
  if (due === null || due > retryMs) s.deadlines.set("identity_refresh", retryMs);
}

/**
 * An ID server answered an identity publish. `stored` where the customer had published a family
 * record before means the server had lost the identity (it expired while this node was away, or
 * the server lost its disk), and the family record with it: publish the record again.
 */
export function onIdentityPublished(
  s: CustomerState,
  m: MessageOf<"identity_publish_reply">,
): void {
  if (m.outcome === "stored" && s.publisher.revision > 0) recordChanged(s);
}

// ---- publishing ----

/**
 * Seals and publishes the record when it changed, nothing is in flight and no retry is waited
 * for (an armed `record_retry`: the wait after a failed publish; its firing ends the wait).
 */
export function pumpRecord(s: CustomerState, ctx: StepContext, out: E[]): void {
  const r = s.publisher;
  if (!r.dirty || r.sealing || r.awaiting > 0 || s.deadlines.at("record_retry") !== null) return;
  if (!canRequest(s, s.idServers.length)) return;
  r.dirty = false;
  r.sealing = true;
  const record = recoveryRecordOf(s);
  const listed = new Set(record.versions.map((v) => v.id));
  r.covering = [];
  for (const [versionId, notices] of r.waiting) {
    if (listed.has(versionId)) {
      r.covering.push(versionId);
      continue;
    }
    // Complete, yet cut from a record at its size limit: no record will ever list it.
    for (const notice of notices) out.push({ kind: "notice", notice });
    r.waiting.delete(versionId);
  }
  const id = continuation(s, { kind: "seal_recovery" });
  out.push({
    kind: "job",
    id,
    job: { type: "seal_recovery", record, fileKey: s.fileKey, salt: ctx.secret.bytes(32) },
  });
}

/** What the record says now: the family and the newest complete versions. */
export function recoveryRecordOf(s: CustomerState): RecoveryRecord {
  const versions: RecoveryRecord["versions"] = [];
  for (const p of s.recovery.pending) versions.push(p);
  for (const f of s.recovery.active) versions.push({ id: f.id, manifestCipherSize: f.cipherSize });
  for (let i = s.catalogue.versions.length - 1; i >= 0; i--) {
    const v = s.catalogue.versions[i];
    if (v.status !== "complete" || v.manifest === null) continue;
    versions.push({ id: v.id, manifestCipherSize: v.manifest.cipherSize });
  }
  const positions = s.family.positions.map((p) => (p.state === "active" ? p.supplier! : undefined));
  const keys = s.family.positions.map((
    p,
  ) => (p.state === "active" ? p.key ?? undefined : undefined));
  // Stay inside the sealed-size limit whatever the names: a version costs at most its id, a
  // length byte and a 10-byte number; a position its name, its key and 4 bytes.
  let budget = FAMILY_SEALED_BYTES_MAX - 256;
  for (const p of positions) {
    budget -= 4 + PUBLIC_KEY_BYTES + (p === undefined ? 0 : utf8.encode(p).length);
  }
  let fit = 0;
  while (fit < Math.min(versions.length, RECOVERY_VERSIONS_MAX)) {
    budget -= 11 + utf8.encode(versions[fit].id).length;
    if (budget < 0) break;
    fit++;
  }
  return {
    scheme: s.scheme.text,
    positions,
    keys,
    versions: versions.slice(0, fit),
    allVersions: fit === versions.length,
  };
}

/** The record was sealed: sign it and send it to every ID server. */
export function onRecordSealed(
  s: CustomerState,
  ctx: StepContext,
  out: E[],
  result: StorageJobResult,
): void {
  const r = s.publisher;
  r.sealing = false;
  if (result.type !== "recovery_sealed") {
    s.counters.recordPublishFailures++;
    r.dirty = true;
    s.deadlines.set("record_retry", ctx.nowMs + s.options.hireRetryMs);
    return;
  }
  r.revision = Math.max(r.revision + 1, Math.floor(ctx.nowMs));
  const record = signFamilyRecord({
    owner: s.name,
    revision: r.revision,
    issuedMs: Math.max(0, Math.floor(ctx.nowMs)),
    sealed: result.sealed,
  }, (data) => ctx.crypto.sign(data));
  for (const server of s.idServers) {
    if (
      request(s, ctx, out, server, { type: "family_publish", record }, { kind: "family_publish" })
    ) {
      r.awaiting++;
    }
  }
}

/** An ID server answered a publish (`null`: it did not answer in time). */
export function onRecordPublished(
  s: CustomerState,
  ctx: StepContext,
  out: E[],
  m: MessageOf<"family_publish_reply"> | null,
): void {
  const r = s.publisher;
  r.awaiting = Math.max(0, r.awaiting - 1);
  if (m !== null && (m.outcome === "stored" || m.outcome === "unchanged")) {
    s.counters.recordsPublished++;
    for (const versionId of r.covering) {
      for (const notice of r.waiting.get(versionId) ?? []) out.push({ kind: "notice", notice });
      r.waiting.delete(versionId);
    }
    r.covering = [];
    return;
  }
  s.counters.recordPublishFailures++;
  r.dirty = true;
  if (m !== null && m.outcome === "older_revision") {
    r.revision = Math.max(r.revision, m.revision);
    return; // at once, with a higher revision
  }
  if (m !== null && m.outcome === "unknown_owner") publishIdentity(s, ctx, out);
  // Silence is an ID server down or restarting: try again on the next probe round, so a backup
  // waiting for its record ends soon after the server is back (issue 11, case 3).
  const waitMs = m === null ? s.options.probeIntervalMs : s.options.hireRetryMs;
  s.deadlines.set("record_retry", ctx.nowMs + waitMs);
}

/** A family record of `revision` was adopted: the next one published goes above it. */
export function revisionSeen(s: CustomerState, revision: number): void {
  s.publisher.revision = Math.max(s.publisher.revision, revision);
}

/** The family or the list of complete versions changed (a `record_changed` event). */
export function onRecordChanged(s: CustomerState): void {
  s.publisher.dirty = true;
}

/** Version `versionId` is gone (a `version_deleted` event): its `backup_done`, if held, is moot. */
export function forgetWaiting(s: CustomerState, versionId: string): void {
  s.publisher.waiting.delete(versionId);
}
