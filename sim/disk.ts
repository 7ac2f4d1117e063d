/**
 * A node's simulated disk: blobs by key, a capacity, optional latency and injected failures.
 *
 * It survives the node going offline and vanishes when the node departs for good. Bytes are
 * stored as given (the simulator copies them out of the actor's effect), so checkers can scan
 * every disk for plaintext.
 *
 * @module
 */

import type { BlobOp, BlobResult } from "../core/actor.ts";
import { BLOB_KEY_BYTES_MAX } from "../core/limits.ts";
import type { Random } from "../core/prng.ts";

/** Disk parameters. */
export interface DiskConfig {
  /** Capacity in bytes; writes beyond it fail with `no_space`. */
  capacityBytes: number;
  /** Fixed cost of any operation, in ms. */
  opLatencyMs: number;
  /** Transfer rate for reads and writes, bytes per second. */
  bytesPerSec: number;
  /** Probability that an operation fails with `io_error` (a faulty disk). */
  failure: number;
  /**
   * When the node's process crashes, the probability that a write or delete it issued and had
   * no completion for yet is undone (the blob is as before it).
   */
  lostWrite: number;
  /** Likewise, the probability that such a write leaves only a prefix of its bytes (torn). */
  tornWrite: number;
}

/** An SSD-like default with no faults. */
export const DEFAULT_DISK: DiskConfig = {
  capacityBytes: 1024 ** 4,
  opLatencyMs: 0.1,
  bytesPerSec: 500_000_000,
  failure: 0,
  lostWrite: 0,
  tornWrite: 0,
};

/** Bytes of a read-only mounted blob: `length` bytes at `offset` (fewer at its end). */
export type MountReader = (key: string, offset: number, length: number) => Uint8Array | null;

/** A write (or delete) that has no completion yet: what a crash may undo or tear. */
interface Unsynced {
  key: string;
  /** The blob before the first unsynced change of its key (`undefined`: none). */
  before: Uint8Array | undefined;
  /** Changes of the key still without a completion. */
  open: number;
}

const utf8 = new TextEncoder();

/** What a crash did to the writes in flight. */
export interface CrashDamage {
  lost: number;
  torn: number;
  kept: number;
}

/**
 * One node's blobs.
 *
 * Theory of operation. `apply` runs an operation at once and says how long it took; the
 * simulator delivers the completion that much later and then calls {@link synced}. Between the
 * two the change is in flight: if the node's process crashes meanwhile, {@link crash} decides,
 * per key, whether the change happened (kept), did not (lost: the blob as before) or was torn
 * (a prefix of the new bytes), with the probabilities of {@link DiskConfig}. A change with a
 * completion is durable, as fsync makes it on a real disk. In-flight changes are tracked only
 * when a crash can hurt them, so a run without those faults pays nothing. {@link rot} flips a
 * bit of a stored blob at rest (bit rot), which only the actors' own hashes can catch.
 */
export class SimDisk {
  readonly blobs = new Map<string, Uint8Array>();
  usedBytes = 0;
  readonly config: DiskConfig;
  /** Read-only blobs generated on demand (a user's source files), by key prefix. */
  readonly mounts = new Map<string, MountReader>();
  readonly #unsynced = new Map<string, Unsynced>();
  /** Key of each change in flight, by the token {@link apply} returned. */
  readonly #inFlight = new Map<number, string>();
  #nextToken = 1;

  constructor(config: DiskConfig) {
    this.config = config;
  }

