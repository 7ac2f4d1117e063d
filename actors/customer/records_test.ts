import {
  array,
  DecodeError,
  encode,
  fixedBytes,
  optional,
  string,
  struct,
  uint,
} from "../../core/codec.ts";
import { eccScheme } from "../../core/storage.ts";
import {
  decodeCancels,
  decodeFamily,
  decodeVersion,
  encodeCancels,
  encodeFamily,
  encodeVersion,
} from "./records.ts";
import { holds } from "./catalogue.ts";
import type { VersionRec } from "./state.ts";
import { customerState } from "./state.ts";

function customer() {
  const s = customerState({
    name: "alice",
    idServers: ["ids"],
    scheme: eccScheme("rs:2+1")!,
    fileKey: new Uint8Array(32),
  });
  s.family.positions[0] = {
    ...s.family.positions[0],
    state: "active",
    supplier: "s0",
    key: key(1),
    auditMisses: 2,
  };
  s.family.positions[2] = { ...s.family.positions[2], state: "active", supplier: "s2", key: null };
  s.family.excluded = ["bad"];
  s.family.cancels.set("fired", { firedMs: 1234, key: key(7) });
  s.family.cancels.set("old", { firedMs: 99, key: null });
  return s;
}

function key(fill: number): Uint8Array {
  return new Uint8Array(32).fill(fill);
}

function framed(magic: number[], body: Uint8Array): Uint8Array {
  const out = new Uint8Array(magic.length + body.length);
  out.set(magic);
  out.set(body, magic.length);
  return out;
}

Deno.test("records: the family keeps each position's pinned key and audits missed", () => {
  const s = customer();
  const data = encodeFamily(s);
  if (data[4] !== 4) throw new Error(`format ${data[4]}`);
  const f = decodeFamily(data);
  if (f.epoch !== 0) throw new Error(`epoch ${f.epoch} without a lease`);
  if (f.positions.join() !== "s0,,s2" || f.excluded.join() !== "bad") throw new Error("names");
  if (f.keys[0]?.[0] !== 1 || f.keys[1] !== undefined || f.keys[2] !== undefined) {
    throw new Error("keys");
  }
  if (f.auditMisses.join() !== "2,0,0") throw new Error(`misses ${f.auditMisses}`);
});

Deno.test("records: the family keeps the writer epoch; format 2 loads with epoch 0", () => {
  const s = customerState({
    name: "alice",
    idServers: ["ids"],
    scheme: eccScheme("rs:2+1")!,
    fileKey: new Uint8Array(32),
    lease: { instance: "i".repeat(32), machine: "home", leaseMs: 600_000 },
  });
  s.lease!.epoch = 7;
  const f = decodeFamily(encodeFamily(s));
  if (f.epoch !== 7 || f.version !== 4) throw new Error(`epoch ${f.epoch}, format ${f.version}`);
  const body = encode(
    struct({
      positions: array(
        optional(
          struct({ supplier: string(256), key: optional(fixedBytes(32)), auditMisses: uint }),
        ),
        256,
      ),
      excluded: array(string(256), 4096),
    }),
    {
      positions: [{ supplier: "s0", key: key(3), auditMisses: 1 }, undefined, undefined],
      excluded: [],
    },
  );
  const old = decodeFamily(framed([0x42, 0x44, 0x43, 0x46, 2], body));
  if (old.version !== 2 || old.epoch !== 0 || old.positions[0] !== "s0" || old.keys[0]?.[0] !== 3) {
    throw new Error(JSON.stringify(old));
  }
});

Deno.test("records: a family record of format 1 (no keys) loads, every member unpinned", () => {
  const v1 = struct({
    positions: array(optional(string(256)), 256),
    excluded: array(string(256), 4096),
  });
  const data = framed(
    [0x42, 0x44, 0x43, 0x46, 1],
    encode(v1, { positions: ["s0", undefined, "s2"], excluded: ["bad"] }),
  );
  const f = decodeFamily(data);
  if (f.version !== 1 || f.positions.join() !== "s0,,s2") throw new Error("not read");
  if (f.keys.some((k) => k !== undefined)) throw new Error("a key from nowhere");
  const future = data.slice();
  future[4] = 5;
  let refused = false;
  try {
    decodeFamily(future);
  } catch (e) {
    refused = e instanceof DecodeError;
  }
  if (!refused) throw new Error("a record of an unknown format was read");
});

