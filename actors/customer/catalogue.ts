/**
 * The catalogue's view of who holds what: a block credits position i with its fragment by the
 * position's generation at the acknowledgement (`BlockRec.heldAt`), so firing a member (a bump of
 * `Position.generation`, family.ts) uncredits everything it held in O(1), and a record written
 * before the fire cannot credit the next member after a reload (`records.ts` keeps the
 * generations a version record was written under).
 *
 * Every read of "does position i hold block b" goes through {@link holds}; every credit through
 * {@link credit}. Owns `s.catalogue` (the versions); others add and drop versions through it.
 *
 * @module
 */

import { blockPlace, versionOfKey } from "../../parts/fragment_keys.ts";
import type { BlockRec, CustomerState, VersionRec } from "./state.ts";

/** Whether position `p`'s current member acknowledged block `b`'s fragment. */
export function holds(s: CustomerState, b: BlockRec, p: number): boolean {
  const at = b.heldAt[p];
  return at !== 0 && at === s.family.positions[p].generation;
}

/** Position `p`'s current member acknowledged block `b`'s fragment. */
export function credit(s: CustomerState, b: BlockRec, p: number): void {
  b.heldAt[p] = s.family.positions[p].generation;
}

/** Block `b`'s fragment at `p` is no longer held (lost, corrupt, or removed). */
export function uncredit(b: BlockRec, p: number): void {
  b.heldAt[p] = 0;
}

/** How many positions hold block `b`'s fragment. */
export function holders(s: CustomerState, b: BlockRec): number {
  let n = 0;
  for (let p = 0; p < b.heldAt.length; p++) if (holds(s, b, p)) n++;
  return n;
}

/** Per position, 1 where block `b`'s fragment is held (for records, status and reports). */
export function heldBits(s: CustomerState, b: BlockRec): Uint8Array {
  const bits = new Uint8Array(b.heldAt.length);
  for (let p = 0; p < bits.length; p++) if (holds(s, b, p)) bits[p] = 1;
  return bits;
}

/** A version's blocks: every file's, then the manifest's (if sealed). */
export function blocksOf(v: VersionRec): BlockRec[] {
  const blocks = v.files.flatMap((f) => f.blocks);
  if (v.manifest !== null) blocks.push(v.manifest);
  return blocks;
}

/** Adds version `v` last (a new backup, a loaded or recovered record). */
export function addVersion(s: CustomerState, v: VersionRec): void {
  s.catalogue.versions.push(v);
}

/** Drops version `v` (deleted, or a failed backup's). */
export function removeVersion(s: CustomerState, v: VersionRec): void {
  s.catalogue.versions = s.catalogue.versions.filter((x) => x !== v);
}

/** Puts the versions in creation order (ties by id) after records were loaded or recovered. */
export function sortVersions(s: CustomerState): void {
  s.catalogue.versions.sort((a, b) => a.createdMs - b.createdMs || (a.id < b.id ? -1 : 1));
}

/**
 * The block named `key` in version `v` (a file's block or its manifest), or null. Requests and
 * continuations name blocks by key, not by pointer: an answer for a block of a version deleted
 * meanwhile finds nothing, and changes nothing of the catalogue.
 */
export function blockOfVersion(v: VersionRec, key: string): BlockRec | null {
  const place = blockPlace(key);
  if (place === null || versionOfKey(key) !== v.id) return null;
  if (place === "manifest") return v.manifest?.key === key ? v.manifest : null;
  const blocks = v.files[place.file]?.blocks;
  if (blocks === undefined) return null;
  // Blocks are kept in order, but a record reloaded mid-upload keeps only the sealed ones.
  const at = blocks[place.block];
  return at?.key === key ? at : blocks.find((b) => b.key === key) ?? null;
}

/** The block named `key` in the catalogue, or null (its version is gone). */
export function findBlock(s: CustomerState, key: string): BlockRec | null {
  const id = versionOfKey(key);
  const versions = s.catalogue.versions;
  for (let i = versions.length - 1; i >= 0; i--) {
    if (versions[i].id === id) return blockOfVersion(versions[i], key);
  }
  return null;
}

/** Calls `fn` for every block of every version (files and manifests). */
export function forEachBlock(s: CustomerState, fn: (b: BlockRec) => void): void {
  for (const v of s.catalogue.versions) {
    for (const f of v.files) for (const b of f.blocks) fn(b);
    if (v.manifest !== null) fn(v.manifest);
  }
}
