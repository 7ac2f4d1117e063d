/**
 * Test harnesses for the supplier: a direct driver (the actor over a simulated disk, effects
 * run in order, blob operations optionally held and released in any order) and a small network
 * in the real simulator with an ID server and scripted customers.
 *
 * @module
 */

import { createHash } from "node:crypto";
import assert from "node:assert/strict";
import type { Actor, NodeId, StepCrypto } from "../../core/actor.ts";
import { encodeIdentity, signIdentity } from "../../core/identity.ts";
import { Random } from "../../core/prng.ts";
import { type Message, messageCodec } from "../../core/protocol/mod.ts";
import type { StorageJob, StorageJobResult } from "../../core/storage.ts";
import { runStorageJob } from "../../data/jobs.ts";
import { sha256 } from "../../data/merkle.ts";
import { publicKeyOf, stepCryptoFor } from "../../data/signing.ts";
import type { DiskConfig, SimDisk } from "../../sim/disk.ts";
import { DirectDriver } from "../../sim/driver.ts";
import { type SimNode, Simulator } from "../../sim/simulator.ts";
import {
  idServerActor,
  type IdServerNotice,
  type IdServerRequest,
  idServerState,
} from "../idserver/mod.ts";
import {
  supplierActor,
  type SupplierCommand,
  type SupplierConfig,
  type SupplierNotice,
  type SupplierProtocol,
  type SupplierState,
  supplierState,
} from "./mod.ts";

const textEncoder = new TextEncoder();

/** A deterministic Ed25519 key pair for node `name`. */
export function keysFor(name: string) {
  const privateKey = sha256(textEncoder.encode(`key of ${name}`));
  return { privateKey, publicKey: publicKeyOf(privateKey) };
}

/** Node `name`'s crypto, signing with {@link keysFor}. */
export function cryptoFor(name: string): StepCrypto {
  return stepCryptoFor(keysFor(name).privateKey);
}

/** A signed identity document for `name`, hosted by the ID server `ids`. */
export function identityOf(name: string, revision = 1, ids = "ids"): Uint8Array<ArrayBuffer> {
  const body = {
    name,
    signingKey: keysFor(name).publicKey,
    agreementKey: new Uint8Array(32),
    contacts: [`sim://${name}`],
    sources: [`sim://${ids}`],
    revision,
    dateMs: 0,
  };
  return encodeIdentity(signIdentity(body, cryptoFor(name).sign));
}

/** A supplier configuration for tests: 1 MB, one ID server, overridable. */
export function testConfig(over: Partial<SupplierConfig> = {}): SupplierConfig {
  const name = over.name ?? "sup";
  return {
    name,
    identityDocument: identityOf(name),
    capacityBytes: 1_000_000,
    idServers: ["ids"],
    ...over,
  };
}

/** A fragment of `size` pseudo-random bytes and its SHA-256. */
export function fragment(size: number, seed: number) {
  const data = Random.stream(seed, "fragment").bytes(size);
  return { data, hash: sha256(data) };
}

/**
 * Drives one supplier directly, as a host would, over a {@link SimDisk} (see `sim/driver.ts`).
 * Blob operations run when issued unless `holdIo` is set, in which case they wait for
 * `release` (which may run them in any order, and make some fail).
 */
export class Driver extends DirectDriver<SupplierState, SupplierProtocol> {
  constructor(config: Partial<SupplierConfig> = {}, disk?: SimDisk, start = true) {
    const full = testConfig(config);
    super({
      actor: supplierActor,
      state: supplierState(full),
      codec: messageCodec,
      self: full.name,
      crypto: cryptoFor(full.name),
      disk,
      runJob: runStorageJob,
    });
    if (start) this.deliver({ kind: "start" });
  }

  /**
   * Delivers `message` from `from`, on a link authenticated by `key` (default: the name's own
   * test key, {@link keyOf}, or none for an ID server, which answers over HTTP); returns what
   * the supplier sent `from` meanwhile.
   */
  from(from: NodeId, message: Message, key?: Uint8Array | null): Message[] {
    if (key === undefined) {
      key = this.state.options.idServers.includes(from) ? null : keyOf(from);
    }
    const before = this.sent.length;
    this.deliver({ kind: "message", from, fromKey: key, message });
    return this.sent.slice(before).filter((s) => s.to === from).map((s) => s.message);
  }

  /** Delivers `message` and returns the one answer it must have produced. */
  ask(from: NodeId, message: Message): Message {
    const replies = this.from(from, message);
    assert.equal(replies.length, 1, `expected one answer to ${message.type}`);
    return replies[0];
  }

  command(command: SupplierCommand): SupplierNotice {
    const before = this.notices.length;
    this.deliver({ kind: "command", command });
    assert.equal(this.notices.length, before + 1);
    return this.notices[before];
  }

  counter(name: string): number {
    return this.state.counters[name] ?? 0;
  }

  /** A contract of `quotaBytes` for `customer`, which must be accepted. */
  contract(customer: NodeId, quotaBytes: number): void {
    const reply = this.ask(customer, {
      type: "contract_request",
      requestId: 1,
      epoch: 0,
      quotaBytes,
    });
    assert.ok(reply.type === "contract_reply" && reply.outcome === "accepted", "contract");
  }

