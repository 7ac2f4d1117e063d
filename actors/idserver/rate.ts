/**
 * The ID server's budget of new names per address block.
 *
 * Who asks: the HTTP front passes the client's IP address with each publish (`address`); a node's
 * message in the simulator has no IP address, so its sender's name stands for it (each simulated
 * node is a block of its own); a local command without an address is the block `local`.
 * {@link addressBlock} maps an address to its block: an IPv4 address (or an IPv4-mapped IPv6
 * one) to its /24, an IPv6 address to its /64, anything else to itself.
 *
 * Each block has a token bucket of `blockRegistrationsMax` tokens, refilled evenly over
 * `IDSERVER_REGISTRATION_WINDOW_MS`: registering a new name takes one token; with none left the
 * publish is refused `rate_limited`. Updates and refreshes of hosted names take nothing.
 *
 * Memory: at most `registrationBlocksMax` buckets. The table is kept in order of last use, so its
 * head is the block charged longest ago; a block unused for a whole window has a full bucket
 * again, the same as no entry, and is dropped (two such entries are dropped on every charge, and
 * one when a new block finds the table full). When the table is full of blocks charged within the
 * window, a new block shares one overflow bucket of the same size with every other such block
 * (counted as `publish.rate_table_full`): a flood from more blocks than the table holds is held
 * to one block's share, and the blocks already in the table keep theirs.
 *
 * @module
 */

import { addressBlock } from "../../core/address.ts";
import { IDSERVER_REGISTRATION_WINDOW_MS } from "../../core/limits.ts";
import type { NodeId } from "../../core/actor.ts";

/** One block's bucket: tokens left at `updatedMs` (fractional: they refill continuously). */
export interface RegistrationBucket {
  tokens: number;
  updatedMs: number;
}

/** The registration budgets of every tracked block, and the overflow one. */
export interface RegistrationBudget {
  /** Buckets by block, in order of last charge (oldest first). */
  blocks: Map<string, RegistrationBucket>;
  /** Shared by the blocks that find the table full. */
  overflow: RegistrationBucket;
}

/** A fresh budget of `capacity` tokens per block: every block has a full bucket. */
export function registrationBudget(capacity: number): RegistrationBudget {
  return { blocks: new Map(), overflow: { tokens: capacity, updatedMs: 0 } };
}

/** The requester's address as the budget sees it: `address`, else the sender, else `local`. */
export function requesterAddress(address: string | undefined, from: NodeId | undefined): string {
  return address ?? from ?? "local";
}

function refill(bucket: RegistrationBucket, capacity: number, nowMs: number): void {
  const elapsed = Math.max(0, nowMs - bucket.updatedMs);
  bucket.tokens = Math.min(
    capacity,
    bucket.tokens + (elapsed * capacity) / IDSERVER_REGISTRATION_WINDOW_MS,
  );
  bucket.updatedMs = Math.max(bucket.updatedMs, nowMs);
}

/** Whether a bucket untouched since `updatedMs` is full again at `nowMs`. */
function refilled(bucket: RegistrationBucket, nowMs: number): boolean {
  return nowMs - bucket.updatedMs >= IDSERVER_REGISTRATION_WINDOW_MS;
}

/** The bucket `block` is charged to now: its own, a new one, or the overflow (`shared`). */
function bucketOf(
  budget: RegistrationBudget,
  block: string,
  capacity: number,
  blocksMax: number,
  nowMs: number,
): { bucket: RegistrationBucket; shared: boolean } {
  const blocks = budget.blocks;
  const own = blocks.get(block);
  if (own !== undefined) {
    blocks.delete(block); // re-inserted at the tail: the table stays in order of last use
    blocks.set(block, own);
    return { bucket: own, shared: false };
  }
  if (blocks.size >= blocksMax) {
    const [oldest, bucket] = blocks.entries().next().value!;
    if (!refilled(bucket, nowMs)) return { bucket: budget.overflow, shared: true };
    blocks.delete(oldest);
  }
  const fresh = { tokens: capacity, updatedMs: nowMs };
  blocks.set(block, fresh);
  return { bucket: fresh, shared: false };
}

/**
 * Takes one registration token for `block`; `"ok"`, or why not (`"rate_limited"`). `shared`
 * tells that the block was charged to the overflow bucket.
 */
export function takeRegistration(
  budget: RegistrationBudget,
  block: string,
  capacity: number,
  blocksMax: number,
  nowMs: number,
): { ok: boolean; shared: boolean } {
  for (let i = 0; i < 2; i++) {
    const head = budget.blocks.entries().next().value;
    if (head === undefined || head[0] === block || !refilled(head[1], nowMs)) break;
    budget.blocks.delete(head[0]);
  }
  const { bucket, shared } = bucketOf(budget, block, capacity, blocksMax, nowMs);
  refill(bucket, capacity, nowMs);
  if (bucket.tokens < 1) return { ok: false, shared };
  bucket.tokens -= 1;
  return { ok: true, shared };
}

export { addressBlock };
