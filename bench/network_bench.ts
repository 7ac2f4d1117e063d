/**
 * The real network's throughput: a 256 MiB file backed up to, and restored from, eight local
 * supplier processes through a user daemon, as a ratio against the data path alone (seal:
 * encrypt, erasure-code, hash; open: check, decode, decrypt) on the same bytes in this process,
 * one block at a time, with WebCrypto's AES-GCM (as the daemon's workers) and `node:crypto`'s.
 * Also the daemon's peak memory (VmHWM) during each, which must stay far below the file's size.
 *
 * `deno task bench network` (about a minute); `NETWORK_BENCH_MIB` changes the file size.
 *
 * @module
 */

import { randomKey } from "../data/aead.ts";
import { BLOCK_BYTES_DEFAULT, splitBlocks } from "../data/blocks.ts";
import { openBlock, openBlockAsync, sealBlock, sealBlockAsync } from "../data/pipeline.ts";
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

interface Alone {
  sealMs: number;
  openMs: number;
}

/**
 * The data path alone on the same bytes, one 4 MiB block after another on this thread: with the
 * synchronous AES-GCM (`node:crypto`) and with WebCrypto's, which the daemon's job workers use.
 * Opening drops four of the eight fragments, as a restore from half the family does.
 */
async function pipelineAlone(data: Uint8Array, webCrypto: boolean): Promise<Alone> {
  const fileKey = randomKey();
  const fileSalt = crypto.getRandomValues(new Uint8Array(32));
  const scheme = "rs:4+4";
  const blocks = splitBlocks(data, BLOCK_BYTES_DEFAULT);
  let t = performance.now();
  const sealed = [];
  for (const [blockIndex, plaintext] of blocks.entries()) {
    const input = { fileKey, fileSalt, blockIndex, plaintext, scheme };
    sealed.push(webCrypto ? await sealBlockAsync(input) : sealBlock(input));
  }
  const sealMs = performance.now() - t;
  t = performance.now();
  let total = 0;
  for (const [blockIndex, b] of sealed.entries()) {
    const input = {
      fileKey,
      fileSalt,
      blockIndex,
      scheme,
      fragments: b.fragments.map((f, i) => (i >= 4 ? f : undefined)),
      cipherSize: b.cipherSize,
      fragmentHashes: b.fragmentHashes,
    };
    total += (webCrypto ? await openBlockAsync(input) : openBlock(input)).length;
  }
  const openMs = performance.now() - t;
  if (total !== data.length) throw new Error("pipeline lost bytes");
  return { sealMs, openMs };
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
    const sync = await pipelineAlone(data, false);
    const web = await pipelineAlone(data, true);
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
    const line = (what: string, ms: number, key: keyof Alone) =>
      console.log(
        `${what}: ${mbps(n, ms)}; pipeline alone (${key === "sealMs" ? "seal" : "open"}) ` +
          `${mbps(n, web[key])} WebCrypto, ${mbps(n, sync[key])} node:crypto; ratio ` +
          `${(web[key] / ms).toFixed(2)} and ${(sync[key] / ms).toFixed(2)}`,
      );
    line("backup ", backupMs, "sealMs");
    line("restore", restoreMs, "openMs");
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
