/**
 * Finding a user's data again with only the key (the other half, publishing, is
 * `publisher.ts`). Owns `s.recovery`.
 *
 * A customer that starts with no records at all (a new machine, or a new user) asks every ID
 * server for its family record before hiring anyone. If any has one, the newest is opened and
 * adopted: the positions get their suppliers back, with their keys pinned before anything is
 * sent to them (see `auth.ts`), and each listed version's manifest is fetched from the family
 * (every pinned position asked, the fragments checked by decryption since no hash is known yet)
 * and turned back into a catalogue entry. Only when every ID server that answered says it has
 * none does the customer start as a new user: hiring a new family while the old record is out
 * of reach would orphan the data, so silence is retried instead. A record for another scheme,
 * or one that does not open with this key, stops recovery with a notice and nothing is hired.
 *
 * A recovered block is credited to a position only while its supplier is still the one the
 * record named; audits and repair check the rest as usual.
 *
 * @module
 */

import type { StepContext } from "../../core/actor.ts";
import type { MessageOf } from "../../core/protocol/mod.ts";
import type { StorageJobResult } from "../../core/storage.ts";
import type { E } from "./protocol.ts";
import { familyRecorded, recordChanged, versionChanged } from "./journal.ts";
import { adoptFamily } from "./family.ts";
import { revisionSeen } from "./publisher.ts";
import { addVersion, sortVersions } from "./catalogue.ts";
import { canRequest, continuation, request } from "./requests.ts";
import type { BlockRec, CustomerState, ManifestFetch, VersionRec } from "./state.ts";
import { dataBlockKey, fragmentKey, manifestBlockKey } from "../../parts/fragment_keys.ts";

/** Manifests fetched at once while recovering. */
const MANIFESTS_IN_FLIGHT = 2;

/** Records are loaded: with none at all, look for a family record before doing anything. */
export function afterLoad(s: CustomerState): void {
  const fresh = s.catalogue.versions.length === 0 &&
    s.family.positions.every((p) => p.state === "empty");
  s.phase = fresh ? "recovering" : "ready";
  if (fresh) s.recovery.stage = "fetch";
}

/**
 * Drives the search for the family record while `recovering` (not while `recovery_retry` is
 * armed: the wait after a round that found nothing; its firing ends the wait).
 */
export function pumpRecovery(s: CustomerState, ctx: StepContext, out: E[]): void {
  const rec = s.recovery;
  if (s.phase !== "recovering" || rec.stage !== "fetch") return;
  if (s.deadlines.at("recovery_retry") !== null) return;
  if (!canRequest(s, s.idServers.length)) return;
  rec.stage = "fetching";
  rec.best = null;
  rec.answers = 0;
  rec.notFound = 0;
  for (const server of s.idServers) {
    request(s, ctx, out, server, { type: "family_fetch", owner: s.name }, {
      kind: "family_fetch",
    });
  }
}

/** An ID server answered the fetch (`null`: it did not answer in time). */
export function onFamilyFetched(
  s: CustomerState,
  ctx: StepContext,
  out: E[],
  m: MessageOf<"family_fetch_reply"> | null,
): void {
  const rec = s.recovery;
  if (rec.stage !== "fetching") return;
  rec.answers++;
  if (m !== null && m.outcome === "found" && m.record !== undefined && m.record.owner === s.name) {
    if (rec.best === null || m.record.revision > rec.best.revision) rec.best = m.record;
  } else if (m !== null && m.outcome === "not_found") {
    rec.notFound++;
  }
  if (rec.answers < s.idServers.length) return;
  if (rec.best !== null) {
    rec.stage = "opening";
    const id = continuation(s, { kind: "open_recovery", revision: rec.best.revision });
    out.push({
      kind: "job",
      id,
      job: { type: "open_recovery", sealed: rec.best.sealed, fileKey: s.fileKey },
    });
    return;
  }
  if (rec.notFound > 0) {
    // A new user: nobody has ever published a family for this name.
    rec.stage = "done";
    s.phase = "ready";
    return;
  }
  rec.stage = "fetch";
  s.deadlines.set("recovery_retry", ctx.nowMs + s.options.hireRetryMs);
}

