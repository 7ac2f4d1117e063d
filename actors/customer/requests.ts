/**
 * Requests awaiting answers, and the ids of blob reads and jobs awaiting completion.
 *
 * The requests live in a `RequestTable` (`core/requests.ts`) in `s.requests`. Every request waits
 * the same `requestTimeoutMs`, so deadlines grow in the order requests are sent and the oldest
 * request is always the next to expire: the table's `next()` and `expired()` are O(1) per request.
 * The `request` timer (step.ts) is held at the table's earliest deadline: every change to the
 * table goes through this file, which re-sets the timer.
 *
 * @module
 */

import type { NodeId, StepContext } from "../../core/actor.ts";
import type { Message } from "../../core/protocol/mod.ts";
import type { E } from "./protocol.ts";
import type { Continuation, CustomerState, PendingRequest, RequestPurpose } from "./state.ts";

/**
 * A message of the protocol minus its `requestId` and writer `epoch`, which {@link request}
 * fills in.
 */
export type Request = Message extends infer M
  ? M extends { requestId: number } ? Omit<M, "requestId" | "epoch">
  : never
  : never;

/**
 * The writer epoch our requests to suppliers carry (`core/protocol/storage.ts`, fencing): the
 * epoch of the writer lease we hold; 0 without a lease, or while we hold none (a standby's
 * probes must not raise the fence above the writer's).
 */
function writerEpoch(s: CustomerState): number {
  return s.lease?.held?.epoch ?? 0;
}

function fenced(m: Request): boolean {
  const t = m.type;
  return t === "store" || t === "remove" || t === "contract_request" ||
    t === "contract_cancel" || t === "probe";
}

/** Whether another request fits under the in-flight limit. */
export function canRequest(s: CustomerState, room = 1): boolean {
  return s.requests.canOpen(room);
}

/** Sends `message` to `to` as a request for `purpose`; returns false when the table is full. */
export function request(
  s: CustomerState,
  ctx: StepContext,
  out: E[],
  to: NodeId,
  message: Request,
  purpose: RequestPurpose,
): boolean {
  const id = s.requests.open(to, ctx.nowMs + s.options.requestTimeoutMs, purpose);
  if (id === null) return false;
  armRequestTimer(s);
  const sent = fenced(message)
    ? { ...message, requestId: id, epoch: writerEpoch(s) }
    : { ...message, requestId: id };
  out.push({ kind: "send", to, message: sent as Message });
  return true;
}

/** Takes the request an answer refers to, if it came from the node it was sent to. */
export function takeRequest(s: CustomerState, from: NodeId, id: number): PendingRequest | null {
  const r = s.requests.settle(id, from);
  if (r !== null) armRequestTimer(s);
  return r;
}

/** Removes and returns every request whose deadline has passed. */
export function expiredRequests(s: CustomerState, nowMs: number): PendingRequest[] {
  const due = s.requests.expired(nowMs);
  armRequestTimer(s);
  return due;
}

/** Holds the `request` timer at the earliest request deadline (stopped when none is awaited). */
function armRequestTimer(s: CustomerState): void {
  const due = s.requests.next();
  if (due === null) s.deadlines.stop("request");
  else s.deadlines.set("request", due);
}

/** Registers what a blob read or job is for; returns the id to put on the effect. */
export function continuation(s: CustomerState, c: Continuation): number {
  const id = s.nextOpId++;
  s.continuations.set(id, c);
  return id;
}
