/**
 * Loading over a damaged contract record: a crash that tears the small record must not cost
 * the customer the fragments it covered, must not hand them to whoever speaks first under the
 * name, and must not let anybody make the supplier keep more than the disk already held.
 */

import assert from "node:assert/strict";
import { bytesEqual } from "../../core/ids.ts";
import { SUPPLIER_LEASE_LOAD_GRACE_MS } from "../../core/limits.ts";
import type { Message, MessageOf } from "../../core/protocol/mod.ts";
import { Driver, fragment, keyOf } from "./_harness_test.ts";
import { decodeContract, freeBytes } from "./mod.ts";

function as<T extends Message["type"]>(m: Message, type: T): MessageOf<T> {
  assert.equal(m.type, type);
  return m as MessageOf<T>;
}

/** A supplier whose disk holds alice's contract and two fragments, the record torn in half. */
function tornAlice(config = {}, quotaBytes = 5000) {
  const first = new Driver(config);
  first.contract("alice", quotaBytes);
  const a = first.store("alice", "v/0/0/0", 100, 1).data;
  const b = first.store("alice", "v/1/0/0", 200, 2).data;
  const blobs = first.disk.blobs;
  const record = blobs.get("contract/alice")!;
  blobs.set("contract/alice", record.slice(0, record.length >> 1));
  return { disk: first.disk, blobs, a, b };
}

function contractRequest(d: Driver, quotaBytes: number, key = keyOf("alice")) {
  const m: Message = { type: "contract_request", requestId: 7, epoch: 2, quotaBytes };
  const replies = d.from("alice", m, key);
  assert.equal(replies.length, 1);
  return as(replies[0], "contract_reply");
}

Deno.test("load: a torn record's fragments are kept and read, not written, till she asks", () => {
  const { disk, blobs, a, b } = tornAlice();
  const d = new Driver({}, disk);
  assert.deepEqual(d.notices[0], {
    type: "loaded",
    customers: 0,
    fragments: 0,
    orphans: 0,
    damaged: 1,
  });
  assert.equal(d.counter("load.contract_corrupt"), 1);
  assert.equal(d.counter("load.contract_damaged"), 1);
  assert.equal(d.counter("load.fragments_unclaimed"), 2);
  assert.ok(d.traces.includes("supplier.contract_damaged"));
  assert.equal(blobs.size, 3, "record and fragments stay on the disk");
  assert.equal(d.state.unclaimedBytes, 300);
  assert.equal(freeBytes(d.state), 1_000_000 - 300, "kept bytes are held against the capacity");
  // Alice reads what is kept for her: her probe finds it, her fetches and lists get it.
  const probe = as(d.ask("alice", { type: "probe", requestId: 1, epoch: 0 }), "probe_reply");
  assert.deepEqual([probe.contract, probe.usedBytes, probe.quotaBytes], [true, 300, 300]);
  const got = as(d.ask("alice", { type: "fetch", requestId: 2, key: "v/1/0/0" }), "fetch_reply");
  assert.deepEqual(got.data, b);
  const listed = as(
    d.ask("alice", { type: "list", requestId: 3, prefix: "", after: "" }),
    "list_reply",
  );
  assert.deepEqual(listed.keys, ["v/0/0/0", "v/1/0/0"]);
  // Nothing changes them while no key is pinned for the name.
  assert.equal(d.store("alice", "v/0/0/0", 10, 9).outcome, "no_contract");
  assert.equal(d.store("alice", "v/2/0/0", 10, 9).outcome, "no_contract");
  const removed = d.ask("alice", { type: "remove", requestId: 4, epoch: 0, keys: ["v/0/0/0"] });
  assert.deepEqual([removed.type, (removed as MessageOf<"remove_reply">).removed], [
    "remove_reply",
    0,
  ]);
  assert.equal(blobs.size, 3);
  // Her next contract request is a new contract's, and takes them over.
  const reply = contractRequest(d, 5000);
  assert.deepEqual([reply.outcome, reply.quotaBytes], ["accepted", 5000]);
  assert.ok(d.traces.includes("supplier.unclaimed_adopted"));
  assert.equal(d.state.unclaimed.size, 0);
  assert.equal(d.state.unclaimedBytes, 0);
  const alice = d.state.customers.get("alice")!;
  assert.deepEqual([alice.fragments.size, alice.usedBytes], [2, 300]);
  const first = as(d.ask("alice", { type: "fetch", requestId: 5, key: "v/0/0/0" }), "fetch_reply");
  assert.deepEqual(first.data, a);
  const { data, hash } = fragment(10, 9);
  const store: Message = { type: "store", requestId: 6, epoch: 2, key: "v/2/0/0", hash, data };
  assert.equal(as(d.ask("alice", store), "store_reply").outcome, "stored");
  const record = decodeContract("contract/alice", blobs.get("contract/alice")!)!;
  assert.ok(record !== null && bytesEqual(record.key!, keyOf("alice")));
  assert.deepEqual([record.quotaBytes, record.epoch], [5000, 2]);
  // Pinned now: another key under her name is refused. After a restart all loads as usual.
  assert.deepEqual(
    d.from("alice", { type: "probe", requestId: 7, epoch: 2 }, keyOf("mallory")),
    [],
  );
  const again = new Driver({}, d.disk);
  assert.equal(again.counter("load.contract_corrupt"), 0);
  assert.equal(again.state.customers.get("alice")!.usedBytes, 310);
});

