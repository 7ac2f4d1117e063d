/**
 * A {@link BlobStore} that sends each key to one of several stores by its prefix, and the
 * extension of the store interface for what {@link BlobOp} asks beyond it (byte ranges, sizes).
 *
 * Theory of operation. A node keeps different kinds of blobs in different places: the user's
 * own files (`src:` → `SourceStore`), fragment bytes (`frag/` → `FsBlobStore`), everything else
 * (contracts, catalogs, indexes) in Deno KV. {@link RoutedStore} holds a list of routes; a key
 * goes to the route with the longest prefix it starts with, or to the fallback store. A listing
 * asks every store whose namespace can hold keys under the listed prefix, drops keys that
 * belong to another route (a store shadowed by a longer route may still hold old keys), and
 * merges the rest in sorted order. The routed store owns its stores: `close` closes each once.
 *
 * {@link RangedBlobStore} is a store that reads byte ranges and lists sizes itself (the file
 * stores do it without reading whole blobs). {@link runRangedBlobOp} runs any {@link BlobOp}
 * against any store: ranges and sizes go to the ranged methods when the store has them, and are
 * emulated (read whole, then cut; read each to size it) when it does not. It reports outcomes
 * as values exactly like `runBlobOp` in `blob_store.ts`, plus `sizes` on every listing.
 *
 * @module
 */

import type { BlobOp, BlobResult } from "../core/actor.ts";
import { BlobSpaceError, type BlobStore, checkBlobKey } from "./blob_store.ts";

/** Keys under a prefix and their sizes in bytes, index by index, sorted by key. */
export interface SizedList {
  /** The keys, sorted by UTF-16 code units. */
  keys: string[];
  /** `sizes[i]` is the size of `keys[i]` in bytes. */
  sizes: number[];
}

/** A {@link BlobStore} that also reads byte ranges and lists sizes without reading blobs. */
export interface RangedBlobStore extends BlobStore {
  /**
   * `length` bytes of the blob from `offset` (fewer at its end, none past it; all the rest when
   * `length` is omitted), or `undefined` when there is no blob.
   */
  readRange(key: string, offset: number, length?: number): Promise<Uint8Array | undefined>;
  /** Every key that starts with `prefix`, sorted, with its size. */
  listSizes(prefix: string): Promise<SizedList>;
}

/** Whether `store` implements {@link RangedBlobStore}. */
function isRanged(store: BlobStore): store is RangedBlobStore {
  const s = store as Partial<RangedBlobStore>;
  return typeof s.readRange === "function" && typeof s.listSizes === "function";
}

/** Throws `RangeError` unless `offset` and `length` make a valid range request. */
export function checkRange(offset: number, length: number | undefined): void {
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new RangeError(`read offset must be a whole number >= 0, got ${offset}`);
  }
  if (length !== undefined && (!Number.isSafeInteger(length) || length < 0)) {
    throw new RangeError(`read length must be a whole number >= 0, got ${length}`);
  }
}

/** Reads a range from any store (emulated with a whole read when the store is not ranged). */
async function readRange(
  store: BlobStore,
  key: string,
  offset: number,
  length?: number,
): Promise<Uint8Array | undefined> {
  checkRange(offset, length);
  if (isRanged(store)) return await store.readRange(key, offset, length);
  const data = await store.read(key);
  if (data === undefined) return undefined;
  if (offset === 0 && (length === undefined || length >= data.length)) return data;
  const end = length === undefined ? data.length : Math.min(data.length, offset + length);
  return data.slice(Math.min(offset, data.length), end);
}

/** Lists keys with sizes from any store (emulated by reading each blob when not ranged). */
async function listSizes(store: BlobStore, prefix: string): Promise<SizedList> {
  if (isRanged(store)) return await store.listSizes(prefix);
  const keys: string[] = [];
  const sizes: number[] = [];
  for (const key of await store.list(prefix)) {
    const data = await store.read(key);
    if (data === undefined) continue; // deleted meanwhile
    keys.push(key);
    sizes.push(data.length);
  }
  return { keys, sizes };
}

/**
 * Runs one actor {@link BlobOp} against `store`, honouring read ranges and listing sizes, and
 * reports the outcome as a value: a missing blob is `not_found`, {@link BlobSpaceError} is
 * `no_space`, any other failure of the store is `io_error`. `RangeError` and `TypeError`
 * propagate: they are our bugs.
 */
