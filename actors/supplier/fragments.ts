/**
 * The per-customer fragment index: sizes by key, used bytes, and sorted pages for `list`.
 *
 * @module
 */

import { assert } from "../../core/assert.ts";
import { type CustomerRecord, recharge, type SupplierState } from "./state.ts";

/** What a listing reads: fragments by key, and their keys sorted (`null`: not sorted yet). */
type Listed = Pick<CustomerRecord, "sorted"> & { fragments: Map<string, unknown> };

/** Records fragment `key` of `c` with `size` bytes, replacing an older entry. */
export function putFragment(
  state: SupplierState,
  c: CustomerRecord,
  key: string,
  size: number,
  writeId: number,
): void {
  const old = c.fragments.get(key);
  if (old === undefined) {
    assert(c.fragments.size < state.options.fragmentsPerCustomerMax, "fragment table full");
    assert(state.fragmentCount < state.options.fragmentsMax, "fragment index full");
    state.fragmentCount++;
    c.sorted = null;
  }
  recharge(state, c, () => {
    c.fragments.set(key, { size, writeId });
    c.usedBytes += size - (old?.size ?? 0);
  });
}

/** Forgets fragment `key` of `c`; returns whether it was indexed. Idempotent. */
export function dropFragment(state: SupplierState, c: CustomerRecord, key: string): boolean {
  const old = c.fragments.get(key);
  if (old === undefined) return false;
  recharge(state, c, () => {
    c.fragments.delete(key);
    c.usedBytes -= old.size;
  });
  state.fragmentCount--;
  c.sorted = null;
  return true;
}

function sortedKeys(c: Listed): string[] {
  if (c.sorted === null) c.sorted = [...c.fragments.keys()].sort();
  return c.sorted;
}

/** Index of the first key in `keys` (sorted) that is greater than `bound`, or not less. */
function search(keys: string[], bound: string, strictly: boolean): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid] < bound || (strictly && keys[mid] === bound)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * One page of `c`'s keys that start with `prefix` and sort after `after`: at most `max` keys,
 * sorted, and whether more follow.
 */
export function listPage(
  c: Listed,
  prefix: string,
  after: string,
  max: number,
): { keys: string[]; more: boolean } {
  const keys = sortedKeys(c);
  let i = Math.max(search(keys, prefix, false), search(keys, after, true));
  const out: string[] = [];
  while (i < keys.length && keys[i].startsWith(prefix)) {
    if (out.length === max) return { keys: out, more: true };
    out.push(keys[i++]);
  }
  return { keys: out, more: false };
}
