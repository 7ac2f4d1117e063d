/**
 * Transport benchmarks (`deno task bench transport`): the cost of the TCP session's crypto.
 *
 * - AEAD: sealing and opening 64 KiB and 1 MiB frames with ChaCha20-Poly1305 against
 *   AES-256-GCM, both on synchronous `node:crypto` (why the session uses ChaCha20-Poly1305).
 * - Throughput: 1 MiB and 64 KiB messages from one {@link TcpTransport} to another over
 *   127.0.0.1 (handshake done beforehand), as a ratio to the same frames written raw (length
 *   prefix, no crypto) over a loopback socket in the same run. Both ends run in this process, so
 *   one core seals and opens every frame and moves every byte.
 * - Handshakes per second: fresh connections to a transport's listener, each running the full
 *   initiator handshake (X25519, two signatures, two document checks, the listener's admission
 *   of a pinned name and its sealed verdict), one at a time and {@link HANDSHAKE_CONCURRENCY}
 *   at once (one dialer identity each), against bare TCP connect-and-close.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { waitFor } from "../net/_transport_contract.ts";
import { localIdentityOf, makeIdentity, TestNet } from "../net/tcp/_test_util.ts";
import { FrameReader, writeAll } from "../net/tcp/frames.ts";
import { initiate } from "../net/tcp/handshake.ts";
import type { TcpTransport } from "../net/tcp/transport.ts";
import { fromHex, toHex } from "../core/ids.ts";
import { generateSigningKeyPair } from "../data/signing.ts";

/** Bytes moved per throughput measurement. */
const STREAM_BYTES = 256 * 1024 * 1024;
/** Handshakes per measurement. */
const HANDSHAKES = 400;
/** Handshakes in flight in the concurrent measurement. */
const HANDSHAKE_CONCURRENCY = 16;

function mbPerSecond(bytes: number, ms: number): number {
  return bytes / 1e6 / (ms / 1000);
}

function show(label: string, value: string, ratio?: string): void {
  console.log(
    `${label.padEnd(48)} ${value.padStart(12)}${ratio === undefined ? "" : `  ${ratio}`}`,
  );
}

function aeadRate(alg: "chacha20-poly1305" | "aes-256-gcm", size: number, open: boolean): number {
  const key = randomBytes(32);
  const nonce = Buffer.alloc(12);
  const data = new Uint8Array(size);
  const c = createCipheriv(alg as "aes-256-gcm", key, nonce, { authTagLength: 16 });
  const sealed = c.update(data);
  c.final();
  const tag = c.getAuthTag();
  const n = Math.max(8, Math.floor((64 * 1024 * 1024) / size));
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    if (open) {
      const d = createDecipheriv(alg as "aes-256-gcm", key, nonce, { authTagLength: 16 });
      d.setAuthTag(tag);
      d.update(sealed);
      d.final();
    } else {
      const e = createCipheriv(alg as "aes-256-gcm", key, nonce, { authTagLength: 16 });
      e.update(data);
      e.final();
      e.getAuthTag();
    }
  }
  return mbPerSecond(n * size, performance.now() - t0);
}

function benchAead(): void {
  for (const size of [64 * 1024, 1024 * 1024]) {
    for (const open of [false, true]) {
      const chacha = aeadRate("chacha20-poly1305", size, open);
      const gcm = aeadRate("aes-256-gcm", size, open);
      const what = `${open ? "open" : "seal"} ${size / 1024} KiB`;
      show(`AEAD ${what}: ChaCha20-Poly1305`, `${chacha.toFixed(0)} MB/s`);
      show(
        `AEAD ${what}: AES-256-GCM`,
        `${gcm.toFixed(0)} MB/s`,
        `(${(chacha / gcm).toFixed(1)}×)`,
      );
    }
  }
}

