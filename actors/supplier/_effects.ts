/**
 * Small helpers to build the supplier's effects.
 *
 * @module
 */

import type { BlobOp, Effect, NodeId } from "../../core/actor.ts";
import type { Message } from "../../core/protocol/mod.ts";
import type { PendingIo, SupplierProtocol, SupplierState } from "./state.ts";

/** The effects one handler returns. */
export type Out = Effect<SupplierProtocol>[];

/** Starts blob operation `op`, remembering `pending` until it completes. */
export function issue(state: SupplierState, pending: PendingIo, op: BlobOp): Out[number] {
  const id = state.nextIoId++;
  state.ops.set(id, pending);
  return { kind: "io", id, op };
}

/** Sends `message` to `to`. */
export function send(to: NodeId, message: Message): Out[number] {
  return { kind: "send", to, message };
}

/** A trace event. */
export function trace(
  event: string,
  detail?: Record<string, string | number | boolean>,
): Out[number] {
  return { kind: "trace", event, detail };
}

/** Whether another blob operation may start. */
export function ioRoom(state: SupplierState): boolean {
  return state.ops.size < state.options.blobOpsMax;
}
