import assert from "node:assert/strict";
import { blobStoreContract } from "./_blob_store_contract.ts";
import { BlobSpaceError } from "./blob_store.ts";
import {
  decodeSegment,
  encodeSegment,
  FsBlobStore,
  keyToPath,
  SEGMENT_CHARS_MAX,
  storeError,
} from "./fs_store.ts";
import { runRangedBlobOp } from "./routed_store.ts";

let dir = "";
const contractDirs: string[] = [];

blobStoreContract("FsBlobStore", {
  async open() {
    dir = await Deno.makeTempDir({ prefix: "bitdust-fs-" });
    contractDirs.push(dir);
    return await FsBlobStore.open(`${dir}/blobs`);
  },
  reopen: () => FsBlobStore.open(`${dir}/blobs`),
  largeBlobBytes: 1024 * 1024,
});

async function withStore(fn: (store: FsBlobStore, dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "bitdust-fs-" });
  const store = await FsBlobStore.open(`${dir}/blobs`);
  try {
    await fn(store, dir);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Every file path under `root`, relative, sorted (symlinks listed, not followed). */
async function filesUnder(root: string, rel = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(rel === "" ? root : `${root}/${rel}`)) {
    const path = rel === "" ? e.name : `${rel}/${e.name}`;
    if (e.isDirectory) out.push(...await filesUnder(root, path));
    else out.push(path);
  }
  return out.sort();
}

const fill = (n: number, v: number) => new Uint8Array(n).fill(v);

Deno.test("keyToPath writes segments in a safe alphabet", () => {
  assert.equal(keyToPath("frag/alice/v1/0/3/2"), "frag/alice/v1/0/3/2=");
  assert.equal(keyToPath("frag/Alice/x.y"), "frag/%41lice/x%2Ey=");
  assert.equal(keyToPath("id/"), "id/%=");
  assert.equal(keyToPath("../.."), "%2E%2E/%2E%2E=");
  assert.equal(keyToPath("/etc/passwd"), "%/etc/passwd=");
  assert.equal(keyToPath("src:a b€"), "src%3Aa%20b%E2%82%AC=");
  for (const s of ["", "a", "Z", "..", "%41", "a+b=c", "€✓", "x".repeat(300)]) {
    assert.equal(decodeSegment(encodeSegment(s)), s);
  }
  assert.equal(decodeSegment("%61"), null, "non-canonical");
  assert.equal(decodeSegment("%FF"), null, "not UTF-8");
  assert.equal(decodeSegment(".tmp-1"), null);
});

Deno.test("keyToPath cuts long segments into continued folders", () => {
  const key = "€".repeat(170); // 510 bytes, 1530 encoded characters
  const parts = keyToPath(key).split("/");
  assert.ok(parts.length >= 8);
  for (const p of parts) assert.ok(p.length <= SEGMENT_CHARS_MAX + 1, p);
  for (const p of parts.slice(0, -1)) assert.ok(p.endsWith("+"));
  assert.ok(parts.every((p) => /^(%[0-9A-F]{2})+[+=]$/.test(p)), "never cut inside %XX");
});

Deno.test("FsBlobStore keeps traversal attempts inside its root", async () => {
  await withStore(async (store, dir) => {
    const keys = [
      "../outside",
      "../../etc/passwd",
      "/etc/passwd",
      "a/../../b",
      "./x",
      ".",
      "..",
      "a//b",
      "C:\\Windows\\x",
      "nul\u0000byte",
      ".tmp-looks-like-a-temp-file",
    ];
    for (const [i, key] of keys.entries()) await store.write(key, fill(3, i));
    assert.deepEqual(await Array.fromAsync(Deno.readDir(dir), (e) => e.name), ["blobs"]);
    assert.equal((await filesUnder(`${dir}/blobs`)).length, keys.length);
    for (const [i, key] of keys.entries()) assert.deepEqual(await store.read(key), fill(3, i));
    assert.deepEqual(await store.list(""), [...keys].sort());
    for (const p of await filesUnder(`${dir}/blobs`)) {
      assert.ok(p.split("/").every((c) => c !== "." && c !== ".." && !c.startsWith(".")), p);
    }
  });
});

