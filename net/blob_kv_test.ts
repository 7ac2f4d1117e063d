import { blobStoreContract } from "./_blob_store_contract.ts";
import { KV_BLOB_BYTES_MAX, KvBlobStore } from "./blob_kv.ts";

let dir = "";
const contractDirs: string[] = [];

blobStoreContract("KvBlobStore", {
  async open() {
    dir = await Deno.makeTempDir({ prefix: "bitdust-kv-" });
    contractDirs.push(dir);
    return await KvBlobStore.open(`${dir}/blobs.kv`);
  },
  reopen: () => KvBlobStore.open(`${dir}/blobs.kv`),
  largeBlobBytes: 300 * 1024,
  tooLargeBlobBytes: KV_BLOB_BYTES_MAX + 1,
});

Deno.test("KvBlobStore holds a blob of the largest size", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitdust-kv-" });
  const store = await KvBlobStore.open(`${dir}/blobs.kv`);
  try {
    const data = new Uint8Array(KV_BLOB_BYTES_MAX).fill(9);
    await store.write("max", data);
    await store.write("max", data);
    const got = await store.read("max");
    if (got?.length !== data.length || got.some((b) => b !== 9)) throw new Error("damaged");
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("KvBlobStore: the contract's temp folders are removed", async () => {
  for (const d of contractDirs.splice(0)) await Deno.remove(d, { recursive: true });
});
