/**
 * Who may speak under a name: the keys the customer pins, and the check every message passes
 * before it may change anything.
 *
 * Pinning. A supplier's key is pinned when its contract is accepted: the key that authenticated
 * the link of the accepted `contract_reply` (the real transport confirms a name's key against
 * the ID servers before it admits a link, so that key is the one the ID servers hold). It is kept
 * with the position in the local family record and in the sealed recovery record (so a new
 * machine with only the user's key knows its family's keys before it talks to anybody), and with
 * a fired supplier for as long as it is told to drop our contract. A name's key never changes
 * (rotation moves an identity between ID servers under the same key), so a pin is never replaced.
 *
 * Checking. Every message names its sender (`from`) and carries the key of its link
 * (`fromKey`). It is refused when:
 * - `from` is a configured ID server and `fromKey` is not null: ID servers are reached over HTTP
 *   by the host, so their answers carry no key; a peer with a key claiming such a name lies;
 * - `from` is not an ID server and `fromKey` is null (every supplier has a key);
 * - a key is pinned for `from` and `fromKey` is another;
 * - nothing is pinned for `from` and the message is not one that may pin a key: a
 *   `contract_reply` to our `contract_request` (hiring), a `probe_reply` to a position named by
 *   a record of the format before keys, or a `contract_cancel_reply` to a cancel sent to a
 *   supplier fired before keys were kept.
 * A refused message changes nothing (not even when its sender was last seen), gets no answer,
 * is counted in `counters.authRefused`, and is traced once as `auth.refused`. So no refused
 * message ever fires, excludes, or makes us tell a supplier to delete anything.
 *
 * Records of the format before keys name suppliers without keys. Such a position is unpinned:
 * it is sent probes only (no stores, fetches, audits or lists: their answers could not be
 * checked) and the first probe answer pins the key it came with (trace `key.pinned`), once.
 * That is trust on first use, but of a link the transport has checked against the ID servers;
 * refusing such a family outright would leave the user without their data.
 *
 * @module
 */

import type { NodeId } from "../../core/actor.ts";
import { bytesEqual } from "../../core/ids.ts";
import { PUBLIC_KEY_BYTES } from "../../core/limits.ts";
import type { Message } from "../../core/protocol/mod.ts";
import type { E } from "./protocol.ts";
import { familyChanged } from "./journal.ts";
import type { CustomerState } from "./state.ts";

/** The key pinned for `name` (a member of the family, or a fired supplier still told), or null. */
function pinnedKey(s: CustomerState, name: NodeId): Uint8Array | null {
  for (const p of s.family.positions) if (p.supplier === name && p.key !== null) return p.key;
  return s.family.cancels.get(name)?.key ?? null;
}

/** Why `m` from `from` over a link authenticated by `fromKey` is refused, or null if it is not. */
export function refusal(
  s: CustomerState,
  from: NodeId,
  fromKey: Uint8Array | null,
  m: Message,
): string | null {
  if (s.idServers.includes(from)) {
    return fromKey === null ? null : "a key under the name of an ID server";
  }
  if (fromKey === null) return "no key authenticated the link";
  const pinned = pinnedKey(s, from);
  if (pinned !== null) return bytesEqual(pinned, fromKey) ? null : "not the key pinned for it";
  if (fromKey.length !== PUBLIC_KEY_BYTES) return "not an Ed25519 key";
  const r = "requestId" in m ? s.requests.get(m.requestId) : undefined;
  // No request of ours: it is dropped as unexpected, and changes nothing either way.
  if (r === undefined || r.to !== from) return null;
  const kind = r.purpose.kind;
  if (kind === "contract" && m.type === "contract_reply") return null;
  if (kind === "probe" && m.type === "probe_reply") return null;
  if (kind === "cancel" && m.type === "contract_cancel_reply") return null;
  return "no key pinned for it yet";
}

/** The effects of refusing `m`: one trace, and the refusal counted; nothing else changes. */
export function refuse(s: CustomerState, from: NodeId, m: Message, why: string): readonly E[] {
  s.counters.authRefused++;
  return [{ kind: "trace", event: "auth.refused", detail: { from, type: m.type, why } }];
}

/**
 * Pins `key` for the unpinned supplier at position `i`, which answered a probe (a position named
 * by a record of the format before keys): a one-time upgrade, traced and recorded.
 */
export function pinOnProbe(s: CustomerState, out: E[], i: number, key: Uint8Array): void {
  const p = s.family.positions[i];
  if (p.key !== null || p.supplier === null) return;
  p.key = key.slice();
  s.counters.keysPinnedOnProbe++;
  familyChanged(s);
  out.push({
    kind: "trace",
    event: "key.pinned",
    detail: { position: i, supplier: p.supplier, how: "probe" },
  });
}
