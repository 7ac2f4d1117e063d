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
}

/** An SSD-like default with no faults. */
export const DEFAULT_DISK: DiskConfig = {
  capacityBytes: 1024 ** 4,
  opLatencyMs: 0.1,
  bytesPerSec: 500_000_000,
  failure: 0,
};

/** Bytes of a read-only mounted blob: `length` bytes at `offset` (fewer at its end). */
export type MountReader = (key: string, offset: number, length: number) => Uint8Array | null;

/** One node's blobs. */
export class SimDisk {
  readonly blobs = new Map<string, Uint8Array>();
  usedBytes = 0;
  readonly config: DiskConfig;
  /** Read-only blobs generated on demand (a user's source files), by key prefix. */
  readonly mounts = new Map<string, MountReader>();

  constructor(config: DiskConfig) {
    this.config = config;
  }

  /** Runs `op`; returns its result and how long it took in ms. */
  apply(op: BlobOp, random: Random): { result: BlobResult; costMs: number } {
    const c = this.config;
    if (c.failure > 0 && random.float() < c.failure) {
      return {
        result: { ok: false, error: "io_error", detail: "injected" },
        costMs: c.opLatencyMs,
      };
    }
    switch (op.op) {
      case "write": {
        const old = this.blobs.get(op.key);
        const delta = op.data.length - (old?.length ?? 0);
        if (this.usedBytes + delta > c.capacityBytes) {
          return { result: { ok: false, error: "no_space" }, costMs: c.opLatencyMs };
        }
        this.blobs.set(op.key, op.data.slice());
        this.usedBytes += delta;
        return { result: { ok: true }, costMs: this.#cost(op.data.length) };
      }
      case "read": {
        const offset = op.offset ?? 0;
        const mounted = this.#mounted(op.key, offset, op.length);
        if (mounted !== undefined) return mounted;
        const data = this.blobs.get(op.key);
        if (data === undefined) return { result: { ok: false, error: "not_found" }, costMs: 0 };
        const end = op.length === undefined ? data.length : offset + op.length;
        const part = data.slice(offset, end);
        return { result: { ok: true, data: part }, costMs: this.#cost(part.length) };
      }
      case "delete": {
        const old = this.blobs.get(op.key);
        if (old !== undefined) {
          this.blobs.delete(op.key);
          this.usedBytes -= old.length;
        }
        return { result: { ok: true }, costMs: c.opLatencyMs };
      }
      case "list": {
        const keys = [...this.blobs.keys()].filter((k) => k.startsWith(op.prefix)).sort();
        const sizes = keys.map((k) => this.blobs.get(k)!.length);
        return { result: { ok: true, keys, sizes }, costMs: c.opLatencyMs };
      }
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
