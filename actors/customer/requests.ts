/**
 * Requests awaiting answers, and the ids of blob reads and jobs awaiting completion.
 *
 * Every request waits the same `requestTimeoutMs`, so deadlines grow in the order requests are
 * sent and the oldest request is always the next to expire: the table is a Map kept in insertion
 * order, its first entry holds the earliest deadline, and expiry pops from the front.
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
  return s.requests.size + room <= s.options.requestsInFlightMax;
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
  if (!canRequest(s)) return false;
  const id = s.nextRequestId++;
  const deadlineMs = ctx.nowMs + s.options.requestTimeoutMs;
  s.requests.set(id, { id, to, deadlineMs, purpose });
  const sent = fenced(message)
    ? { ...message, requestId: id, epoch: writerEpoch(s) }
    : { ...message, requestId: id };
  out.push({ kind: "send", to, message: sent as Message });
  return true;
}

/** Takes the request an answer refers to, if it came from the node it was sent to. */
export function takeRequest(s: CustomerState, from: NodeId, id: number): PendingRequest | null {
  const r = s.requests.get(id);
  if (r === undefined || r.to !== from) return null;
  s.requests.delete(id);
  return r;
}

/** Removes and returns every request whose deadline has passed. */
export function expiredRequests(s: CustomerState, nowMs: number): PendingRequest[] {
  const out: PendingRequest[] = [];
  for (const r of s.requests.values()) {
    if (r.deadlineMs > nowMs) break;
    out.push(r);
  }
  for (const r of out) s.requests.delete(r.id);
  return out;
}

/** The earliest request deadline, or null. */
export function firstRequestDeadline(s: CustomerState): number | null {
  for (const r of s.requests.values()) return r.deadlineMs;
  return null;
}

/** Registers what a blob read or job is for; returns the id to put on the effect. */
export function continuation(s: CustomerState, c: Continuation): number {
  const id = s.nextOpId++;
  s.continuations.set(id, c);
  return id;
}
