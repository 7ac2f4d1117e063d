/**
 * Request tables: the requests an actor sent and still awaits answers to.
 *
 * Theory of operation. A sans-IO actor that asks a peer something must remember, until the
 * answer or the deadline comes, whom it asked and why. Each role used to keep its own map and
 * counter for that; this is the one table they share.
 *
 * - An entry is `id -> { to, deadlineMs, purpose }`. The purpose says what the answer (or its
 *   timeout) is for; it should hold ids (a position index, a version id, a block key), not
 *   pointers into the actor's state, so that a request outliving the thing it was for finds
 *   nothing when it comes back, instead of a stale object.
 * - Ids are deterministic: 1, 2, 3, ... in sending order (a run replays from its seed), and never
 *   reused while the table lives.
 * - The table has a named size limit (`limit`), checked on insert: {@link RequestTable.open}
 *   returns null when the table is full, and the caller decides what waits.
 * - Answers are matched by id and by sender ({@link RequestTable.settle}): an answer from a node
 *   the request did not go to leaves the request in place.
 * - Deadlines: {@link RequestTable.next} is the earliest one (for the actor's `request` timer)
 *   and {@link RequestTable.expired} removes and returns every request due. Most actors give all
 *   requests the same timeout, so deadlines grow in sending order: then the front of the
 *   insertion-ordered map is the earliest, and both calls cost O(1) per request they return.
 *   An insert with an earlier deadline than the last one makes both scan the table instead.
 *
 * The table wraps a `Map` and shows only reads of it (`get`, `has`, `values`, `size`): entries
 * come in through {@link RequestTable.open} only, and leave through `settle`, `expired` or
 * `clear`, so nothing gets past the limit or the ordering bookkeeping.
 *
 * @example
 * ```ts
 * const t = new RequestTable<{ kind: "probe"; position: number }>(2);
 * const id = t.open("s1", 100, { kind: "probe", position: 0 })!;
 * console.assert(t.next() === 100);
 * console.assert(t.settle(id, "s2") === null); // not whom we asked
 * console.assert(t.settle(id, "s1")?.purpose.position === 0);
 * console.assert(t.size === 0 && t.next() === null);
 * ```
 *
 * @module
 */

import type { NodeId } from "./actor.ts";
import { assert } from "./assert.ts";

/** One request awaiting its answer. */
export interface PendingRequest<P> {
  readonly id: number;
  readonly to: NodeId;
  readonly deadlineMs: number;
  readonly purpose: P;
}

/** Requests awaiting answers, by id, at most `limit` at once. */
export class RequestTable<P> {
  /** Most requests awaiting answers at once. */
  readonly limit: number;
  #nextId: number;
  /** Whether deadlines are in insertion order (the common case: one timeout for all). */
  #ordered = true;
  #lastDeadlineMs = -Infinity;

  /** An empty table; `limit` must be a positive integer. */
  readonly #entries = new Map<number, PendingRequest<P>>();

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RangeError(`a request table's limit must be a positive integer, got ${limit}`);
    }
    this.limit = limit;
    this.#nextId = 1;
  }

  /** Whether `room` more requests fit under the limit. */
  canOpen(room = 1): boolean {
    return this.size + room <= this.limit;
  }

  /** Records a request to `to` due at `deadlineMs`; its id, or null when the table is full. */
  open(to: NodeId, deadlineMs: number, purpose: P): number | null {
    assert(Number.isFinite(deadlineMs), "a request deadline must be finite");
    if (!this.canOpen()) return null;
    const id = this.#nextId++;
    if (deadlineMs < this.#lastDeadlineMs) this.#ordered = false;
    this.#lastDeadlineMs = deadlineMs;
    this.#entries.set(id, { id, to, deadlineMs, purpose });
    return id;
  }

  /**
   * Takes request `id` off the table (its answer came); null when there is none, or when `from`
   * is given and is not whom it was sent to (then the request stays).
   */
  settle(id: number, from?: NodeId): PendingRequest<P> | null {
    const r = this.get(id);
    if (r === undefined || (from !== undefined && r.to !== from)) return null;
    this.#delete(id);
    return r;
  }

  /** The earliest deadline, or null when nothing is awaited. */
  next(): number | null {
    let due: number | null = null;
    for (const r of this.values()) {
      if (this.#ordered) return r.deadlineMs;
      if (due === null || r.deadlineMs < due) due = r.deadlineMs;
    }
    return due;
  }

  /** Removes and returns every request due at `nowMs` (deadline <= nowMs), in sending order. */
  expired(nowMs: number): PendingRequest<P>[] {
    const due: PendingRequest<P>[] = [];
    for (const r of this.values()) {
      if (r.deadlineMs <= nowMs) due.push(r);
      else if (this.#ordered) break;
    }
    for (const r of due) this.#delete(r.id);
    return due;
  }

  /** Requests awaiting answers. */
  get size(): number {
    return this.#entries.size;
  }

  /** Request `id`, if it awaits its answer. */
  get(id: number): PendingRequest<P> | undefined {
    return this.#entries.get(id);
  }

  /** Whether request `id` awaits its answer. */
  has(id: number): boolean {
    return this.#entries.has(id);
  }

  /** The requests awaiting answers, in sending order. */
  values(): IterableIterator<PendingRequest<P>> {
    return this.#entries.values();
  }

  /** Forgets every request (a host that starts over, a test). */
  clear(): void {
    this.#entries.clear();
    this.#ordered = true;
    this.#lastDeadlineMs = -Infinity;
  }

  #delete(id: number): void {
    this.#entries.delete(id);
    if (this.#entries.size === 0) {
      this.#ordered = true; // nothing left out of order
      this.#lastDeadlineMs = -Infinity;
    }
  }
}
