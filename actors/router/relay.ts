/**
 * Relaying: admitting an envelope, passing it on now or queueing it, and draining the queues as
 * bandwidth comes back.
 *
 * An envelope goes to its route's node as `relayed`, the very `Uint8Array` that arrived, never
 * copied or looked into, once two buckets cover its size: the router's bandwidth and the
 * route's share of it. Otherwise it waits at the tail of its route's queue, so nothing overtakes
 * an earlier envelope for the same route (from any sender, so from each sender too).
 *
 * Draining: the `drains` heap holds every route with a queue by the time its own share covers
 * its head (`drain.atMs`, from the route's bucket as it was when the head became the head; the
 * route's bucket is refilled only when the queue is empty or the head goes, so the time stays
 * exact). The head of the heap's top goes once the router's bandwidth covers it too; while it
 * does not, nothing else goes either, newcomers included: a big envelope is never starved by a
 * stream of small ones on other routes. The `drain` timer is the later of the two times.
 *
 * @module
 */

import type { NodeId } from "../../core/actor.ts";
import type { RelayRefusal } from "../../core/protocol/relay.ts";
import { covers, readyAtMs, refill, take } from "./_bucket.ts";
import { type Out, send } from "./_effects.ts";
import type { Route, RouterState } from "./state.ts";

/** Handles `relay {to, envelope}` from the authenticated sender `from`. */
export function onRelay(
  state: RouterState,
  from: NodeId,
  to: NodeId,
  envelope: Uint8Array,
  nowMs: number,
): Out {
  const size = envelope.length;
  const refuse = (reason: RelayRefusal, out: Out = []) => {
    state.counters.refused[reason]++;
    out.push(send(from, { type: "relay_refused", to, reason, size }));
    return out;
  };
  if (state.closing) return refuse("closing");
  if (size > state.options.envelopeBytesMax) return refuse("oversized");
  const r = state.routes.get(to);
  if (r === undefined) return refuse("no_route");
  const out = drainDue(state, nowMs); // what is due goes before anything new
  const idle = r.queue === null || r.queue.length === 0;
  if (idle) {
    refill(r.bucket, nowMs); // not in the drain heap: its time is taken afresh when it joins
    if (!waiting(state, nowMs) && passes(state, r, size, nowMs)) {
      out.push(relayed(state, r, from, envelope));
      return out;
    }
  }
  if (!enqueue(state, r, from, envelope)) return refuse("queue_full", out);
  armDrain(state);
  return out;
}

/** Whether a queued head is due but held back by the router's bandwidth (or the step's work). */
function waiting(state: RouterState, nowMs: number): boolean {
  const top = state.drains.top();
  return top !== undefined && top.drain.atMs <= nowMs;
}

/** Whether both buckets cover `size` now (the route's bucket is refilled by the caller). */
function passes(state: RouterState, r: Route, size: number, nowMs: number): boolean {
  refill(state.bandwidth, nowMs);
  return covers(state.bandwidth, size) && covers(r.bucket, size);
}

/** Takes the envelope's tokens and passes it on to `r`'s node. */
function relayed(state: RouterState, r: Route, from: NodeId, envelope: Uint8Array): Out[number] {
  const size = envelope.length;
  take(state.bandwidth, size);
  take(r.bucket, size);
  state.counters.relayedFrames++;
  state.counters.relayedBytes += size;
  return send(r.name, { type: "relayed", from, envelope });
}

/** Puts an envelope at the tail of `r`'s queue; false when a bound would be passed. */
function enqueue(state: RouterState, r: Route, from: NodeId, envelope: Uint8Array): boolean {
  const o = state.options;
  const size = envelope.length;
  const frames = r.queue?.length ?? 0;
  if (frames >= o.routeQueueFramesMax) return false;
  if (r.queuedBytes + size > o.routeQueueBytesMax) return false;
  if (state.queuedBytes + size > o.queueBytesMax) return false;
  const q = r.queue ??= [];
  q.push({ from, envelope });
  if (frames === 0) {
    r.drain.atMs = readyAtMs(r.bucket, size);
    r.drain.seq = state.seq++;
    state.drains.push(r);
  }
  r.queuedBytes += size;
  state.queuedBytes += size;
  state.queuedFrames++;
  const c = state.counters;
  c.queuedFrames++;
  if (state.queuedBytes > c.queuedPeakBytes) c.queuedPeakBytes = state.queuedBytes;
  if (state.queuedFrames > c.queuedPeakFrames) c.queuedPeakFrames = state.queuedFrames;
  return true;
}

/**
 * Passes on every queued head that both buckets cover at `nowMs`, earliest route first, at
 * most `workPerStepMax` of them (what is left stays due), then re-arms the `drain` timer.
 */
export function drainDue(state: RouterState, nowMs: number): Out {
  const out: Out = [];
  let work = state.options.workPerStepMax;
  for (let r = state.drains.top(); r !== undefined && r.drain.atMs <= nowMs && work > 0;) {
    const q = r.queue!;
    const head = q[0];
    const size = head.envelope.length;
    refill(state.bandwidth, nowMs);
    if (!covers(state.bandwidth, size)) break; // everyone waits for the router's bandwidth
    refill(r.bucket, nowMs);
    if (covers(r.bucket, size)) {
      q.shift();
      r.queuedBytes -= size;
      state.queuedBytes -= size;
      state.queuedFrames--;
      out.push(relayed(state, r, head.from, head.envelope));
      work--;
    }
    if (q.length === 0) {
      state.drains.remove(r);
    } else {
      r.drain.atMs = readyAtMs(r.bucket, q[0].envelope.length);
      r.drain.seq = state.seq++;
      state.drains.update(r);
    }
    r = state.drains.top();
  }
  armDrain(state);
  return out;
}

/** Holds, in the timer table, when the drain heap's top head may go by both buckets. */
export function armDrain(state: RouterState): void {
  const top = state.drains.top();
  if (top === undefined) {
    state.deadlines.stop("drain");
    return;
  }
  const size = top.queue![0].envelope.length;
  state.deadlines.set("drain", Math.max(top.drain.atMs, readyAtMs(state.bandwidth, size)));
}
