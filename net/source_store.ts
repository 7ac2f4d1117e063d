/**
 * A read-only {@link BlobStore} view of a user's backup root: key `src:<relative path>` is the
 * file at that path under the root, so the customer actor reads the files it backs up block by
 * block with ranged `read` operations, as it does from the simulator's mounted blobs.
 *
 * Theory of operation.
 * - A key names a path relative to the root with `/` separators. A path that is empty, absolute,
 *   or has an empty, `.` or `..` part (or a NUL, or on Windows a `\` or `:`) is refused without
 *   touching the disk. Otherwise the path is resolved with `realPath` (following symlinks); if
 *   the result lies outside the root (a symlink pointing out) or is not a regular file (a
 *   folder, a FIFO, a device), the read is refused. Refusals are {@link SourcePathError}, which
 *   `runBlobOp` reports as `io_error` with the reason; a missing file is `not_found`.
 * - A read opens the file, seeks to the offset and reads exactly the bytes asked for (fewer at
 *   the end of the file): memory stays at one block however large the file is. One read returns
 *   at most {@link SOURCE_READ_BYTES_MAX} bytes; asking for more is refused.
 * - The files are the user's, not ours: writes and deletes are refused
 *   ({@link ReadOnlyStoreError}, `io_error`). Nothing guards against the user changing a file
 *   during a backup; the customer actor notices a block of the wrong size.
 * - Listing walks the root without following symlinks, returns regular files only, skips files
 *   whose key would exceed `BLOB_KEY_BYTES_MAX`, and refuses more than
 *   {@link SOURCE_LIST_KEYS_MAX} keys.
 * - Known gap: a path is checked and then opened, so a symlink swapped in between (by someone
 *   who can write inside the root) could still redirect one read.
 *
 * @module
 */

import { BLOB_KEY_BYTES_MAX, SOURCE_LIST_KEYS_MAX, SOURCE_READ_BYTES_MAX } from "../core/limits.ts";
import { checkBlobKey } from "./blob_store.ts";
import { storeError } from "./fs_store.ts";
import { checkRange, type RangedBlobStore, type SizedList } from "./routed_store.ts";

/** Prefix of the keys a {@link SourceStore} serves. */
const SOURCE_PREFIX = "src:";

/** A source key that the store refuses to read (outside the root, not a regular file). */
export class SourcePathError extends Error {
  override name = "SourcePathError";
}

/** A write or delete asked of a read-only store. */
class ReadOnlyStoreError extends Error {
  override name = "ReadOnlyStoreError";
}

const utf8 = new TextEncoder();
const windows = Deno.build.os === "windows";

/** The relative path a key names, or why it is refused. */
function relativePathOf(key: string): string | SourcePathError {
  if (!key.startsWith(SOURCE_PREFIX)) return new SourcePathError(`not a source key: ${key}`);
  const rel = key.slice(SOURCE_PREFIX.length);
  const bad = (p: string) =>
    p === "" || p === "." || p === ".." || p.includes("\0") ||
    (windows && (p.includes("\\") || p.includes(":")));
  if (rel === "" || rel.split("/").some(bad)) {
    return new SourcePathError(`not a relative path inside the backup root: ${rel}`);
  }
  return rel;
}

function isMissing(e: unknown): boolean {
  return e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory;
}

/** Counters of a {@link SourceStore}. */
export interface SourceStoreCounters {
  /** Reads refused: bad paths, escapes from the root, files that are not regular. */
  refused: number;
  /** Files left out of listings because their key would be too long. */
  skippedLongKeys: number;
}

/** A read-only view of a backup root; open it with {@link SourceStore.open}. */
export class SourceStore implements RangedBlobStore {
  /** The root, with symlinks resolved. */
  readonly root: string;
  /** What the store has counted since it was opened. */
  readonly counters: SourceStoreCounters = { refused: 0, skippedLongKeys: 0 };
  #closed = false;

  private constructor(root: string) {
    this.root = root;
  }

  /** Opens the view of the folder `root`; throws if it is not a folder. */
  static async open(root: string): Promise<SourceStore> {
    const real = await Deno.realPath(root);
    if (!(await Deno.stat(real)).isDirectory) throw new Error(`${root} is not a folder`);
    return new SourceStore(real);
  }

