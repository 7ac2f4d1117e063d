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
import { BOOT_ID_BYTES, type LocalIdentity } from "./handshake.ts";
import { TcpTransport, type TcpTransportOptions } from "./transport.ts";

/** A signed identity and its keys. */
export interface TestIdentity {
  keys: SigningKeyPair;
  doc: IdentityDocument;
}

/** A fresh identity for `name` reachable at `port` (`keys` to reuse a key pair). */
export function makeIdentity(name: NodeId, port: number, keys = generateSigningKeyPair()) {
  const key = importPrivateKey(keys.privateKey);
  const doc = signIdentity({
    name,
    signingKey: keys.publicKey,
    agreementKey: generateX25519KeyPair().publicKey,
    contacts: [`tcp://127.0.0.1:${port}`],
    sources: ["http://127.0.0.1:1"],
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
