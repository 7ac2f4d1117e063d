/**
 * Identity benchmarks: Ed25519 on `node:crypto` against WebCrypto, identity documents per
 * second, and a load check of a real `bitdust idserver` process.
 *
 * - Signatures: sign and verify per second with `node:crypto` (synchronous, what the hosts use,
 *   with the public key's `KeyObject` cached and without) against WebCrypto (awaited one by one,
 *   and a batch of 256 awaited together), as ratios to WebCrypto.
 * - Documents: `signIdentity`+`encodeIdentity`, and `checkIdentity` (decode + verify).
 * - HTTP: a server subprocess; a client with {@link CONCURRENCY} requests in flight PUTs
 *   {@link DOCS} distinct documents, then GETs them {@link GET_ROUNDS} times over. The server's
 *   resident memory (`VmRSS` from `/proc/<pid>/status`) before and after. Each document has a
 *   key of its own and is uploaded from one of {@link SOURCE_BLOCKS} loopback /24 blocks
 *   (`127.0.<b>.1`), so that the server's budgets of names per key and new names per block
 *   admit them all.
 * - Flood: {@link FLOOD_PUTS} new names under one key from one address (finding 9 of issue 10):
 *   how fast the server refuses them, how many it stores, and its memory afterwards.
 *
 * @module
 */

import { checkIdentity, encodeIdentity, identityToJson, signIdentity } from "../core/identity.ts";
import { generateX25519KeyPair } from "../data/seal.ts";
import http from "node:http";
import {
  generateSigningKeyPair,
  importPrivateKey,
  signWith,
  verifySignature,
  verifySignatureUncached,
} from "../data/signing.ts";

/** Requests the HTTP client keeps in flight. */
const CONCURRENCY = 32;
/** Distinct documents uploaded. */
const DOCS = 2000;
/** Times every document is fetched. */
const GET_ROUNDS = 5;
/** Loopback /24 blocks the documents are uploaded from. */
const SOURCE_BLOCKS = 250;
/** New names the flood uploads under one key. */
const FLOOD_PUTS = 20_000;

function perSecond(count: number, ms: number): number {
  return (count * 1000) / ms;
}

function show(label: string, perSec: number, base?: number): void {
  const rate = perSec >= 1e6
    ? `${(perSec / 1e6).toFixed(2)} M/s`
    : `${(perSec / 1e3).toFixed(1)} k/s`;
  const ratio = base === undefined ? "" : `  (${(perSec / base).toFixed(2)}× WebCrypto)`;
  console.log(`${label.padEnd(44)} ${rate.padStart(11)}${ratio}`);
}

function timeSync(n: number, fn: (i: number) => void): number {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) fn(i);
  return perSecond(n, performance.now() - t0);
}

async function timeAsync(n: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await fn(i);
  return perSecond(n, performance.now() - t0);
}

async function signatures(): Promise<void> {
  const n = 5000;
  const data = new Uint8Array(300).fill(7); // about an identity document or a small packet
  const pair = generateSigningKeyPair();
  const key = importPrivateKey(pair.privateKey);
  const sig = signWith(key, data);
  const web = await crypto.subtle.generateKey("Ed25519", true, ["sign", "verify"]) as CryptoKeyPair;
  const webSig = new Uint8Array(await crypto.subtle.sign("Ed25519", web.privateKey, data));
  const webPublic = new Uint8Array(await crypto.subtle.exportKey("raw", web.publicKey));
  if (!verifySignature(webPublic, data, webSig)) throw new Error("WebCrypto and node disagree");
  timeSync(500, () => signWith(key, data)); // warm up
  const webSign = await timeAsync(n, () => crypto.subtle.sign("Ed25519", web.privateKey, data));
  const webVerify = await timeAsync(
    n,
    () => crypto.subtle.verify("Ed25519", web.publicKey, webSig, data),
  );
  const t0 = performance.now();
  for (let i = 0; i < n; i += 256) {
    const batch = Array.from(
      { length: 256 },
      () => crypto.subtle.verify("Ed25519", web.publicKey, webSig, data),
    );
    await Promise.all(batch);
  }
  const webBatch = perSecond(Math.ceil(n / 256) * 256, performance.now() - t0);
  show("WebCrypto sign (awaited each)", webSign);
  show("node:crypto sign (sync)", timeSync(n, () => signWith(key, data)), webSign);
  show("WebCrypto verify (awaited each)", webVerify);
  show("WebCrypto verify (256 in flight)", webBatch, webVerify);
  show(
    "node:crypto verify, KeyObject cached",
    timeSync(n, () => verifySignature(pair.publicKey, data, sig)),
    webVerify,
  );
  show(
    "node:crypto verify, key imported each time",
    timeSync(n, () => verifySignatureUncached(pair.publicKey, data, sig)),
    webVerify,
  );
}