  #refuse(error: SourcePathError): never {
    this.counters.refused++;
    throw error;
  }

  /** The real path of a key's file after every check, or `undefined` when it is missing. */
  async #resolve(key: string): Promise<string | undefined> {
    const rel = relativePathOf(key);
    if (rel instanceof SourcePathError) this.#refuse(rel);
    let real: string;
    try {
      real = await Deno.realPath(`${this.root}/${rel}`);
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw storeError(e, `cannot resolve ${key}`);
    }
    const sep = windows ? "\\" : "/";
    const inside = this.root.endsWith(sep) ? this.root : this.root + sep;
    if (!real.startsWith(inside)) {
      this.#refuse(new SourcePathError(`${key} leads outside the root`));
    }
    return real;
  }

  read(key: string): Promise<Uint8Array | undefined> {
    return this.readRange(key, 0);
  }

  async readRange(key: string, offset: number, length?: number): Promise<Uint8Array | undefined> {
    if (this.#closed) throw new Error("source store is closed");
    checkBlobKey(key);
    checkRange(offset, length);
    const real = await this.#resolve(key);
    if (real === undefined) return undefined;
    let file: Deno.FsFile;
    try {
      if (!(await Deno.stat(real)).isFile) {
        this.#refuse(new SourcePathError(`${key} is not a regular file`));
      }
      file = await Deno.open(real, { read: true });
    } catch (e) {
      if (e instanceof SourcePathError) throw e;
      if (isMissing(e)) return undefined;
      throw storeError(e, `cannot open ${key}`);
    }
    try {
      return await readExactly(file, key, offset, length);
    } finally {
      file.close();
    }
  }

  // deno-lint-ignore require-await
  async write(key: string, _data: Uint8Array): Promise<void> {
    checkBlobKey(key);
    throw new ReadOnlyStoreError(`the backup root is read-only: cannot write ${key}`);
  }

  // deno-lint-ignore require-await
  async delete(key: string): Promise<boolean> {
    checkBlobKey(key);
    throw new ReadOnlyStoreError(`the backup root is read-only: cannot delete ${key}`);
  }

  async list(prefix: string): Promise<string[]> {
    return (await this.listSizes(prefix)).keys;
  }

  async listSizes(prefix: string): Promise<SizedList> {
    if (this.#closed) throw new Error("source store is closed");
    if (!prefix.startsWith(SOURCE_PREFIX)) {
      return SOURCE_PREFIX.startsWith(prefix) ? await this.listSizes(SOURCE_PREFIX) : empty();
    }
    const rel = prefix.slice(SOURCE_PREFIX.length);
    const parts = rel.split("/").slice(0, -1);
    if (parts.some((p) => p === "" || p === "." || p === "..")) return empty();
    const found: { key: string; size: number }[] = [];
    const base = parts.length === 0 ? "" : parts.join("/") + "/";
    try {
      await this.#walk(base, prefix, found);
    } catch (e) {
      throw storeError(e, `cannot list ${prefix}`);
    }
    found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { keys: found.map((f) => f.key), sizes: found.map((f) => f.size) };
  }

  /** Collects regular files under `base` (relative, ending in `/` or empty) into `out`. */
  async #walk(base: string, prefix: string, out: { key: string; size: number }[]): Promise<void> {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(`${this.root}/${base}`));
    } catch (e) {
      if (isMissing(e)) return;
      throw e;
    }
    for (const entry of entries) {
      const rel = base + entry.name;
      const key = SOURCE_PREFIX + rel;
      if (entry.isDirectory) {
        const folder = key + "/";
        if (folder.startsWith(prefix) || prefix.startsWith(folder)) {
          await this.#walk(rel + "/", prefix, out);
        }
      } else if (entry.isFile && key.startsWith(prefix)) {
        if (utf8.encode(key).length > BLOB_KEY_BYTES_MAX) {
          this.counters.skippedLongKeys++;
          continue;
        }
        if (out.length >= SOURCE_LIST_KEYS_MAX) {
          throw new Error(`more than ${SOURCE_LIST_KEYS_MAX} files under '${prefix}'`);
        }
        const size = await Deno.lstat(`${this.root}/${rel}`).then((s) => s.size, () => -1);
        if (size >= 0) out.push({ key, size });
      }
    }
  }

  close(): void {
    this.#closed = true;
  }
}

function empty(): SizedList {
  return { keys: [], sizes: [] };
}

/** Reads `length` bytes at `offset` of an open file (fewer at its end). */
async function readExactly(
  file: Deno.FsFile,
  key: string,
  offset: number,
  length: number | undefined,
): Promise<Uint8Array> {
  try {
    const size = (await file.stat()).size;
    const start = Math.min(offset, size);
    const end = length === undefined ? size : Math.min(size, offset + length);
    if (end - start > SOURCE_READ_BYTES_MAX) {
      throw new SourcePathError(
        `a read of ${end - start} bytes of ${key} is over ${SOURCE_READ_BYTES_MAX}; read blocks`,
      );
    }
    const out = new Uint8Array(end - start);
    if (start > 0) await file.seek(start, Deno.SeekMode.Start);
    let at = 0;
    while (at < out.length) {
      const n = await file.read(out.subarray(at));
      if (n === null) break; // the file shrank under us
      at += n;
    }
    return at === out.length ? out : out.slice(0, at);
  } catch (e) {
    if (e instanceof SourcePathError) throw e;
    throw storeError(e, `cannot read ${key}`);
  }
}