  /** Stores a fragment of `size` bytes under `key`; returns the outcome and the data. */
  store(customer: NodeId, key: string, size: number, seed = 1) {
    const { data, hash } = fragment(size, seed);
    const reply = this.ask(customer, { type: "store", requestId: 2, epoch: 0, key, hash, data });
    assert.equal(reply.type, "store_reply");
    return { outcome: (reply as { outcome: string }).outcome, data };
  }
}

// ---------------------------------------------------------------------------------------------
// A small network in the simulator

/** What a scripted customer is told to do. */
export type ClientCommand = { to: NodeId; message: Message };
/** What a scripted customer reports: every message it receives. */
export type ClientNotice = { type: "received"; from: NodeId; message: Message };

/** The protocol of the test network: the supplier's, the ID server's and the customers'. */
export interface NetProtocol {
  message: Message;
  job: StorageJob;
  jobResult: StorageJobResult;
  command: SupplierCommand | IdServerRequest | ClientCommand;
  notice: SupplierNotice | IdServerNotice | ClientNotice;
}

/** State of a scripted customer: what it received. */
export interface ClientState {
  received: { from: NodeId; message: Message }[];
}

/** A customer that sends what it is told to and records what it gets. */
export const clientActor: Actor<ClientState, NetProtocol> = {
  step(s, input) {
    if (input.kind === "command" && "to" in input.command) {
      return [{ kind: "send", to: input.command.to, message: input.command.message }];
    }
    if (input.kind === "message") s.received.push({ from: input.from, message: input.message });
    return [];
  },
  nextDeadlineMs: () => null,
  invariants: () => {},
};

/** A supplier `sup`, an ID server `ids` and scripted customers, in one simulation. */
export class Net {
  sim: Simulator<NetProtocol>;
  supplier: SimNode<NetProtocol, SupplierState>;
  idServer: SimNode<NetProtocol>;
  clients = new Map<NodeId, SimNode<NetProtocol>>();
  notices: { node: NodeId; notice: NetProtocol["notice"] }[] = [];
  config: SupplierConfig;
  #requestId = 100;

  constructor(
    seed: number,
    config: Partial<SupplierConfig> = {},
    clients = ["alice", "bob", "carol"],
    disk: Partial<DiskConfig> = {},
  ) {
    this.sim = new Simulator<NetProtocol>({
      seed,
      codec: messageCodec,
      disk,
      runJob: (job) => ({ result: runStorageJob(job) }),
      cryptoFor: (node) => cryptoFor(node.id),
      // Links are authenticated by each node's test key; ID servers answer keyless, as over HTTP.
      keyFor: (node) => node.role === "idserver" ? null : keyOf(node.id),
      onNotice: (node, notice) => this.notices.push({ node: node.id, notice }),
    });
    this.idServer = this.sim.addNode("idserver", idServerActor, idServerState(), "ids");
    this.sim.runUntil(1000);
    this.config = testConfig(config);
    this.supplier = this.sim.addNode("supplier", supplierActor, supplierState(this.config), "sup");
    for (const name of clients) {
      this.clients.set(name, this.sim.addNode("customer", clientActor, { received: [] }, name));
    }
    this.run();
  }

  get state(): SupplierState {
    return this.supplier.state;
  }

  /** Runs the simulation on for `ms` of virtual time. */
  run(ms = 10_000): void {
    this.sim.runUntil(this.sim.nowMs + ms);
  }

  /** Sends `message` (its request id replaced) from `client` to `to`; returns the answer. */
  ask(client: NodeId, message: Message, to: NodeId = "sup"): Message {
    const node = this.clients.get(client)!;
    const requestId = this.#requestId++;
    this.sim.command(node, { to, message: { ...message, requestId } as Message });
    this.run();
    const state = node.state as ClientState;
    const answers = state.received.filter((r) =>
      "requestId" in r.message &&
      r.message.requestId === requestId
    );
    assert.equal(answers.length, 1, `one answer to ${message.type}, got ${answers.length}`);
    return answers[0].message;
  }

  /** Every message `client` ever received. */
  received(client: NodeId): Message[] {
    return (this.clients.get(client)!.state as ClientState).received.map((r) => r.message);
  }

  /** The supplier's blobs whose keys start with `prefix`. */
  blobs(prefix: string): string[] {
    return [...(this.supplier.disk?.blobs.keys() ?? [])].filter((k) => k.startsWith(prefix));
  }

  /** Restarts the supplier from a fresh state over the same disk. */
  restart(): void {
    this.run();
    this.sim.setOffline(this.supplier);
    Object.assign(this.supplier.state, supplierState(this.config));
    this.sim.setOnline(this.supplier);
    this.run();
  }
}

/** The test key of node `name`: what its links are authenticated by unless a test says other. */
export function keyOf(name: NodeId): Uint8Array {
  return new Uint8Array(createHash("sha256").update(`key:${name}`).digest());
}
