/**
 * A {@link BlobStore} on the filesystem: one file per blob under a root folder, for fragment
 * bytes (a supplier's `frag/`, a user's cache).
 *
 * Theory of operation.
 * - Paths. A key's `/`-separated segments become folders, the last one a file. Each segment is
 *   written in a safe alphabet: `a-z`, `0-9`, `_` and `-` stand for themselves, every other
 *   byte of its UTF-8 (upper case, `.`, `%`, `:`, ...) becomes `%XX`, and the empty segment is
 *   `%`. So no path component is `.` or `..`, none starts with a dot, none differs from another
 *   only by case (safe on case-insensitive disks), and no key reaches outside the root. A file
 *   name ends with `=`, so key `a` (file `a=`) and key `a/b` (folder `a`) never collide. An
 *   encoded segment longer than {@link SEGMENT_CHARS_MAX} is cut into folders ending with `+`
 *   ("continued"), so names stay below the 255-byte limit of common filesystems. Example:
 *   `frag/Alice/v1/0/3/2` is `frag/%41lice/v1/0/3/2=`. Names that do not decode back to a key
 *   in this encoding (foreign files, symlinks) are ignored.
 * - Writes are atomic and durable: the bytes go to `.tmp-<random>` in the target's folder, the
 *   file is fsynced, renamed over the target, and the folder is fsynced; a newly made folder is
 *   fsynced into its parent. A reader holds one open file, so it sees the old blob or the new
 *   one, never a mix; a writer killed midway leaves only a dot-file, which no key maps to and
 *   which {@link FsBlobStore.open} removes.
 * - Reads take a byte range (`readRange`): open, seek, read exactly that many bytes.
 * - Deleting a blob removes its file, fsyncs the folder and removes folders left empty (a
 *   write racing that removal makes its folder again).
 * - Listing walks only the folder named by the prefix's complete segments, decodes the names,
 *   sorts, and refuses (as `io_error`) more than {@link FS_STORE_LIST_KEYS_MAX} keys.
 * - Errors: a full disk or quota (`ENOSPC`, `EDQUOT`) is {@link BlobSpaceError} (`no_space`),
 *   every other failure a plain `Error` (`io_error`); a key that is empty, too long or not
 *   well-formed Unicode is the caller's bug (`RangeError`).
 *
 * @module
 */

import { FS_STORE_LIST_KEYS_MAX } from "../core/limits.ts";
import { BlobSpaceError, checkBlobKey } from "./blob_store.ts";
import { checkRange, type RangedBlobStore, type SizedList } from "./routed_store.ts";

/** Longest path component the store creates (common filesystems allow 255 bytes). */
export const SEGMENT_CHARS_MAX = 200;
/** Attempts of one write whose folder a concurrent delete keeps removing. */
const WRITE_ATTEMPTS_MAX = 8;
/** Name prefix of in-progress writes; no key's path component starts with a dot. */
const TEMP_PREFIX = ".tmp-";
const FILE_SUFFIX = "=";
const MORE_SUFFIX = "+";
const EMPTY_SEGMENT = "%";

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).toUpperCase().padStart(2, "0"));
const LITERAL = Array.from({ length: 256 }, (_, b) => /^[a-z0-9_-]$/.test(String.fromCharCode(b)));
const ENCODED = /^(?:[a-z0-9_-]|%[0-9A-F]{2})+$/;

/** A segment of a key in the safe alphabet (see the module comment). */
export function encodeSegment(segment: string): string {
  if (segment === "") return EMPTY_SEGMENT;
  let out = "";
  for (const b of utf8.encode(segment)) out += LITERAL[b] ? String.fromCharCode(b) : `%${HEX[b]}`;
  return out;
}

