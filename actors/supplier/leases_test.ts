/**
 * Contracts are not free (finding 8 of issue 10): reservations lapse when nothing arrives,
 * leases end when the customer goes silent, and pinned keys survive restarts and upgrades.
 * All in virtual time, asserting what a customer, the operator and the ID server see.
 */

import assert from "node:assert/strict";
import type { BlobOp, NodeId } from "../../core/actor.ts";
import { bytesEqual } from "../../core/ids.ts";
import {
  SUPPLIER_CONTRACT_LEASE_MS,
  SUPPLIER_LAPSE_MEMORY_MS,
  SUPPLIER_LEASE_LOAD_GRACE_MS,
  SUPPLIER_RESERVATION_MS,
} from "../../core/limits.ts";
import type { Message, MessageOf } from "../../core/protocol/mod.ts";
import { Driver, fragment, keyOf, Net } from "./_harness_test.ts";
import { decodeContract, encodeLegacyContract, type SupplierStatus } from "./mod.ts";

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

function as<T extends Message["type"]>(m: Message, type: T): MessageOf<T> {
  assert.equal(m.type, type);
  return m as MessageOf<T>;
}

function status(d: Driver): SupplierStatus {
  const s = d.command({ type: "status" });
  assert.equal(s.type, "status");
  return s as SupplierStatus;
}

function request(d: Driver, who: NodeId, quotaBytes: number) {
  return as(
    d.ask(who, { type: "contract_request", requestId: 1, epoch: 0, quotaBytes }),
    "contract_reply",
  );
}

function probe(d: Driver, who: NodeId) {
  return as(d.ask(who, { type: "probe", requestId: 2, epoch: 0 }), "probe_reply");
}

/** Counts the writes of blob `key` the supplier issues from now on. */
function countWrites(d: Driver, key: string): () => number {
  let n = 0;
  const apply = d.disk.apply.bind(d.disk);
  d.disk.apply = (op: BlobOp, random) => {
    if (op.op === "write" && op.key === key) n++;
    return apply(op, random);
  };
  return () => n;
}

// --- reservations ----------------------------------------------------------------------------

Deno.test("reservation: a name that reserves everything and stores nothing lapses", () => {
  const d = new Driver({ capacityBytes: 1_000_000 });
  assert.equal(request(d, "squat", 1_000_000).outcome, "accepted");
  assert.equal(status(d).freeBytes, 0);
  assert.equal(request(d, "alice", 1).outcome, "no_space", "while the reservation holds");
  // Asking again for the same quota renews nothing, nor does going down and up again.
  d.advance(30 * MINUTE_MS);
  assert.equal(request(d, "squat", 1_000_000).outcome, "accepted");
  assert.equal(request(d, "squat", 1).outcome, "accepted");
  assert.equal(request(d, "squat", 1_000_000).outcome, "accepted");
  assert.equal(probe(d, "squat").contract, true);
  d.advance(SUPPLIER_RESERVATION_MS - 30 * MINUTE_MS - 1);
  assert.equal(d.state.customers.has("squat"), true);
  d.advance(1);
  // It lapsed exactly one reservation after it was granted.
  assert.equal(d.state.customers.has("squat"), false);
  assert.equal(d.disk.blobs.has("contract/squat"), false);
  assert.deepEqual(d.notices.at(-1), {
    type: "contract_ended",
    customer: "squat",
    removed: 0,
    reason: "lapsed",
  });
  const s = status(d);
  assert.deepEqual([s.freeBytes, s.contractsLapsed, s.customers], [1_000_000, 1, 0]);
  const p = probe(d, "squat");
  assert.deepEqual([p.contract, p.quotaBytes], [false, 0], "a probe says so");
  // Asked again, it is granted, but holds nothing until bytes arrive: the space stays offered.
  assert.equal(request(d, "squat", 1_000_000).outcome, "accepted");
  assert.equal(d.counter("contract.unreserved"), 1);
  assert.equal(status(d).freeBytes, 1_000_000);
  assert.equal(request(d, "alice", 900_000).outcome, "accepted");
  const { data, hash } = fragment(200_000, 1);
  const refused = d.ask("squat", { type: "store", requestId: 3, epoch: 0, key: "k", hash, data });
  assert.equal(as(refused, "store_reply").outcome, "no_space", "beyond the free capacity");
  d.advance(SUPPLIER_RESERVATION_MS);
  assert.equal(d.state.customers.has("alice"), false, "alice stored nothing either");
  // Holding no space, the second contract has a week to store before it lapses.
  assert.equal(probe(d, "squat").contract, true);
  d.advance(SUPPLIER_LAPSE_MEMORY_MS - SUPPLIER_RESERVATION_MS);
  assert.equal(d.state.customers.has("squat"), false, "lapsed again");
  assert.equal(d.counter("contract.lapsed"), 3);
  // Forgotten after the lapse memory, its next contract reserves again.
  d.advance(SUPPLIER_LAPSE_MEMORY_MS);
  assert.equal(request(d, "squat", 1_000_000).outcome, "accepted");
  assert.equal(status(d).freeBytes, 0);
});

