/**
 * The customer (user) role: backs up, restores, monitors its family of suppliers and repairs.
 *
 * @module
 */

export { customerActor } from "./step.ts";
export {
  CUSTOMER_DEFAULTS,
  type CustomerConfig,
  type CustomerCounters,
  type CustomerOptions,
  type CustomerState,
  customerState,
  type SourceFile,
} from "./state.ts";
export type {
  CustomerCommand,
  CustomerNotice,
  CustomerProtocol,
  PositionSummary,
  VersionSummary,
} from "./protocol.ts";
