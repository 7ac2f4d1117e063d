/**
 * The contract of blob operations as actors see them: every place an actor's {@link BlobOp}
 * effects can run (the simulator's disk, and each real store through `runRangedBlobOp`) passes
 * these tests, so an actor that works in the simulator meets the same disk on a real machine.
 *
 * It speaks only {@link BlobOp} and {@link BlobResult} (outcomes as values, never exceptions),
 * which is why it lives here and not beside either implementation: `sim/` and `net/` both run
 * it without importing each other.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { BlobOp, BlobResult } from "../core/actor.ts";

/** Runs blob operations; one instance is one disk. */
export interface BlobOpRunner {
  run(op: BlobOp): Promise<BlobResult>;
  close(): void;
}

/** What the contract needs from an implementation's test. */
export interface BlobOpsFactory {
  /** A fresh, empty disk. */
  open(): Promise<BlobOpRunner>;
  /**
   * The same disk after its process restarted (its store closed and reopened), or `undefined`
   * for stores that do not outlive their process (memory).
   */
  reopen?(): Promise<BlobOpRunner>;
  /** Largest blob the disk must hold. */
  largeBlobBytes: number;
  /** A write of this many bytes must fail as `no_space` (and leave the disk as it was). */
  tooLargeBlobBytes?: number;
}

function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 29 + seed) & 0xff;
  return out;
}

function outcome(r: BlobResult): string {
  return r.ok ? "ok" : r.error;
}

async function read(disk: BlobOpRunner, key: string, offset?: number, length?: number) {
  const r = await disk.run({ op: "read", key, offset, length });
  if (!r.ok) return r.error;
  assert.ok(r.data instanceof Uint8Array, "a read that succeeds carries bytes");
  return r.data;
}

/** A test registrar: each test gets a fresh disk, closed after it. */
function opsTest(name: string, factory: BlobOpsFactory) {
  return (what: string, fn: (disk: BlobOpRunner) => Promise<void>) =>
    Deno.test(`${name} (blob ops): ${what}`, async () => {
      const disk = await factory.open();
      try {
        await fn(disk);
      } finally {
        disk.close();
      }
    });
}

/** Registers the contract's tests for one implementation, named `name`. */
export function blobOpsContract(name: string, factory: BlobOpsFactory): void {
  const test = opsTest(name, factory);
  const big = factory.largeBlobBytes;

  test("a write is read back as a copy, and a missing key is not_found", async (disk) => {
    const data = pattern(big, 1);
    assert.equal(outcome(await disk.run({ op: "write", key: "f/1", data })), "ok");
    data[0] ^= 0xff; // the disk must have copied what it was given
    const got = await read(disk, "f/1");
    assert.deepEqual(got, pattern(big, 1));
    (got as Uint8Array)[1] ^= 0xff; // and hand out a copy
    assert.deepEqual(await read(disk, "f/1"), pattern(big, 1));
    assert.equal(await read(disk, "f/2"), "not_found");
  });

  test("a write replaces the whole blob", async (disk) => {
    await disk.run({ op: "write", key: "k", data: pattern(big, 2) });
    await disk.run({ op: "write", key: "k", data: pattern(10, 3) });
    assert.deepEqual(await read(disk, "k"), pattern(10, 3));
    await disk.run({ op: "write", key: "k", data: pattern(big, 4) });
    assert.deepEqual(await read(disk, "k"), pattern(big, 4));
  });

  test("ranged reads cut the blob, short at its end, empty past it", async (disk) => {
    const data = pattern(1000, 5);
    await disk.run({ op: "write", key: "r", data });
    assert.deepEqual(await read(disk, "r", 100, 50), data.slice(100, 150));
    assert.deepEqual(await read(disk, "r", 990, 50), data.slice(990));
    assert.deepEqual(await read(disk, "r", 400), data.slice(400));
    assert.deepEqual(await read(disk, "r", 2000, 10), new Uint8Array(0));
    assert.equal(await read(disk, "missing", 0, 10), "not_found");
  });

  test("delete removes the blob and says not_found the second time", async (disk) => {
    await disk.run({ op: "write", key: "d", data: pattern(big, 6) });
    assert.equal(outcome(await disk.run({ op: "delete", key: "d" })), "ok");
    assert.equal(outcome(await disk.run({ op: "delete", key: "d" })), "not_found");
    assert.equal(await read(disk, "d"), "not_found");
  });

  test("list gives the keys under a prefix, sorted, with their sizes", async (disk) => {
    const keys = ["id/b", "id/a", "idx", "x/id/c", "id/a.b"];
    for (const [i, key] of keys.entries()) {
      await disk.run({ op: "write", key, data: pattern(3 + i, i) });
    }
    const r = await disk.run({ op: "list", prefix: "id/" });
    assert.ok(r.ok);
    assert.deepEqual(r.keys, ["id/a", "id/a.b", "id/b"]);
    assert.deepEqual(r.sizes, [4, 7, 3]);
    const none = await disk.run({ op: "list", prefix: "nothing/" });
    assert.deepEqual(none.ok ? none.keys : none.error, []);
  });

  limitsContract(name, factory);
  restartContract(name, factory);
}

/** Room and key limits. */
function limitsContract(name: string, factory: BlobOpsFactory): void {
  const test = opsTest(name, factory);
  if (factory.tooLargeBlobBytes !== undefined) {
    const tooLarge = factory.tooLargeBlobBytes;
    test("a write with no room is no_space and leaves the old blob", async (disk) => {
      await disk.run({ op: "write", key: "full", data: pattern(10, 7) });
      const r = await disk.run({ op: "write", key: "full", data: new Uint8Array(tooLarge) });
      assert.equal(outcome(r), "no_space");
      assert.deepEqual(await read(disk, "full"), pattern(10, 7));
    });
  }

  test("keys the real stores refuse are the caller's bug", async (disk) => {
    await assert.rejects(() => disk.run({ op: "read", key: "" }), RangeError);
    const long = { op: "write", key: "k".repeat(600), data: new Uint8Array(1) } as const;
    await assert.rejects(() => disk.run(long), RangeError);
  });
}

/** The part of the contract for disks that outlive their process. */
function restartContract(name: string, factory: BlobOpsFactory): void {
  const reopen = factory.reopen;
  const big = factory.largeBlobBytes;
  if (reopen === undefined) return;
  Deno.test(`${name} (blob ops): acknowledged writes survive a restart`, async () => {
    const disk = await factory.open();
    await disk.run({ op: "write", key: "keep/1", data: pattern(big, 8) });
    await disk.run({ op: "write", key: "keep/2", data: pattern(7, 9) });
    await disk.run({ op: "delete", key: "keep/2" });
    disk.close();
    const again = await reopen();
    try {
      assert.deepEqual(await read(again, "keep/1"), pattern(big, 8));
      assert.equal(await read(again, "keep/2"), "not_found");
    } finally {
      again.close();
    }
  });
}
