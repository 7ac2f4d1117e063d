import assert from "node:assert/strict";
import {
  IDSERVER_BLOCK_REGISTRATIONS_MAX,
  IDSERVER_NAMES_PER_KEY_MAX,
  IDSERVER_REGISTRATION_WINDOW_MS,
} from "../../core/limits.ts";
import { doc, Driver, keyed, ownDoc } from "./_driver_test.ts";

Deno.test("idserver: at most a few names under one key; updates and refreshes still go", () => {
  const d = new Driver();
  const mallory = keyed();
  const names = Array.from({ length: 10 }, (_, i) => `m${i}`);
  const outcomes = names.map((n) => d.publish(ownDoc(n, 1, mallory), undefined, "198.51.100.1"));
  const stored = IDSERVER_NAMES_PER_KEY_MAX;
  assert.deepEqual(outcomes.slice(0, stored), new Array(stored).fill("stored"));
  assert.deepEqual(outcomes.slice(stored), new Array(10 - stored).fill("too_many_names"));
  assert.equal(d.state.counters["publish.too_many_names"], 10 - stored);
  assert.equal(d.state.docs.size, stored);
  assert.equal(d.publish(ownDoc("m0", 2, mallory)), "stored", "a higher revision is no new name");
  assert.equal(d.publish(ownDoc("m0", 2, mallory)), "unchanged", "nor is a refresh");
  assert.equal(d.publish(ownDoc("m9", 1)), "stored", "another key may take a refused name");
  // A refused publish took no token: the block registered only the names stored.
  const bucket = d.state.registrations.blocks.get("198.51.100.0/24")!;
  assert.equal(Math.round(bucket.tokens), IDSERVER_BLOCK_REGISTRATIONS_MAX - stored);
});

Deno.test("idserver: new names per address block per hour; other blocks unaffected", () => {
  const d = new Driver();
  const max = IDSERVER_BLOCK_REGISTRATIONS_MAX;
  const flood = (i: number, host = 1 + (i % 200)) =>
    d.publish(ownDoc(`f${i}`), undefined, `203.0.113.${host}`);
  for (let i = 0; i < max; i++) assert.equal(flood(i), "stored", `name ${i}`);
  for (let i = max; i < max + 20; i++) assert.equal(flood(i), "rate_limited", `name ${i}`);
  assert.equal(d.state.counters["publish.rate_limited"], 20);
  assert.equal(d.publish(ownDoc("alice"), undefined, "203.0.114.1"), "stored", "next /24");
  assert.equal(d.publish(ownDoc("bob"), undefined, "2001:db8::1"), "stored", "an IPv6 user");
  // Updates from the flooding block are not registrations.
  const key = keyed();
  d.advance(IDSERVER_REGISTRATION_WINDOW_MS);
  assert.equal(d.publish(ownDoc("u", 1, key), undefined, "203.0.113.9"), "stored");
  for (let i = 0; i < max - 1; i++) flood(1000 + i);
  assert.equal(flood(2000), "rate_limited");
  assert.equal(d.publish(ownDoc("u", 2, key), undefined, "203.0.113.9"), "stored");
  // The bucket refills evenly: one more name after 1/max of the window.
  d.advance(Math.ceil(IDSERVER_REGISTRATION_WINDOW_MS / max));
  assert.equal(flood(2001), "stored");
  assert.equal(flood(2002), "rate_limited");
});

Deno.test("idserver: in the simulator a node's name is its address block", () => {
  const d = new Driver(new Map(), { blockRegistrationsMax: 1 });
  const send = (from: string, name: string) => {
    d.deliver({
      kind: "message",
      from,
      fromKey: null,
      message: { type: "identity_publish", requestId: 1, document: ownDoc(name) },
    });
    const m = d.sent.at(-1)!.message;
    return m.type === "identity_publish_reply" ? m.outcome : m.type;
  };
  assert.equal(send("n1", "n1"), "stored");
  assert.equal(send("n1", "n1-other"), "rate_limited");
  assert.equal(send("n2", "n2"), "stored");
});

Deno.test("idserver: the table of blocks is capped; blocks beyond share one budget", () => {
  const d = new Driver(new Map(), { registrationBlocksMax: 2, blockRegistrationsMax: 2 });
  const from = (address: string, name: string) => d.publish(ownDoc(name), undefined, address);
  assert.equal(from("10.0.1.1", "a1"), "stored");
  assert.equal(from("10.0.2.1", "b1"), "stored");
  // The table is full of blocks charged within the hour: new blocks share the overflow bucket.
  assert.equal(from("10.0.3.1", "c1"), "stored");
  assert.equal(from("10.0.4.1", "d1"), "stored");
  assert.equal(from("10.0.5.1", "e1"), "rate_limited");
  assert.equal(d.state.counters["publish.rate_table_full"], 3);
  assert.equal(d.state.registrations.blocks.size, 2);
  // Blocks in the table keep their own share.
  assert.equal(from("10.0.1.2", "a2"), "stored");
  assert.equal(from("10.0.1.3", "a3"), "rate_limited");
  // A block unused for a whole window is full again and makes room for a new one.
  d.advance(IDSERVER_REGISTRATION_WINDOW_MS);
  assert.equal(from("10.0.5.1", "e1"), "stored");
  assert.ok(d.state.registrations.blocks.has("10.0.5.0/24"));
  assert.equal(d.state.counters["publish.rate_table_full"], 3);
});

Deno.test("idserver: a failed write gives the key its slot back", () => {
  const d = new Driver(new Map(), { namesPerKeyMax: 1 });
  const key = keyed();
  d.failWrites = true;
  assert.equal(d.publish(ownDoc("a", 1, key)), "io_error");
  d.failWrites = false;
  assert.equal(d.publish(ownDoc("b", 1, key)), "stored");
  assert.equal(d.publish(ownDoc("c", 1, key)), "too_many_names");
  assert.equal(d.publish(doc("alice", 1)), "stored");
});

Deno.test("idserver: names over the per-key limit on disk (an older flood) are not loaded", () => {
  const key = keyed();
  const blobs = new Map<string, Uint8Array>();
  for (let i = 0; i < 7; i++) blobs.set(`id/m${i}`, ownDoc(`m${i}`, 1, key));
  blobs.set("id/alice", doc("alice", 1));
  const d = new Driver(blobs);
  assert.equal(d.state.docs.size, IDSERVER_NAMES_PER_KEY_MAX + 1);
  assert.equal(d.state.counters["load.over_key_limit"], 7 - IDSERVER_NAMES_PER_KEY_MAX);
  assert.equal(d.publish(ownDoc("m9", 1, key)), "too_many_names");
  assert.ok(d.state.docs.has("alice"));
});
