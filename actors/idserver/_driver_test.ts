/**
 * Test helpers of the ID-server actor: a synchronous driver with an in-memory blob map, and
 * signed documents of test keys.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { BlobOp, BlobResult } from "../../core/actor.ts";
import { encodeIdentity, type IdentityBody, signIdentity } from "../../core/identity.ts";
import { messageCodec } from "../../core/protocol/mod.ts";
import { generateSigningKeyPair, stepCryptoFor } from "../../data/signing.ts";
import { DirectDriver } from "../../sim/driver.ts";
import {
  idServerActor,
  type IdServerLimits,
  type IdServerNotice,
  type IdServerProtocol,
  type IdServerRequest,
  type IdServerState,
  idServerState,
} from "./mod.ts";

const crypto = stepCryptoFor();

/** Drives the actor synchronously with an in-memory blob map (see `sim/driver.ts`). */
export class Driver extends DirectDriver<IdServerState, IdServerProtocol> {
  blobs: Map<string, Uint8Array>;
  failWrites = false;
  /** Prefixes whose next `list` fails (each once). */
  failLists: string[] = [];
  /** Blob writes done so far. */
  writes = 0;

  constructor(blobs = new Map<string, Uint8Array>(), limits: Partial<IdServerLimits> = {}) {
    super({
      actor: idServerActor,
      state: idServerState(limits),
      codec: messageCodec,
      self: "ids",
      crypto,
      seed: 1,
      blobs: (op) => this.io(op),
    });
    this.secret = this.random;
    this.blobs = blobs;
    this.deliver({ kind: "start" });
  }

  io(op: BlobOp): BlobResult {
    switch (op.op) {
      case "write":
        if (this.failWrites) return { ok: false, error: "io_error" };
        this.writes++;
        this.blobs.set(op.key, op.data.slice());
        return { ok: true };
      case "read": {
        const data = this.blobs.get(op.key);
        return data === undefined ? { ok: false, error: "not_found" } : { ok: true, data };
      }
      case "delete":
        this.blobs.delete(op.key);
        return { ok: true };
      case "list":
        if (this.failLists.includes(op.prefix)) {
          this.failLists = this.failLists.filter((p) => p !== op.prefix);
          return { ok: false, error: "io_error" };
        }
        return { ok: true, keys: [...this.blobs.keys()].filter((k) => k.startsWith(op.prefix)) };
    }
  }

  ask(command: IdServerRequest): IdServerNotice {
    const before = this.notices.length;
    this.deliver({ kind: "command", command });
    assert.equal(this.notices.length, before + 1);
    return this.notices[this.notices.length - 1];
  }

  publish(document: Uint8Array, name?: string, address?: string): string {
    const n = this.ask({ type: "identity_publish", requestId: 1, document, name, address });
    assert.equal(n.type, "identity_publish_reply");
    return (n as { outcome: string }).outcome;
  }
}

export const alice = generateSigningKeyPair();
export const mallory = generateSigningKeyPair();
export const aliceCrypto = stepCryptoFor(alice.privateKey);
export const malloryCrypto = stepCryptoFor(mallory.privateKey);

/** A fresh signing key pair and its crypto, for a document of its own. */
export function keyed(): { publicKey: Uint8Array; sign: (d: Uint8Array) => Uint8Array } {
  const pair = generateSigningKeyPair();
  return { publicKey: pair.publicKey, sign: stepCryptoFor(pair.privateKey).sign };
}

/** A document of `name` at `revision` under a key of its own (a fresh one unless given). */
export function ownDoc(name: string, revision = 1, key = keyed()): Uint8Array {
  return doc(name, revision, { signingKey: key.publicKey }, key.sign);
}

/** A signed identity document of `name` under alice's key (unless `over` says otherwise). */
export function doc(
  name: string,
  revision: number,
  over: Partial<IdentityBody> = {},
  sign = aliceCrypto.sign,
): Uint8Array {
  const body: IdentityBody = {
    name,
    signingKey: alice.publicKey,
    agreementKey: new Uint8Array(32),
    contacts: [],
    sources: ["sim://ids"],
    revision,
    dateMs: 5,
    ...over,
  };
  return encodeIdentity(signIdentity(body, sign));
}
