/**
 * Where a real node keeps its blobs: one small interface, several implementations.
 *
 * Actors ask for blob operations as `io` effects ({@link BlobOp}); the host runs them against a
 * {@link BlobStore} with {@link runBlobOp} and hands the {@link BlobResult} back as `io_done`.
 * Implementations: {@link MemoryBlobStore} (tests, ephemeral nodes) and `KvBlobStore` in
 * `blob_kv.ts` (Deno KV, for metadata). Both pass the shared contract in
 * `_blob_store_contract.ts`.
 *
 * Contract: `write` is durable when its promise resolves and replaces the whole blob atomically
 * (a reader sees the old or the new bytes, never a mix); `read` of a missing key resolves to
 * `undefined`; `list(prefix)` resolves to every key starting with `prefix`, sorted by UTF-16 code
 * units; a store that cannot take more bytes rejects with {@link BlobSpaceError}. Keys are at most
 * {@link BLOB_KEY_BYTES_MAX} bytes; a longer key is the caller's bug (`RangeError`). Bytes passed
 * in and handed out are copies, never shared with the store.
 *
 * @module
 */

import type { BlobOp, BlobResult } from "../core/actor.ts";
import { BLOB_KEY_BYTES_MAX } from "../core/limits.ts";

/** A store is out of room (quota, disk, or a blob larger than it can hold). */
export class BlobSpaceError extends Error {
  override name = "BlobSpaceError";
}

/** Durable storage of named byte strings. */
export interface BlobStore {
  /** The blob's bytes, or `undefined` when there is none. */
  read(key: string): Promise<Uint8Array | undefined>;
  /** Stores `data` under `key`, replacing any previous blob; durable once resolved. */
  write(key: string, data: Uint8Array): Promise<void>;
  /** Removes the blob; resolves to whether there was one. */
  delete(key: string): Promise<boolean>;
  /** Every key that starts with `prefix`, sorted. */
  list(prefix: string): Promise<string[]>;
  /** Releases the store; no call may follow. */
  close(): void;
}

const utf8 = new TextEncoder();

/** Throws `RangeError` for an empty key or one over {@link BLOB_KEY_BYTES_MAX} bytes. */
export function checkBlobKey(key: string): void {
  if (key.length === 0 || utf8.encode(key).length > BLOB_KEY_BYTES_MAX) {
    throw new RangeError(`blob key must be 1..${BLOB_KEY_BYTES_MAX} bytes: ${key.slice(0, 40)}`);
  }
}

/**
 * Runs one actor {@link BlobOp} against `store` and reports the outcome as a value: missing
 * blobs are `not_found`, {@link BlobSpaceError} is `no_space`, any other failure of the store is
 * `io_error`. Programming errors (`RangeError`, `TypeError`) propagate: they are our bugs.
 */
export async function runBlobOp(store: BlobStore, op: BlobOp): Promise<BlobResult> {
  try {
    switch (op.op) {
      case "read": {
        const data = await store.read(op.key);
        return data === undefined ? { ok: false, error: "not_found" } : { ok: true, data };
      }
      case "write":
        await store.write(op.key, op.data);
        return { ok: true };
      case "delete":
        return (await store.delete(op.key)) ? { ok: true } : { ok: false, error: "not_found" };
      case "list":
        return { ok: true, keys: await store.list(op.prefix) };
    }
  } catch (e) {
    if (e instanceof RangeError || e instanceof TypeError) throw e;
    if (e instanceof BlobSpaceError) return { ok: false, error: "no_space", detail: e.message };
    return { ok: false, error: "io_error", detail: e instanceof Error ? e.message : String(e) };
  }
}

/** Options of {@link MemoryBlobStore}. */
export interface MemoryBlobStoreOptions {
  /** Total bytes the store holds at most (default: unlimited). */
  capacityBytes?: number;
}

/** A {@link BlobStore} in memory: for tests and nodes that need not survive a restart. */
export class MemoryBlobStore implements BlobStore {
  #blobs = new Map<string, Uint8Array>();
  #usedBytes = 0;
  #capacityBytes: number;
  #closed = false;

  constructor(options: MemoryBlobStoreOptions = {}) {
    this.#capacityBytes = options.capacityBytes ?? Number.POSITIVE_INFINITY;
  }

  /** Bytes held now. */
  get usedBytes(): number {
    return this.#usedBytes;
  }

  #open(): void {
    if (this.#closed) throw new Error("blob store is closed");
  }

  // deno-lint-ignore require-await
  async read(key: string): Promise<Uint8Array | undefined> {
    this.#open();
    checkBlobKey(key);
    return this.#blobs.get(key)?.slice();
  }

  // deno-lint-ignore require-await
  async write(key: string, data: Uint8Array): Promise<void> {
    this.#open();
    checkBlobKey(key);
    const used = this.#usedBytes - (this.#blobs.get(key)?.length ?? 0) + data.length;
    if (used > this.#capacityBytes) {
      throw new BlobSpaceError(`store full: ${used} > ${this.#capacityBytes}`);
    }
    this.#blobs.set(key, data.slice());
    this.#usedBytes = used;
  }

  // deno-lint-ignore require-await
  async delete(key: string): Promise<boolean> {
    this.#open();
    checkBlobKey(key);
    const old = this.#blobs.get(key);
    if (old === undefined) return false;
    this.#blobs.delete(key);
    this.#usedBytes -= old.length;
    return true;
  }

  // deno-lint-ignore require-await
  async list(prefix: string): Promise<string[]> {
    this.#open();
    const keys = [...this.#blobs.keys()].filter((k) => k.startsWith(prefix));
    return keys.sort();
  }

  close(): void {
    this.#closed = true;
  }
}