Deno.test("records: fired suppliers keep their keys; format 1 loads without", () => {
  const c = decodeCancels(encodeCancels(customer()));
  if (
    c.map((x) => `${x.supplier}:${x.firedMs}:${x.key?.[0] ?? ""}`).join() !== "fired:1234:7,old:99:"
  ) {
    throw new Error(JSON.stringify(c));
  }
  const v1 = array(struct({ supplier: string(256), firedMs: uint }), 4096);
  const old = decodeCancels(
    framed([0x42, 0x44, 0x43, 0x58, 1], encode(v1, [{ supplier: "x", firedMs: 5 }])),
  );
  if (old.length !== 1 || old[0].supplier !== "x" || old[0].key !== undefined) {
    throw new Error(JSON.stringify(old));
  }
});

/** A complete version of one block, credited to every position of `s` now. */
function creditedVersion(s: ReturnType<typeof customer>): VersionRec {
  const n = s.family.positions.length;
  const block = {
    key: "v1/0/0",
    plainSize: 10,
    cipherSize: 40,
    fragmentSize: 20,
    hashes: Array.from({ length: n }, (_, i) => key(i)),
    roots: Array.from({ length: n }, (_, i) => key(10 + i)),
    heldAt: Uint32Array.from(s.family.positions, (p) => p.generation),
    storing: new Uint8Array(n),
    pending: null,
    repairing: false,
  };
  const file = { path: "a", size: 10, mode: 0o644, mtimeMs: 0, salt: key(9), blocks: [block] };
  return { id: "v1", label: "", createdMs: 1, status: "complete", files: [file], manifest: null };
}

Deno.test("records: a fire uncredits by generation, and an older version record stays so", () => {
  const s = customer();
  const v = creditedVersion(s);
  s.catalogue.versions.push(v);
  const before = encodeVersion(v, s.family.positions.map((p) => p.generation));
  // Position 0 is fired and hired again: its new member holds nothing yet.
  s.family.positions[0].generation++;
  if (holds(s, v.files[0].blocks[0], 0)) throw new Error("a fired member still credited");
  if (!holds(s, v.files[0].blocks[0], 2)) throw new Error("another member uncredited");
  // A reload: the family record (written at the fire) and the version record from before it.
  const family = decodeFamily(encodeFamily(s));
  if (family.generations.join() !== "2,1,1") throw new Error(`${family.generations}`);
  const reloaded = customer();
  family.generations.forEach((g, i) => (reloaded.family.positions[i].generation = g));
  const old = decodeVersion(before, 3);
  const b = old.files[0].blocks[0];
  const credited = [0, 1, 2].map((p) => holds(reloaded, b, p));
  if (credited.join() !== "false,true,true") throw new Error(`credited ${credited}`);
  // Written after the fire, the record says the same, in the new generations.
  const after = decodeVersion(encodeVersion(v, s.family.positions.map((p) => p.generation)), 3);
  const again = [0, 1, 2].map((p) => holds(reloaded, after.files[0].blocks[0], p));
  if (again.join() !== "false,true,true") throw new Error(`credited ${again}`);
});

Deno.test("records: a version record of format 1 credits under the first generation", () => {
  const s = customer();
  const v = creditedVersion(s);
  const data = encodeVersion(v, [1, 1, 1]);
  if (data[4] !== 2) throw new Error(`format ${data[4]}`);
  // Format 1 is format 2 without the trailing generations (the codec writes fields in order).
  const gensBytes = encode(array(uint, 256), [1, 1, 1]).length;
  const v1 = data.slice(0, data.length - gensBytes);
  v1[4] = 1;
  const old = decodeVersion(v1, 3);
  s.family.positions[1].generation = 3; // fired twice since (a family record of format 4)
  const credited = [0, 1, 2].map((p) => holds(s, old.files[0].blocks[0], p));
  if (credited.join() !== "true,false,true") throw new Error(`credited ${credited}`);
  let refused = false;
  try {
    decodeVersion(data, 4);
  } catch (e) {
    refused = e instanceof DecodeError;
  }
  if (!refused) throw new Error("a record of 3 positions read for 4");
});