Deno.test("load: the new contract over kept fragments covers them, whatever it asks", () => {
  const { disk } = tornAlice({ capacityBytes: 1000 }, 1000);
  const d = new Driver({ capacityBytes: 1000 }, disk);
  const small = contractRequest(d, 10);
  assert.deepEqual([small.outcome, small.quotaBytes], ["accepted", 300]);
  const other = new Driver({ capacityBytes: 1000 }, tornAlice({ capacityBytes: 1000 }, 1000).disk);
  const refused = contractRequest(other, 1001);
  assert.deepEqual([refused.outcome, other.state.unclaimedBytes], ["no_space", 300]);
  const fits = contractRequest(other, 1000);
  assert.deepEqual([fits.outcome, fits.quotaBytes], ["accepted", 1000], "its own bytes count");
  assert.equal(other.state.chargedBytes, 1000);
});

Deno.test("load: kept fragments go when their name is silent for the load grace", () => {
  const { disk, blobs } = tornAlice();
  const d = new Driver({}, disk);
  d.advance(SUPPLIER_LEASE_LOAD_GRACE_MS - 1);
  assert.equal(d.state.unclaimed.has("alice"), true);
  // A request from the name keeps them, as it renews a lease.
  as(d.ask("alice", { type: "probe", requestId: 1, epoch: 0 }), "probe_reply");
  d.advance(SUPPLIER_LEASE_LOAD_GRACE_MS - 1);
  assert.equal(d.state.unclaimed.has("alice"), true);
  assert.equal(d.counter("unclaimed.expired"), 0);
  d.holdIo = true;
  d.advance(1);
  assert.equal(d.counter("unclaimed.expired"), 1);
  // While they are deleted the name is told its contract is closing: nothing races them.
  assert.equal(contractRequest(d, 5000).outcome, "closing");
  d.holdIo = false;
  d.release();
  assert.deepEqual([...blobs.keys()], [], "record and fragments deleted");
  assert.equal(d.state.unclaimed.size, 0);
  assert.equal(d.state.unclaimedBytes, 0);
  assert.equal(d.state.deadlines.at("unclaimed"), null);
  const fresh = contractRequest(d, 5000);
  assert.equal(fresh.outcome, "accepted");
  assert.equal(d.state.customers.get("alice")!.fragments.size, 0);
});

Deno.test("load: kept fragments stay within the limits; an empty damaged record goes", () => {
  const first = new Driver();
  first.contract("bob", 1000);
  first.store("bob", "k", 50);
  const { blobs } = first.disk;
  blobs.set("contract/alice", new Uint8Array([0x42, 0x44])); // damaged, with a fragment
  blobs.set("frag/alice/v/0", new Uint8Array(40));
  blobs.set("contract/carol", new Uint8Array(0)); // damaged, holding nothing
  const d = new Driver({ customersMax: 1 }, first.disk);
  assert.deepEqual(d.notices[0], {
    type: "loaded",
    customers: 1,
    fragments: 1,
    orphans: 1,
    damaged: 2,
  });
  assert.equal(d.counter("load.fragment_skipped"), 1, "no room for another name");
  assert.equal(d.counter("load.contract_skipped"), 1);
  assert.equal(d.state.unclaimed.size, 0);
  assert.deepEqual([...blobs.keys()].sort(), [
    "contract/alice",
    "contract/bob",
    "frag/alice/v/0",
    "frag/bob/k",
  ], "what does not fit stays on disk, unindexed; the empty damaged record is deleted");
  // Kept fragments hold their room in the index: new keys are refused while they wait.
  const tight = new Driver({ fragmentsMax: 3 });
  tight.contract("alice", 5000);
  tight.store("alice", "v/0/0/0", 10, 1);
  tight.store("alice", "v/1/0/0", 10, 2);
  const record = tight.disk.blobs.get("contract/alice")!;
  tight.disk.blobs.set("contract/alice", record.slice(0, 3));
  const loaded = new Driver({ fragmentsMax: 3 }, tight.disk);
  assert.equal(loaded.state.unclaimedFragments, 2);
  loaded.contract("bob", 1000);
  assert.equal(loaded.store("bob", "a", 5).outcome, "stored");
  assert.equal(loaded.store("bob", "b", 5).outcome, "no_space", "the index is full");
  assert.equal(contractRequest(loaded, 5000).outcome, "accepted");
  assert.equal(loaded.state.fragmentCount, 3);
});

Deno.test("load: kept fragments are not deleted under a contract being written for them", () => {
  const { disk, blobs } = tornAlice();
  const d = new Driver({}, disk);
  d.holdIo = true;
  const m: Message = { type: "contract_request", requestId: 7, epoch: 0, quotaBytes: 5000 };
  assert.deepEqual(d.from("alice", m), [], "answered once written");
  d.advance(2 * SUPPLIER_LEASE_LOAD_GRACE_MS);
  assert.equal(d.counter("unclaimed.expired"), 0);
  assert.ok(d.counter("unclaimed.deferred") >= 1);
  d.holdIo = false;
  d.release();
  assert.equal(as(lastReply(d), "contract_reply").outcome, "accepted");
  assert.equal(d.state.customers.get("alice")!.fragments.size, 2);
  assert.equal(blobs.size, 3);
  assert.equal(d.state.deadlines.at("unclaimed"), null);
});

function lastReply(d: Driver): Message {
  return d.sent.filter((s) => s.to === "alice").at(-1)!.message;
}
