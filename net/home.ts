/**
 * A node's data directory: where its keys, configuration and state live.
 *
 * Chosen by `--data DIR`, else `$BITDUST_HOME`, else `~/.bitdust`. Layout:
 *
 * | path          | what                                                           | mode |
 * |---------------|----------------------------------------------------------------|------|
 * | `keys.json`   | the node's private keys (see `net/keys.ts`)                     | 0600 |
 * | `config.json` | name, ID servers, ECC scheme (user) or donated bytes (supplier) | 0600 |
 * | `store/`      | blobs: fragments (supplier), catalogue records (user)           | 0700 |
 * | `state.kv`    | Deno KV: contracts (supplier), documents (ID server); or `meta/` | 0600 |
 * | `metadata.json` | which of the two this directory uses (see {@link openMetadataStore}) | 0600 |
 * | `api.json`    | the running user daemon's API port                              | 0600 |
 * | `api.token`   | the token the CLI must present to that API                      | 0600 |
 *
 * @module
 */

import { hkdf } from "../data/aead.ts";
import { KvBlobStore } from "./blob_kv.ts";
import type { BlobStore } from "./blob_store.ts";
import { FsBlobStore } from "./fs_store.ts";
import { CliError } from "./cli/_command.ts";
import type { NodeKeys } from "./keys.ts";

/** The data directory from a flag, the environment, or the default. */
export function dataDir(flag?: string): string {
  if (flag !== undefined && flag !== "") return flag;
  const env = Deno.env.get("BITDUST_HOME");
  if (env !== undefined && env !== "") return env;
  const home = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE");
  if (home === undefined) throw new CliError("cannot find a home directory; use --data DIR");
  return `${home}/.bitdust`;
}

/** Paths inside a data directory. */
export function paths(dir: string) {
  return {
    dir,
    keys: `${dir}/keys.json`,
    config: `${dir}/config.json`,
    store: `${dir}/store`,
    kv: `${dir}/state.kv`,
    api: `${dir}/api.json`,
    token: `${dir}/api.token`,
  };
}

/** A user's configuration. */
export interface UserConfig {
  role: "user";
  name: string;
  /** ID-server base URLs, e.g. `http://127.0.0.1:8084`. */
  idServers: string[];
  ecc: string;
  blockBytes: number;
  /** Quota asked of each supplier. */
  quotaBytes: number;
}

/** A supplier's configuration. */
export interface SupplierConfigFile {
  role: "supplier";
  name: string;
  idServers: string[];
  donateBytes: number;
}

/** Writes `value` as JSON to `path` atomically, mode 0600. */
export async function writeJson(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  const data = new TextEncoder().encode(JSON.stringify(value, null, 2) + "\n");
  const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
  try {
    await Deno.chmod(tmp, 0o600);
    for (let at = 0; at < data.length;) at += await file.write(data.subarray(at));
    await file.syncData();
  } finally {
    file.close();
  }
  await Deno.rename(tmp, path);
}

/** Whether `path` exists (a dangling link counts); a {@link CliError} if it cannot be looked at. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw new CliError(`cannot look at ${path}: ${(e as Error).message}`);
  }
}

/** Reads JSON from `path`; a missing file is `null`, a damaged one a {@link CliError}. */
export async function readJson(path: string): Promise<unknown | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw new CliError(`cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new CliError(`${path} is damaged (not JSON)`);
  }
}

/** Loads a user's configuration; explains what to do when there is none. */
export async function loadUserConfig(dir: string): Promise<UserConfig> {
  const value = await readJson(paths(dir).config) as UserConfig | null;
  if (value === null) {
    throw new CliError(
      `no identity in ${dir}; create one with 'bitdust init --name NAME --idserver URL'`,
    );
  }
  if (value.role !== "user") throw new CliError(`${dir} belongs to a ${value.role}, not a user`);
  return value;
}

/** Creates `dir` (and parents) readable by the owner only. */
export async function ensureDir(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
}

const FILE_KEY_INFO = new TextEncoder().encode("bitdust/file-key/v1");

/**
 * The user's file key, derived from the signing key: whoever restores the key file (or its
 * passphrase backup) on a new machine has the file key too, and nothing else needs saving.
 */
export function fileKeyOf(keys: NodeKeys): Uint8Array {
  return hkdf(keys.signingPrivateKey, new Uint8Array(32), FILE_KEY_INFO, 32);
}

/** Where a node keeps its metadata: Deno KV (the default) or plain files. */
export type MetadataBackend = "kv" | "files";

/**
 * Opens the node's metadata store in `dir`: Deno KV (`state.kv`) when this Deno has it (the
 * `kv` unstable feature, on in `deno.json` and so under `deno task`), else plain files
 * (`meta/`, atomic and fsynced like fragments). The choice is recorded in `metadata.json` the
 * first time and kept: a directory made with KV refuses to open without it rather than look
 * empty.
 */
export async function openMetadataStore(dir: string, kvName = "state.kv"): Promise<BlobStore> {
  const marker = `${dir}/metadata.json`;
  const saved = await readJson(marker) as { backend?: MetadataBackend } | null;
  const hasKv = typeof (Deno as { openKv?: unknown }).openKv === "function";
  const kvExists = await Deno.lstat(`${dir}/${kvName}`).then(() => true, () => false);
  const backend: MetadataBackend = saved?.backend ?? (hasKv || kvExists ? "kv" : "files");
  if (saved === null) await writeJson(marker, { backend });
  if (backend === "kv") {
    if (!hasKv) {
      throw new CliError(
        `${dir} keeps its metadata in Deno KV, which this Deno was started without; ` +
          `run it with --unstable-kv (deno task bitdust does)`,
      );
    }
    return await KvBlobStore.open(`${dir}/${kvName}`);
  }
  return await FsBlobStore.open(`${dir}/meta`);
}

/**
 * Takes the data directory's lock (`DIR/lock`, held for the life of the process), so two nodes
 * never run on one directory. Throws a {@link CliError} when another process holds it.
 */
export async function lockDataDir(dir: string, what: string): Promise<Deno.FsFile> {
  await ensureDir(dir);
  const file = await Deno.open(`${dir}/lock`, { create: true, write: true, mode: 0o600 });
  if (!(await file.tryLock(true))) {
    file.close();
    throw new CliError(`another bitdust ${what} is already running on ${dir}`);
  }
  return file;
}