function stuck(s: CustomerState, out: E[], reason: string): void {
  s.recovery.stage = "stuck";
  s.recovery.problem = reason;
  out.push({ kind: "notice", notice: { type: "recovery_failed", reason } });
  out.push({ kind: "trace", event: "recovery_failed", detail: { reason } });
}

/** The family record was opened: adopt the family and queue the versions' manifests. */
export function onRecoveryOpened(
  s: CustomerState,
  ctx: StepContext,
  out: E[],
  revision: number,
  result: StorageJobResult,
): void {
  const rec = s.recovery;
  if (rec.stage !== "opening") return;
  if (result.type !== "recovery_opened") {
    const why = result.type === "failed" ? result.error : result.type;
    return stuck(
      s,
      out,
      `the family record on the ID servers does not open with this key (${why})`,
    );
  }
  const record = result.record;
  if (record.scheme !== s.scheme.text || record.positions.length !== s.family.positions.length) {
    const want = record.scheme;
    const reason = `your data is stored with ${want} but this node is set up for ` +
      `${s.scheme.text}; stop the daemon and import your key backup again into an empty ` +
      `--data directory with --ecc ${want}`;
    return stuck(s, out, reason);
  }
  revisionSeen(s, revision);
  // The keys come with the names: the family is pinned before anybody is asked anything.
  const filled = adoptFamily(s, record.positions, record.keys ?? [], ctx.nowMs);
  for (const i of filled) rec.adopted[i] = s.family.positions[i].supplier;
  const ids = new Set<string>();
  rec.pending = record.versions.filter((v) => {
    if (ids.has(v.id)) return false;
    ids.add(v.id);
    return true;
  });
  rec.stage = "done";
  rec.allVersions = record.allVersions;
  s.deadlines.set("sweep", ctx.nowMs); // it starts once every listed version is read back
  s.phase = "ready";
  familyRecorded(s);
  s.counters.recoveries++;
  out.push({
    kind: "notice",
    notice: { type: "recovered", suppliers: filled.length, versions: rec.pending.length },
  });
  out.push({
    kind: "trace",
    event: "recovered",
    detail: { suppliers: filled.length, versions: rec.pending.length },
  });
}

/** Fetches the manifests of recovered versions, a few at a time. */
export function pumpManifests(s: CustomerState, ctx: StepContext, out: E[]): void {
  const rec = s.recovery;
  const n = s.family.positions.length;
  // Members of a record of the format before keys are probed first (their answers pin them):
  // wait for those probes, so that their fragments count.
  if (s.family.positions.some((p) => p.state === "active" && p.key === null && p.probePending)) {
    return;
  }
  while (rec.active.length < MANIFESTS_IN_FLIGHT && rec.pending.length > 0) {
    const next = rec.pending[0];
    if (s.deadlines.at("recovery_retry") !== null || !canRequest(s, n)) return;
    rec.pending.shift();
    const fetch: ManifestFetch = {
      id: next.id,
      cipherSize: next.manifestCipherSize,
      fragments: new Array(n).fill(undefined),
      waiting: 0,
    };
    rec.active.push(fetch);
    s.family.positions.forEach((p, i) => {
      if (p.state !== "active" || p.key === null) return;
      const sent = request(s, ctx, out, p.supplier!, {
        type: "fetch",
        key: fragmentKey(manifestBlockKey(fetch.id), i),
      }, {
        kind: "manifest_fetch",
        fetch: { id: fetch.id, cipherSize: fetch.cipherSize },
        position: i,
      });
      if (sent) fetch.waiting++;
    });
    if (fetch.waiting === 0) openFetched(s, out, fetch);
  }
}

/**
 * A supplier answered the fetch of version `versionId`'s manifest fragment at `position`
 * (`null`: it did not answer in time). A version's manifest is fetched once at a time, and its
 * fetch stays active until every one of its requests is answered or timed out.
 */
