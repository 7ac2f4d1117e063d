/**
 * Shared end-to-end scaffolding: a network of real processes (an ID server, suppliers, a user's
 * daemon) and the checks the stories make.
 *
 * @module
 */

import { decodeIdentity } from "../core/identity.ts";
import { fetchIdentity } from "../net/identity_client.ts";
import { cli, type Entry, type Proc, Procs, until } from "./_procs.ts";

export const DAEMON_TIMERS = [
  "--probe-interval",
  "1s",
  "--fire-after",
  "15s",
  "--request-timeout",
  "3s",
  // A daemon killed by a test holds its writer lease until it ends: a new machine on the same
  // key waits that long (10 minutes by default) before it writes.
  "--lease",
  "12s",
];

export interface Net {
  procs: Procs;
  entry: Entry;
  dir: string;
  ids: string;
  suppliers: Map<string, Proc>;
  user: string;
  daemon: Proc;
}

export async function startSupplier(net: Net, name: string): Promise<Proc> {
  const p = net.procs.start(name, net.entry, [
    "supplier",
    "--data",
    `${net.dir}/${name}`,
    "--donate",
    "2GiB",
    "--idserver",
    net.ids,
    "--name",
    name,
  ]);
  await p.waitFor(/^listening tcp:\/\/127\.0\.0\.1:\d+$/);
  net.suppliers.set(name, p);
  return p;
}

export async function startDaemon(net: Net, flags: string[] = DAEMON_TIMERS): Promise<Proc> {
  const p = net.procs.start("daemon", net.entry, ["daemon", "--data", net.user, ...flags]);
  await p.waitFor(/^api http:\/\/127\.0\.0\.1:\d+$/);
  net.daemon = p;
  return p;
}

/** What a test's network differs in: `init` flags (scheme, block size) and the daemon's flags. */
export interface NetworkOptions {
  init?: string[];
  daemon?: string[];
}

export async function network(
  entry: Entry,
  suppliers: number,
  waitFamily = true,
  options: NetworkOptions = {},
): Promise<Net> {
  const dir = await Deno.makeTempDir({ prefix: "bitdust-e2e-" });
  const procs = new Procs();
  const idserver = procs.start("idserver", entry, [
    "idserver",
    "--port",
    "0",
    "--data",
    `${dir}/ids`,
  ]);
  const ids = (await idserver.waitFor(/^listening (http:\/\/127\.0\.0\.1:\d+)$/))[1];
  const net: Net = {
    procs,
    entry,
    dir,
    ids,
    suppliers: new Map(),
    user: `${dir}/alice`,
    daemon: idserver,
  };
  await Promise.all(Array.from({ length: suppliers }, (_, i) => startSupplier(net, `sup${i}`)));
  const init = await cli(entry, [
    ...["init", "--name", "alice", "--idserver", ids, "--data", net.user],
    ...(options.init ?? []),
  ]);
  if (init.code !== 0) throw new Error(`init failed: ${init.stderr}`);
  await startDaemon(net, options.daemon);
  if (waitFamily) await familyReady(net);
  return net;
}

export interface Status {
  positions: { supplier: string | null; state: string; online: boolean; missing: number }[];
  blocksDegraded: number;
}