Deno.test("reservation: a customer that stores keeps its bytes; only they count afterwards", () => {
  const d = new Driver({ capacityBytes: 1_000_000 });
  d.contract("alice", 500_000);
  const stored = new Map<string, Uint8Array>();
  // An upload that goes on longer than one reservation: each store extends it.
  for (let i = 0; i < 10; i++) {
    d.advance(40 * MINUTE_MS);
    const key = `v/${i}`;
    const { outcome, data } = d.store("alice", key, 10_000, i);
    assert.equal(outcome, "stored");
    stored.set(key, data);
    assert.equal(status(d).freeBytes, 500_000, `reserved during the upload (${i})`);
  }
  d.advance(SUPPLIER_RESERVATION_MS);
  const s = status(d);
  assert.deepEqual([s.chargedBytes, s.freeBytes, s.customers], [100_000, 900_000, 1]);
  assert.equal(d.counter("contract.reservation_ended"), 1);
  assert.equal(probe(d, "alice").quotaBytes, 500_000, "the quota stays");
  // Another customer takes the free space; alice's next store must fit in what is left.
  d.contract("bob", 900_000);
  assert.equal(d.store("alice", "v/more", 1).outcome, "no_space");
  assert.equal(d.counter("store.no_room"), 1);
  for (const [key, data] of stored) {
    const got = as(d.ask("alice", { type: "fetch", requestId: 1, key }), "fetch_reply");
    assert.deepEqual(got.data, data);
  }
  // A raise after new bytes arrived opens a reservation again (if it fits).
  d.advance(SUPPLIER_RESERVATION_MS);
  assert.equal(d.state.customers.has("bob"), false, "bob stored nothing");
  assert.equal(d.store("alice", "v/more", 1).outcome, "stored");
  assert.equal(request(d, "alice", 600_000).outcome, "accepted");
  assert.equal(status(d).freeBytes, 400_000);
});

Deno.test("reservation: the supplier's offer at the ID server comes back when it lapses", () => {
  const capacityBytes = 1_000_000;
  const net = new Net(21, { capacityBytes });
  const offers = () => {
    const m = net.ask("alice", {
      type: "offer_query",
      requestId: 0,
      count: 10,
      minFreeBytes: 0,
      exclude: [],
    }, "ids");
    return as(m, "offer_query_reply").offers.map((o) => o.freeBytes);
  };
  assert.deepEqual(offers(), [capacityBytes]);
  const m = net.ask("bob", {
    type: "contract_request",
    requestId: 0,
    epoch: 0,
    quotaBytes: capacityBytes,
  });
  assert.equal(as(m, "contract_reply").outcome, "accepted");
  assert.deepEqual(offers(), [], "the supplier vanished from the offers");
  net.run(SUPPLIER_RESERVATION_MS);
  assert.deepEqual(offers(), [capacityBytes], "and is back");
});

// --- leases ----------------------------------------------------------------------------------

