/**
 * Expiry of identities nobody refreshes.
 *
 * Every hosted identity has a refresh time: set when it is stored, moved on by every publish of
 * the same document (`unchanged`) or of a higher revision, and kept in its blob (`records.ts`;
 * a refresh is written only when the time on disk is older than `IDSERVER_REFRESH_PERSIST_MS`,
 * so after a restart an identity may look up to that much older than it is). One not refreshed
 * for longer than `limits.identityTtlMs` (`IDENTITY_TTL_MS`, 30 days) is expired: it is no longer
 * served (`GET` answers not found), no longer vouches for offers or family records, and the next
 * sweep drops it together with its family record and its offer, and deletes their blobs. Until
 * the sweep has dropped it, a refresh by its owner brings it back; once dropped, its name is free.
 *
 * The sweep runs every `IDSERVER_EXPIRY_SWEEP_MS` once the server is ready. Its work is bounded:
 * it looks at `IDSERVER_EXPIRY_SCAN_MAX` names, going on from the last name it looked at (so a
 * pass over 200,000 names takes about eight hours), and drops at most `IDSERVER_EXPIRY_DROPS_MAX`
 * of them, within the budget of blob operations in flight. A name being written is looked at
 * again next time. While an expired name's deletes are in flight, publishes of it are answered
 * `busy`, so a new owner's write can never be overtaken by the old owner's delete.
 *
 * @module
 */

import type { BlobResult, Effect, NodeId } from "../../core/actor.ts";
import {
  IDSERVER_EXPIRY_DROPS_MAX,
  IDSERVER_EXPIRY_SCAN_MAX,
  IDSERVER_EXPIRY_SWEEP_MS,
  IDSERVER_WRITES_PENDING_MAX,
} from "../../core/limits.ts";
import { removeOffer } from "./offers.ts";
import {
  blobOpsInFlight,
  count,
  countKeyName,
  docKey,
  expired,
  familyKey,
  firstAfter,
  type IdServerProtocol,
  type IdServerState,
  removeName,
} from "./state.ts";

type Out = Effect<IdServerProtocol>[];

/** Arms the first sweep (when loading is done). */
export function armExpiry(state: IdServerState, nowMs: number): void {
  state.timers.set("expiry_sweep", nowMs + IDSERVER_EXPIRY_SWEEP_MS);
}

/** One sweep: drops some expired identities (see the module comment) and re-arms itself. */
export function sweepIdentities(state: IdServerState, nowMs: number): Out {
  state.timers.set("expiry_sweep", nowMs + IDSERVER_EXPIRY_SWEEP_MS);
  const names = state.names;
  const n = names.length;
  if (n === 0) return [];
  let at = firstAfter(names, state.expiry.cursor);
  const drop: NodeId[] = [];
  let ops = blobOpsInFlight(state);
  for (let seen = 0; seen < Math.min(n, IDSERVER_EXPIRY_SCAN_MAX); seen++) {
    if (at >= n) at = 0;
    const name = names[at];
    const hosted = state.docs.get(name)!;
    const busy = state.writing.has(name) || state.familyWriting.has(name) ||
      state.deleting.has(name);
    if (!busy && expired(state, hosted, nowMs)) {
      const cost = state.families.has(name) ? 2 : 1;
      if (drop.length >= IDSERVER_EXPIRY_DROPS_MAX || ops + cost > IDSERVER_WRITES_PENDING_MAX) {
        break; // the rest waits for the next sweep, which starts at this name
      }
      drop.push(name);
      ops += cost;
    }
    state.expiry.cursor = name;
    at++;
  }
  const out: Out = [];
  for (const name of drop) out.push(...dropIdentity(state, name));
  if (drop.length > 0) {
    out.push({ kind: "trace", event: "idserver.expired", detail: { identities: drop.length } });
  }
  return out;
}

/** Forgets `name`, its family record and its offer, and deletes their blobs. */
function dropIdentity(state: IdServerState, name: NodeId): Out {
  const hosted = state.docs.get(name)!;
  state.docs.delete(name);
  removeName(state.names, name);
  countKeyName(state, hosted.signingKey, -1);
  count(state, "expire.identities");
  if (state.offers.has(name)) {
    removeOffer(state, name);
    count(state, "expire.offers");
  }
  const keys = [docKey(name)];
  state.leases.delete(name);
  if (state.families.delete(name)) {
    count(state, "expire.families");
    keys.push(familyKey(name));
  }
  const out: Out = [];
  for (const key of keys) {
    const id = state.nextIoId++;
    state.deletes.set(id, name);
    state.deleting.set(name, (state.deleting.get(name) ?? 0) + 1);
    out.push({ kind: "io", id, op: { op: "delete", key } });
  }
  return out;
}

/** A delete of an expired identity's blob completed. */
export function finishDelete(state: IdServerState, id: number, result: BlobResult): Out {
  const name = state.deletes.get(id)!;
  state.deletes.delete(id);
  const left = state.deleting.get(name)! - 1;
  if (left === 0) state.deleting.delete(name);
  else state.deleting.set(name, left);
  if (result.ok) return [];
  // The blob stays; it loads again after a restart, is expired again, and is dropped again.
  count(state, "expire.delete_failed");
  return [{
    kind: "trace",
    event: "idserver.delete_failed",
    detail: { name, error: result.error },
  }];
}
