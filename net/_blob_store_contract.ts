/**
 * The contract every {@link BlobStore} implementation passes (run from each one's test file).
 *
 * @module
 */

import assert from "node:assert/strict";
import { BlobSpaceError, type BlobStore, runBlobOp } from "./blob_store.ts";

/** What the contract needs from an implementation's test. */
export interface BlobStoreFactory {
  /** A fresh, empty store. */
  open(): Promise<BlobStore>;
  /** The same store reopened after `close` (durable stores), or `undefined` for memory ones. */
  reopen?(): Promise<BlobStore>;
  /** Largest blob the store must hold. */
  largeBlobBytes: number;
  /** A blob size the store must refuse with `BlobSpaceError`, if it has a limit. */
  tooLargeBlobBytes?: number;
}

function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

/** Registers the contract's tests for one implementation. */
export function blobStoreContract(name: string, factory: BlobStoreFactory): void {
  const test = (what: string, fn: (store: BlobStore) => Promise<void>) =>
    Deno.test(`${name}: ${what}`, async () => {
      const store = await factory.open();
      try {
        await fn(store);
      } finally {
        store.close();
      }
    });

  test("write then read returns a copy of the bytes", async (store) => {
    const data = pattern(100, 1);
    await store.write("a/1", data);
    data[0] ^= 0xff; // the store must have copied
    assert.deepEqual(await store.read("a/1"), pattern(100, 1));
    assert.equal(await store.read("a/missing"), undefined);
  });

  test("write replaces the whole blob, small over large and large over small", async (store) => {
    await store.write("k", pattern(factory.largeBlobBytes, 2));
    await store.write("k", pattern(10, 3));
    assert.deepEqual(await store.read("k"), pattern(10, 3));
    await store.write("k", pattern(factory.largeBlobBytes, 4));
    assert.deepEqual(await store.read("k"), pattern(factory.largeBlobBytes, 4));
    await store.write("empty", new Uint8Array(0));
    assert.deepEqual(await store.read("empty"), new Uint8Array(0));
  });

  test("delete removes, and says whether there was a blob", async (store) => {
    await store.write("d", pattern(factory.largeBlobBytes, 5));
    assert.equal(await store.delete("d"), true);
    assert.equal(await store.delete("d"), false);
    assert.equal(await store.read("d"), undefined);
  });

  test("list returns keys under a prefix, sorted", async (store) => {
    for (const key of ["id/b", "id/a", "idx", "x/id/c", "id/a.b", "id/"]) {
      await store.write(key, pattern(3, 6));
    }
    assert.deepEqual(await store.list("id/"), ["id/", "id/a", "id/a.b", "id/b"]);
    assert.deepEqual(await store.list("nothing/"), []);
    assert.equal((await store.list("")).length, 6);
  });

  test("keys over the limit are the caller's bug", async (store) => {
    await assert.rejects(() => store.write("k".repeat(600), new Uint8Array(1)), RangeError);
    await assert.rejects(() => store.read(""), RangeError);
  });

  test("runBlobOp reports outcomes as values", async (store) => {
    assert.deepEqual(await runBlobOp(store, { op: "read", key: "nope" }), {
      ok: false,
      error: "not_found",
    });
    assert.deepEqual(await runBlobOp(store, { op: "write", key: "w", data: pattern(5, 7) }), {
      ok: true,
    });
    assert.deepEqual(await runBlobOp(store, { op: "list", prefix: "w" }), {
      ok: true,
      keys: ["w"],
    });
    assert.deepEqual(await runBlobOp(store, { op: "delete", key: "w" }), { ok: true });
    if (factory.tooLargeBlobBytes !== undefined) {
      const big = new Uint8Array(factory.tooLargeBlobBytes);
      await assert.rejects(() => store.write("big", big), BlobSpaceError);
      const result = await runBlobOp(store, { op: "write", key: "big", data: big });
      assert.equal(result.ok ? "ok" : result.error, "no_space");
    }
  });

  test("concurrent writes of one key leave one whole blob", async (store) => {
    const sizes = [10, factory.largeBlobBytes, 20, factory.largeBlobBytes - 1];
    await Promise.all(sizes.map((n, i) => store.write("race", pattern(n, i))));
    const got = (await store.read("race"))!;
    const i = sizes.indexOf(got.length);
    assert.ok(i >= 0);
    assert.deepEqual(got, pattern(sizes[i], i));
  });

  if (factory.reopen !== undefined) {
    const reopen = factory.reopen;
    Deno.test(`${name}: blobs survive closing and reopening`, async () => {
      const store = await factory.open();
      await store.write("keep/1", pattern(factory.largeBlobBytes, 8));
      await store.write("keep/2", pattern(7, 9));
      store.close();
      const again = await reopen();
      try {
        assert.deepEqual(await again.read("keep/1"), pattern(factory.largeBlobBytes, 8));
        assert.deepEqual(await again.list("keep/"), ["keep/1", "keep/2"]);
      } finally {
        again.close();
      }
    });
  }
}
