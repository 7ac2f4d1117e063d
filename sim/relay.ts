/**
 * Relayed envelopes in the simulator: the stand-in for sealing and signing, and where a routed
 * node's identity says it is.
 *
 * On the real network an envelope is sealed to the recipient's X25519 key and signed by the
 * sender (`core/protocol/relay.ts`). Doing that for every relayed message of a simulated month
 * would cost more than the rest of the run, so the simulator seals with a stand-in of the same
 * shape and the same guarantees toward the router, which never looks inside either way:
 *
 * ```
 * "BDSE" | sender index (u32) | recipient index (u32) | tag (u32) | frame XOR keystream
 * ```
 *
 * The keystream comes from a key per (sender, recipient) pair derived from the run's secret
 * salt; the tag is a keyed checksum of the frame. So the router holds no byte of the frame in
 * the clear (the no-plaintext checker scans routers too), and an envelope it alters, cuts, or
 * passes on under another sender's name fails to open at the recipient and is counted
 * (`relayRejected`), as a forged signature would be. It is not cryptography: nothing in the
 * simulator attacks it but the checks above.
 *
 * Where a node is: the router its route client last held a route at (`RouteClient.contact`), read
 * at send time. On the real network peers read it from the node's identity, a revision behind
 * at worst until they fetch the new one; here they follow at once.
 *
 * @module
 */

import type { Protocol } from "../core/actor.ts";
import { hashString32, mix32 } from "../core/prng.ts";
import type { Message } from "../core/protocol/mod.ts";
import { RouteClient } from "../parts/route_client.ts";
import type { SimNode, SimRelay } from "./simulator.ts";
import { checksum32 } from "./trace_hash.ts";

const MAGIC = 0x42445345; // "BDSE"
const HEADER_BYTES = 16;

type MessageProtocol = Protocol & { message: Message };

/** The simulator's {@link SimRelay} for bitdust's protocol, keyed by the run's seed. */
export function simRelay<P extends MessageProtocol>(
  seed: number | string,
  isRouter: (node: SimNode<P>) => boolean,
  nodeAt: (index: number) => SimNode<P> | undefined,
): SimRelay<P> {
  const salt = hashString32(`relay:${seed}`);
  return {
    contactOf(target) {
      const companion = target.shell.companion;
      return companion instanceof RouteClient ? companion.contact : null;
    },
    isRouter,
    wrap(from, to, frame) {
      return { type: "relay", to: to.id, envelope: seal(salt, from.index, to.index, frame) };
    },
    open(node, message) {
      if (message.type !== "relayed") return undefined;
      const opened = unseal(salt, node.index, message.envelope);
      if (opened === null) return null;
      const sender = nodeAt(opened.from);
      if (sender === undefined || sender.id !== message.from) return null;
      return { from: sender.id, frame: opened.frame };
    },
  };
}

function pairKey(salt: number, from: number, to: number): number {
  return mix32(mix32(salt ^ Math.imul(from + 1, 0x9e3779b1)) ^ Math.imul(to + 1, 0x85ebca6b));
}

/** XORs `data` into `out` with the keystream of `key` (xorshift32 words, little-endian). */
function xorStream(key: number, data: Uint8Array, out: Uint8Array, at: number): void {
  let x = key | 1;
  let i = 0;
  const n = data.length;
  for (; i + 4 <= n; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[at + i] = data[i] ^ (x & 0xff);
    out[at + i + 1] = data[i + 1] ^ ((x >>> 8) & 0xff);
    out[at + i + 2] = data[i + 2] ^ ((x >>> 16) & 0xff);
    out[at + i + 3] = data[i + 3] ^ (x >>> 24);
  }
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  for (let k = 0; i < n; i++, k += 8) out[at + i] = data[i] ^ ((x >>> k) & 0xff);
}

function seal(salt: number, from: number, to: number, frame: Uint8Array): Uint8Array {
  const key = pairKey(salt, from, to);
  const out = new Uint8Array(HEADER_BYTES + frame.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC);
  view.setUint32(4, from);
  view.setUint32(8, to);
  view.setUint32(12, (checksum32(frame) ^ mix32(key)) >>> 0);
  xorStream(key, frame, out, HEADER_BYTES);
  return out;
}

function unseal(
  salt: number,
  self: number,
  envelope: Uint8Array,
): { from: number; frame: Uint8Array } | null {
  if (envelope.length < HEADER_BYTES) return null;
  const view = new DataView(envelope.buffer, envelope.byteOffset, envelope.byteLength);
  if (view.getUint32(0) !== MAGIC || view.getUint32(8) !== self) return null;
  const from = view.getUint32(4);
  const key = pairKey(salt, from, self);
  const frame = new Uint8Array(envelope.length - HEADER_BYTES);
  xorStream(key, envelope.subarray(HEADER_BYTES), frame, 0);
  if (((checksum32(frame) ^ mix32(key)) >>> 0) !== view.getUint32(12)) return null;
  return { from, frame };
}
