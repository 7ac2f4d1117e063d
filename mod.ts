/**
 * bitdust: a decentralized, end-to-end encrypted personal storage network.
 *
 * The library's public API. See README.md for the project and its glossary.
 *
 * @module
 */

export { assert, AssertionError } from "./core/assert.ts";
export { Random } from "./core/prng.ts";
export type { Seed } from "./core/prng.ts";
export * as codec from "./core/codec.ts";
export type * from "./core/actor.ts";
export * as data from "./data/mod.ts";
export * as identity from "./core/identity.ts";
/** Reusable parts of protocol that every role may build on (fragment keys, ID-server links). */
export * as parts from "./parts/mod.ts";

// -----------------------------------------------------------------------------------------------
// The roles: each is a deterministic, sans-IO actor (`core/actor.ts`) with a state factory.

/** The user's role: backs up, restores, watches its family of suppliers and repairs it. */
export { customerActor, customerState } from "./actors/customer/mod.ts";
export type { CustomerProtocol, CustomerState } from "./actors/customer/mod.ts";
/** The supplier's role: lends disk to customers under signed contracts, answers audits. */
export { supplierActor, supplierState } from "./actors/supplier/mod.ts";
export type { SupplierProtocol, SupplierState } from "./actors/supplier/mod.ts";
/** The ID server's role: hosts signed identities, the directory of offers, writer leases. */
export { idServerActor, idServerState } from "./actors/idserver/mod.ts";
export type { IdServerProtocol, IdServerState } from "./actors/idserver/mod.ts";

// -----------------------------------------------------------------------------------------------
// Hosts: what runs an actor. The shell is shared; the simulator and the real host differ in
// transport, blob store and clock only.

/** The node shell every host wraps an actor in (effect limit, invariants, timers, decoding). */
export { NodeShell } from "./core/shell.ts";
export type { EffectPort } from "./core/shell.ts";
/** The deterministic discrete-event simulator: many actors, one virtual clock, one seed. */
export { Simulator } from "./sim/simulator.ts";
export type { SimConfig, SimNode } from "./sim/simulator.ts";
/** The real host: one actor on the wall clock, a blob store, a transport. */
export { Host } from "./net/host.ts";
export type { HostOptions } from "./net/host.ts";
