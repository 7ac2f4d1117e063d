import assert from "node:assert/strict";
import { Random } from "../core/prng.ts";
import { blobOpsContract } from "../tests/_blob_ops_contract.ts";
import { DEFAULT_DISK, type DiskConfig, SimDisk } from "./disk.ts";

/** A simulated disk behind the contract's runner; one disk object survives a "restart". */
function runnerOf(disk: SimDisk, random: Random) {
  return {
    run: (op: Parameters<SimDisk["apply"]>[0]) => {
      try {
        const { result, token } = disk.apply(op, random);
        disk.synced(token);
        return Promise.resolve(result);
      } catch (e) {
        return Promise.reject(e);
      }
    },
    close() {},
  };
}

let current: SimDisk | null = null;
blobOpsContract("SimDisk", {
  open() {
    current = new SimDisk({ ...DEFAULT_DISK, capacityBytes: 4 * 1024 * 1024 });
    return Promise.resolve(runnerOf(current, Random.stream(1, "disk-test")));
  },
  reopen() {
    current!.crash(Random.stream(2, "crash")); // nothing in flight: nothing to undo
    return Promise.resolve(runnerOf(current!, Random.stream(3, "disk-test")));
  },
  largeBlobBytes: 300 * 1024,
  tooLargeBlobBytes: 5 * 1024 * 1024,
});

const bytes = (n: number, v: number) => new Uint8Array(n).fill(v);

function crashing(config: Partial<DiskConfig>): SimDisk {
  return new SimDisk({ ...DEFAULT_DISK, ...config });
}

Deno.test("SimDisk: a crash undoes every write in flight when writes are always lost", () => {
  const disk = crashing({ lostWrite: 1 });
  const r = Random.stream(4, "t");
  disk.synced(disk.apply({ op: "write", key: "a", data: bytes(10, 1) }, r).token);
  disk.apply({ op: "write", key: "a", data: bytes(20, 2) }, r); // no completion yet
  disk.apply({ op: "write", key: "a", data: bytes(30, 3) }, r);
  disk.apply({ op: "write", key: "b", data: bytes(5, 4) }, r);
  disk.apply({ op: "delete", key: "a" }, r);
  assert.equal(disk.inFlight, 4);
  const damage = disk.crash(r);
  assert.deepEqual(damage, { lost: 2, torn: 0, kept: 0 });
  assert.deepEqual(disk.blobs.get("a"), bytes(10, 1), "back to the acknowledged write");
  assert.equal(disk.blobs.has("b"), false);
  assert.equal(disk.usedBytes, 10);
  assert.equal(disk.inFlight, 0);
});

Deno.test("SimDisk: a torn write leaves a strict prefix of the new bytes", () => {
  const disk = crashing({ tornWrite: 1 });
  const r = Random.stream(5, "t");
  const data = Uint8Array.from({ length: 100 }, (_, i) => i);
  disk.apply({ op: "write", key: "t", data }, r);
  assert.deepEqual(disk.crash(r), { lost: 0, torn: 1, kept: 0 });
  const got = disk.blobs.get("t")!;
  assert.ok(got.length < 100);
  assert.deepEqual(got, data.slice(0, got.length));
  assert.equal(disk.usedBytes, got.length);
});

Deno.test("SimDisk: acknowledged writes are durable; no crash faults, no tracking", () => {
  const disk = crashing({ lostWrite: 1 });
  const r = Random.stream(6, "t");
  disk.synced(disk.apply({ op: "write", key: "k", data: bytes(8, 9) }, r).token);
  assert.deepEqual(disk.crash(r), { lost: 0, torn: 0, kept: 0 });
  assert.deepEqual(disk.blobs.get("k"), bytes(8, 9));
  const plain = crashing({});
  assert.equal(plain.apply({ op: "write", key: "k", data: bytes(8, 9) }, r).token, 0);
  assert.equal(plain.inFlight, 0);
});

Deno.test("SimDisk: rot flips exactly one bit of one blob under the prefix", () => {
  const disk = crashing({});
  const r = Random.stream(7, "t");
  for (const key of ["frag/a", "frag/b", "meta/c"]) {
    disk.apply({ op: "write", key, data: bytes(64, 0) }, r);
  }
  const key = disk.rot(r, "frag/")!;
  assert.ok(key.startsWith("frag/"));
  let bits = 0;
  for (const [k, data] of disk.blobs) {
    for (const b of data) bits += k === key ? popcount(b) : b === 0 ? 0 : 100;
  }
  assert.equal(bits, 1);
  assert.equal(disk.rot(r, "none/"), null);
});

function popcount(b: number): number {
  let n = 0;
  for (; b > 0; b >>= 1) n += b & 1;
  return n;
}
