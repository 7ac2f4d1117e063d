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

/** The block a requester's address belongs to (see the module comment). */
export function addressBlock(address: string): string {
  const zoneless = address.replace(/^\[(.*)\]$/, "$1").replace(/%.*$/, "");
  const v4 = /^(?:::ffff:)?(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/i.exec(zoneless);
  if (v4 !== null && v4.slice(1).every((x) => Number(x) <= 255)) {
    return `v4:${Number(v4[1])}.${Number(v4[2])}.${Number(v4[3])}`;
  }
  const groups = ipv6Groups(zoneless);
  if (groups !== null) {
    if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
      return `v4:${groups[6] >> 8}.${groups[6] & 255}.${groups[7] >> 8}`;
    }
    return `v6:${groups.slice(0, 4).map((g) => g.toString(16)).join(":")}`;
  }
  return `name:${address.slice(0, 256)}`;
}

/** The eight 16-bit groups of an IPv6 address (a trailing dotted IPv4 part allowed), or null. */
function ipv6Groups(text: string): number[] | null {
  if (!text.includes(":") || !/^[0-9a-fA-F:.]+$/.test(text)) return null;
  let s = text;
  const tail: number[] = [];
  const dotted = /^(.*:)(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (dotted !== null) {
    const b = dotted.slice(2).map(Number);
    if (b.some((x) => x > 255)) return null;
    tail.push((b[0] << 8) | b[1], (b[2] << 8) | b[3]);
    s = dotted[1].endsWith("::") ? dotted[1] : dotted[1].slice(0, -1);
  }
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const parse = (part: string) => (part === "" ? [] : part.split(":"));
  const head = parse(halves[0]);
  const rest = halves.length === 2 ? parse(halves[1]) : [];
  if ([...head, ...rest].some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return null;
  const known = head.length + rest.length + tail.length;
  if (halves.length === 1 ? known !== 8 : known > 7) return null;
  const zeros = new Array(8 - known).fill(0);
  return [...head.map(hex), ...zeros, ...rest.map(hex), ...tail];
}

function hex(g: string): number {
  return parseInt(g, 16);
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