/** Length-prefixed frames of `size` to a raw receiver at `port`, until it acknowledges. */
async function rawRate(port: number, size: number): Promise<number> {
  const count = Math.floor(STREAM_BYTES / size);
  const frame = new Uint8Array(4 + size);
  new DataView(frame.buffer).setUint32(0, size);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const t0 = performance.now();
  for (let i = 0; i < count; i++) await writeAll(conn, frame);
  await conn.closeWrite();
  await conn.read(new Uint8Array(1)); // the receiver's acknowledgement: it read everything
  const ms = performance.now() - t0;
  conn.close();
  return mbPerSecond(count * size, ms);
}

/** Receives raw frames on each connection until its end, then acknowledges with one byte. */
function rawReceiver(): { port: number; close(): Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const loop = (async () => {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch {
        return;
      }
      const reader = new FrameReader(conn);
      while ((await reader.next(2 * 1024 * 1024)).ok);
      await writeAll(conn, Uint8Array.of(1));
      conn.close();
    }
  })();
  return {
    port: listener.addr.port,
    async close() {
      listener.close();
      await loop;
    },
  };
}

/** Messages of `size` from `a` to `to`, as fast as the queue takes them, until acknowledged. */
async function sessionRate(
  a: TcpTransport,
  to: string,
  size: number,
  count = Math.floor(STREAM_BYTES / size),
): Promise<number> {
  let acked = false;
  a.onMessage(() => acked = true);
  const message = new Uint8Array(size);
  const t0 = performance.now();
  for (let sent = 0; sent <= count;) {
    if (a.send(to, sent === count ? Uint8Array.of(1) : message).ok) sent++;
    else await new Promise((resolve) => setTimeout(resolve, 0));
  }
  await waitFor(() => acked, 120_000, "the acknowledgement");
  return mbPerSecond(count * size, performance.now() - t0);
}

/** A node that answers every one-byte message with one byte, and a raw receiver. */
function startReceivers(net: TestNet, name: string) {
  const node = net.node(name, { idleTimeoutMs: 600_000 });
  node.onMessage((from, m) => m.length === 1 && node.send(from, m));
  const raw = rawReceiver();
  const info = {
    port: node.address!.port,
    rawPort: raw.port,
    signingKey: toHex(net.peers.get(name)!.signingKey),
  };
  return { info, close: () => Promise.all([node.close(), raw.close()]) };
}

/** The `--peer` process: receivers until its standard input closes. */
async function runPeer(): Promise<void> {
  const net = new TestNet();
  // The receiver admits only names it knows: the sender's key comes on the command line.
  const key = Deno.args[Deno.args.indexOf("--peer") + 1];
  net.peers.set("bench-sender", { signingKey: fromHex(key), contacts: [] });
  const receivers = startReceivers(net, "bench-peer");
  console.log(JSON.stringify(receivers.info));
  for await (const _ of Deno.stdin.readable); // the parent closes stdin when done
  await receivers.close();
}

async function spawnPeer(senderKey: Uint8Array) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL(import.meta.url).pathname, "--peer", toHex(senderKey)],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let line = "";
  while (!line.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the benchmark peer exited");
    line += value;
  }
  const info = JSON.parse(line) as { port: number; rawPort: number; signingKey: string };
  return {
    info,
    async stop() {
      await child.stdin.close();
      await reader.cancel();
      await child.status;
    },
  };
}

