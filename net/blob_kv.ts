/**
 * A {@link BlobStore} on Deno KV (embedded SQLite): the default home of a node's metadata.
 *
 * Deno KV values are limited to 64 KiB and one atomic commit to about 800 KiB, so a blob is kept
 * inline under `["b", key]` when it fits in one {@link KV_CHUNK_BYTES} value, and otherwise split
 * into chunks under `["c", key, generation, i]` with `["b", key]` holding `{ generation, chunks,
 * size }`. Every write is one atomic commit that also deletes the chunks of the blob it replaces,
 * guarded by the old entry's versionstamp; a reader that races an overwrite (its chunks vanished)
 * reads again. Blobs over {@link KV_BLOB_BYTES_MAX} are refused with {@link BlobSpaceError}: KV is
 * for metadata (identity documents, contracts, indexes), and fragment bytes belong in files.
 *
 * @module
 */

import { BlobSpaceError, type BlobStore, checkBlobKey } from "./blob_store.ts";

/** Bytes per KV value (below the 64 KiB limit, leaving room for the key). */
const KV_CHUNK_BYTES = 60 * 1024;
/** Largest blob this store holds: what fits in one atomic commit. */
export const KV_BLOB_BYTES_MAX = 10 * KV_CHUNK_BYTES;
/** Attempts to write or read a blob that other writers keep changing. */
const RACE_ATTEMPTS_MAX = 8;

interface ChunkedEntry {
  generation: string;
  chunks: number;
  size: number;
}

type Entry = Uint8Array | ChunkedEntry;

/** A {@link BlobStore} on an open `Deno.Kv`. */
export class KvBlobStore implements BlobStore {
  readonly #kv: Deno.Kv;
  #closed = false;

  /** Wraps an open KV database; {@link close} closes it. */
  constructor(kv: Deno.Kv) {
    this.#kv = kv;
  }

  /** Opens (creating it if needed) the KV database at `path` and wraps it. */
  static async open(path: string): Promise<KvBlobStore> {
    return new KvBlobStore(await Deno.openKv(path));
  }

  async read(key: string): Promise<Uint8Array | undefined> {
    checkBlobKey(key);
    for (let attempt = 0; attempt < RACE_ATTEMPTS_MAX; attempt++) {
      const head = await this.#kv.get<Entry>(["b", key]);
      const entry = head.value;
      if (entry === null) return undefined;
      if (entry instanceof Uint8Array) return entry;
      const data = await this.#readChunks(key, entry);
      if (data !== undefined) return data;
    }
    throw new Error(`blob ${key} kept changing while being read`);
  }

  async #readChunks(key: string, entry: ChunkedEntry): Promise<Uint8Array | undefined> {
    const out = new Uint8Array(entry.size);
    let at = 0;
    for (let i = 0; i < entry.chunks; i += 10) {
      const keys = [];
      for (let j = i; j < Math.min(entry.chunks, i + 10); j++) {
        keys.push(["c", key, entry.generation, j]);
      }
      for (const part of await this.#kv.getMany<Uint8Array[]>(keys)) {
        if (part.value === null) return undefined; // overwritten meanwhile
        out.set(part.value, at);
        at += part.value.length;
      }
    }
    if (at !== entry.size) throw new Error(`blob ${key} is damaged: ${at} of ${entry.size} bytes`);
    return out;
  }

  async write(key: string, data: Uint8Array): Promise<void> {
    checkBlobKey(key);
    if (data.length > KV_BLOB_BYTES_MAX) {
      throw new BlobSpaceError(`blob over ${KV_BLOB_BYTES_MAX} bytes for the KV store`);
    }
    for (let attempt = 0; attempt < RACE_ATTEMPTS_MAX; attempt++) {
      const head = await this.#kv.get<Entry>(["b", key]);
      const op = this.#kv.atomic().check(head);
      deleteChunks(op, key, head.value);
      if (data.length <= KV_CHUNK_BYTES) {
        op.set(["b", key], data.slice());
      } else {
        const generation = crypto.randomUUID();
        const chunks = Math.ceil(data.length / KV_CHUNK_BYTES);
        for (let i = 0; i < chunks; i++) {
          const part = data.slice(i * KV_CHUNK_BYTES, (i + 1) * KV_CHUNK_BYTES);
          op.set(["c", key, generation, i], part);
        }
        op.set(["b", key], { generation, chunks, size: data.length } satisfies ChunkedEntry);
      }
      if ((await op.commit()).ok) return;
    }
    throw new Error(`blob ${key} kept changing while being written`);
  }

  async delete(key: string): Promise<boolean> {
    checkBlobKey(key);
    for (let attempt = 0; attempt < RACE_ATTEMPTS_MAX; attempt++) {
      const head = await this.#kv.get<Entry>(["b", key]);
      if (head.value === null) return false;
      const op = this.#kv.atomic().check(head).delete(["b", key]);
      deleteChunks(op, key, head.value);
      if ((await op.commit()).ok) return true;
    }
    throw new Error(`blob ${key} kept changing while being deleted`);
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    const iter = this.#kv.list({ prefix: ["b"], start: ["b", prefix] });
    for await (const entry of iter) {
      const key = entry.key[1] as string;
      if (!key.startsWith(prefix)) break;
      keys.push(key);
    }
    return keys.sort();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#kv.close();
  }
}

function deleteChunks(op: Deno.AtomicOperation, key: string, old: Entry | null): void {
  if (old === null || old instanceof Uint8Array) return;
  for (let i = 0; i < old.chunks; i++) op.delete(["c", key, old.generation, i]);
}
