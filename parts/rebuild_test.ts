import assert from "node:assert/strict";
import type { StorageJobResult } from "../core/storage.ts";
import { runStorageJob } from "../data/jobs.ts";
import { rebuildJob, rebuildOutcome, type RebuildRequest } from "./rebuild.ts";

const fileKey = new Uint8Array(32).fill(5);
const fileSalt = new Uint8Array(32).fill(6);

/** A sealed block of `scheme`, through the same job runner the hosts use. */
function sealed(scheme: string, size: number) {
  const plaintext = new Uint8Array(size).map((_, i) => (i * 29) & 0xff);
  const r = runStorageJob({ type: "seal", fileKey, fileSalt, blockIndex: 0, plaintext, scheme });
  if (r.type !== "sealed") throw new Error(`sealing failed: ${r.type}`);
  return r;
}

/** The request to rebuild `wanted` of `block` from every other fragment. */
function request(
  scheme: string,
  block: ReturnType<typeof sealed>,
  wanted: number[],
): RebuildRequest {
  return {
    scheme,
    cipherSize: block.cipherSize,
    fragments: block.fragments.map((f, p) => (wanted.includes(p) ? undefined : f)),
    wanted,
    fragmentHashes: block.fragmentHashes,
  };
}

Deno.test("rebuild: the job carries the wanted positions' hashes, in their order", () => {
  const h = (v: number) => new Uint8Array(32).fill(v);
  const fragments = [new Uint8Array(4), undefined, new Uint8Array(4), undefined];
  const job = rebuildJob({
    scheme: "rs:2+2",
    cipherSize: 8,
    fragments,
    wanted: [3, 1],
    fragmentHashes: [h(0), h(1), h(2), h(3)],
  });
  assert.equal(job.type, "rebuild");
  assert.equal(job.fragments, fragments); // handed over, not copied
  assert.deepEqual(job.wanted, [3, 1]);
  assert.deepEqual(job.wantedHashes, [h(3), h(1)]);
  assert.equal(job.fragmentHashes, undefined); // inputs were checked on arrival (gather)
});

Deno.test("rebuild: a request that does not fit its scheme is our bug", () => {
  const block = sealed("rs:2+2", 100);
  const ok = request("rs:2+2", block, [0]);
  assert.throws(() => rebuildJob({ ...ok, scheme: "rs:2" }), RangeError);
  assert.throws(() => rebuildJob({ ...ok, wanted: [4] }), RangeError);
  assert.throws(() => rebuildJob({ ...ok, wanted: [1, 1] }), RangeError);
  assert.throws(() => rebuildJob({ ...ok, fragments: ok.fragments.slice(1) }), RangeError);
  assert.throws(() => rebuildJob({ ...ok, fragmentHashes: [] }), RangeError);
  assert.throws(() => rebuildJob({ ...ok, cipherSize: -1 }), RangeError);
});

Deno.test("rebuild: rebuilt fragments that match the index are kept, by position", () => {
  const cases: [string, number, number[]][] = [
    ["rs:4+4", 70_000, [1, 6]],
    ["mirror:3", 5_000, [2, 0]],
    ["rs:3+2", 0, [4, 0]],
  ];
  for (const [scheme, size, wanted] of cases) {
    const block = sealed(scheme, size);
    const job = rebuildJob(request(scheme, block, wanted));
    const out = rebuildOutcome(runStorageJob(job), wanted, block.fragments.length);
    assert.equal(out.kind, "rebuilt", scheme);
    if (out.kind !== "rebuilt") continue;
    assert.deepEqual(out.bad, []);
    assert.deepEqual(
      out.fragments,
      block.fragments.map((f, p) => (wanted.includes(p) ? f : undefined)),
    );
  }
});

Deno.test("rebuild: a fragment that does not match its hash in the index is not kept", () => {
  const block = sealed("rs:4+4", 70_000);
  const forged = block.fragmentHashes.map((h, p) => (p === 5 ? new Uint8Array(32) : h));
  const job = rebuildJob({ ...request("rs:4+4", block, [2, 5]), fragmentHashes: forged });
  const out = rebuildOutcome(runStorageJob(job), [2, 5], 8);
  assert.equal(out.kind, "rebuilt");
  if (out.kind !== "rebuilt") return;
  assert.deepEqual(out.bad, [5]);
  assert.deepEqual(out.fragments[2], block.fragments[2]);
  assert.equal(out.fragments[5], undefined);
  // An input that was not checked (the caller's bug) spoils every output, and each is caught.
  const spoiled = request("rs:4+4", block, [2, 5]);
  spoiled.fragments[0] = spoiled.fragments[0]!.map((b) => b ^ 0x80);
  const all = rebuildOutcome(runStorageJob(rebuildJob(spoiled)), [2, 5], 8);
  assert.deepEqual(all.kind === "rebuilt" ? all.bad : all.reason, [2, 5]);
});

Deno.test("rebuild: a failed job, or an answer without the job's verdict, stores nothing", () => {
  const block = sealed("rs:4+4", 70_000);
  const few = request("rs:4+4", block, [0, 1, 2, 3, 4]);
  const failed = rebuildOutcome(runStorageJob(rebuildJob(few)), few.wanted, 8);
  assert.equal(failed.kind === "failed" && failed.reason, "too_few_fragments");
  const f = new Uint8Array(4);
  const cases: [StorageJobResult, string][] = [
    [{ type: "rebuilt", fragments: [f, f] }, "unverified"],
    [{ type: "rebuilt", fragments: [f], unmatched: [] }, "malformed"],
    [{ type: "verified", ok: true }, "malformed"],
    [{ type: "failed", error: "crashed", message: "worker died" }, "crashed"],
  ];
  for (const [result, reason] of cases) {
    const out = rebuildOutcome(result, [0, 1], 8);
    assert.equal(out.kind === "failed" && out.reason, reason);
  }
});
