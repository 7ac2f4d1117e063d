import assert from "node:assert/strict";
import { SOURCE_READ_BYTES_MAX } from "../core/limits.ts";
import { SourcePathError, SourceStore } from "./source_store.ts";
import { runRangedBlobOp } from "./routed_store.ts";

const pattern = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff);

/** A backup root with files, folders and symlinks, next to a secret outside it. */
async function withRoot(fn: (store: SourceStore, dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "bitdust-src-" });
  const root = `${dir}/root`;
  try {
    await Deno.mkdir(`${root}/sub/deeper`, { recursive: true });
    await Deno.writeTextFile(`${dir}/secret`, "outside the root");
    await Deno.writeFile(`${root}/a.txt`, new TextEncoder().encode("hello"));
    await Deno.writeFile(`${root}/sub/b.bin`, pattern(3 * 1024 * 1024 + 5));
    await Deno.writeFile(`${root}/sub/deeper/c`, pattern(10));
    await Deno.writeFile(`${root}/name with spaces €`, pattern(3));
    await Deno.symlink(`${root}/sub/b.bin`, `${root}/link_in`);
    await Deno.symlink(`${dir}/secret`, `${root}/link_out`);
    await Deno.symlink(dir, `${root}/link_dir_out`);
    await Deno.symlink("sub", `${root}/link_dir_in`);
    const store = await SourceStore.open(root);
    try {
      await fn(store, dir);
    } finally {
      store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("SourceStore reads files block by block", async () => {
  await withRoot(async (store) => {
    const whole = pattern(3 * 1024 * 1024 + 5);
    const block = 1024 * 1024;
    for (let offset = 0; offset < whole.length; offset += block) {
      const got = await store.readRange("src:sub/b.bin", offset, block);
      assert.deepEqual(got, whole.slice(offset, offset + block));
    }
    assert.equal((await store.readRange("src:sub/b.bin", whole.length, block))?.length, 0);
    assert.deepEqual(await store.read("src:a.txt"), new TextEncoder().encode("hello"));
    assert.deepEqual(await store.readRange("src:link_in", 10, 4), whole.slice(10, 14));
    assert.deepEqual(await store.read("src:link_dir_in/deeper/c"), pattern(10));
    assert.deepEqual(await store.read("src:name with spaces €"), pattern(3));
    assert.equal(await store.read("src:missing"), undefined);
    assert.equal(await store.read("src:a.txt/not-a-folder"), undefined);
    const op = { op: "read", key: "src:sub/b.bin", offset: 5, length: 3 } as const;
    assert.deepEqual(await runRangedBlobOp(store, op), { ok: true, data: whole.slice(5, 8) });
  });
});

Deno.test("SourceStore refuses paths outside the root, folders and writes", async () => {
  await withRoot(async (store) => {
    const refused = [
      "src:../secret",
      "src:/etc/passwd",
      "src:sub/../../secret",
      "src:./a.txt",
      "src:sub//b.bin",
      "src:",
      "src:link_out",
      "src:link_dir_out/secret",
      "src:sub",
      "frag/x",
    ];
    for (const key of refused) {
      await assert.rejects(() => store.read(key), SourcePathError, key);
      const result = await runRangedBlobOp(store, { op: "read", key, offset: 0, length: 10 });
      assert.equal(result.ok ? "ok" : result.error, "io_error", key);
    }
    assert.equal(store.counters.refused, 2 * refused.length);
    for (
      const op of [{ op: "write", key: "src:a.txt", data: pattern(1) }, {
        op: "delete",
        key: "src:a.txt",
      }] as const
    ) {
      const result = await runRangedBlobOp(store, op);
      assert.equal(result.ok ? "ok" : result.error, "io_error");
    }
    assert.deepEqual(await store.read("src:a.txt"), new TextEncoder().encode("hello"));
  });
});

Deno.test("SourceStore lists regular files with sizes, without following symlinks", async () => {
  await withRoot(async (store) => {
    assert.deepEqual(await store.listSizes("src:"), {
      keys: ["src:a.txt", "src:name with spaces €", "src:sub/b.bin", "src:sub/deeper/c"],
      sizes: [5, 3, 3 * 1024 * 1024 + 5, 10],
    });
    assert.deepEqual(await store.list("src:sub/"), ["src:sub/b.bin", "src:sub/deeper/c"]);
    assert.deepEqual(await store.list("src:sub/d"), ["src:sub/deeper/c"]);
    assert.deepEqual(await store.list("src:s"), ["src:sub/b.bin", "src:sub/deeper/c"]);
    assert.equal((await store.list("")).length, 4);
    assert.deepEqual(await store.list("src:../"), []);
    assert.deepEqual(await store.list("other"), []);
  });
});

Deno.test("SourceStore refuses one read over the limit but serves its blocks", async () => {
  await withRoot(async (store, dir) => {
    const big = `${dir}/root/sparse`;
    await Deno.writeFile(big, new Uint8Array(0));
    await Deno.truncate(big, SOURCE_READ_BYTES_MAX + 4096); // sparse: no disk used
    await assert.rejects(() => store.read("src:sparse"), SourcePathError);
    const tail = await store.readRange("src:sparse", SOURCE_READ_BYTES_MAX, 1024 * 1024);
    assert.equal(tail?.length, 4096);
  });
});
