/**
 * Helpers for the attack tests (`transport_attack*_test.ts`): an in-process ID server, raw TCP
 * clients bound to any 127.x.y.z source address (other /24 blocks than the honest nodes'
 * 127.0.0.0/24), and a raw initiator that runs the real handshake over them.
 *
 * @module
 */

import type { Buffer } from "node:buffer";
import * as net from "node:net";
import { idServerActor, type IdServerProtocol } from "../../actors/idserver/mod.ts";
import { type IdServerState, idServerState } from "../../actors/idserver/mod.ts";
import type { IdentityDocument } from "../../core/identity.ts";
import { Random } from "../../core/prng.ts";
import { stepCryptoFor } from "../../data/signing.ts";
import { MemoryBlobStore } from "../blob_store.ts";
import { Host } from "../host.ts";
import { publishIdentity } from "../identity_client.ts";
import { idServerApp } from "../idserver_http.ts";
import type { ByteSink, ByteSource } from "./frames.ts";
import { FrameReader } from "./frames.ts";
import { type DialTarget, initiate, type LocalIdentity } from "./handshake.ts";

/** An ID server running in this process on 127.0.0.1 (memory store). */
export interface TestIdServer {
  url: string;
  /** Uploads `doc`; throws when the server refuses it. */
  publish(doc: IdentityDocument): Promise<void>;
  close(): Promise<void>;
}

/** Starts an ID server (the real actor and HTTP front) on 127.0.0.1. */
export async function startIdServer(): Promise<TestIdServer> {
  const host = new Host<IdServerState, IdServerProtocol>({
    actor: idServerActor,
    state: idServerState(),
    self: "idserver",
    crypto: stepCryptoFor(),
    random: Random.stream(1),
    store: new MemoryBlobStore(),
  });
  const ready = new Promise<void>((resolve) => {
    const off = host.subscribe((n) => {
      if (n.type === "ready") {
        off();
        resolve();
      }
    });
  });
  host.start();
  await ready;
  const app = idServerApp(host);
  const { promise: listening, resolve } = Promise.withResolvers<number>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: ({ port }) => resolve(port) },
    app.fetch,
  );
  const url = `http://127.0.0.1:${await listening}`;
  return {
    url,
    async publish(doc) {
      const r = await publishIdentity(url, doc);
      if (!r.ok) throw new Error(`the ID server refused ${doc.name}: ${r.reason} ${r.detail}`);
    },
    async close() {
      await server.shutdown();
      await host.stop();
    },
  };
}

/** A `node:net` socket as the byte source and sink the frame code reads and writes. */
export class RawClient implements ByteSource, ByteSink {
  readonly socket: net.Socket;
  readonly #chunks: Uint8Array[] = [];
  #buffered = 0;
  #ended = false;
  #wake: (() => void) | undefined;

  constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on("data", (b: Buffer) => {
      this.#chunks.push(new Uint8Array(b.buffer, b.byteOffset, b.length));
      this.#buffered += b.length;
      if (this.#buffered > 1 << 20) socket.pause();
      this.#notify();
    });
    const end = () => {
      this.#ended = true;
      this.#notify();
    };
    socket.on("end", end);
    socket.on("close", end);
    socket.on("error", end);
  }

  /** Whether the other side closed (or reset) the connection. */
  get ended(): boolean {
    return this.#ended;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async read(p: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    let n = 0;
    while (n < p.length && this.#chunks.length > 0) {
      const c = this.#chunks[0];
      const take = Math.min(c.length, p.length - n);
      p.set(c.subarray(0, take), n);
      n += take;
      if (take === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(take);
    }
    this.#buffered -= n;
    if (this.#buffered <= 1 << 20) this.socket.resume();
    return n;
  }

  write(p: Uint8Array): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.#ended) return reject(new Error("closed"));
      this.socket.write(p, (e) => e ? reject(e) : resolve(p.length));
    });
  }

  /** Resolves once the other side closed the connection. */
  async closedByPeer(): Promise<void> {
    while (!this.#ended) await new Promise<void>((resolve) => this.#wake = resolve);
  }

  close(): void {
    this.socket.destroy();
    this.#ended = true;
    this.#notify();
  }
}

/** A raw connection to 127.0.0.1:`port` from the source address `from` (any 127.x.y.z). */
export function connectFrom(from: string, port: number): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port, localAddress: from });
    socket.once("connect", () => resolve(new RawClient(socket)));
    socket.once("error", reject);
  });
}

/** Runs the initiator's handshake as `local` over a raw client. */
export async function initiateOver(client: RawClient, local: LocalIdentity, target: DialTarget) {
  const reader = new FrameReader(client);
  const io = { reader, write: async (b: Uint8Array) => void await client.write(b) };
  const result = await initiate(io, local, target);
  return { reader, result };
}

/**
 * The `i`-th (0..253) source address of attacker block `block` (1..255): 127.`block`.0.`i+1`, in
 * the /24 127.`block`.0.0, never the honest nodes' 127.0.0.0/24.
 */
export function attackerAddress(block: number, i: number): string {
  if (!(block >= 1 && block <= 255 && i >= 0 && i <= 253)) throw new RangeError("out of range");
  return `127.${block}.0.${i + 1}`;
}