Deno.test("FsBlobStore holds unusual keys apart and lists them back", async () => {
  await withStore(async (store) => {
    const keys = [
      "a",
      "a/b",
      "A",
      "%41",
      "a+",
      "a=",
      "файл/✓",
      "emoji/🦕",
      "sp ace/tab\there",
      "x".repeat(500),
      "€".repeat(170),
      "deep/" + "y".repeat(250) + "/z",
      "id/",
      "",
    ].filter((k) => k !== "");
    for (const [i, key] of keys.entries()) await store.write(key, fill(i + 1, i));
    for (const [i, key] of keys.entries()) assert.deepEqual(await store.read(key), fill(i + 1, i));
    assert.deepEqual(await store.list(""), [...keys].sort());
    assert.deepEqual(await store.list("a"), ["a", "a+", "a/b", "a="]);
    assert.deepEqual(await store.list("deep/yyy"), ["deep/" + "y".repeat(250) + "/z"]);
    assert.deepEqual(await store.list("x".repeat(499)), ["x".repeat(500)]);
    const sized = await store.listSizes("a");
    assert.deepEqual(sized.sizes, [1, 5, 2, 6]);
    await assert.rejects(() => store.write("lone\ud800", fill(1, 0)), RangeError);
  });
});

Deno.test("FsBlobStore reads byte ranges", async () => {
  await withStore(async (store) => {
    const data = Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff);
    await store.write("r", data);
    assert.deepEqual(await store.readRange("r", 0, 10), data.slice(0, 10));
    assert.deepEqual(await store.readRange("r", 990, 100), data.slice(990));
    assert.deepEqual(await store.readRange("r", 500), data.slice(500));
    assert.deepEqual(await store.readRange("r", 2000, 5), new Uint8Array(0));
    assert.deepEqual(await store.readRange("r", 10, 0), new Uint8Array(0));
    assert.equal(await store.readRange("missing", 0, 1), undefined);
    await assert.rejects(() => store.readRange("r", -1, 1), RangeError);
    const result = await runRangedBlobOp(store, { op: "read", key: "r", offset: 100, length: 3 });
    assert.deepEqual(result, { ok: true, data: data.slice(100, 103) });
    assert.deepEqual(await runRangedBlobOp(store, { op: "list", prefix: "" }), {
      ok: true,
      keys: ["r"],
      sizes: [1000],
    });
  });
});

Deno.test("FsBlobStore removes folders a delete leaves empty", async () => {
  await withStore(async (store, dir) => {
    await store.write("frag/alice/v1/0/0/1", fill(4, 1));
    await store.write("frag/alice/v1/0/0/2", fill(4, 2));
    assert.equal(await store.delete("frag/alice/v1/0/0/1"), true);
    assert.deepEqual(await filesUnder(`${dir}/blobs`), ["frag/alice/v1/0/0/2="]);
    assert.equal(await store.delete("frag/alice/v1/0/0/2"), true);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(`${dir}/blobs`)), []);
    assert.equal(await store.delete("frag/alice/v1/0/0/2"), false);
    // writes racing deletes in the same folders all land
    const keys = Array.from({ length: 40 }, (_, i) => `f/${i % 4}/${i}`);
    await Promise.all(keys.map(async (k, i) => {
      await store.write(k, fill(2, i));
      if (i % 2 === 0) await store.delete(k);
    }));
    assert.deepEqual(await store.list("f/"), keys.filter((_, i) => i % 2 === 1).sort());
  });
});

Deno.test("FsBlobStore ignores foreign files, symlinks and crashed writes", async () => {
  await withStore(async (store, dir) => {
    const root = `${dir}/blobs`;
    await store.write("frag/a/1", fill(8, 1));
    await Deno.writeTextFile(`${root}/README`, "not a blob");
    await Deno.writeTextFile(`${root}/frag/a/.tmp-crashed`, "half a fragm");
    await Deno.writeTextFile(`${dir}/secret`, "outside");
    await Deno.symlink(`${dir}/secret`, `${root}/frag/a/2=`);
    assert.deepEqual(await store.list(""), ["frag/a/1"]);
    assert.deepEqual(await store.read("frag/a/1"), fill(8, 1));
    store.close();
    const again = await FsBlobStore.open(root);
    try {
      assert.equal(again.counters.tempFilesRemoved, 1);
      assert.deepEqual((await filesUnder(root)).filter((p) => p.includes(".tmp")), []);
      assert.deepEqual(await again.list("frag/"), ["frag/a/1"]);
    } finally {
      again.close();
    }
  });
});

