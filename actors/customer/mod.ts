/**
 * The customer (user) role: backs up, restores, monitors its family of suppliers and repairs.
 *
 * @module
 */

export { customer } from "./step.ts";
export {
  type CustomerConfig,
  type CustomerCounters,
  type CustomerOptions,
  type CustomerState,
  customerState,
  DEFAULT_CUSTOMER_OPTIONS,
  type SourceFile,
} from "./state.ts";
export type {
  CustomerCommand,
  CustomerNotice,
  CustomerProtocol,
  PositionSummary,
  VersionSummary,
} from "./protocol.ts";
