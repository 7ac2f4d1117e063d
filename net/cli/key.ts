/**
 * `bitdust key export --to FILE` and `bitdust key import --from FILE [--idserver URL]`: the
 * passphrase-protected backup of a user's keys. Whoever holds the keys can read everything the
 * user stored; whoever loses them loses it all. On a new machine, the daemon started after an
 * import finds the user's family record on the ID servers and reads the catalogue back from the
 * suppliers (`actors/customer/publisher.ts`, `recovery.ts`).
 *
 * Import checks everything before it writes anything: the flags, that the directory holds no
 * keys, the ID servers (from `--idserver`, or the directory's config), the backup and its
 * passphrase, and the scheme: it opens the newest family record the ID servers hold for the
 * user and takes the scheme the data is stored with (a `--ecc` that contradicts it is refused,
 * with the flag that works). So a refused import can be retried as it was, with the fix it
 * names. The keys are written last.
 *
 * Passphrases: see `_passphrase.ts` (file, environment, or typed without echo; a new one must
 * be strong enough).
 *
 * @module
 */

import {
  dataDir,
  ensureDir,
  fileKeyOf,
  pathExists,
  paths,
  readJson,
  type UserConfig,
  writeJson,
} from "../home.ts";
import {
  exportKeyBackup,
  importKeyBackup,
  KeyBackupError,
  KeyFileError,
  loadKeyFile,
  type NodeKeys,
  saveKeyFile,
} from "../keys.ts";
import { fetchFamilyRecord } from "../identity_client.ts";
import { CliError, parseArgs, runCommand, UsageError } from "./_command.ts";
import { readPassphrase } from "./_passphrase.ts";
import { idServerUrls } from "./init.ts";
import { eccScheme } from "../../core/storage.ts";
import { verifyFamilyRecord } from "../../core/protocol/identity.ts";
import { openRecovery } from "../../data/recovery.ts";
import { stepCryptoFor } from "../../data/signing.ts";

/** The scheme of a new user's data when nothing says otherwise. */
const DEFAULT_ECC = "rs:4+4";
/** How long `key import` waits for each ID server when looking up the user's family record. */
const IMPORT_LOOKUP_TIMEOUT_MS = 10_000;

const USAGE = [
  "usage: bitdust key export --to FILE [--data DIR] [--passphrase-file F]",
  "       bitdust key import --from FILE [--data DIR] [--passphrase-file F] [--idserver URL]",
  "                              [--ecc SCHEME]",
].join("\n");

const SPEC = {
  to: { kind: "string", help: "backup file to write" },
  from: { kind: "string", help: "backup file to read" },
  data: { kind: "string", help: "data directory" },
  "passphrase-file": { kind: "string", help: "file holding the passphrase" },
  idserver: { kind: "string", help: "ID server URL(s), when importing onto a new machine" },
  ecc: { kind: "string", help: "erasure-coding scheme the data was stored with" },
  help: { kind: "boolean", help: "show usage" },
} as const;

async function exportKeys(dir: string, to: string, passFile?: string): Promise<number> {
  const keys = await loadKeyFile(paths(dir).keys);
  if (await pathExists(to)) throw new CliError(`${to} already exists; choose another --to FILE`);
  const backup = exportKeyBackup(keys, await readPassphrase(passFile, "new"));
  try {
    await Deno.writeFile(to, backup, { createNew: true, mode: 0o600 });
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) throw new CliError(`${to} already exists`);
    throw new CliError(`cannot write ${to}: ${(e as Error).message}`);
  }
  console.log(`keys of ${keys.name} exported to ${to}`);
  return 0;
}

/** What `key import` was asked, checked before anything is read or written. */
interface ImportPlan {
  dir: string;
  from: string;
  passFile: string | undefined;
  /** ID servers: from `--idserver`, else from the directory's existing config. */
  idServers: string[];
  /** `--ecc` as given (checked), or `undefined` to take the scheme the data uses. */
  ecc: string | undefined;
  /** The directory already has a config (kept as it is). */
  configured: UserConfig | null;
}

async function planImport(
  dir: string,
  flags: Record<string, string | boolean | undefined>,
): Promise<ImportPlan> {
  if (typeof flags.from !== "string") throw new UsageError("key import needs --from FILE");
  const ecc = typeof flags.ecc === "string" ? flags.ecc : undefined;
  if (ecc !== undefined && eccScheme(ecc) === null) {
    throw new UsageError("--ecc must be rs:K+M or mirror:N");
  }
  const p = paths(dir);
  if (await pathExists(p.keys)) {
    throw new CliError(`${dir} already holds keys; import into another --data directory`);
  }
  const configured = await readJson(p.config).catch(() => null) as UserConfig | null;
  const idServers = flags.idserver !== undefined || configured === null
    ? idServerUrls(flags.idserver)
    : configured.idServers;
  if (!(await pathExists(flags.from))) {
    throw new CliError(`cannot read ${flags.from}: no such file`);
  }
  return {
    dir,
    from: flags.from,
    passFile: flags["passphrase-file"] as string | undefined,
    idServers,
    ecc,
    configured,
  };
}

