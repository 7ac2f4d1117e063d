import assert from "node:assert/strict";
import { blobStoreContract } from "./_blob_store_contract.ts";
import { KvBlobStore } from "./blob_kv.ts";
import { type BlobStore, MemoryBlobStore } from "./blob_store.ts";
import { FsBlobStore } from "./fs_store.ts";
import { RoutedStore, runRangedBlobOp } from "./routed_store.ts";
import { SourceStore } from "./source_store.ts";

const bytes = (...v: number[]) => Uint8Array.from(v);

blobStoreContract("RoutedStore", {
  open: () => {
    const capacityBytes = 4 * 1024 * 1024;
    const routes = [
      { prefix: "id/", store: new MemoryBlobStore({ capacityBytes }) },
      { prefix: "x/", store: new MemoryBlobStore({ capacityBytes }) },
      { prefix: "keep/", store: new MemoryBlobStore({ capacityBytes }) },
    ];
    return Promise.resolve(new RoutedStore(routes, new MemoryBlobStore({ capacityBytes })));
  },
  largeBlobBytes: 300 * 1024,
  tooLargeBlobBytes: 5 * 1024 * 1024,
});

Deno.test("RoutedStore sends keys to the longest matching route", async () => {
  const a = new MemoryBlobStore();
  const ab = new MemoryBlobStore();
  const rest = new MemoryBlobStore();
  const store = new RoutedStore([{ prefix: "a/", store: a }, { prefix: "a/b/", store: ab }], rest);
  for (const key of ["a/1", "a/b/2", "a/bc", "b", "a"]) await store.write(key, bytes(1, 2));
  assert.deepEqual(await a.list(""), ["a/1", "a/bc"]);
  assert.deepEqual(await ab.list(""), ["a/b/2"]);
  assert.deepEqual(await rest.list(""), ["a", "b"]);
  await rest.write("a/shadowed", bytes(9)); // written behind the router's back: not listed
  assert.deepEqual(await store.list(""), ["a", "a/1", "a/b/2", "a/bc", "b"]);
  assert.deepEqual(await store.list("a/"), ["a/1", "a/b/2", "a/bc"]);
  assert.deepEqual(await store.list("a/b"), ["a/b/2", "a/bc"]);
  assert.deepEqual(await store.list("a/b/"), ["a/b/2"]);
  assert.equal(await store.read("a/shadowed"), undefined);
  assert.deepEqual(await store.listSizes("a"), {
    keys: ["a", "a/1", "a/b/2", "a/bc"],
    sizes: [2, 2, 2, 2],
  });
  assert.throws(() => new RoutedStore([{ prefix: "", store: a }], rest), RangeError);
  assert.throws(() =>
    new RoutedStore([{ prefix: "a", store: a }, { prefix: "a", store: ab }], rest)
  );
  let closed = 0;
  const counting: BlobStore = {
    read: (k) => rest.read(k),
    write: (k, d) => rest.write(k, d),
    delete: (k) => rest.delete(k),
    list: (p) => rest.list(p),
    close: () => closed++,
  };
  new RoutedStore([{ prefix: "p/", store: counting }, { prefix: "q/", store: counting }], counting)
    .close();
  assert.equal(closed, 1);
});

Deno.test("runRangedBlobOp emulates ranges and sizes on plain stores", async () => {
  const store = new MemoryBlobStore();
  await store.write("k/1", bytes(1, 2, 3, 4, 5));
  await store.write("k/2", bytes(6));
  const read = (offset?: number, length?: number) =>
    runRangedBlobOp(store, { op: "read", key: "k/1", offset, length });
  assert.deepEqual(await read(1, 2), { ok: true, data: bytes(2, 3) });
  assert.deepEqual(await read(3), { ok: true, data: bytes(4, 5) });
  assert.deepEqual(await read(9, 1), { ok: true, data: bytes() });
  assert.deepEqual(await read(), { ok: true, data: bytes(1, 2, 3, 4, 5) });
  assert.deepEqual(await runRangedBlobOp(store, { op: "list", prefix: "k/" }), {
    ok: true,
    keys: ["k/1", "k/2"],
    sizes: [5, 1],
  });
  await assert.rejects(() => read(-1, 1), RangeError);
});

Deno.test("RoutedStore wires a user's node: sources, fragment files and KV", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitdust-routed-" });
  try {
    await Deno.mkdir(`${dir}/home/docs`, { recursive: true });
    await Deno.writeFile(`${dir}/home/docs/a.txt`, bytes(10, 20, 30, 40));
    const store = new RoutedStore([
      { prefix: "src:", store: await SourceStore.open(`${dir}/home`) },
      { prefix: "frag/", store: await FsBlobStore.open(`${dir}/fragments`) },
    ], await KvBlobStore.open(`${dir}/meta.kv`));
    try {
      const run = (op: Parameters<typeof runRangedBlobOp>[1]) => runRangedBlobOp(store, op);
      const data = bytes(10, 20, 30, 40);
      assert.deepEqual(await run({ op: "read", key: "src:docs/a.txt", offset: 1, length: 2 }), {
        ok: true,
        data: data.slice(1, 3),
      });
      const refused = await run({ op: "write", key: "src:docs/a.txt", data });
      assert.equal(refused.ok ? "ok" : refused.error, "io_error");
      assert.deepEqual(await run({ op: "write", key: "frag/alice/v1/0/0/0", data }), { ok: true });
      assert.deepEqual(await run({ op: "write", key: "contract/alice", data }), { ok: true });
      assert.deepEqual(await run({ op: "list", prefix: "" }), {
        ok: true,
        keys: ["contract/alice", "frag/alice/v1/0/0/0", "src:docs/a.txt"],
        sizes: [4, 4, 4],
      });
      assert.deepEqual(await Array.fromAsync(Deno.readDir(`${dir}/fragments`), (e) => e.name), [
        "frag",
      ]);
    } finally {
      store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