function documents(): void {
  const pair = generateSigningKeyPair();
  const key = importPrivateKey(pair.privateKey);
  const sign = (d: Uint8Array) => signWith(key, d);
  const crypto = { verify: verifySignature };
  const body = {
    name: "alice",
    signingKey: pair.publicKey,
    agreementKey: generateX25519KeyPair().publicKey,
    contacts: ["tcp://192.0.2.1:7000", "relay://router-1"],
    sources: ["https://id1.example.org", "https://id2.example.org", "https://id3.example.org"],
    revision: 1,
    dateMs: 1_700_000_000_000,
  };
  const bytes = encodeIdentity(signIdentity(body, sign));
  console.log(
    `identity document: ${bytes.length} bytes binary, ` +
      `${JSON.stringify(identityToJson(signIdentity(body, sign))).length} bytes JSON`,
  );
  const n = 5000;
  const signRate = timeSync(n, (i) => encodeIdentity(signIdentity({ ...body, revision: i }, sign)));
  const checkRate = timeSync(n, () => checkIdentity(bytes, crypto));
  show("identity sign + encode", signRate);
  show("identity check (decode + verify)", checkRate);
}

async function rssKiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
}

async function spawnServer(dir: string): Promise<{ url: string; child: Deno.ChildProcess }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", "idserver", "--port", "0", "--data", dir],
    cwd: new URL("..", import.meta.url).pathname,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`idserver did not start: ${seen}`);
    seen += value;
    const m = /listening (\S+)/.exec(seen);
    if (m !== null) {
      reader.releaseLock();
      child.stdout.cancel().catch(() => {});
      return { url: m[1], child };
    }
  }
}

async function pool(n: number, fn: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    for (let i = next++; i < n; i = next++) await fn(i);
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return perSecond(n, performance.now() - t0);
}

/** Keep-alive connections from each loopback source address. */
const agents = new Map<string, http.Agent>();

/** `PUT` of `body` to `url` from the loopback address `from`; the status. */
function putFrom(from: string, url: string, body: string): Promise<number> {
  let agent = agents.get(from);
  if (agent === undefined) {
    agent = new http.Agent({ keepAlive: true, localAddress: from } as http.AgentOptions);
    agents.set(from, agent);
  }
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: target.hostname,
      port: Number(target.port),
      path: target.pathname,
      method: "PUT",
      agent,
      localAddress: from,
      headers: { "content-type": "application/json" },
    }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end(body);
  });
}

function documentJson(name: string, url: string, i: number, pair = generateSigningKeyPair()) {
  const key = importPrivateKey(pair.privateKey);
  return JSON.stringify(identityToJson(signIdentity({
    name,
    signingKey: pair.publicKey,
    agreementKey: AGREEMENT_KEY,
    contacts: [`tcp://192.0.2.${i % 250}:7000`],
    sources: [url],
    revision: 1,
    dateMs: 1_700_000_000_000,
  }, (d) => signWith(key, d))));
}

const AGREEMENT_KEY = generateX25519KeyPair().publicKey;

async function httpLoad(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "bitdust-bench-" });
  const { url, child } = await spawnServer(dir);
  try {
    const rssBefore = await rssKiB(child.pid);
    const bodies = Array.from({ length: DOCS }, (_, i) => documentJson(`node-${i}`, url, i));
    const putRate = await pool(DOCS, async (i) => {
      const from = `127.0.${1 + (i % SOURCE_BLOCKS)}.1`;
      const status = await putFrom(from, `${url}/node-${i}.json`, bodies[i]);
      if (status !== 200) throw new Error(`PUT node-${i} from ${from}: ${status}`);
    });
    const getRate = await pool(DOCS * GET_ROUNDS, async (i) => {
      const res = await fetch(`${url}/node-${i % DOCS}.json`);
      if (res.status !== 200) throw new Error(`GET ${res.status}`);
      await res.arrayBuffer();
    });
    const rssAfter = await rssKiB(child.pid);
    console.log(`HTTP, ${CONCURRENCY} requests in flight, ${DOCS} documents:`);
    show(`  PUT (verify + Deno KV write)`, putRate);
    show(`  GET`, getRate);
    console.log(
      `  server RSS: ${(rssBefore / 1024).toFixed(1)} MiB before, ` +
        `${(rssAfter / 1024).toFixed(1)} MiB after`,
    );
    await flood(url, child.pid);
  } finally {
    for (const agent of agents.values()) agent.destroy();
    agents.clear();
    child.kill("SIGTERM");
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
}

/** Finding 9 of issue 10: many new names under one key, from one address. */
async function flood(url: string, pid: number): Promise<void> {
  const pair = generateSigningKeyPair();
  const bodies = Array.from({ length: 256 }, (_, i) => documentJson(`flood-${i}`, url, i, pair));
  const statuses = new Map<number, number>();
  const rate = await pool(FLOOD_PUTS, async (i) => {
    // The same few hundred bodies over and over: the refusal path, not the client's signing.
    const name = `flood-${i % bodies.length}`;
    const status = await putFrom("127.0.255.1", `${url}/${name}.json`, bodies[i % bodies.length]);
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
  });
  const honest = await putFrom("127.0.254.1", `${url}/honest.json`, documentJson("honest", url, 0));
  const shown = [...statuses].sort().map(([s, n]) => `${n}× ${s}`).join(", ");
  console.log(`flood, ${FLOOD_PUTS} PUTs of new names under one key from one address:`);
  show("  PUT (refused past the per-key limit)", rate);
  console.log(`  answers: ${shown}; then a new user from another block: ${honest}`);
  console.log(`  server RSS after: ${((await rssKiB(pid)) / 1024).toFixed(1)} MiB`);
}

/** Runs every identity benchmark and prints the figures. */
export async function run(): Promise<void> {
  await signatures();
  documents();
  await httpLoad();
}

if (import.meta.main) await run();
