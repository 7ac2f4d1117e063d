/**
 * A node's cache of other nodes' identity documents: verified, newest revision only.
 *
 * Rules, in the order {@link offerIdentity} applies them:
 * - the document must pass {@link checkIdentity} (well formed, self-signed);
 * - if the caller asked for a name (it fetched `<name>.json`), the document must be that name's;
 * - the first document seen for a name pins its signing key: a document under another key is
 *   refused as `key_changed` (a takeover attempt, or an ID server lying);
 * - a lower revision than the cached one is refused as `older_revision` (rollback); the same
 *   revision with other bytes as `conflict`; the same bytes are `unchanged`; a higher revision
 *   under the pinned key replaces the entry. That is what makes rotation work: after an owner
 *   moves to other ID servers and re-signs, peers accept the new revision because the same key
 *   signed it.
 *
 * At most `entriesMax` ({@link IDENTITY_CACHE_ENTRIES_MAX}) names are kept; when full, the least
 * recently used entry is dropped (counted as `evicted`), and with it the key pin, so nodes that
 * must stay pinned (a customer's suppliers) should be looked up often or persisted by the owner.
 *
 * @module
 */

import type { NodeId, StepCrypto } from "./actor.ts";
import { assert } from "./assert.ts";
import {
  checkIdentity,
  IDENTITY_REJECT_REASONS,
  type IdentityDocument,
  type IdentityRejectReason,
} from "./identity.ts";
import { bytesEqual } from "./ids.ts";
import { IDENTITY_CACHE_ENTRIES_MAX } from "./limits.ts";

/** Why the cache refused a document. */
export type IdentityCacheRejectReason =
  | IdentityRejectReason
  | "name_mismatch"
  | "key_changed"
  | "older_revision"
  | "conflict";

/** Every {@link IdentityCacheRejectReason}. */
export const IDENTITY_CACHE_REJECT_REASONS: readonly IdentityCacheRejectReason[] = [
  ...IDENTITY_REJECT_REASONS,
  "name_mismatch",
  "key_changed",
  "older_revision",
  "conflict",
];

/** One cached document. */
export interface IdentityCacheEntry {
  /** The verified document. */
  doc: IdentityDocument;
  /** Its binary encoding, as verified. */
  bytes: Uint8Array<ArrayBuffer>;
  /** When this revision entered the cache. */
  storedMs: number;
}

/** What happened to an accepted document. */
export type IdentityCacheStatus = "new" | "updated" | "unchanged";

/** Outcome of {@link offerIdentity}. */
export type IdentityCacheResult =
  | { ok: true; status: IdentityCacheStatus; doc: IdentityDocument }
  | { ok: false; reason: IdentityCacheRejectReason; cached?: IdentityDocument };

/** Counters of an {@link IdentityCache}. */
export type IdentityCacheCounters = Record<
  IdentityCacheRejectReason | IdentityCacheStatus | "evicted",
  number
>;

/** The cache's explicit state. */
export interface IdentityCache {
  /** Entries by name, least recently used first. */
  readonly entries: Map<NodeId, IdentityCacheEntry>;
  /** Most entries kept. */
  readonly entriesMax: number;
  /** How many offers ended in each outcome. */
  readonly counters: IdentityCacheCounters;
}

/** An empty cache holding at most `entriesMax` documents. */
export function createIdentityCache(entriesMax = IDENTITY_CACHE_ENTRIES_MAX): IdentityCache {
  assert(entriesMax >= 1, "an identity cache holds at least one entry");
  const counters = { new: 0, updated: 0, unchanged: 0, evicted: 0 } as IdentityCacheCounters;
  for (const r of IDENTITY_CACHE_REJECT_REASONS) counters[r] = 0;
  return { entries: new Map(), entriesMax, counters };
}

function refuse(
  cache: IdentityCache,
  reason: IdentityCacheRejectReason,
  cached?: IdentityDocument,
): IdentityCacheResult {
  cache.counters[reason]++;
  return cached === undefined ? { ok: false, reason } : { ok: false, reason, cached };
}

/**
 * Offers a peer's document (binary form) to the cache; keeps it if it is valid and not older than
 * what is cached. `expectedName` is the name the caller asked for, if any.
 */
export function offerIdentity(
  cache: IdentityCache,
  bytes: Uint8Array,
  crypto: Pick<StepCrypto, "verify">,
  nowMs: number,
  expectedName?: NodeId,
): IdentityCacheResult {
  const checked = checkIdentity(bytes, crypto);
  if (!checked.ok) return refuse(cache, checked.reason);
  const doc = checked.doc;
  if (expectedName !== undefined && doc.name !== expectedName) {
    return refuse(cache, "name_mismatch");
  }
  const old = cache.entries.get(doc.name);
  let status: IdentityCacheStatus = "new";
  if (old !== undefined) {
    if (!bytesEqual(old.doc.signingKey, doc.signingKey)) {
      return refuse(cache, "key_changed", old.doc);
    }
    if (doc.revision < old.doc.revision) return refuse(cache, "older_revision", old.doc);
    if (doc.revision === old.doc.revision) {
      if (!bytesEqual(old.bytes, checked.bytes)) return refuse(cache, "conflict", old.doc);
      touch(cache, doc.name, old);
      cache.counters.unchanged++;
      return { ok: true, status: "unchanged", doc: old.doc };
    }
    status = "updated";
  } else if (cache.entries.size >= cache.entriesMax) {
    cache.entries.delete(cache.entries.keys().next().value!);
    cache.counters.evicted++;
  }
  touch(cache, doc.name, { doc, bytes: checked.bytes, storedMs: nowMs });
  cache.counters[status]++;
  return { ok: true, status, doc };
}

function touch(cache: IdentityCache, name: NodeId, entry: IdentityCacheEntry): void {
  cache.entries.delete(name);
  cache.entries.set(name, entry);
}

/** The cached document of `name`, marking it recently used; `undefined` when not cached. */
export function lookupIdentity(cache: IdentityCache, name: NodeId): IdentityDocument | undefined {
  const entry = cache.entries.get(name);
  if (entry === undefined) return undefined;
  touch(cache, name, entry);
  return entry.doc;
}

/** The pinned signing key of `name`, for packet and signature checks. */
export function signingKeyOf(cache: IdentityCache, name: NodeId): Uint8Array | undefined {
  return cache.entries.get(name)?.doc.signingKey;
}

/** Drops `name` from the cache (and its key pin). */
export function forgetIdentity(cache: IdentityCache, name: NodeId): boolean {
  return cache.entries.delete(name);
}

/** Asserts the cache's own rules: bounded, and every entry filed under its own name. */
export function identityCacheInvariants(cache: IdentityCache): void {
  assert(cache.entries.size <= cache.entriesMax, "identity cache over its maximum");
  for (const [name, entry] of cache.entries) {
    assert(entry.doc.name === name, `identity cache entry ${name} holds ${entry.doc.name}`);
  }
}
