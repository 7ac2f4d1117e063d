/**
 * The ID-server role: hosts signed identity documents, owners' signed family records and a
 * directory of supplier offers.
 *
 * A sans-IO actor ({@link idServerActor}); `net/idserver_http.ts` puts a real HTTP front on it,
 * and the simulator runs it as a node that others message. New names are budgeted per signing
 * key and per address block ({@link addressBlock}); identities nobody refreshes expire after
 * `IDENTITY_TTL_MS` (see `step.ts`, `rate.ts`, `expiry.ts`).
 *
 * @module
 */

export { idServerActor, LOAD_RETRY_MS, nextDeadlineMs, step } from "./step.ts";
export { OFFER_SWEEP_INTERVAL_MS } from "./offers.ts";
export { addressBlock } from "./rate.ts";
export {
  DOC_KEY_PREFIX,
  docKey,
  FAMILY_KEY_PREFIX,
  familyKey,
  type HostedFamily,
  type HostedIdentity,
  type IdentityListReply,
  IDSERVER_DEFAULTS,
  IDSERVER_FAMILIES_MAX,
  type IdServerAnswer,
  type IdServerLimits,
  type IdServerNotice,
  type IdServerProtocol,
  type IdServerRequest,
  type IdServerState,
  idServerState,
  invariants,
} from "./state.ts";