/** Throughput to a receiver in this process (`two` false) or in a child process. */
async function benchThroughput(two: boolean): Promise<void> {
  const net = new TestNet();
  const here = two ? undefined : startReceivers(net, "bench-peer");
  const senderKeys = generateSigningKeyPair();
  const there = two ? await spawnPeer(senderKeys.publicKey) : undefined;
  const info = here?.info ?? there!.info;
  net.peers.set("bench-peer", {
    signingKey: fromHex(info.signingKey),
    contacts: [`tcp://127.0.0.1:${info.port}`],
  });
  const a = net.node("bench-sender", { idleTimeoutMs: 600_000 }, 0, senderKeys);
  try {
    await sessionRate(a, "bench-peer", 1024, 1); // handshake outside the timing
    for (const size of [1024 * 1024, 64 * 1024]) {
      const raw = await rawRate(info.rawPort, size);
      const session = await sessionRate(a, "bench-peer", size);
      const label = `${size / 1024} KiB, ${two ? "two processes" : "one process"}`;
      show(`TCP ${label}: raw frames`, `${raw.toFixed(0)} MB/s`);
      show(`TCP ${label}: TcpTransport`, `${session.toFixed(0)} MB/s`, ratio(session, raw));
    }
  } finally {
    await a.close();
    await here?.close();
    await there?.stop();
  }
}

function ratio(x: number, base: number): string {
  return `(${(x / base).toFixed(2)}× raw)`;
}

interface HandshakeTarget {
  port: number;
  name: string;
  signingKey: Uint8Array;
}

/** The identities the benchmark dials with, one per concurrent dialer (as separate peers). */
const DIALERS = Array.from(
  { length: HANDSHAKE_CONCURRENCY },
  (_, i) => makeIdentity(`bench-dialer-${i}`, 1),
);

/** Connections per second to `target`: each runs the initiator's handshake when `full`. */
async function handshakeRate(target: HandshakeTarget, concurrency: number, full: boolean) {
  let started = 0;
  const worker = async (i: number) => {
    const local = localIdentityOf(DIALERS[i]);
    while (started++ < HANDSHAKES) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: target.port });
      if (full) {
        const io = { reader: new FrameReader(conn), write: (b: Uint8Array) => writeAll(conn, b) };
        const r = await initiate(io, local, target);
        if (!r.ok) throw new Error(`handshake failed: ${r.reason}`);
      }
      conn.close();
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, (_, i) => worker(i)));
  return (HANDSHAKES * 1000) / (performance.now() - t0);
}

/** A listener that accepts and closes at once: the bare-TCP baseline. */
function closingListener(): { port: number; close(): Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const loop = (async () => {
    for (;;) {
      try {
        (await listener.accept()).close();
      } catch {
        return;
      }
    }
  })();
  return {
    port: listener.addr.port,
    async close() {
      listener.close();
      await loop;
    },
  };
}

async function benchHandshakes(): Promise<void> {
  const net = new TestNet();
  // Every dialer here is on 127.0.0.1: lift the per-block cap to the overall one.
  const node = net.node("bench-listener", { handshakesMax: 64, handshakesPerBlockMax: 64 });
  for (const d of DIALERS) net.publish(d, 1); // the listener admits only names it knows
  const bareListener = closingListener();
  const signingKey = net.peers.get("bench-listener")!.signingKey;
  const target = { port: node.address!.port, name: "bench-listener", signingKey };
  try {
    for (const concurrency of [1, HANDSHAKE_CONCURRENCY]) {
      const bare = await handshakeRate({ ...target, port: bareListener.port }, concurrency, false);
      const full = await handshakeRate(target, concurrency, true);
      const label = `${concurrency} at a time`;
      show(`TCP connect+close, ${label}`, `${bare.toFixed(0)} /s`);
      show(
        `TCP connect+handshake, ${label}`,
        `${full.toFixed(0)} /s`,
        `(${(full / bare).toFixed(2)}×)`,
      );
    }
  } finally {
    await node.close();
    await bareListener.close();
  }
}

/** Runs every transport benchmark and prints the figures. */
export async function run(): Promise<void> {
  aeadRate("chacha20-poly1305", 65536, false); // warm up
  aeadRate("aes-256-gcm", 65536, false);
  benchAead();
  await benchThroughput(false);
  await benchThroughput(true);
  await benchHandshakes();
}

if (import.meta.main) {
  if (Deno.args.includes("--peer")) await runPeer();
  else await run();
}
