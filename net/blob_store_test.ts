import assert from "node:assert/strict";
import { blobStoreContract } from "./_blob_store_contract.ts";
import { MemoryBlobStore, runBlobOp } from "./blob_store.ts";

blobStoreContract("MemoryBlobStore", {
  open: () => Promise.resolve(new MemoryBlobStore({ capacityBytes: 4 * 1024 * 1024 })),
  largeBlobBytes: 300 * 1024,
  tooLargeBlobBytes: 5 * 1024 * 1024,
});

Deno.test("MemoryBlobStore counts its bytes against its capacity", async () => {
  const store = new MemoryBlobStore({ capacityBytes: 10 });
  await store.write("a", new Uint8Array(6));
  await store.write("a", new Uint8Array(8));
  assert.equal(store.usedBytes, 8);
  const result = await runBlobOp(store, { op: "write", key: "b", data: new Uint8Array(3) });
  assert.equal(result.ok ? "ok" : result.error, "no_space");
  await store.delete("a");
  assert.equal(store.usedBytes, 0);
});