  /**
   * Runs `op`; returns its result, how long it took in ms, and a token (0: nothing to sync)
   * to pass to {@link synced} when its completion is delivered.
   */
  apply(op: BlobOp, random: Random): { result: BlobResult; costMs: number; token: number } {
    checkKey(op.op === "list" ? null : op.key);
    const c = this.config;
    if (c.failure > 0 && random.float() < c.failure) {
      return {
        result: { ok: false, error: "io_error", detail: "injected" },
        costMs: c.opLatencyMs,
        token: 0,
      };
    }
    switch (op.op) {
      case "write": {
        const old = this.blobs.get(op.key);
        const delta = op.data.length - (old?.length ?? 0);
        if (this.usedBytes + delta > c.capacityBytes) {
          return { result: { ok: false, error: "no_space" }, costMs: c.opLatencyMs, token: 0 };
        }
        const token = this.#track(op.key, old);
        this.#put(op.key, op.data.slice());
        return { result: { ok: true }, costMs: this.#cost(op.data.length), token };
      }
      case "read": {
        const offset = op.offset ?? 0;
        const mounted = this.#mounted(op.key, offset, op.length);
        if (mounted !== undefined) return { ...mounted, token: 0 };
        const data = this.blobs.get(op.key);
        if (data === undefined) {
          return { result: { ok: false, error: "not_found" }, costMs: 0, token: 0 };
        }
        const end = op.length === undefined ? data.length : offset + op.length;
        const part = data.slice(offset, end);
        return { result: { ok: true, data: part }, costMs: this.#cost(part.length), token: 0 };
      }
      case "delete": {
        const old = this.blobs.get(op.key);
        if (old === undefined) {
          return { result: { ok: false, error: "not_found" }, costMs: c.opLatencyMs, token: 0 };
        }
        const token = this.#track(op.key, old);
        this.#put(op.key, undefined);
        return { result: { ok: true }, costMs: c.opLatencyMs, token };
      }
      case "list": {
        const keys = [...this.blobs.keys()].filter((k) => k.startsWith(op.prefix)).sort();
        const sizes = keys.map((k) => this.blobs.get(k)!.length);
        return { result: { ok: true, keys, sizes }, costMs: c.opLatencyMs, token: 0 };
      }
    }
  }

  /** The change `token` stands for got its completion: it is durable now. */
  synced(token: number): void {
    if (token === 0) return;
    const key = this.#inFlight.get(token);
    if (key === undefined) return; // a crash settled it already
    this.#inFlight.delete(token);
    const u = this.#unsynced.get(key)!;
    u.before = this.blobs.get(key);
    if (--u.open === 0) this.#unsynced.delete(key);
  }

  /** Changes issued and not yet completed. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /**
   * The node's process crashed: every change in flight is kept, lost or torn (drawn from
   * `random`, key by key in the order they were first changed), then nothing is in flight.
   */
  crash(random: Random): CrashDamage {
    const damage: CrashDamage = { lost: 0, torn: 0, kept: 0 };
    const { lostWrite, tornWrite } = this.config;
    for (const [key, u] of this.#unsynced) {
      const x = random.float();
      const now = this.blobs.get(key);
      if (x < lostWrite) {
        this.#put(key, u.before);
        damage.lost++;
      } else if (x < lostWrite + tornWrite && now !== undefined && now.length > 0) {
        this.#put(key, now.slice(0, random.int(now.length)));
        damage.torn++;
      } else {
        damage.kept++;
      }
    }
    this.#unsynced.clear();
    this.#inFlight.clear();
    return damage;
  }

  /**
   * Flips one bit of a random blob whose key starts with `prefix` (bit rot at rest); returns
   * its key, or `null` when there is none.
   */
  rot(random: Random, prefix: string): string | null {
    const keys: string[] = [];
    for (const [key, data] of this.blobs) {
      if (data.length > 0 && key.startsWith(prefix)) keys.push(key);
    }
    if (keys.length === 0) return null;
    keys.sort(); // a Map's order is insertion order: sort so the pick depends on contents only
    const key = keys[random.int(keys.length)];
    const data = this.blobs.get(key)!;
    data[random.int(data.length)] ^= 1 << random.int(8);
    return key;
  }

  /** Everything is gone (the machine was lost); mounts stay. */
  wipe(): void {
    this.blobs.clear();
    this.usedBytes = 0;
    this.#unsynced.clear();
    this.#inFlight.clear();
  }

  #track(key: string, old: Uint8Array | undefined): number {
    if (this.config.lostWrite === 0 && this.config.tornWrite === 0) return 0;
    const token = this.#nextToken++;
    this.#inFlight.set(token, key);
    const u = this.#unsynced.get(key);
    if (u === undefined) this.#unsynced.set(key, { key, before: old, open: 1 });
    else u.open++;
    return token;
  }

  #put(key: string, data: Uint8Array | undefined): void {
    const old = this.blobs.get(key);
    if (old !== undefined) this.usedBytes -= old.length;
    if (data === undefined) this.blobs.delete(key);
    else {
      this.blobs.set(key, data);
      this.usedBytes += data.length;
    }
  }

  #mounted(key: string, offset: number, length: number | undefined) {
    for (const [prefix, reader] of this.mounts) {
      if (!key.startsWith(prefix)) continue;
      const data = reader(key, offset, length ?? Number.MAX_SAFE_INTEGER);
      if (data === null) {
        return { result: { ok: false, error: "not_found" } as BlobResult, costMs: 0 };
      }
      return { result: { ok: true, data } as BlobResult, costMs: this.#cost(data.length) };
    }
    return undefined;
  }

  #cost(bytes: number): number {
    return this.config.opLatencyMs + (bytes * 1000) / this.config.bytesPerSec;
  }
}

/** Throws `RangeError` for a key the real stores refuse (an actor's bug, stopped here too). */
function checkKey(key: string | null): void {
  if (key === null) return;
  if (
    key.length === 0 ||
    (key.length * 3 > BLOB_KEY_BYTES_MAX && utf8.encode(key).length > BLOB_KEY_BYTES_MAX)
  ) {
    throw new RangeError(`blob key must be 1..${BLOB_KEY_BYTES_MAX} bytes: ${key.slice(0, 40)}`);
  }
}
