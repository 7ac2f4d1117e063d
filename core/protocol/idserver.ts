/**
 * What an ID server is asked and answers, in one place: the messages other nodes send it, and
 * the two questions only its local host asks (a lease read, a page of hosted names). The actor
 * (`actors/idserver/`) takes these as commands, and the HTTP exchange (`parts/idserver_wire.ts`)
 * translates them to and from their wire form; neither spells the union again.
 *
 * @module
 */

import type { NodeId } from "../actor.ts";
import type { SignedLease } from "./identity.ts";
import type { MessageOf } from "./mod.ts";

/**
 * Requests the ID server answers, from its local host (HTTP) or from other nodes. A publish from
 * the host may carry the name of the URL it was uploaded to (`name`) and the client's IP address
 * (`address`, for the registration budget of its block; see `rate.ts`).
 */
export type IdServerRequest =
  | (MessageOf<"identity_publish"> & { name?: NodeId; address?: string })
  | MessageOf<"identity_fetch">
  | MessageOf<"offer_announce">
  | MessageOf<"offer_query">
  | MessageOf<"family_publish">
  | MessageOf<"family_fetch">
  | MessageOf<"lease_claim">
  | { type: "lease_fetch"; requestId: number; owner: NodeId }
  | { type: "identity_list"; requestId: number; after: string; limit: number };

/** A page of hosted names, answering `identity_list`. */
export interface IdentityListReply {
  type: "identity_list_reply";
  requestId: number;
  names: NodeId[];
  /** Whether names after the last one listed exist. */
  more: boolean;
}

/** Answers to {@link IdServerRequest}s, as notices to the host or messages to nodes. */
export type IdServerAnswer =
  | MessageOf<"identity_publish_reply">
  | MessageOf<"identity_fetch_reply">
  | MessageOf<"offer_announce_reply">
  | MessageOf<"offer_query_reply">
  | MessageOf<"family_publish_reply">
  | MessageOf<"family_fetch_reply">
  | MessageOf<"lease_claim_reply">
  | { type: "lease_fetch_reply"; requestId: number; owner: NodeId; current?: SignedLease }
  | IdentityListReply;
