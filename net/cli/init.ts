/**
 * `bitdust init --name NAME --idserver URL[,URL...] [--data DIR] [--ecc rs:4+4]
 * [--block-size 4MiB] [--quota 1GiB]`: creates a user's identity and keys, and publishes the
 * identity to its ID servers (which also proves the name is free).
 *
 * The keys go to `keys.json` (mode 0600); back them up with `bitdust key export`: without them
 * nothing stored can ever be read again. The user's daemon republishes the identity with its
 * contact address when it starts.
 *
 * @module
 */

import { eccScheme } from "../../core/storage.ts";
import { stepCryptoFor } from "../../data/signing.ts";
import { createIdentity, publishIdentity } from "../identity_client.ts";
import { dataDir, ensureDir, pathExists, paths, type UserConfig, writeJson } from "../home.ts";
import { generateNodeKeys, type NodeKeys, saveKeyFile } from "../keys.ts";
import { CliError, parseArgs, runCommand, sizeFlag, UsageError } from "./_command.ts";
import { isNodeId } from "../../core/ids.ts";

const USAGE = "usage: bitdust init --name NAME --idserver URL[,URL...] [--data DIR] " +
  "[--ecc rs:4+4] [--block-size 4MiB] [--quota 1GiB]";

const SPEC = {
  name: { kind: "string", help: "your name on the network" },
  idserver: { kind: "string", help: "ID server URL(s), comma-separated" },
  data: { kind: "string", help: "data directory" },
  ecc: { kind: "string", help: "erasure-coding scheme" },
  "block-size": { kind: "string", help: "bytes per block" },
  quota: { kind: "string", help: "space asked of each supplier" },
  help: { kind: "boolean", help: "show usage" },
} as const;

/** Parses and checks ID-server URLs. */
export function idServerUrls(value: string | boolean | undefined): string[] {
  if (typeof value !== "string") throw new UsageError("--idserver URL is required");
  const urls = value.split(",").map((u) => u.trim().replace(/\/+$/, "")).filter((u) => u !== "");
  for (const u of urls) {
    if (!/^https?:\/\/[A-Za-z0-9.\-\[\]:]+$/.test(u)) {
      throw new UsageError(`--idserver must be like http://host:port, got '${u}'`);
    }
  }
  if (urls.length === 0 || urls.length > 6) throw new UsageError("give 1 to 6 ID servers");
  return urls;
}

/** Publishes a fresh identity of `keys` (no contacts yet) to `urls`; throws on refusal. */
export async function publishNew(keys: NodeKeys, urls: string[]): Promise<void> {
  const crypto = stepCryptoFor(keys.signingPrivateKey);
  const doc = createIdentity(keys, urls, [], Date.now(), (d) => crypto.sign(d));
  let published = 0;
  const problems: string[] = [];
  for (const url of urls) {
    const r = await publishIdentity(url, doc);
    if (r.ok) published++;
    else problems.push(`${url}: ${"reason" in r ? r.reason : "failed"}`);
  }
  if (published === 0) {
    throw new CliError(`no ID server took the identity (${problems.join("; ")})`);
  }
}

/** Runs `bitdust init`. */
export function run(args: string[]): Promise<number> {
  return runCommand("init", async () => {
    const { flags } = parseArgs(args, SPEC);
    if (flags.help) {
      console.log(USAGE);
      return 0;
    }
    const name = flags.name;
    if (typeof name !== "string" || !isNodeId(name)) {
      throw new UsageError("--name must be letters, digits and . _ : @ - (up to 256 bytes)");
    }
    const urls = idServerUrls(flags.idserver);
    const ecc = typeof flags.ecc === "string" ? flags.ecc : "rs:4+4";
    if (eccScheme(ecc) === null) throw new UsageError(`--ecc must be rs:K+M or mirror:N`);
    const blockBytes = typeof flags["block-size"] === "string"
      ? sizeFlag(flags["block-size"], "block-size")
      : 4 * 1024 * 1024;
    const quotaBytes = typeof flags.quota === "string" ? sizeFlag(flags.quota, "quota") : 1024 ** 3;
    const dir = dataDir(flags.data as string | undefined);
    const p = paths(dir);
    if (await pathExists(p.keys)) {
      throw new CliError(`${dir} already holds an identity; use another --data directory`);
    }
    await ensureDir(dir);
    const keys = generateNodeKeys(name);
    await publishNew(keys, urls);
    await saveKeyFile(p.keys, keys);
    const config: UserConfig = { role: "user", name, idServers: urls, ecc, blockBytes, quotaBytes };
    await writeJson(p.config, config);
    console.log(`created identity ${name} in ${dir}`);
    console.log(`back up your keys now: bitdust key export --to FILE`);
    return 0;
  });
}
