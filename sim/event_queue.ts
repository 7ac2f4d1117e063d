/**
 * The simulator's agenda: a binary min-heap of events ordered by virtual time, then by sequence.
 *
 * Ties at the same millisecond are broken by a sequence number the queue assigns on insertion.
 * Insertion order in a simulation is itself a pure function of the seed (one thread, no Map or
 * Set iteration decides it), so the order of simultaneous events is reproducible, and it is also
 * causal: an event scheduled by another event at the same instant runs after it.
 *
 * @module
 */

import { assert } from "../core/assert.ts";
import { SIM_EVENTS_PENDING_MAX } from "../core/limits.ts";

/** Anything the queue can order: a time and the sequence number the queue stamps on it. */
export interface Scheduled {
  /** Virtual time in milliseconds. */
  t: number;
  /** Tie-breaker, assigned by {@link EventQueue.push}. */
  seq: number;
}

/** Min-heap on `(t, seq)`. */
export class EventQueue<E extends Scheduled> {
  #heap: E[] = [];
  #nextSeq = 0;
  readonly #max: number;

  constructor(maxPending = SIM_EVENTS_PENDING_MAX) {
    this.#max = maxPending;
  }

  /** Number of pending events. */
  get size(): number {
    return this.#heap.length;
  }

  /** Total number of events ever pushed. */
  get pushed(): number {
    return this.#nextSeq;
  }

  /** Adds `event` (its `seq` is overwritten). Throws when the pending limit is reached. */
  push(event: E): void {
    const heap = this.#heap;
    assert(heap.length < this.#max, `event queue full (${this.#max} pending)`);
    assert(event.t === event.t, "event time is NaN");
    event.seq = this.#nextSeq++;
    let i = heap.length;
    heap.push(event);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent];
      if (p.t < event.t || (p.t === event.t && p.seq < event.seq)) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = event;
  }

  /** The earliest event without removing it. */
  peek(): E | undefined {
    return this.#heap[0];
  }

  /** Removes and returns the earliest event. */
  pop(): E | undefined {
    const heap = this.#heap;
    const n = heap.length;
    if (n === 0) return undefined;
    const top = heap[0];
    const last = heap.pop()!;
    if (n > 1) this.#siftDown(last, n - 1);
    return top;
  }

  #siftDown(event: E, n: number): void {
    const heap = this.#heap;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      let c = heap[child];
      const right = child + 1;
      if (right < n) {
        const r = heap[right];
        if (r.t < c.t || (r.t === c.t && r.seq < c.seq)) {
          child = right;
          c = r;
        }
      }
      if (event.t < c.t || (event.t === c.t && event.seq < c.seq)) break;
      heap[i] = c;
      i = child;
    }
    heap[i] = event;
  }
}