export async function status(net: Net): Promise<Status> {
  const r = await cli(net.entry, ["status", "--json", "--data", net.user]);
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

/** Waits until all N positions are hired, online and hold every fragment. */
export function familyReady(net: Net, avoid: string[] = []): Promise<Status> {
  let last = "";
  return until(() => `a complete, healthy family; last status ${last}`, async () => {
    const s = await status(net);
    last = JSON.stringify(s);
    const ok = s.positions.every((p) =>
      p.state === "active" && p.online && p.missing === 0 && !avoid.includes(p.supplier!)
    );
    return ok && s.blocksDegraded === 0 ? s : undefined;
  }, 90_000);
}

export async function makeTree(root: string): Promise<void> {
  await Deno.mkdir(`${root}/nested/deeper`, { recursive: true });
  await Deno.writeFile(`${root}/empty.txt`, new Uint8Array(0));
  await Deno.writeFile(`${root}/one byte`, Uint8Array.of(7));
  const big = new Uint8Array(20 * 1024 * 1024);
  for (let at = 0; at < big.length; at += 65536) {
    crypto.getRandomValues(big.subarray(at, at + 65536));
  }
  await Deno.writeFile(`${root}/nested/big.bin`, big);
  await Deno.writeTextFile(`${root}/nested/deeper/ünïcødé name.txt`, "grüße\n");
  await Deno.chmod(`${root}/nested/deeper/ünïcødé name.txt`, 0o640);
  await Deno.utime(`${root}/one byte`, new Date(1_600_000_000_123), new Date(1_600_000_000_123));
  await Deno.symlink("nested/big.bin", `${root}/link-to-big`);
}

/** Every regular file under `root`: relative path to [bytes, mode, mtime in ms]. */
async function snapshot(root: string): Promise<Map<string, [Uint8Array, number, number]>> {
  const out = new Map<string, [Uint8Array, number, number]>();
  const walk = async (rel: string) => {
    for await (const e of Deno.readDir(rel === "" ? root : `${root}/${rel}`)) {
      const path = rel === "" ? e.name : `${rel}/${e.name}`;
      const info = await Deno.lstat(`${root}/${path}`);
      if (info.isDirectory) await walk(path);
      else if (info.isFile) {
        out.set(path, [
          await Deno.readFile(`${root}/${path}`),
          info.mode! & 0o777,
          info.mtime!.getTime(),
        ]);
      }
    }
  };
  await walk("");
  return out;
}

export async function assertSameTree(src: string, dst: string, label: string): Promise<void> {
  const a = await snapshot(src);
  const b = await snapshot(dst);
  if ([...a.keys()].sort().join() !== [...b.keys()].sort().join()) {
    throw new Error(`${label}: files differ: ${[...a.keys()]} vs ${[...b.keys()]}`);
  }
  for (const [path, [bytes, mode, mtime]] of a) {
    const [bytes2, mode2, mtime2] = b.get(path)!;
    if (bytes.length !== bytes2.length || bytes.some((x, i) => x !== bytes2[i])) {
      throw new Error(`${label}: ${path} has other bytes`);
    }
    if (mode !== mode2) throw new Error(`${label}: ${path} mode ${mode2.toString(8)}`);
    if (mtime !== mtime2) throw new Error(`${label}: ${path} mtime ${mtime2} != ${mtime}`);
  }
}

export async function restore(net: Net, version: string, to: string) {
  return await cli(net.entry, ["restore", version, "--to", to, "--data", net.user]);
}

export async function backup(net: Net, path: string): Promise<string> {
  const r = await cli(net.entry, ["backup", path, "--json", "--data", net.user]);
  if (r.code !== 0) throw new Error(`backup failed: ${r.stderr}`);
  if (!r.stderr.includes("skipped symbolic link link-to-big")) {
    throw new Error(`the symlink was not reported: ${r.stderr}`);
  }
  return JSON.parse(r.stdout).versionId;
}

export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Writes `mib` MiB of random bytes to `DIR/src/data.bin`, SIGKILLs the supplier of position 1
 * (the daemon still counts it online until its next probe) and backs `DIR/src` up; waits up to
 * `boundMs` for the backup's one outcome line: `backed up ... as version ID` or a failure.
 */
export async function backupAfterKill(net: Net, mib: number, boundMs: number) {
  const src = `${net.dir}/src`;
  await Deno.mkdir(src);
  const data = new Uint8Array(mib * 1024 * 1024);
  for (let at = 0; at < data.length; at += 65536) {
    crypto.getRandomValues(data.subarray(at, at + 65536));
  }
  await Deno.writeFile(`${src}/data.bin`, data);
  const victim = (await status(net)).positions[1].supplier!;
  await net.suppliers.get(victim)!.stop("SIGKILL");
  const backup = net.procs.start("backup", net.entry, ["backup", src, "--data", net.user]);
  const outcome = await until("the backup to end (it hangs)", () => {
    const done = backup.lines.find((l) => /^backed up .* as version [0-9a-f]{32}$/.test(l));
    const failed = backup.errors.find((l) => /^bitdust backup: /.test(l));
    return Promise.resolve(done ?? failed);
  }, boundMs);
  await backup.stop();
  return { src, data, victim, backup, outcome };
}

/** `name`'s identity document as its ID server hosts it. */
export async function identityOf(net: Net, name: string) {
  const fetched = await fetchIdentity(net.ids, name);
  if (!fetched.ok) throw new Error(`no identity for ${name}`);
  const decoded = decodeIdentity(fetched.bytes);
  if (!decoded.ok) throw new Error(`bad identity for ${name}`);
  return decoded.doc;
}