export function onManifestFragment(
  s: CustomerState,
  out: E[],
  versionId: string,
  position: number,
  m: MessageOf<"fetch_reply"> | null,
): void {
  const fetch = s.recovery.active.find((f) => f.id === versionId);
  if (fetch === undefined) return;
  if (m !== null && m.outcome === "found") fetch.fragments[position] = m.data;
  fetch.waiting--;
  if (fetch.waiting === 0) openFetched(s, out, fetch);
}

function openFetched(s: CustomerState, out: E[], fetch: ManifestFetch): void {
  const id = continuation(s, { kind: "recover_manifest", versionId: fetch.id });
  out.push({
    kind: "job",
    id,
    job: {
      type: "recover_manifest",
      fileKey: s.fileKey,
      scheme: s.scheme.text,
      fragments: fetch.fragments,
      cipherSize: fetch.cipherSize,
    },
  });
}

/** A manifest was rebuilt (or not): put the version back in the catalogue, or try again later. */
export function onManifestRecovered(
  s: CustomerState,
  ctx: StepContext,
  out: E[],
  versionId: string,
  result: StorageJobResult,
): void {
  const rec = s.recovery;
  const fetch = rec.active.find((f) => f.id === versionId);
  if (fetch === undefined) return;
  rec.active = rec.active.filter((f) => f !== fetch);
  if (result.type !== "manifest_recovered") {
    // Too few of its holders are online now (or the bytes are gone): try again later.
    s.counters.manifestsUnrecovered++;
    rec.pending.push({ id: fetch.id, manifestCipherSize: fetch.cipherSize });
    s.deadlines.set("recovery_retry", ctx.nowMs + s.options.offlineAfterMs);
    return;
  }
  if (
    s.catalogue.versions.some((v) => v.id === fetch.id) ||
    s.catalogue.versions.length >= s.options.versionsMax
  ) {
    return;
  }
  const version = versionFromManifest(s, fetch, result);
  addVersion(s, version);
  sortVersions(s);
  versionChanged(s, version.id, true);
  recordChanged(s);
  s.counters.versionsRecovered++;
  out.push({ kind: "trace", event: "version_recovered", detail: { version: version.id } });
}

function versionFromManifest(
  s: CustomerState,
  fetch: ManifestFetch,
  r: Extract<StorageJobResult, { type: "manifest_recovered" }>,
): VersionRec {
  const n = s.family.positions.length;
  const credited = new Uint32Array(n);
  s.family.positions.forEach((p, i) => {
    if (p.state === "active" && p.supplier === s.recovery.adopted[i]) credited[i] = p.generation;
  });
  const block = (key: string, plainSize: number, cipherSize: number): BlockRec => ({
    key,
    plainSize,
    cipherSize,
    fragmentSize: Math.ceil(cipherSize / s.scheme.k),
    hashes: [],
    roots: [],
    heldAt: credited.slice(),
    storing: new Uint8Array(n),
    pending: null,
    repairing: false,
  });
  const m = r.manifest;
  const manifest = block(manifestBlockKey(fetch.id), 0, fetch.cipherSize);
  manifest.fragmentSize = r.fragmentSize;
  manifest.hashes = r.fragmentHashes.map((h) => h.slice());
  manifest.roots = r.merkleRoots.map((h) => h.slice());
  r.matched.forEach((ok, i) => {
    manifest.heldAt[i] = ok ? credited[i] : 0;
  });
  return {
    id: fetch.id,
    label: m.label,
    createdMs: m.createdMs,
    status: "complete",
    files: m.files.map((f, fi) => ({
      path: f.path,
      size: f.size,
      mode: f.mode,
      mtimeMs: f.mtimeMs,
      salt: f.salt.slice(),
      blocks: f.blocks.map((b, bi) => {
        const rec = block(dataBlockKey(fetch.id, fi, bi), b.plainSize, b.cipherSize);
        rec.hashes = b.fragmentHashes.map((h) => h.slice());
        rec.roots = b.merkleRoots.map((h) => h.slice());
        return rec;
      }),
    })),
    manifest,
  };
}
