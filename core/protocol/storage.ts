/**
 * Messages between users (customers) and suppliers, tags 48–79.
 *
 * | tag | message                 | from → to           | answer                  |
 * |-----|-------------------------|---------------------|-------------------------|
 * | 48  | `contract_request`      | customer → supplier | `contract_reply`        |
 * | 49  | `contract_reply`        | supplier → customer |                         |
 * | 50  | `contract_cancel`       | customer → supplier | `contract_cancel_reply` |
 * | 51  | `contract_cancel_reply` | supplier → customer |                         |
 * | 52  | `store`                 | customer → supplier | `store_reply`           |
 * | 53  | `store_reply`           | supplier → customer |                         |
 * | 54  | `fetch`                 | customer → supplier | `fetch_reply`           |
 * | 55  | `fetch_reply`           | supplier → customer |                         |
 * | 56  | `remove`                | customer → supplier | `remove_reply`          |
 * | 57  | `remove_reply`          | supplier → customer |                         |
 * | 58  | `audit`                 | customer → supplier | `audit_reply`           |
 * | 59  | `audit_reply`           | supplier → customer |                         |
 * | 60  | `probe`                 | customer → supplier | `probe_reply`           |
 * | 61  | `probe_reply`           | supplier → customer |                         |
 * | 62  | `list`                  | customer → supplier | `list_reply`            |
 * | 63  | `list_reply`            | supplier → customer |                         |
 * | 64  | `superseded`            | supplier → customer |                         |
 *
 * Every request carries a `requestId` chosen by the customer and echoed in the answer. Fragments
 * are named by the customer with a fragment key (`parts/fragment_keys.ts`); a supplier keeps
 * each customer's fragments apart and serves them to that customer only. The sender of every
 * message is authenticated by the link (the handshake of the real transport, the simulated link
 * in the simulator), so none of these is signed.
 *
 * Fencing (issue 11). The four requests that change what a supplier keeps (`contract_request`,
 * `contract_cancel`, `store`, `remove`) carry the writer epoch of the customer's instance: the
 * epoch of the writer lease it holds from its ID servers, 0 when it runs without one. Two
 * daemons on one key hold the lease one after the other at rising epochs; a supplier keeps the
 * highest epoch it has seen from the customer and answers a request below it `superseded`
 * (carrying that epoch) instead of handling it, so an instance that lost the lease (a laptop
 * that slept through a take-over, a clock that runs late) can never remove, cancel or overwrite
 * what the newer writer keeps. A `probe` carries the epoch too, and raises the supplier's but is
 * never refused; its answer tells the customer the highest epoch the supplier has seen. So a new
 * writer's epoch reaches every member of the family within one probe round, and an instance
 * that lost the lease hears it from its next probes, even if it writes nothing.
 *
 * @module
 */

import { array, bool, bytes, fixedBytes, oneOf, string, struct, uint } from "../codec.ts";
import {
  AUDIT_LEAF_BYTES_MAX,
  AUDIT_PATH_MAX,
  FRAGMENT_BYTES_MAX,
  FRAGMENT_KEY_BYTES_MAX,
  LIST_KEYS_MAX,
  REMOVE_KEYS_MAX,
} from "../limits.ts";

/** Why a supplier refuses a storage contract. */
const CONTRACT_OUTCOMES = ["accepted", "no_space", "too_many_customers", "closing"] as const;
/** One of {@link CONTRACT_OUTCOMES}. */
export type ContractOutcome = typeof CONTRACT_OUTCOMES[number];

/** Outcomes of a `store`. */
const STORE_OUTCOMES = [
  "stored",
  "no_contract",
  "over_quota",
  "bad_hash",
  "bad_key",
  "no_space",
  "io_error",
  "busy",
] as const;
/** One of {@link STORE_OUTCOMES}. */
export type StoreOutcome = typeof STORE_OUTCOMES[number];

/** Outcomes of a `fetch` or an `audit`. */
const FETCH_OUTCOMES = [
  "found",
  "no_contract",
  "not_found",
  "bad_key",
  "bad_leaf",
  "io_error",
  "busy",
] as const;
/** One of the storage {@link FETCH_OUTCOMES}. */
export type FragmentFetchOutcome = typeof FETCH_OUTCOMES[number];

const key = string(FRAGMENT_KEY_BYTES_MAX);
const hash = fixedBytes(32);

/** Wire table of the storage messages. */
export const storageMessages = {
  contract_request: [48, struct({ requestId: uint, epoch: uint, quotaBytes: uint })],
  contract_reply: [
    49,
    struct({ requestId: uint, outcome: oneOf(CONTRACT_OUTCOMES), quotaBytes: uint }),
  ],
  contract_cancel: [50, struct({ requestId: uint, epoch: uint })],
  contract_cancel_reply: [51, struct({ requestId: uint, removed: uint })],
  store: [
    52,
    struct({ requestId: uint, epoch: uint, key, hash, data: bytes(FRAGMENT_BYTES_MAX) }),
  ],
  store_reply: [53, struct({ requestId: uint, key, outcome: oneOf(STORE_OUTCOMES) })],
  fetch: [54, struct({ requestId: uint, key })],
  fetch_reply: [
    55,
    struct({
      requestId: uint,
      key,
      outcome: oneOf(FETCH_OUTCOMES),
      data: bytes(FRAGMENT_BYTES_MAX),
    }),
  ],
  remove: [56, struct({ requestId: uint, epoch: uint, keys: array(key, REMOVE_KEYS_MAX) })],
  remove_reply: [57, struct({ requestId: uint, removed: uint })],
  audit: [58, struct({ requestId: uint, key, leafIndex: uint, leafBytes: uint })],
  audit_reply: [
    59,
    struct({
      requestId: uint,
      key,
      outcome: oneOf(FETCH_OUTCOMES),
      size: uint,
      leaf: bytes(AUDIT_LEAF_BYTES_MAX),
      path: array(hash, AUDIT_PATH_MAX),
    }),
  ],
  probe: [60, struct({ requestId: uint, epoch: uint })],
  probe_reply: [
    61,
    struct({ requestId: uint, contract: bool, usedBytes: uint, quotaBytes: uint, epoch: uint }),
  ],
  list: [62, struct({ requestId: uint, prefix: key, after: key })],
  list_reply: [
    63,
    struct({ requestId: uint, keys: array(key, LIST_KEYS_MAX), more: bool }),
  ],
  superseded: [64, struct({ requestId: uint, epoch: uint })],
} as const;
