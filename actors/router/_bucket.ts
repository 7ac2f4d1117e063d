/**
 * Token buckets of the router: the global bandwidth, each route's share of it, and the budget
 * of reachability dial-backs. Plain records refilled lazily from the step's clock, so a bucket
 * costs nothing between steps and needs no timer of its own.
 *
 * A bucket holds `tokens` (bytes, or checks) as of `atMs`, gains `perSec` tokens a second and
 * never holds more than `capacity`. A cost is affordable when the tokens cover it, within
 * {@link TOKEN_SLACK}: a deadline computed by {@link readyAtMs} and rounded up to a whole
 * millisecond must find the bucket ready, whatever the floating-point rounding on the way.
 *
 * @module
 */

import { assert } from "../../core/assert.ts";

/** Relative shortfall forgiven when a cost is compared with the tokens (rounding only). */
const TOKEN_SLACK = 1e-9;
/** Milliseconds in a second: bucket rates are per second, clocks in milliseconds. */
const MS_PER_SEC = 1000;

/** A token bucket (see the module header). */
export interface Bucket {
  tokens: number;
  atMs: number;
  readonly perSec: number;
  readonly capacity: number;
}

/** A full bucket gaining `perSec` tokens a second, holding at most `capacity`. */
export function bucket(perSec: number, capacity: number, nowMs: number): Bucket {
  assert(perSec > 0 && Number.isFinite(perSec), "a bucket's rate must be positive and finite");
  assert(capacity > 0 && Number.isFinite(capacity), "a bucket's capacity must be positive");
  return { tokens: capacity, atMs: nowMs, perSec, capacity };
}

/** Brings `b` up to `nowMs` (a clock that went back refills nothing). */
export function refill(b: Bucket, nowMs: number): void {
  if (nowMs <= b.atMs) return;
  b.tokens = Math.min(b.capacity, b.tokens + (b.perSec * (nowMs - b.atMs)) / MS_PER_SEC);
  b.atMs = nowMs;
}

/** Whether `b`, refilled to its own `atMs`, covers `cost`. */
export function covers(b: Bucket, cost: number): boolean {
  return b.tokens >= cost * (1 - TOKEN_SLACK);
}

/** Takes `cost` from `b` (which {@link covers} it). */
export function take(b: Bucket, cost: number): void {
  b.tokens = Math.max(0, b.tokens - cost);
}

/**
 * When `b` covers `cost` (at most its capacity): its `atMs` if it does now, else the first whole
 * millisecond after `atMs` by which it will (strictly later, so a waiting owner always moves on).
 */
export function readyAtMs(b: Bucket, cost: number): number {
  if (covers(b, cost)) return b.atMs;
  const exact = b.atMs + ((cost - b.tokens) * MS_PER_SEC) / b.perSec;
  return Math.max(Math.ceil(exact), Math.floor(b.atMs) + 1);
}

/** Whether `b`'s tokens lie within [0, capacity]. */
export function bucketSane(b: Bucket): boolean {
  return b.tokens >= 0 && b.tokens <= b.capacity && Number.isFinite(b.atMs);
}
