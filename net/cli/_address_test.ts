/** Where a supporter listens across restarts: the flags against the address it kept. */

import assert from "node:assert/strict";
import { chooseAddress, recordAddress, savedAddress } from "./_address.ts";

const flags = (port: number, host = "127.0.0.1", hostGiven = false) => ({
  host,
  port,
  hostGiven,
  portGiven: port !== 0,
});

Deno.test("chooseAddress: the first start takes the flags, later ones the kept address", () => {
  assert.deepEqual(chooseAddress(flags(0), null), {
    host: "127.0.0.1",
    port: 0,
    note: null,
    kept: false,
  });
  const saved = { host: "127.0.0.1", port: 4711 };
  assert.deepEqual(chooseAddress(flags(0), saved), { ...saved, note: null, kept: true });
  assert.deepEqual(chooseAddress(flags(4711), saved), { ...saved, note: null, kept: true });
});

Deno.test("chooseAddress: only an explicit port or host moves it, in one line", () => {
  const saved = { host: "127.0.0.1", port: 4711 };
  const moved = chooseAddress(flags(4800), saved);
  assert.equal(moved.port, 4800);
  assert.equal(moved.kept, false);
  assert.match(moved.note!, /^moving from 127\.0\.0\.1:4711 to 127\.0\.0\.1:4800: configs/);
  const host = chooseAddress(flags(0, "127.0.0.2", true), saved);
  assert.deepEqual([host.host, host.port], ["127.0.0.2", 4711]);
  assert.match(host.note!, /to 127\.0\.0\.2:4711/);
});

Deno.test("savedAddress: round trip; a missing or damaged file is no address", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitdust-address-" });
  try {
    assert.equal(await savedAddress(dir), null);
    await recordAddress(dir, { host: "127.0.0.1", port: 4711 });
    assert.deepEqual(await savedAddress(dir), { host: "127.0.0.1", port: 4711 });
    await Deno.writeTextFile(`${dir}/server.json`, "{not json");
    assert.equal(await savedAddress(dir), null);
    await Deno.writeTextFile(`${dir}/server.json`, '{"host":"127.0.0.1","port":0}');
    assert.equal(await savedAddress(dir), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