/**
 * The scheme the user's data is stored with, from the newest family record on `urls` that the
 * owner signed and that opens with the keys; `null` when no ID server has one (a new user),
 * `undefined` when none answered.
 */
async function storedScheme(keys: NodeKeys, urls: string[]): Promise<string | null | undefined> {
  const crypto = stepCryptoFor();
  let best: { revision: number; scheme: string } | null = null;
  let answered = false;
  for (const url of urls) {
    const r = await fetchFamilyRecord(url, keys.name, { timeoutMs: IMPORT_LOOKUP_TIMEOUT_MS });
    if (!r.ok) {
      if (r.reason === "not_found") answered = true;
      continue;
    }
    answered = true;
    if (!verifyFamilyRecord(r.record, keys.signingPublicKey, crypto)) continue;
    let scheme: string;
    try {
      scheme = openRecovery(r.record.sealed, fileKeyOf(keys)).scheme;
    } catch {
      continue; // another key's record, or damaged: the daemon reports it in detail
    }
    if (best === null || r.record.revision > best.revision) {
      best = { revision: r.record.revision, scheme };
    }
  }
  if (best !== null) return best.scheme;
  return answered ? null : undefined;
}

async function importKeys(plan: ImportPlan): Promise<number> {
  const backup = await Deno.readFile(plan.from).catch((e) => {
    throw new CliError(`cannot read ${plan.from}: ${(e as Error).message}`);
  });
  const keys = importKeyBackup(backup, await readPassphrase(plan.passFile, "existing"));
  const stored = await storedScheme(keys, plan.idServers);
  if (stored !== null && stored !== undefined && plan.ecc !== undefined && plan.ecc !== stored) {
    throw new CliError(
      `your data is stored with ${stored}, not ${plan.ecc}; nothing was written: ` +
        `run the same command with --ecc ${stored}, or without --ecc`,
    );
  }
  const ecc = stored ?? plan.ecc ?? plan.configured?.ecc ?? DEFAULT_ECC;
  if (plan.configured !== null && plan.configured.ecc !== ecc) {
    throw new CliError(
      `${paths(plan.dir).config} is set up for ${plan.configured.ecc}, but your data is stored ` +
        `with ${ecc}; nothing was written: import into another --data directory`,
    );
  }
  const p = paths(plan.dir);
  await ensureDir(plan.dir);
  if (plan.configured === null) {
    const config: UserConfig = {
      role: "user",
      name: keys.name,
      idServers: plan.idServers,
      ecc,
      blockBytes: 4 * 1024 * 1024,
      quotaBytes: 1024 ** 3,
    };
    await writeJson(p.config, config);
  }
  // The keys go last: a directory with keys is one `import` refuses to touch again, so it must
  // not hold them until everything else is in place.
  await saveKeyFile(p.keys, keys);
  console.log(`keys of ${keys.name} imported into ${plan.dir}`);
  if (stored === undefined) {
    console.log(`no ID server answered; assuming your data uses ${ecc} (the daemon checks)`);
  } else if (stored === null) {
    console.log(`no data of ${keys.name} on the ID servers yet; new backups use ${ecc}`);
  } else {
    console.log(`your data is stored with ${ecc}; start the daemon to read your catalogue back`);
  }
  return 0;
}

/** Runs `bitdust key`. */
export function run(args: string[]): Promise<number> {
  return runCommand("key", async () => {
    const { flags, positional } = parseArgs(args, SPEC);
    if (flags.help) {
      console.log(USAGE);
      return 0;
    }
    const dir = dataDir(flags.data as string | undefined);
    const passFile = flags["passphrase-file"] as string | undefined;
    try {
      if (positional[0] === "export") {
        if (typeof flags.to !== "string") throw new UsageError("key export needs --to FILE");
        return await exportKeys(dir, flags.to, passFile);
      }
      if (positional[0] === "import") return await importKeys(await planImport(dir, flags));
    } catch (e) {
      if (e instanceof KeyBackupError || e instanceof KeyFileError) throw new CliError(e.message);
      throw e;
    }
    throw new UsageError("say 'key export' or 'key import'");
  });
}
