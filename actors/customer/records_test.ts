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
import { decodeCancels, decodeFamily, encodeCancels, encodeFamily } from "./records.ts";
import { customerState } from "./state.ts";

function customer() {
  const s = customerState({
    name: "alice",
    idServers: ["ids"],
    scheme: eccScheme("rs:2+1")!,
    fileKey: new Uint8Array(32),
  });
  s.positions[0] = {
    ...s.positions[0],
    state: "active",
    supplier: "s0",
    key: key(1),
    auditMisses: 2,
  };
  s.positions[2] = { ...s.positions[2], state: "active", supplier: "s2", key: null };
  s.excluded = ["bad"];
  s.cancels.set("fired", { firedMs: 1234, key: key(7) });
  s.cancels.set("old", { firedMs: 99, key: null });
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
  if (data[4] !== 3) throw new Error(`format ${data[4]}`);
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
  if (f.epoch !== 7 || f.version !== 3) throw new Error(`epoch ${f.epoch}, format ${f.version}`);
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
  future[4] = 4;
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
