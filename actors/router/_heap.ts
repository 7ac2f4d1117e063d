/**
 * An indexed binary min-heap: each item knows its own position (through the accessors the heap
 * is built with), so moving or removing an item is O(log n) and nothing stale is ever left in
 * it. The router keeps two: routes by their next ping, routes with a queue by when their head
 * envelope may go. Ties go to the smaller `seq`, which the owner sets from a counter, so the
 * order never depends on anything but the inputs.
 *
 * @module
 */

import { assert } from "../../core/assert.ts";

/** Where an item stands in a heap: its key, its tie-break, its position (-1: not in it). */
export interface HeapSlot {
  atMs: number;
  seq: number;
  index: number;
}

/** A min-heap of items by their {@link HeapSlot} (see the module header). */
export class SlotHeap<T> {
  readonly items: T[] = [];
  readonly #slot: (item: T) => HeapSlot;

  /** A heap whose items keep their slot where `slot` finds it. */
  constructor(slot: (item: T) => HeapSlot) {
    this.#slot = slot;
  }

  /** Items held. */
  get size(): number {
    return this.items.length;
  }

  /** The earliest item, or `undefined` when empty. */
  top(): T | undefined {
    return this.items[0];
  }

  /** Whether `item` is in the heap. */
  has(item: T): boolean {
    return this.#slot(item).index >= 0;
  }

  /** Adds `item` (not in the heap yet) at its slot's key. */
  push(item: T): void {
    const s = this.#slot(item);
    assert(s.index < 0, "item is in the heap already");
    s.index = this.items.length;
    this.items.push(item);
    this.#up(s.index);
  }

  /** Restores the order after `item`'s key changed. */
  update(item: T): void {
    const i = this.#slot(item).index;
    assert(i >= 0, "item is not in the heap");
    this.#down(this.#up(i));
  }

  /** Takes `item` out (no-op when it is not in). */
  remove(item: T): void {
    const s = this.#slot(item);
    const i = s.index;
    if (i < 0) return;
    s.index = -1;
    const last = this.items.pop()!;
    if (i === this.items.length) return;
    this.items[i] = last;
    this.#slot(last).index = i;
    this.#down(this.#up(i));
  }

  /** Whether every item's slot points at its place and no child precedes its parent. */
  sane(): boolean {
    for (let i = 0; i < this.items.length; i++) {
      if (this.#slot(this.items[i]).index !== i) return false;
      if (i > 0 && this.#less(i, (i - 1) >> 1)) return false;
    }
    return true;
  }

  #less(i: number, j: number): boolean {
    const a = this.#slot(this.items[i]);
    const b = this.#slot(this.items[j]);
    return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
  }

  #swap(i: number, j: number): void {
    const items = this.items;
    const t = items[i];
    items[i] = items[j];
    items[j] = t;
    this.#slot(items[i]).index = i;
    this.#slot(items[j]).index = j;
  }

  #up(i: number): number {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(i, parent)) break;
      this.#swap(i, parent);
      i = parent;
    }
    return i;
  }

  #down(i: number): void {
    const n = this.items.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) return;
      const r = l + 1;
      const child = r < n && this.#less(r, l) ? r : l;
      if (!this.#less(child, i)) return;
      this.#swap(i, child);
      i = child;
    }
  }
}