/** The segment `encoded` stands for, or `null` when it is not in canonical encoding. */
export function decodeSegment(encoded: string): string | null {
  if (encoded === EMPTY_SEGMENT) return "";
  if (!ENCODED.test(encoded)) return null;
  const bytes: number[] = [];
  for (let i = 0; i < encoded.length; i++) {
    if (encoded[i] === "%") {
      bytes.push(parseInt(encoded.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(encoded.charCodeAt(i));
  }
  let segment: string;
  try {
    segment = strictUtf8.decode(new Uint8Array(bytes));
  } catch {
    return null;
  }
  return encodeSegment(segment) === encoded ? segment : null;
}

/** Cuts an encoded segment into components of at most {@link SEGMENT_CHARS_MAX} characters. */
function chunks(encoded: string): string[] {
  const out: string[] = [];
  let at = 0;
  while (encoded.length - at > SEGMENT_CHARS_MAX) {
    let end = at + SEGMENT_CHARS_MAX;
    if (encoded[end - 1] === "%") end -= 1;
    else if (encoded[end - 2] === "%") end -= 2; // never cut inside a %XX
    out.push(encoded.slice(at, end) + MORE_SUFFIX);
    at = end;
  }
  out.push(encoded.slice(at));
  return out;
}

/** Path components of the folders holding the given complete segments. */
function folderComponents(segments: readonly string[]): string[] {
  return segments.flatMap((s) => chunks(encodeSegment(s)));
}

/** The path of `key`'s file relative to the root, `/`-separated. */
export function keyToPath(key: string): string {
  const segments = key.split("/");
  return folderComponents(segments).join("/") + FILE_SUFFIX;
}

/** Throws `RangeError` for keys the store cannot name. */
function checkKey(key: string): void {
  checkBlobKey(key);
  if (!key.isWellFormed()) throw new RangeError("blob key is not well-formed Unicode");
}

function errorCode(e: unknown): string | undefined {
  return (e as { code?: string } | null)?.code;
}

/**
 * A filesystem failure as a store error: `ENOSPC` and `EDQUOT` as {@link BlobSpaceError} (which
 * `runBlobOp` reports as `no_space`), anything else as a plain `Error` (`io_error`).
 */
export function storeError(e: unknown, what: string): Error {
  const code = errorCode(e);
  const message = `${what}: ${e instanceof Error ? e.message : String(e)}`;
  if (code === "ENOSPC" || code === "EDQUOT") return new BlobSpaceError(message);
  return new Error(message, { cause: e });
}

function isNotFound(e: unknown): boolean {
  return e instanceof Deno.errors.NotFound;
}

/**
 * Fsyncs a folder, so a rename, creation or removal inside it survives a crash (no-op on
 * Windows). A folder that is gone was emptied and pruned by a concurrent delete: nothing to do.
 */
async function syncFolder(path: string): Promise<void> {
  if (Deno.build.os === "windows") return;
  let dir: Deno.FsFile;
  try {
    dir = await Deno.open(path, { read: true });
  } catch (e) {
    if (isNotFound(e)) return;
    throw e;
  }
  try {
    await dir.sync();
  } finally {
    dir.close();
  }
}

/** Writes all of `data` to `file`. */
async function writeAll(file: Deno.FsFile, data: Uint8Array): Promise<void> {
  for (let at = 0; at < data.length;) at += await file.write(data.subarray(at));
}

/** Fills `buf` from `file`'s position; returns how many bytes it got (fewer at the end). */
async function readFull(file: Deno.FsFile, buf: Uint8Array): Promise<number> {
  let at = 0;
  while (at < buf.length) {
    const n = await file.read(buf.subarray(at));
    if (n === null) break;
    at += n;
  }
  return at;
}

/** Counters of an {@link FsBlobStore}. */
export interface FsStoreCounters {
  /** Leftover temporary files removed at open (writers that crashed). */
  tempFilesRemoved: number;
  /** Writes that failed for lack of space. */
  noSpace: number;
  /** Writes retried because a concurrent delete removed their folder. */
  writeRetries: number;
}

/** A {@link BlobStore} on files; open it with {@link FsBlobStore.open}. */
export class FsBlobStore implements RangedBlobStore {
  /** The root folder. */
  readonly root: string;
  /** What the store has counted since it was opened. */
  readonly counters: FsStoreCounters = { tempFilesRemoved: 0, noSpace: 0, writeRetries: 0 };
  #closed = false;

  private constructor(root: string) {
    this.root = root;
  }

  /** Opens the store at `root` (creating the folder) and removes crashed writers' temp files. */
  static async open(root: string): Promise<FsBlobStore> {
    const trimmed = root.length > 1 ? root.replace(/\/+$/, "") : root;
    await Deno.mkdir(trimmed, { recursive: true, mode: 0o700 });
    const store = new FsBlobStore(trimmed);
    store.counters.tempFilesRemoved = await removeTempFiles(trimmed);
    return store;
  }

  #check(key: string): void {
    if (this.#closed) throw new Error("blob store is closed");
    checkKey(key);
  }

  #path(rel: string): string {
    return `${this.root}/${rel}`;
  }

  read(key: string): Promise<Uint8Array | undefined> {
    return this.readRange(key, 0);
  }

  async readRange(key: string, offset: number, length?: number): Promise<Uint8Array | undefined> {
    this.#check(key);
    checkRange(offset, length);
    let file: Deno.FsFile;
    try {
      file = await Deno.open(this.#path(keyToPath(key)), { read: true });
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw storeError(e, `cannot open blob ${key}`);
    }
    try {
      const size = (await file.stat()).size;
      const start = Math.min(offset, size);
      const end = length === undefined ? size : Math.min(size, offset + length);
      const out = new Uint8Array(end - start);
      if (start > 0) await file.seek(start, Deno.SeekMode.Start);
      const got = await readFull(file, out);
      return got === out.length ? out : out.slice(0, got);
    } catch (e) {
      throw storeError(e, `cannot read blob ${key}`);
    } finally {
      file.close();
    }
  }

  async write(key: string, data: Uint8Array): Promise<void> {
    this.#check(key);
    const rel = keyToPath(key);
    const cut = rel.lastIndexOf("/");
    const folder = cut < 0 ? this.root : this.#path(rel.slice(0, cut));
    for (let attempt = 0; attempt < WRITE_ATTEMPTS_MAX; attempt++) {
      try {
        await this.#makeFolder(folder);
        const done = await writeVia(folder, this.#path(rel), data);
        if (done) return;
        this.counters.writeRetries++;
      } catch (e) {
        const error = e instanceof BlobSpaceError ? e : storeError(e, `cannot write blob ${key}`);
        if (error instanceof BlobSpaceError) this.counters.noSpace++;
        throw error;
      }
    }
    throw new Error(`cannot write blob ${key}: its folder kept disappearing`);
  }

  /** Makes `folder` and any missing parents, each fsynced into its parent. */
  async #makeFolder(folder: string): Promise<void> {
    const missing: string[] = [];
    for (let at = folder; at.length > this.root.length; at = at.slice(0, at.lastIndexOf("/"))) {
      try {
        if ((await Deno.stat(at)).isDirectory) break;
        throw new Error(`${at} is not a folder`);
      } catch (e) {
        if (!isNotFound(e)) throw e;
        missing.unshift(at);
      }
    }
    for (const path of missing) {
      try {
        await Deno.mkdir(path, { mode: 0o700 });
      } catch (e) {
        if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      }
      await syncFolder(path.slice(0, path.lastIndexOf("/")));
    }
  }

  async delete(key: string): Promise<boolean> {
    this.#check(key);
    const path = this.#path(keyToPath(key));
    try {
      await Deno.remove(path);
    } catch (e) {
      if (isNotFound(e)) return false;
      throw storeError(e, `cannot delete blob ${key}`);
    }
    const folder = path.slice(0, path.lastIndexOf("/"));
    try {
      await syncFolder(folder);
    } catch (e) {
      throw storeError(e, `cannot delete blob ${key}`);
    }
    await this.#pruneFolders(folder);
    return true;
  }

  /** Removes `folder` and its parents while they are empty (never the root). */
  async #pruneFolders(folder: string): Promise<void> {
    for (let at = folder; at.length > this.root.length; at = at.slice(0, at.lastIndexOf("/"))) {
      try {
        await Deno.remove(at); // fails unless empty
      } catch {
        return;
      }
    }
  }

  async list(prefix: string): Promise<string[]> {
    return (await this.#walk(prefix, false)).keys;
  }

  listSizes(prefix: string): Promise<SizedList> {
    return this.#walk(prefix, true);
  }

  async #walk(prefix: string, withSizes: boolean): Promise<SizedList> {
    if (this.#closed) throw new Error("blob store is closed");
    const segments = prefix.split("/");
    const complete = segments.slice(0, -1);
    const start = [this.root, ...folderComponents(complete)].join("/");
    const found: { key: string; path: string }[] = [];
    const base = complete.length === 0 ? "" : complete.join("/") + "/";
    try {
      await walkKeys(start, base, "", prefix, found);
    } catch (e) {
      throw storeError(e, `cannot list blobs under ${prefix}`);
    }
    found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const sizes: number[] = [];
    const keys: string[] = [];
    for (const f of found) {
      if (withSizes) {
        try {
          sizes.push((await Deno.lstat(f.path)).size);
        } catch (e) {
          if (isNotFound(e)) continue; // deleted meanwhile
          throw storeError(e, `cannot list blobs under ${prefix}`);
        }
      }
      keys.push(f.key);
    }
    return { keys, sizes: withSizes ? sizes : keys.map(() => 0) };
  }

  close(): void {
    this.#closed = true;
  }
}

/**
 * Writes `data` to a temp file in `folder`, fsyncs it, renames it to `target` and fsyncs the
 * folder. Returns `false` when the folder vanished before the temp file was made (retry).
 */
async function writeVia(folder: string, target: string, data: Uint8Array): Promise<boolean> {
  const tmp = `${folder}/${TEMP_PREFIX}${crypto.randomUUID()}`;
  let file: Deno.FsFile;
  try {
    file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
  } catch (e) {
    if (isNotFound(e)) return false;
    throw e;
  }
  try {
    try {
      await writeAll(file, data);
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, target);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  await syncFolder(folder);
  return true;
}

/**
 * Collects the keys under `dir` that start with `prefix`. `base` is the key text of `dir`
 * (complete segments, each followed by `/`) and `pending` the encoded start of a segment cut
 * into `+` folders.
 */
async function walkKeys(
  dir: string,
  base: string,
  pending: string,
  prefix: string,
  out: { key: string; path: string }[],
): Promise<void> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch (e) {
    if (isNotFound(e)) return; // nothing under this prefix, or removed meanwhile
    throw e;
  }
  for (const entry of entries) {
    const name = entry.name;
    if (name.startsWith(".")) continue; // a write in progress, or not ours
    const path = `${dir}/${name}`;
    if (entry.isDirectory && name.endsWith(MORE_SUFFIX)) {
      await walkKeys(path, base, pending + name.slice(0, -1), prefix, out);
    } else if (entry.isDirectory) {
      const segment = decodeSegment(pending + name);
      if (segment === null) continue;
      const key = `${base}${segment}/`;
      if (key.startsWith(prefix) || prefix.startsWith(key)) {
        await walkKeys(path, key, "", prefix, out);
      }
    } else if (entry.isFile && name.endsWith(FILE_SUFFIX)) {
      const segment = decodeSegment(pending + name.slice(0, -1));
      if (segment === null) continue;
      const key = base + segment;
      if (!key.startsWith(prefix)) continue;
      if (out.length >= FS_STORE_LIST_KEYS_MAX) {
        throw new Error(`more than ${FS_STORE_LIST_KEYS_MAX} keys under '${prefix}'`);
      }
      out.push({ key, path });
    }
  }
}

/** Removes every leftover temp file under `root`; returns how many. */
async function removeTempFiles(root: string): Promise<number> {
  let removed = 0;
  const visit = async (dir: string): Promise<void> => {
    for await (const entry of Deno.readDir(dir)) {
      const path = `${dir}/${entry.name}`;
      if (entry.isFile && entry.name.startsWith(TEMP_PREFIX)) {
        await Deno.remove(path);
        removed++;
      } else if (entry.isDirectory && !entry.name.startsWith(".")) await visit(path);
    }
  };
  await visit(root);
  if (removed > 0) await syncFolder(root);
  return removed;
}
