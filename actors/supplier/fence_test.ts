/**
 * The writer fence (issue 11): a supplier keeps the highest writer epoch a customer's requests
 * carried, refuses writes below it with `superseded`, and keeps the epoch across restarts. This
 * is what stops an instance of the customer that lost the writer lease (a laptop that slept
 * through a take-over, a clock that runs late) from removing or cancelling what the newer
 * instance keeps there.
 */

import assert from "node:assert/strict";
import type { NodeId } from "../../core/actor.ts";
import type { Message, MessageOf } from "../../core/protocol/mod.ts";
import { Driver, fragment, keyOf } from "./_harness_test.ts";
import { decodeContract, encodeKeyedContract } from "./mod.ts";

function as<T extends Message["type"]>(m: Message, type: T): MessageOf<T> {
  assert.equal(m.type, type);
  return m as MessageOf<T>;
}

function store(d: Driver, who: NodeId, key: string, epoch: number, seed = 1): Message {
  const { data, hash } = fragment(100, seed);
  return d.ask(who, { type: "store", requestId: 7, epoch, key, hash, data });
}

function fetchOutcome(d: Driver, who: NodeId, key: string): string {
  return as(d.ask(who, { type: "fetch", requestId: 8, key }), "fetch_reply").outcome;
}

function probeEpoch(d: Driver, who: NodeId, epoch: number): number {
  return as(d.ask(who, { type: "probe", requestId: 9, epoch }), "probe_reply").epoch;
}

/** A supplier holding alice's fragment `a` (stored at epoch 1) and `b` (stored at epoch 2). */
function twoEpochs(): Driver {
  const d = new Driver({ capacityBytes: 1_000_000 });
  const granted = d.ask("alice", {
    type: "contract_request",
    requestId: 1,
    epoch: 1,
    quotaBytes: 100_000,
  });
  assert.equal(as(granted, "contract_reply").outcome, "accepted");
  assert.equal(as(store(d, "alice", "a", 1), "store_reply").outcome, "stored");
  assert.equal(as(store(d, "alice", "b", 2, 2), "store_reply").outcome, "stored");
  return d;
}

Deno.test("fence: a write below the highest epoch seen is refused superseded, no change", () => {
  const d = twoEpochs();
  assert.equal(d.counter("fence.raised"), 1);
  const stale: MessageOf<"remove" | "contract_cancel" | "contract_request">[] = [
    { type: "remove", requestId: 11, epoch: 1, keys: ["a", "b"] },
    { type: "contract_cancel", requestId: 12, epoch: 1 },
    { type: "contract_request", requestId: 13, epoch: 0, quotaBytes: 0 },
  ];
  for (const m of stale) {
    assert.deepEqual(d.ask("alice", m), { type: "superseded", requestId: m.requestId, epoch: 2 });
  }
  assert.deepEqual(as(store(d, "alice", "b", 1, 3), "superseded").epoch, 2);
  assert.equal(d.counter("fence.superseded"), 4);
  // Nothing changed: both fragments are there, as stored, and the contract with its quota.
  assert.equal(fetchOutcome(d, "alice", "a"), "found");
  const b = as(d.ask("alice", { type: "fetch", requestId: 14, key: "b" }), "fetch_reply");
  assert.deepEqual(b.data, fragment(100, 2).data, "not overwritten by the stale store");
  assert.equal(d.state.customers.get("alice")!.quotaBytes, 100_000);
  // The newer writer's requests go through, at its epoch or above.
  const removed = d.ask("alice", { type: "remove", requestId: 15, epoch: 2, keys: ["a"] });
  assert.equal(as(removed, "remove_reply").removed, 1);
  assert.equal(fetchOutcome(d, "alice", "a"), "not_found");
});

Deno.test("fence: probes raise the epoch but are never refused, and their answers carry it", () => {
  const d = twoEpochs();
  // A stale instance's probe is answered (it changes nothing), telling it the epoch seen.
  assert.equal(probeEpoch(d, "alice", 1), 2);
  assert.equal(probeEpoch(d, "alice", 0), 2);
  // A new writer's first probe raises the fence before it has written anything.
  assert.equal(probeEpoch(d, "alice", 5), 5);
  assert.equal(as(store(d, "alice", "c", 4), "superseded").epoch, 5);
  // Another customer's epochs are its own.
  d.contract("bob", 1000);
  assert.equal(probeEpoch(d, "bob", 0), 0);
});

Deno.test("fence: the epoch is kept in the contract record and survives a restart", () => {
  const first = twoEpochs();
  const record = decodeContract("contract/alice", first.disk.blobs.get("contract/alice")!);
  assert.equal(record?.epoch, 2, "the raise was written to the record");
  const again = new Driver({ capacityBytes: 1_000_000 }, first.disk);
  assert.equal(again.state.phase, "ready");
  const m = again.ask("alice", { type: "remove", requestId: 3, epoch: 1, keys: ["a", "b"] });
  assert.equal(as(m, "superseded").epoch, 2);
  assert.equal(fetchOutcome(again, "alice", "a"), "found");
});

Deno.test("fence: a record of the format before epochs loads with epoch 0 and is upgraded", () => {
  const first = new Driver({ capacityBytes: 1_000_000 });
  first.contract("alice", 10_000);
  first.store("alice", "a", 100);
  const old = encodeKeyedContract({
    customer: "alice",
    quotaBytes: 10_000,
    sinceMs: 0,
    key: keyOf("alice"),
    renewedMs: 0,
    epoch: 0,
  });
  first.disk.blobs.set("contract/alice", old);
  const d = new Driver({ capacityBytes: 1_000_000 }, first.disk);
  assert.equal(d.state.customers.get("alice")?.epoch, 0);
  assert.equal(fetchOutcome(d, "alice", "a"), "found", "its fragments are kept");
  assert.equal(probeEpoch(d, "alice", 3), 3);
  const record = decodeContract("contract/alice", d.disk.blobs.get("contract/alice")!);
  assert.equal(record?.epoch, 3, "rewritten in the current format");
});
