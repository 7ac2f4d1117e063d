/**
 * Data path throughput: erasure coding, AES-256-GCM and the whole block pipeline.
 *
 * Every figure is a median over repeated runs and comes with a ratio against a baseline measured
 * in the same run on the same bytes: a plain copy for the erasure code, AES-GCM alone for the
 * pipeline. Throughput counts the bytes of the block (data in), not the fragments out.
 *
 * @module
 */

import {
  decrypt,
  decryptSync,
  deriveBlockKey,
  encrypt,
  encryptSync,
  newFileSalt,
  randomKey,
  ReedSolomon,
  sealBytes,
  sealStream,
} from "../data/mod.ts";
import { relaxedSimdKernel, simdKernel, tsKernel } from "../data/erasure/kernel.ts";
import type { Kernel } from "../data/erasure/kernel.ts";

const MiB = 1024 * 1024;
const BUDGET_MS = 400;
const RUNS_MAX = 25;

function randomBytes(n: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) {
    crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  }
  return out;
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[s.length >> 1];
}

/** Median MB/s of `fn` over `bytes` bytes per call. */
function rate(bytes: number, fn: () => void, budgetMs = BUDGET_MS): number {
  fn();
  fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < 3 || (times.length < RUNS_MAX && performance.now() - start < budgetMs)) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  return bytes / 1e6 / (median(times) / 1000);
}

async function rateAsync(bytes: number, fn: () => Promise<void>): Promise<number> {
  await fn();
  await fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < 3 || (times.length < RUNS_MAX && performance.now() - start < BUDGET_MS)) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return bytes / 1e6 / (median(times) / 1000);
}

const fmt = (mbs: number) => mbs >= 100 ? mbs.toFixed(0) : mbs.toFixed(1);
const pct = (r: number) => `${(r * 100).toFixed(r < 0.1 ? 2 : 0)}%`;

function table(header: string[], rows: string[][]): void {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  console.log(line(header));
  console.log(line(header.map(() => "---")));
  for (const r of rows) console.log(line(r));
}

/** Copy of `size` bytes into a buffer allocated once: the memory-speed baseline. */
function copyRate(size: number): number {
  const src = randomBytes(size);
  const dst = new Uint8Array(size);
  return rate(size, () => dst.set(src));
}

function erasureRows(kernel: Kernel, size: number, copy: number, codes: number[][]): string[][] {
  const rows: string[][] = [];
  for (const [k, m] of codes) {
    const code = new ReedSolomon(k, m, kernel);
    const shard = Math.ceil(size / k);
    const data = Array.from({ length: k }, () => randomBytes(shard));
    const parity = Array.from({ length: m }, () => new Uint8Array(shard));
    const budget = kernel === tsKernel ? 150 : BUDGET_MS;
    const enc = rate(k * shard, () => void code.encode(data, parity), budget);
    // Worst case for decoding: the first min(K, M) data fragments are lost.
    const lost = Array.from({ length: Math.min(k, m) }, (_, i) => i);
    const all = [...data, ...parity];
    const holed = all.map((s, i) => (lost.includes(i) ? undefined : s));
    const rec = rate(k * shard, () => void code.reconstruct(holed, lost), budget);
    rows.push([
      `${size / MiB} MiB`,
      `rs:${k}+${m}`,
      kernel.name,
      fmt(enc),
      pct(enc / copy),
      fmt(rec),
      pct(rec / copy),
    ]);
  }
  return rows;
}

function benchErasure(): void {
  console.log("\n### Reed–Solomon (MB/s of block data; ratio against a plain copy of it)\n");
  const codes = [[4, 4], [10, 20], [29, 51]];
  const rows: string[][] = [];
  const copies: string[] = [];
  // A throwaway pass first: the first large allocations of a process are slow here (fresh pages),
  // which would otherwise count against whichever row runs first.
  erasureRows(relaxedSimdKernel ?? simdKernel ?? tsKernel, 8 * MiB, 1, codes);
  for (const size of [1 * MiB, 8 * MiB]) {
    const copy = copyRate(size);
    copies.push(`${size / MiB} MiB copy: ${fmt(copy)} MB/s`);
    const best = relaxedSimdKernel ?? simdKernel ?? tsKernel;
    rows.push(...erasureRows(best, size, copy, codes));
    if (simdKernel !== undefined && best !== simdKernel) {
      rows.push(...erasureRows(simdKernel, size, copy, codes.slice(0, 2)));
    }
    if (size === 1 * MiB) rows.push(...erasureRows(tsKernel, size, copy, codes.slice(0, 2)));
  }
  table(
    ["size", "scheme", "kernel", "encode MB/s", "vs copy", "reconstruct MB/s", "vs copy"],
    rows,
  );
  console.log(`\nbaselines: ${copies.join("; ")}`);
}