export async function runRangedBlobOp(store: BlobStore, op: BlobOp): Promise<BlobResult> {
  try {
    switch (op.op) {
      case "read": {
        const ranged = op.offset !== undefined || op.length !== undefined;
        const data = ranged
          ? await readRange(store, op.key, op.offset ?? 0, op.length)
          : await store.read(op.key);
        return data === undefined ? { ok: false, error: "not_found" } : { ok: true, data };
      }
      case "write":
        await store.write(op.key, op.data);
        return { ok: true };
      case "delete":
        return (await store.delete(op.key)) ? { ok: true } : { ok: false, error: "not_found" };
      case "list": {
        const { keys, sizes } = await listSizes(store, op.prefix);
        return { ok: true, keys, sizes };
      }
    }
  } catch (e) {
    if (e instanceof RangeError || e instanceof TypeError) throw e;
    if (e instanceof BlobSpaceError) return { ok: false, error: "no_space", detail: e.message };
    return { ok: false, error: "io_error", detail: e instanceof Error ? e.message : String(e) };
  }
}

/** One route of a {@link RoutedStore}: keys starting with `prefix` live in `store`. */
export interface Route {
  /** Non-empty key prefix. */
  prefix: string;
  /** Where those keys live. */
  store: BlobStore;
}

/** Sends keys to stores by prefix; see the module comment. */
export class RoutedStore implements RangedBlobStore {
  readonly #routes: Route[];
  readonly #fallback: BlobStore;
  #closed = false;

  /**
   * A store over `routes` and `fallback`; it owns them (see {@link close}).
   *
   * @param routes non-empty, distinct prefixes and their stores (the longest prefix wins)
   * @param fallback the store of every key no route claims
   */
  constructor(routes: readonly Route[], fallback: BlobStore) {
    const prefixes = new Set(routes.map((r) => r.prefix));
    if (prefixes.size !== routes.length || prefixes.has("")) {
      throw new RangeError("route prefixes must be non-empty and distinct");
    }
    this.#routes = [...routes].sort((a, b) => b.prefix.length - a.prefix.length);
    this.#fallback = fallback;
  }

  /** The store that holds `key`. */
  storeFor(key: string): BlobStore {
    for (const r of this.#routes) if (key.startsWith(r.prefix)) return r.store;
    return this.#fallback;
  }

  #open(): void {
    if (this.#closed) throw new Error("blob store is closed");
  }

  async read(key: string): Promise<Uint8Array | undefined> {
    this.#open();
    checkBlobKey(key);
    return await this.storeFor(key).read(key);
  }

  async readRange(key: string, offset: number, length?: number): Promise<Uint8Array | undefined> {
    this.#open();
    checkBlobKey(key);
    return await readRange(this.storeFor(key), key, offset, length);
  }

  async write(key: string, data: Uint8Array): Promise<void> {
    this.#open();
    checkBlobKey(key);
    return await this.storeFor(key).write(key, data);
  }

  async delete(key: string): Promise<boolean> {
    this.#open();
    checkBlobKey(key);
    return await this.storeFor(key).delete(key);
  }

  async list(prefix: string): Promise<string[]> {
    return (await this.listSizes(prefix)).keys;
  }

  async listSizes(prefix: string): Promise<SizedList> {
    this.#open();
    const parts: SizedList[] = [];
    for (const { store, asked } of this.#sources(prefix)) {
      const got = await listSizes(store, asked);
      const part: SizedList = { keys: [], sizes: [] };
      got.keys.forEach((key, i) => {
        if (!key.startsWith(prefix) || this.storeFor(key) !== store) return;
        part.keys.push(key);
        part.sizes.push(got.sizes[i]);
      });
      parts.push(part);
    }
    return mergeSorted(parts);
  }

  /** The stores to ask for a listing of `prefix`, each with the prefix to ask it for. */
  #sources(prefix: string): { store: BlobStore; asked: string }[] {
    const out: { store: BlobStore; asked: string }[] = [];
    const add = (store: BlobStore, asked: string) => {
      const same = out.find((o) => o.store === store);
      if (same === undefined) out.push({ store, asked });
      else if (!asked.startsWith(same.asked)) same.asked = commonPrefix(same.asked, asked);
    };
    let covered = false;
    for (const r of this.#routes) {
      if (prefix.startsWith(r.prefix)) {
        if (!covered) add(r.store, prefix); // the longest covering route owns the namespace
        covered = true;
      } else if (r.prefix.startsWith(prefix)) add(r.store, r.prefix);
    }
    if (!covered) add(this.#fallback, prefix);
    return out;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const stores = new Set([...this.#routes.map((r) => r.store), this.#fallback]);
    for (const s of stores) s.close();
  }
}

function commonPrefix(a: string, b: string): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return a.slice(0, i);
}

/** Merges sorted lists into one sorted list (keys compared by UTF-16 code units). */
function mergeSorted(parts: SizedList[]): SizedList {
  if (parts.length === 1) return parts[0];
  const all = parts.flatMap((p) => p.keys.map((key, i) => ({ key, size: p.sizes[i] })));
  all.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { keys: all.map((e) => e.key), sizes: all.map((e) => e.size) };
}
