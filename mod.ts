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