async function benchAes(): Promise<{ sync: number; web: number }[]> {
  console.log("\n### AES-256-GCM (MB/s)\n");
  const rows: string[][] = [];
  const out: { sync: number; web: number }[] = [];
  const key = randomKey();
  for (const size of [1 * MiB, 8 * MiB]) {
    const plain = randomBytes(size);
    const sealed = encryptSync(key, plain);
    const sync = rate(size, () => void encryptSync(key, plain));
    const syncOpen = rate(size, () => void decryptSync(key, sealed));
    const web = await rateAsync(size, async () => void await encrypt(key, plain));
    const webOpen = await rateAsync(size, async () => void await decrypt(key, sealed));
    rows.push([`${size / MiB} MiB`, fmt(sync), fmt(syncOpen), fmt(web), fmt(webOpen)]);
    out.push({ sync, web });
  }
  table(
    [
      "size",
      "node:crypto encrypt",
      "node:crypto decrypt",
      "WebCrypto encrypt",
      "WebCrypto decrypt",
    ],
    rows,
  );
  return out;
}

const PIPELINE_CASES: [number, string][] = [
  [8 * MiB, "rs:4+4"],
  [64 * MiB, "rs:4+4"],
  [64 * MiB, "rs:10+20"],
];

async function benchPipeline(): Promise<void> {
  console.log("\n### Whole pipeline: block, encrypt, encode, hash (4 MiB blocks)\n");
  const fileKey = randomKey();
  const fileSalt = newFileSalt();
  const blockBytes = 4 * MiB;
  const rows: string[][] = [];
  for (const [size, scheme] of PIPELINE_CASES) {
    const file = randomBytes(size);
    const blocks = Math.ceil(size / blockBytes);
    const options = { fileKey, fileSalt, scheme: scheme, blockBytes };
    const keys = Array.from({ length: blocks }, (_, i) => deriveBlockKey(fileKey, fileSalt, i));
    const blockOf = (i: number) => file.subarray(i * blockBytes, (i + 1) * blockBytes);
    const aesSync = rate(size, () => {
      for (let i = 0; i < blocks; i++) encryptSync(keys[i], blockOf(i));
    });
    const pipeSync = rate(size, () => void sealBytes(file, options));
    const aesWeb = await rateAsync(size, async () => {
      for (let i = 0; i < blocks; i++) await encrypt(keys[i], blockOf(i));
    });
    const chunks = Array.from(
      { length: size / MiB },
      (_, i) => file.subarray(i * MiB, (i + 1) * MiB),
    );
    const pipeWeb = await rateAsync(size, async () => {
      for await (const _ of sealStream(chunks, options)) { /* drain */ }
    });
    rows.push([
      `${size / MiB} MiB`,
      scheme,
      `${fmt(pipeSync)} / ${fmt(aesSync)}`,
      pct(pipeSync / aesSync),
      `${fmt(pipeWeb)} / ${fmt(aesWeb)}`,
      pct(pipeWeb / aesWeb),
    ]);
  }
  table([
    "file",
    "scheme",
    "sync: sealBytes / AES alone MB/s",
    "ratio",
    "stream: sealStream / AES alone MB/s",
    "ratio",
  ], rows);
  console.log(
    "\nsync = node:crypto AES-GCM on this thread (the simulator's path); stream = WebCrypto " +
      "AES-GCM on a worker thread, coding and hashing the previous block meanwhile " +
      "(the real node).",
  );
}

/** Prints the data path's tables. */
export async function run(): Promise<void> {
  console.log(
    `kernels: ${[relaxedSimdKernel, simdKernel, tsKernel].map((k) => k?.name ?? "-").join(", ")}`,
  );
  // DATA_BENCH=erasure|aes|pipeline runs one part only.
  const only = Deno.env.get("DATA_BENCH");
  if (only === undefined || only === "erasure") benchErasure();
  if (only === undefined || only === "aes") await benchAes();
  if (only === undefined || only === "pipeline") await benchPipeline();
}

if (import.meta.main) await run();
