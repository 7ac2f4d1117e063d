/**
 * The contract every {@link BlobStore} implementation passes (run from each one's test file):
 * the blob-operation contract actors rely on (`tests/_blob_ops_contract.ts`, which the
 * simulator's disk passes too), run through `runRangedBlobOp`, and on top of it what only the
 * store's own API shows (a delete's answer, an empty blob, listing every key, exceptions mapped
 * to outcomes, concurrent writes).
 *
 * @module
 */

import assert from "node:assert/strict";
import { BlobSpaceError, type BlobStore, runBlobOp } from "./blob_store.ts";
import { runRangedBlobOp } from "./routed_store.ts";
import { blobOpsContract } from "../tests/_blob_ops_contract.ts";

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

  test("a delete says whether there was a blob; an empty blob is a blob", async (store) => {
    await store.write("d", pattern(factory.largeBlobBytes, 5));
    assert.equal(await store.delete("d"), true);
    assert.equal(await store.delete("d"), false);
    await store.write("empty", new Uint8Array(0));
    assert.deepEqual(await store.read("empty"), new Uint8Array(0));
    assert.equal(await store.read("a/missing"), undefined);
  });

  test("list takes an empty prefix and a key equal to the prefix", async (store) => {
    for (const key of ["id/b", "id/", "idx"]) await store.write(key, pattern(3, 6));
    assert.deepEqual(await store.list("id/"), ["id/", "id/b"]);
    assert.equal((await store.list("")).length, 3);
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

  // The blob operations actors run, through the host's ranged interpreter.
  const runner = (store: BlobStore) => ({
    run: (op: Parameters<typeof runRangedBlobOp>[1]) => runRangedBlobOp(store, op),
    close: () => store.close(),
  });
  const reopen = factory.reopen;
  blobOpsContract(name, {
    open: async () => runner(await factory.open()),
    reopen: reopen === undefined ? undefined : async () => runner(await reopen()),
    largeBlobBytes: factory.largeBlobBytes,
    tooLargeBlobBytes: factory.tooLargeBlobBytes,
  });
}