Deno.test("lease: a silent customer's contract ends, fragments too; a probing one stays", () => {
  const d = new Driver({ capacityBytes: 1_000_000 });
  d.contract("alice", 100_000);
  d.contract("bob", 100_000);
  for (let i = 0; i < 5; i++) {
    d.store("alice", `a/${i}`, 1000, i);
    d.store("bob", `b/${i}`, 1000, 10 + i);
  }
  const writes = countWrites(d, "contract/bob");
  const days = SUPPLIER_CONTRACT_LEASE_MS / DAY_MS;
  let probes = 0;
  for (let t = 0; t < SUPPLIER_CONTRACT_LEASE_MS + HOUR_MS; t += 10 * MINUTE_MS) {
    d.advance(10 * MINUTE_MS);
    assert.equal(probe(d, "bob").contract, true);
    probes++;
  }
  // Alice's lease ended: her fragments and record are gone, the operator was told.
  assert.equal(d.state.customers.has("alice"), false);
  assert.deepEqual([...d.disk.blobs.keys()].filter((k) => k.includes("alice")), []);
  const ended = d.notices.find((n) => n.type === "contract_ended");
  assert.deepEqual(ended, {
    type: "contract_ended",
    customer: "alice",
    removed: 5,
    reason: "expired",
  });
  assert.equal(status(d).contractsExpired, 1);
  assert.equal(probe(d, "alice").contract, false);
  // Bob kept everything; his renewals were written about daily, not once per probe.
  assert.equal(d.state.customers.get("bob")!.fragments.size, 5);
  assert.ok(probes > 100 * days);
  assert.ok(Math.abs(writes() - days) <= 1, `${writes()} renewal writes in ${days} days`);
  const record = decodeContract("contract/bob", d.disk.blobs.get("contract/bob")!)!;
  assert.ok(d.nowMs - record.renewedMs! <= DAY_MS, "the renewal on disk is at most a day old");
  // Renewals move no timer: the heap holds one entry per contract.
  assert.ok(d.state.timers.length <= 2, `${d.state.timers.length} timers`);
  // Alice may come back: a fresh contract, and a fresh reservation (an expiry is no lapse).
  assert.equal(request(d, "alice", 100_000).outcome, "accepted");
  assert.equal(status(d).freeBytes, 1_000_000 - 100_000 - 5000);
});

Deno.test("lease: every kind of request renews it; a refused one does not", () => {
  const d = new Driver();
  d.contract("alice", 100_000);
  d.store("alice", "k", 100);
  const renewals: Message[] = [
    { type: "list", requestId: 1, prefix: "", after: "" },
    { type: "fetch", requestId: 1, key: "k" },
    { type: "audit", requestId: 1, key: "k", leafIndex: 0, leafBytes: 64 },
    { type: "remove", requestId: 1, epoch: 0, keys: ["nope"] },
    { type: "contract_request", requestId: 1, epoch: 0, quotaBytes: 100_000 },
  ];
  for (const m of renewals) {
    d.advance(SUPPLIER_CONTRACT_LEASE_MS - DAY_MS);
    d.from("alice", m);
    assert.equal(d.state.customers.get("alice")?.renewedMs, d.nowMs, m.type);
  }
  d.advance(SUPPLIER_CONTRACT_LEASE_MS - DAY_MS);
  d.from("alice", { type: "probe", requestId: 1, epoch: 0 }, keyOf("mallory"));
  d.advance(DAY_MS);
  assert.equal(d.state.customers.has("alice"), false, "expired: the impostor renewed nothing");
});

Deno.test("lease: contract timers are handled a bounded number at a time", () => {
  const d = new Driver({ contractTimersPerStepMax: 3, capacityBytes: 1_000_000 });
  for (let i = 0; i < 10; i++) request(d, `c${i}`, 1000);
  d.advance(SUPPLIER_RESERVATION_MS);
  assert.equal(d.counter("contract.lapsed"), 3);
  for (let i = 0; i < 3; i++) d.advance(0);
  assert.equal(d.counter("contract.lapsed"), 10);
  assert.equal(d.state.customers.size, 0);
});

