/**
 * The real network's throughput: a 256 MiB file backed up to, and restored from, eight local
 * supplier processes through a user daemon, as a ratio against the data path alone (seal:
 * encrypt, erasure-code, hash; open: check, decode, decrypt) on the same bytes in this process.
 * Also the daemon's peak memory (VmHWM) during each, which must stay far below the file's size.
 *
 * `deno task bench network` (about a minute); `NETWORK_BENCH_MIB` changes the file size.
 *
 * @module
 */

import { openBytes, sealBytes } from "../data/pipeline.ts";
import { randomKey } from "../data/aead.ts";
import { network } from "../tests/_e2e.ts";
import { cli, SOURCES } from "../tests/_procs.ts";

async function peakRss(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`).catch(() => "");
  const m = /VmHWM:\s+(\d+) kB/.exec(status);
  return m === null ? 0 : Number(m[1]) * 1024;
}

function mbps(bytes: number, ms: number): string {
  return `${((bytes / 1e6) / (ms / 1000)).toFixed(0)} MB/s`;
}

function pipelineAlone(data: Uint8Array): { sealMs: number; openMs: number } {
  const fileKey = randomKey();
  const fileSalt = crypto.getRandomValues(new Uint8Array(32));
  let t = performance.now();
  const blocks = sealBytes(data, { fileKey, fileSalt, scheme: "rs:4+4" });
  const sealMs = performance.now() - t;
  t = performance.now();
  let total = 0;
  for (const [i, b] of blocks.entries()) {
    total += openBytesBlock(b, fileKey, fileSalt, i);
  }
  const openMs = performance.now() - t;
  if (total !== data.length) throw new Error("pipeline lost bytes");
  return { sealMs, openMs };
}

function openBytesBlock(
  b: ReturnType<typeof sealBytes>[0],
  fileKey: Uint8Array,
  fileSalt: Uint8Array,
  blockIndex: number,
): number {
  void openBytes;
  const fragments = b.fragments.map((f, i) => (i < 4 ? f : undefined));
  return openBlockBytes(fragments, b, fileKey, fileSalt, blockIndex);
}

import { openBlock } from "../data/pipeline.ts";

function openBlockBytes(
  fragments: (Uint8Array | undefined)[],
  b: ReturnType<typeof sealBytes>[0],
  fileKey: Uint8Array,
  fileSalt: Uint8Array,
  blockIndex: number,
): number {
  return openBlock({
    fileKey,
    fileSalt,
    blockIndex,
    scheme: "rs:4+4",
    fragments,
    cipherSize: b.cipherSize,
    fragmentHashes: b.fragmentHashes,
  }).length;
}

/** Runs the benchmark and prints its figures. */
export async function run(): Promise<void> {
  const mib = Number(Deno.env.get("NETWORK_BENCH_MIB") ?? "256");
  const net = await network(SOURCES, 8);
  try {
    const src = `${net.dir}/src`;
    await Deno.mkdir(src);
    const data = new Uint8Array(mib * 1024 * 1024);
    for (let at = 0; at < data.length; at += 65536) {
      crypto.getRandomValues(data.subarray(at, at + 65536));
    }
    await Deno.writeFile(`${src}/big.bin`, data);
    const alone = pipelineAlone(data);
    const rssBefore = await peakRss(net.daemon.pid);
    let t = performance.now();
    const b = await cli(SOURCES, ["backup", src, "--json", "--data", net.user]);
    const backupMs = performance.now() - t;
    if (b.code !== 0) throw new Error(b.stderr);
    const rssBackup = await peakRss(net.daemon.pid);
    const version = JSON.parse(b.stdout).versionId;
    t = performance.now();
    const r = await cli(SOURCES, [
      "restore",
      version,
      "--to",
      `${net.dir}/out`,
      "--data",
      net.user,
    ]);
    const restoreMs = performance.now() - t;
    if (r.code !== 0) throw new Error(r.stderr);
    const rssRestore = await peakRss(net.daemon.pid);
    const back = await Deno.readFile(`${net.dir}/out/big.bin`);
    if (back.length !== data.length || back.some((x, i) => x !== data[i])) {
      throw new Error("the restored file differs");
    }
    const n = data.length;
    console.log(`file: ${mib} MiB, rs:4+4, 8 supplier processes on loopback`);
    console.log(
      `backup:  ${mbps(n, backupMs)}; pipeline alone (seal) ${mbps(n, alone.sealMs)}; ` +
        `ratio ${(alone.sealMs / backupMs).toFixed(2)}`,
    );
    console.log(
      `restore: ${mbps(n, restoreMs)}; pipeline alone (open) ${mbps(n, alone.openMs)}; ` +
        `ratio ${(alone.openMs / restoreMs).toFixed(2)}`,
    );
    const m = (x: number) => `${(x / 1024 / 1024).toFixed(0)} MiB`;
    console.log(
      `daemon peak RSS: ${m(rssBefore)} idle, ${m(rssBackup)} after backup, ` +
        `${m(rssRestore)} after restore (file ${m(n)})`,
    );
  } finally {
    await net.procs.stopAll();
    await Deno.remove(net.dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) await run();
