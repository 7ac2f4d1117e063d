/**
 * The user's commands that need no pipeline: delete a version, list versions, report status.
 *
 * @module
 */

import type { StepContext } from "../../core/actor.ts";
import { REMOVE_KEYS_MAX } from "../../core/limits.ts";
import { failBackup } from "./backup.ts";
import type { E, PositionSummary, VersionSummary } from "./protocol.ts";
import { dropRecord } from "./persist.ts";
import { recordChanged } from "./journal.ts";
import { blocksOf, holds, removeVersion } from "./catalogue.ts";
import { request } from "./requests.ts";
import type { CustomerState } from "./state.ts";
import { fragmentKey } from "../../parts/fragment_keys.ts";

/** Forgets a version and asks every active supplier to remove the fragments it holds of it. */
export function deleteVersion(s: CustomerState, ctx: StepContext, out: E[], versionId: string) {
  const v = s.catalogue.versions.find((x) => x.id === versionId);
  if (v === undefined) {
    const reason = `no version ${versionId}; list the versions with 'ls'`;
    out.push({ kind: "notice", notice: { type: "command_failed", command: "delete", reason } });
    return;
  }
  if (s.backups.run !== null && s.backups.run.version === v) {
    failBackup(s, out, "deleted by the user");
  }
  removeVersion(s, v);
  const blocks = blocksOf(v);
  s.family.positions.forEach((p, i) => {
    if (p.state !== "active") return;
    const keys = blocks.filter((b) => holds(s, b, i)).map((b) => fragmentKey(b.key, i));
    for (let at = 0; at < keys.length; at += REMOVE_KEYS_MAX) {
      const chunk = keys.slice(at, at + REMOVE_KEYS_MAX);
      request(s, ctx, out, p.supplier!, { type: "remove", keys: chunk }, { kind: "remove" });
    }
  });
  for (const b of blocks) b.heldAt.fill(0);
  dropRecord(s, out, versionId);
  s.events.push({ kind: "version_deleted", versionId });
  recordChanged(s);
  out.push({ kind: "notice", notice: { type: "deleted", versionId } });
  out.push({ kind: "trace", event: "deleted", detail: { version: versionId } });
}

/** The catalogue as the user sees it. */
export function listVersions(s: CustomerState): VersionSummary[] {
  return s.catalogue.versions.map((v) => ({
    versionId: v.id,
    label: v.label,
    createdMs: v.createdMs,
    complete: v.status === "complete",
    status: v.status,
    files: v.files.map((f) => ({ path: f.path, size: f.size, mode: f.mode, mtimeMs: f.mtimeMs })),
  }));
}

/** The family and the health of the catalogue. */
export function status(s: CustomerState): Extract<E, { kind: "notice" }>["notice"] {
  const missing = new Array(s.family.positions.length).fill(0);
  let degraded = 0;
  let atRisk = 0;
  for (const v of s.catalogue.versions) {
    if (v.status !== "complete") continue;
    for (const b of blocksOf(v)) {
      let held = 0;
      for (let p = 0; p < b.heldAt.length; p++) {
        if (holds(s, b, p) && s.family.positions[p].state === "active") held++;
        else missing[p]++;
      }
      if (held < s.scheme.n) degraded++;
      if (held < s.scheme.k) atRisk++;
    }
  }
  const positions: PositionSummary[] = s.family.positions.map((p, i) => ({
    position: i,
    supplier: p.supplier,
    state: p.state,
    online: p.online,
    lastSeenMs: p.lastSeenMs,
    missing: missing[i],
    pinned: p.key !== null,
  }));
  return {
    type: "status",
    scheme: s.scheme.text,
    positions,
    blocksDegraded: degraded,
    blocksAtRisk: atRisk,
    phase: s.phase,
    versionsToRecover: s.recovery.pending.length + s.recovery.active.length,
    recoveryProblem: s.recovery.problem,
    messagesRefused: s.counters.authRefused,
  };
}