Deno.test("lease: a supplier back from a long spell offline gives every lease a grace", () => {
  const d = new Driver();
  d.contract("alice", 10_000);
  d.store("alice", "k", 100);
  d.nowMs += 40 * DAY_MS; // offline: no timer fired, nobody could renew
  d.deliver({ kind: "start" });
  d.advance(0);
  assert.equal(d.state.customers.has("alice"), true);
  d.advance(SUPPLIER_LEASE_LOAD_GRACE_MS - 1);
  assert.equal(probe(d, "alice").contract, true, "she came back in time");
  d.advance(SUPPLIER_CONTRACT_LEASE_MS);
  assert.equal(d.state.customers.has("alice"), false);
});

// --- keys across restarts ----------------------------------------------------------------------

Deno.test("restart: a pinned key is kept on disk; leases get a grace after a long outage", () => {
  const first = new Driver();
  first.contract("alice", 10_000);
  const { data } = first.store("alice", "k", 100);
  const later = new Driver({}, first.disk, false);
  later.nowMs = first.nowMs + 40 * DAY_MS; // off for longer than a lease
  later.deliver({ kind: "start" });
  const fetch: Message = { type: "fetch", requestId: 1, key: "k" };
  assert.deepEqual(later.from("alice", fetch, keyOf("mallory")), []);
  assert.equal(later.counter("auth.wrong_key"), 1);
  assert.deepEqual(as(later.ask("alice", fetch), "fetch_reply").data, data);
  // Silent from now on, she has the grace and no more.
  later.advance(SUPPLIER_LEASE_LOAD_GRACE_MS - 1);
  assert.equal(later.state.customers.has("alice"), true);
  later.advance(SUPPLIER_CONTRACT_LEASE_MS);
  assert.equal(later.state.customers.has("alice"), false);
});

Deno.test("restart: a record of the format before keys is pinned once, losing nothing", () => {
  const first = new Driver();
  const blobs = first.disk.blobs;
  blobs.set(
    "contract/alice",
    encodeLegacyContract({ customer: "alice", quotaBytes: 9000, sinceMs: 5 }),
  );
  const { data } = fragment(500, 3);
  blobs.set("frag/alice/v/0", data);
  const d = new Driver({}, first.disk);
  assert.deepEqual(d.notices[0], {
    type: "loaded",
    customers: 1,
    fragments: 1,
    orphans: 0,
    damaged: 0,
  });
  assert.equal(d.counter("load.unpinned"), 1);
  const writes = countWrites(d, "contract/alice");
  // A keyless link pins nothing; the first authenticated request pins its key.
  assert.deepEqual(d.from("alice", { type: "probe", requestId: 1, epoch: 0 }, null), []);
  assert.equal(d.state.customers.get("alice")!.key, null);
  const got = as(d.ask("alice", { type: "fetch", requestId: 2, key: "v/0" }), "fetch_reply");
  assert.deepEqual(got.data, data);
  assert.equal(d.traces.filter((t) => t === "key.pinned").length, 1);
  assert.equal(writes(), 1, "the record is rewritten with the key");
  const record = decodeContract("contract/alice", blobs.get("contract/alice")!)!;
  assert.ok(bytesEqual(record.key!, keyOf("alice")));
  assert.deepEqual([record.quotaBytes, record.sinceMs], [9000, 5]);
  // Once pinned, only that key; no second pin, no second write.
  assert.deepEqual(
    d.from("alice", { type: "probe", requestId: 3, epoch: 0 }, keyOf("mallory")),
    [],
  );
  assert.equal(probe(d, "alice").contract, true);
  assert.equal(d.traces.filter((t) => t === "key.pinned").length, 1);
  assert.equal(writes(), 1);
  // And after another restart, the key came from the disk.
  const again = new Driver({}, d.disk);
  assert.ok(bytesEqual(again.state.customers.get("alice")!.key!, keyOf("alice")));
  assert.equal(again.counter("load.unpinned"), 0);
  assert.deepEqual(
    again.from("alice", { type: "probe", requestId: 4, epoch: 0 }, keyOf("mallory")),
    [],
  );
});
