/**
 * The supplier role: lends disk to customers under storage contracts, serves each customer's
 * fragments to that customer only, answers audits with Merkle proofs, and announces its free
 * space to ID servers in signed offers.
 *
 * A sans-IO actor ({@link supplierActor}); the simulator runs it as a node, the real daemon
 * puts sockets and a blob store under it. See `step.ts` for the theory of operation.
 *
 * @example
 * ```ts
 * import { supplierActor, supplierState } from "./mod.ts";
 * const state = supplierState({
 *   name: "s1",
 *   identityDocument: new Uint8Array([1]),
 *   capacityBytes: 1 << 30,
 *   idServers: [],
 * });
 * console.assert(supplierActor.nextDeadlineMs(state) === null);
 * ```
 *
 * @module
 */

export { nextDeadlineMs, step, supplierActor } from "./step.ts";
export {
  type ContractEnd,
  freeBytes,
  invariants,
  offeredBytes,
  SUPPLIER_DEFAULTS,
  type SupplierCommand,
  type SupplierConfig,
  type SupplierNotice,
  type SupplierOptions,
  type SupplierProtocol,
  type SupplierState,
  supplierState,
  type SupplierStatus,
} from "./state.ts";
export {
  CONTRACT_PREFIX,
  contractKey,
  type ContractRecord,
  decodeContract,
  encodeContract,
  encodeKeyedContract,
  encodeLegacyContract,
  FRAGMENT_PREFIX,
  fragmentBlobKey,
  parseFragmentBlobKey,
} from "./records.ts";