Deno.test("FsBlobStore: a reader never sees a partial blob", async () => {
  await withStore(async (store) => {
    const big = 4 * 1024 * 1024;
    await store.write("k", fill(big, 1));
    let writing = true;
    const writer = (async () => {
      for (let i = 0; i < 12; i++) {
        await store.write("k", i % 3 === 2 ? fill(10, 3) : fill(big, i % 3 + 1));
      }
      writing = false;
    })();
    let reads = 0;
    while (writing || reads < 5) {
      const got = (await store.read("k"))!;
      const v = got[0];
      assert.equal(got.length, v === 3 ? 10 : big);
      assert.ok(got.every((b) => b === v), "mixed bytes");
      reads++;
    }
    await writer;
  });
});

const CHILD = `
import { FsBlobStore } from ${JSON.stringify(new URL("./fs_store.ts", import.meta.url).href)};
const store = await FsBlobStore.open(Deno.args[0]);
for (let i = 1; ; i++) {
  console.log("writing " + i);
  await store.write("k", new Uint8Array(8 * 1024 * 1024).fill(i & 0xff));
}
`;

/** Waits until a temp file shows up in `folder` (a write is under way). */
async function tempFileAppears(folder: string): Promise<void> {
  for (let i = 0; i < 20_000; i++) {
    for await (const e of Deno.readDir(folder)) if (e.name.startsWith(".tmp-")) return;
    await new Promise((r) => setTimeout(r, 0));
  }
  throw new Error("no write under way");
}

Deno.test("FsBlobStore: a writer killed mid-write leaves a whole blob", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitdust-fs-" });
  let removed = 0;
  try {
    await Deno.writeTextFile(`${dir}/child.ts`, CHILD);
    for (let round = 0; round < 3; round++) {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", `${dir}/child.ts`, `${dir}/blobs`],
        stdout: "piped",
        stderr: "null",
      }).spawn();
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let seen = "";
      while (!seen.includes("writing 3")) {
        const { done, value } = await reader.read();
        if (done) throw new Error(`child ended: ${seen}`);
        seen += value;
      }
      await tempFileAppears(`${dir}/blobs`);
      child.kill("SIGKILL");
      await reader.cancel();
      await child.status;
      const store = await FsBlobStore.open(`${dir}/blobs`);
      try {
        assert.deepEqual(await store.list(""), ["k"]);
        const got = (await store.read("k"))!;
        assert.equal(got.length, 8 * 1024 * 1024);
        assert.ok(got.every((b) => b === got[0]), "a torn blob");
        assert.ok(store.counters.tempFilesRemoved <= 1);
        removed += store.counters.tempFilesRemoved;
        assert.deepEqual(await filesUnder(`${dir}/blobs`), ["k="]);
      } finally {
        store.close();
      }
    }
    assert.ok(removed >= 1, "no round killed the writer between its temp file and the rename");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a full disk maps to BlobSpaceError and no_space", async () => {
  if (Deno.build.os !== "linux") return;
  const full = await Deno.open("/dev/full", { write: true });
  let error: unknown;
  try {
    await full.write(new Uint8Array(16));
  } catch (e) {
    error = e;
  } finally {
    full.close();
  }
  assert.ok(storeError(error, "write") instanceof BlobSpaceError);
  assert.ok(
    !(storeError(new Deno.errors.PermissionDenied("no"), "write") instanceof BlobSpaceError),
  );
  const failing = {
    read: () => Promise.resolve(undefined),
    write: () => Promise.reject(storeError(error, "write")),
    delete: () => Promise.resolve(false),
    list: () => Promise.resolve([]),
    close() {},
  };
  const result = await runRangedBlobOp(failing, { op: "write", key: "k", data: new Uint8Array(1) });
  assert.equal(result.ok ? "ok" : result.error, "no_space");
});

Deno.test("FsBlobStore: the contract's temp folders are removed", async () => {
  for (const d of contractDirs.splice(0)) await Deno.remove(d, { recursive: true });
});
