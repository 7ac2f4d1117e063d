/**
 * `bitdust key export --to FILE` and `bitdust key import --from FILE [--idserver URL]`: the
 * passphrase-protected backup of a user's keys. Whoever holds the keys can read everything the
 * user stored; whoever loses them loses it all. On a new machine, the daemon started after an
 * import finds the user's family record on the ID servers and reads the catalogue back from the
 * suppliers (`actors/customer/recover.ts`); `--ecc` must then match the scheme the data uses.
 *
 * The passphrase comes from `--passphrase-file F` (its first line), else `$BITDUST_PASSPHRASE`,
 * else it is asked for on the terminal. Import refuses to overwrite existing keys.
 *
 * @module
 */

import { dataDir, ensureDir, paths, readJson, type UserConfig, writeJson } from "../home.ts";
import {
  exportKeyBackup,
  importKeyBackup,
  KeyBackupError,
  KeyFileError,
  loadKeyFile,
  saveKeyFile,
} from "../keys.ts";
import { CliError, parseArgs, runCommand, UsageError } from "./_command.ts";
import { idServerUrls } from "./init.ts";
import { eccScheme } from "../../core/storage.ts";

const USAGE = [
  "usage: bitdust key export --to FILE [--data DIR] [--passphrase-file F]",
  "       bitdust key import --from FILE [--data DIR] [--passphrase-file F] [--idserver URL]",
  "                              [--ecc rs:4+4]",
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

async function passphrase(file: string | undefined, confirm: boolean): Promise<string> {
  if (file !== undefined) {
    const text = await Deno.readTextFile(file).catch((e) => {
      throw new CliError(`cannot read the passphrase file ${file}: ${(e as Error).message}`);
    });
    const line = text.split(/\r?\n/)[0];
    if (line === "") throw new CliError(`the passphrase file ${file} is empty`);
    return line;
  }
  const env = Deno.env.get("BITDUST_PASSPHRASE");
  if (env !== undefined && env !== "") return env;
  if (!Deno.stdin.isTerminal()) {
    throw new CliError("no passphrase: use --passphrase-file F or set BITDUST_PASSPHRASE");
  }
  const first = prompt("passphrase:") ?? "";
  if (first === "") throw new CliError("the passphrase must not be empty");
  if (confirm && prompt("again:") !== first) throw new CliError("the passphrases differ");
  return first;
}

async function exportKeys(dir: string, to: string, passFile?: string): Promise<number> {
  const keys = await loadKeyFile(paths(dir).keys);
  const backup = exportKeyBackup(keys, await passphrase(passFile, true));
  try {
    await Deno.writeFile(to, backup, { createNew: true, mode: 0o600 });
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) throw new CliError(`${to} already exists`);
    throw new CliError(`cannot write ${to}: ${(e as Error).message}`);
  }
  console.log(`keys of ${keys.name} exported to ${to}`);
  return 0;
}

async function importKeys(
  dir: string,
  from: string,
  passFile: string | undefined,
  idserver: string | boolean | undefined,
  ecc: string,
): Promise<number> {
  if (eccScheme(ecc) === null) throw new UsageError("--ecc must be rs:K+M or mirror:N");
  const p = paths(dir);
  if ((await readJson(p.keys).catch(() => "present")) !== null) {
    throw new CliError(`${dir} already holds keys; import into another --data directory`);
  }
  const backup = await Deno.readFile(from).catch((e) => {
    throw new CliError(`cannot read ${from}: ${(e as Error).message}`);
  });
  const keys = importKeyBackup(backup, await passphrase(passFile, false));
  await ensureDir(dir);
  await saveKeyFile(p.keys, keys);
  if ((await readJson(p.config)) === null) {
    const config: UserConfig = {
      role: "user",
      name: keys.name,
      idServers: idServerUrls(idserver),
      ecc,
      blockBytes: 4 * 1024 * 1024,
      quotaBytes: 1024 ** 3,
    };
    await writeJson(p.config, config);
  }
  console.log(`keys of ${keys.name} imported into ${dir}`);
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
      if (positional[0] === "import") {
        if (typeof flags.from !== "string") throw new UsageError("key import needs --from FILE");
        const ecc = typeof flags.ecc === "string" ? flags.ecc : "rs:4+4";
        return await importKeys(dir, flags.from, passFile, flags.idserver, ecc);
      }
    } catch (e) {
      if (e instanceof KeyBackupError || e instanceof KeyFileError) throw new CliError(e.message);
      throw e;
    }
    throw new UsageError("say 'key export' or 'key import'");
  });
}
