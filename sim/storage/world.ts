/**
 * Building a simulated storage network: keys and identities derived from the seed, ID servers,
 * suppliers and customers as real actors, and the job runner and crypto their hosts lend them.
 *
 * Every key is derived from the run seed (never from the platform's entropy), so signatures, and
 * with them every message byte and the trace hash, are the same for the same seed.
 *
 * @module
 */

import type { NodeId, StepCrypto } from "../../core/actor.ts";
import { encodeIdentity, signIdentity } from "../../core/identity.ts";
import { Random, type Seed } from "../../core/prng.ts";
import type { Message } from "../../core/protocol/mod.ts";
import type { StorageJob, StorageJobResult } from "../../core/storage.ts";
import { runStorageJob, storageJobCostMs } from "../../data/jobs.ts";
import { x25519PublicKey } from "../../data/seal.ts";
import { publicKeyOf, stepCryptoFor } from "../../data/signing.ts";
import type { CustomerCommand, CustomerNotice } from "../../actors/customer/mod.ts";
import type { SupplierCommand, SupplierNotice } from "../../actors/supplier/mod.ts";
import type { IdServerNotice, IdServerRequest } from "../../actors/idserver/mod.ts";
import type { RouterCommand, RouterNotice } from "../../actors/router/mod.ts";
import type { JobOutcome, SimNode } from "../simulator.ts";

/** The protocol of a whole simulated storage network: every role's commands and notices. */
export interface StorageSimProtocol {
  message: Message;
  job: StorageJob;
  jobResult: StorageJobResult;
  command: CustomerCommand | SupplierCommand | IdServerRequest | RouterCommand;
  notice: CustomerNotice | SupplierNotice | IdServerNotice | RouterNotice;
}

/** A simulated node's keys. */
export interface NodeKeys {
  signingPrivate: Uint8Array;
  signingPublic: Uint8Array;
  agreementPublic: Uint8Array;
}

/** Keys of node `name`, derived from the run seed. */
export function nodeKeys(seed: Seed, name: NodeId): NodeKeys {
  const random = Random.stream(seed, `keys:${name}`);
  const signingPrivate = random.bytes(32);
  const agreementPrivate = random.bytes(32);
  return {
    signingPrivate,
    signingPublic: publicKeyOf(signingPrivate),
    agreementPublic: x25519PublicKey(agreementPrivate),
  };
}

/** The encoded, self-signed identity document of a simulated node hosted by `idServers`. */
export function simIdentity(name: NodeId, keys: NodeKeys, idServers: NodeId[]): Uint8Array {
  const crypto = stepCryptoFor(keys.signingPrivate);
  const doc = signIdentity({
    name,
    signingKey: keys.signingPublic,
    agreementKey: keys.agreementPublic,
    contacts: [`sim://${name}`],
    sources: idServers.slice(0, 6).map((s) => `sim://${s}`),
    revision: 1,
    dateMs: 0,
  }, (data) => crypto.sign(data));
  return encodeIdentity(doc);
}

/** Lends each node a crypto built from its seed-derived key (ID servers have none). */
export function simCrypto(seed: Seed) {
  return (node: SimNode<StorageSimProtocol>): StepCrypto =>
    node.role === "idserver"
      ? stepCryptoFor()
      : stepCryptoFor(nodeKeys(seed, node.id).signingPrivate);
}

/**
 * The key each node's links are authenticated by (`fromKey` at the receiver): its identity key.
 * ID servers have none: their answers stand for the HTTP replies a real node's gateway gets.
 */
export function simKeys(seed: Seed) {
  return (node: SimNode<StorageSimProtocol>): Uint8Array | null =>
    node.role === "idserver" ? null : nodeKeys(seed, node.id).signingPublic;
}

/** Runs storage jobs inline with the data path; CPU time is modelled from the bytes involved. */
export function simJobs(job: StorageJob): JobOutcome<StorageJobResult> {
  return { result: runStorageJob(job), costMs: storageJobCostMs(job) };
}
