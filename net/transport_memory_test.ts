import assert from "node:assert/strict";
import { transportContract } from "./_transport_contract.ts";
import { MemoryHub } from "./transport_memory.ts";

transportContract("MemoryTransport", {
  create(n, limits) {
    const hub = new MemoryHub();
    return Promise.resolve(Array.from({ length: n }, (_, i) => hub.endpoint(`node-${i}`, limits)));
  },
  nowhere: "nobody",
  timeoutMs: 5000,
});

Deno.test("MemoryHub refuses a taken name, and takes it again after close", async () => {
  const hub = new MemoryHub(2);
  const a = hub.endpoint("a");
  assert.throws(() => hub.endpoint("a"), RangeError);
  hub.endpoint("b");
  assert.throws(() => hub.endpoint("c"), RangeError);
  await a.close();
  const again = hub.endpoint("a");
  assert.equal(hub.get("a"), again);
});

Deno.test("MemoryTransport copies what it is given", async () => {
  const hub = new MemoryHub();
  const a = hub.endpoint("a");
  const b = hub.endpoint("b");
  const got: Uint8Array[] = [];
  b.onMessage((_, bytes) => got.push(bytes));
  const m = Uint8Array.of(1, 2, 3);
  a.send("b", m);
  m[0] = 9;
  await Promise.resolve();
  assert.deepEqual(got, [Uint8Array.of(1, 2, 3)]);
  await a.close();
  await b.close();
});
