/**
 * Test helpers for the TCP transport: identities, a shared resolver, nodes on 127.0.0.1 with
 * OS-chosen ports and test-sized timeouts.
 *
 * @module
 */

import type { NodeId } from "../../core/actor.ts";
import { encodeIdentity, type IdentityDocument, signIdentity } from "../../core/identity.ts";
import { generateX25519KeyPair } from "../../data/seal.ts";
import {
  generateSigningKeyPair,
  importPrivateKey,
  type SigningKeyPair,
  signWith,
} from "../../data/signing.ts";
import { type PeerInfo, type QueueLimits, staticPeerResolver } from "../transport.ts";
import { closeQuietly } from "./connection.ts";
import { frame, FrameReader, writeAll } from "./frames.ts";
import { BOOT_ID_BYTES, type DialTarget, initiate, type LocalIdentity } from "./handshake.ts";
import { TcpTransport, type TcpTransportOptions } from "./transport.ts";

/** A signed identity and its keys. */
export interface TestIdentity {
  keys: SigningKeyPair;
  doc: IdentityDocument;
}

/**
 * A fresh identity for `name` reachable at `port` (`keys` to reuse a key pair), naming
 * `sources` as its ID servers.
 */
export function makeIdentity(
  name: NodeId,
  port: number,
  keys = generateSigningKeyPair(),
  sources = ["http://127.0.0.1:1"],
) {
  const key = importPrivateKey(keys.privateKey);
  const doc = signIdentity({
    name,
    signingKey: keys.publicKey,
    agreementKey: generateX25519KeyPair().publicKey,
    contacts: [`tcp://127.0.0.1:${port}`],
    sources,
    revision: 1,
    dateMs: 1_700_000_000_000,
  }, (data) => signWith(key, data));
  return { keys, doc };
}

/** What the handshake functions need to act as `id` (for raw clients in tests). */
export function localIdentityOf(id: TestIdentity, signingPrivateKey = id.keys.privateKey) {
  const local: LocalIdentity = {
    doc: id.doc,
    docBytes: encodeIdentity(id.doc),
    signingKey: importPrivateKey(signingPrivateKey),
    boot: crypto.getRandomValues(new Uint8Array(BOOT_ID_BYTES)),
  };
  return local;
}

/** Settings that keep tests fast. */
export const TEST_SETTINGS: Partial<TcpTransportOptions> = {
  handshakeTimeoutMs: 2000,
  backoffBaseMs: 5,
  backoffMaxMs: 50,
  dialAttemptsMax: 3,
  idleTimeoutMs: 30_000,
};

/** A set of nodes sharing one resolver table. */
export class TestNet {
  readonly peers = new Map<NodeId, PeerInfo>();
  readonly resolver = staticPeerResolver(this.peers);
  readonly identities = new Map<NodeId, TestIdentity>();

  /** Registers `name` as reachable at `port` with `id`'s key. */
  publish(id: TestIdentity, port: number): void {
    this.peers.set(id.doc.name, {
      signingKey: id.keys.publicKey,
      contacts: [`tcp://127.0.0.1:${port}`],
    });
    this.identities.set(id.doc.name, id);
  }

  /**
   * A node listening on 127.0.0.1 (`port` 0: the OS chooses), published in the table. With
   * `keys`, the node reuses them (a restart).
   */
  node(
    name: NodeId,
    options: Partial<TcpTransportOptions> & QueueLimits = {},
    port = 0,
    keys?: SigningKeyPair,
  ): TcpTransport {
    const listener = Deno.listen({ hostname: "127.0.0.1", port });
    const id = makeIdentity(name, listener.addr.port, keys);
    this.publish(id, listener.addr.port);
    return new TcpTransport({
      identity: id.doc,
      signingPrivateKey: id.keys.privateKey,
      resolver: this.resolver,
      listener,
      ...TEST_SETTINGS,
      ...options,
    });
  }
}

/** Direction through a {@link FrameProxy}: `up` from the dialer, `down` from the listener. */
export type Direction = "up" | "down";

/**
 * What a proxy does with the `index`-th frame (0-based, per direction and connection; `frame`
 * includes its length prefix): the frames to forward instead, or `"cut"` to forward the first
 * half of it and close both sides.
 */
export type Tamper = (dir: Direction, index: number, frame: Uint8Array) => Uint8Array[] | "cut";

/** Frames up the dialer sends before data: hello and finish. Frames down: reply and verdict. */
export const HANDSHAKE_FRAMES = { up: 2, down: 2 } as const;

/** A frame-aware TCP proxy on 127.0.0.1 in front of `targetPort`, for tampering on the wire. */
export class FrameProxy {
  readonly listener: Deno.TcpListener;
  readonly #targetPort: number;
  readonly #tamper: Tamper;
  readonly #conns = new Set<Deno.Conn>();
  readonly #tasks = new Set<Promise<void>>();

  constructor(targetPort: number, tamper: Tamper) {
    this.listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#targetPort = targetPort;
    this.#tamper = tamper;
    this.#track(this.#acceptLoop());
  }

  /** The port dialers should use. */
  get port(): number {
    return this.listener.addr.port;
  }

  #track(p: Promise<void>): void {
    const t: Promise<void> = p.finally(() => this.#tasks.delete(t));
    this.#tasks.add(t);
  }

  async #acceptLoop(): Promise<void> {
    for (;;) {
      let down: Deno.Conn;
      try {
        down = await this.listener.accept();
      } catch {
        return;
      }
      const up = await Deno.connect({ hostname: "127.0.0.1", port: this.#targetPort });
      this.#conns.add(down).add(up);
      this.#track(this.#pipe("up", down, up));
      this.#track(this.#pipe("down", up, down));
    }
  }

  async #pipe(dir: Direction, from: Deno.Conn, to: Deno.Conn): Promise<void> {
    const reader = new FrameReader(from);
    try {
      for (let index = 0;; index++) {
        const r = await reader.next(64 * 1024 * 1024);
        if (!r.ok) break;
        const out = this.#tamper(dir, index, frame(r.body));
        if (out === "cut") {
          const whole = frame(r.body);
          await writeAll(to, whole.subarray(0, whole.length >> 1));
          break;
        }
        for (const f of out) await writeAll(to, f);
      }
    } catch {
      // either side went away
    }
    closeQuietly(from);
    closeQuietly(to);
  }

  /** Closes the listener and every proxied connection. */
  async close(): Promise<void> {
    this.listener.close();
    for (const c of this.#conns) closeQuietly(c);
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
  }
}

/** Reads from `conn` until the other side closes it; resolves to the bytes read. */
export async function readToEnd(conn: Deno.Conn): Promise<number> {
  const buf = new Uint8Array(64 * 1024);
  let total = 0;
  try {
    for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) total += n;
  } catch {
    // reset: closed as well
  }
  return total;
}

/** A raw connection to `port` running the initiator's handshake as `local`. */
export async function rawHandshake(port: number, local: LocalIdentity, target: DialTarget) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const reader = new FrameReader(conn);
  const result = await initiate(
    { reader, write: (b: Uint8Array) => writeAll(conn, b) },
    local,
    target,
  );
  return { conn, reader, result };
}
