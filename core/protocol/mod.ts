/**
 * The one wire protocol every node speaks: a tagged union of every role's messages.
 *
 * Each area keeps its messages in its own file and its own tag range, so areas evolve without
 * touching each other's tags:
 * - 1–15: kernel demonstration (`demo.ts`)
 * - 16–47: identities and ID servers
 * - 48–127: storage (contracts, fragments, audits, families, rebuild)
 * - 128–159: routers and relayed packets
 *
 * @module
 */

import { type Codec, union, type UnionOf } from "../codec.ts";
import { demoMessages } from "./demo.ts";
import { identityMessages } from "./identity.ts";
import { relayMessages } from "./relay.ts";
import { storageMessages } from "./storage.ts";

const table = {
  ...demoMessages,
  ...identityMessages,
  ...storageMessages,
  ...relayMessages,
};

/** Every message of the protocol, discriminated by `type`. */
export type Message = UnionOf<typeof table>;

/** The codec of {@link Message}. */
export const messageCodec: Codec<Message> = union(table);

/** The member of {@link Message} whose `type` is `T`. */
export type MessageOf<T extends Message["type"]> = Extract<Message, { type: T }>;
