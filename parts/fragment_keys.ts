/**
 * Fragment keys: the one place their format lives.
 *
 * A customer names every block it stores by a key prefix, and the fragment at position `p` of
 * that block by `<prefix>/<p>`. Data blocks are `<version>/<file>/<block>`; the manifest of a
 * version is one block, `<version>/m/0`. A supplier keeps each customer's fragment under
 * `frag/<customer>/<key>` on its disk. Keys are checked on arrival by `isFragmentKey`
 * (`core/storage.ts`): letters, digits, `_` and `-` between slashes, so none climbs out of a
 * folder. Nothing else in the project spells these strings.
 *
 * @module
 */

import type { NodeId } from "../core/actor.ts";

/** Key prefix of block `blockIndex` of file `fileIndex` of version `versionId`. */
export function dataBlockKey(versionId: string, fileIndex: number, blockIndex: number): string {
  return `${versionId}/${fileIndex}/${blockIndex}`;
}

/** Key prefix of the manifest block of version `versionId`. */
export function manifestBlockKey(versionId: string): string {
  return `${versionId}/m/0`;
}

/**
 * Where a block key points within its version: `{ file, block }` for a data block, `manifest`
 * for the manifest, null for a key of no format here.
 */
export function blockPlace(key: string): { file: number; block: number } | "manifest" | null {
  const parts = key.split("/");
  if (parts.length !== 3) return null;
  if (parts[1] === "m" && parts[2] === "0") return "manifest";
  const file = Number(parts[1]);
  const block = Number(parts[2]);
  return Number.isInteger(file) && Number.isInteger(block) && file >= 0 && block >= 0
    ? { file, block }
    : null;
}

/** The block key and position a fragment key names, or null for a key of no format here. */
export function fragmentOfKey(key: string): { block: string; position: number } | null {
  const slash = key.lastIndexOf("/");
  const position = Number(key.slice(slash + 1));
  if (slash <= 0 || !Number.isInteger(position) || position < 0) return null;
  const block = key.slice(0, slash);
  return blockPlace(block) === null ? null : { block, position };
}

/** The version a block key (or fragment key) belongs to. */
export function versionOfKey(key: string): string {
  return key.slice(0, key.indexOf("/"));
}

/** Key of the fragment at `position` of the block whose prefix is `blockKey`. */
export function fragmentKey(blockKey: string, position: number): string {
  return `${blockKey}/${position}`;
}

/** Whether fragment key `key` belongs to the manifest of version `versionId`. */
export function isManifestFragmentOf(key: string, versionId: string): boolean {
  return key.startsWith(`${versionId}/m/`);
}

/** Whether fragment key `key` belongs to some version's manifest. */
export function isManifestFragment(key: string): boolean {
  return key.includes("/m/");
}

/** Folder of a supplier's disk that holds customers' fragments. */
export const STORED_FRAGMENT_PREFIX = "frag/";

/** The blob key under which a supplier stores `customer`'s fragment `key`. */
export function storedFragmentBlob(customer: NodeId, key: string): string {
  return `${STORED_FRAGMENT_PREFIX}${customer}/${key}`;
}
