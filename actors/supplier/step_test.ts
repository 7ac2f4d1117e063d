/**
 * Unit tests of the supplier, driven step by step over a simulated disk.
 */

import assert from "node:assert/strict";
import { LIST_KEYS_MAX } from "../../core/limits.ts";
import type { Message, MessageOf } from "../../core/protocol/mod.ts";
import { Random } from "../../core/prng.ts";
import { sha256 } from "../../data/merkle.ts";
import { verifyOffer } from "../../core/protocol/identity.ts";
import { Driver, fragment, keyOf, keysFor, testConfig } from "./_harness_test.ts";
import { encodeContract, invariants, SUPPLIER_DEFAULTS, supplierState } from "./mod.ts";

function as<T extends Message["type"]>(m: Message, type: T): MessageOf<T> {
  assert.equal(m.type, type);
  return m as MessageOf<T>;
}

function storeMessage(key: string, size = 10, seed = 1): Message {
  const { data, hash } = fragment(size, seed);
  return { type: "store", requestId: 3, epoch: 0, key, hash, data };
}

function outcome(replies: Message[]): string | undefined {
  assert.ok(replies.length <= 1);
  return (replies[0] as { outcome?: string } | undefined)?.outcome;
}

function lastTo(d: Driver, to: string): Message {
  return d.sent.filter((s) => s.to === to).at(-1)!.message;
}

Deno.test("step: answers busy while loading and stays silent where it cannot say so", () => {
  const d = new Driver({}, undefined, false);
  d.holdIo = true;
  d.deliver({ kind: "start" });
  assert.equal(d.state.phase, "loading");
  assert.equal(outcome(d.from("alice", storeMessage("k"))), "busy");
  assert.equal(outcome(d.from("alice", { type: "fetch", requestId: 1, key: "k" })), "busy");
  const audit: Message = { type: "audit", requestId: 1, key: "k", leafIndex: 0, leafBytes: 64 };
  assert.equal(outcome(d.from("alice", audit)), "busy");
  assert.deepEqual(
    d.from("alice", { type: "contract_request", requestId: 1, epoch: 0, quotaBytes: 1 }),
    [],
  );
  assert.deepEqual(d.from("alice", { type: "probe", requestId: 1, epoch: 0 }), []);
  assert.deepEqual(d.from("alice", { type: "contract_cancel", requestId: 1, epoch: 0 }), []);
  assert.deepEqual(d.from("alice", { type: "remove", requestId: 1, epoch: 0, keys: ["k"] }), []);
  assert.deepEqual(d.from("alice", { type: "list", requestId: 1, prefix: "", after: "" }), []);
  assert.equal(d.counter("contract.starting"), 1);
  d.holdIo = false;
  d.release();
  assert.equal(d.state.phase, "ready");
  assert.deepEqual(d.notices[0], {
    type: "loaded",
    customers: 0,
    fragments: 0,
    orphans: 0,
    damaged: 0,
  });
  assert.equal(lastTo(d, "ids").type, "identity_publish");
});

Deno.test("step: a failed list restarts the load after loadRetryMs", () => {
  const d = new Driver({}, undefined, false);
  d.failure = 1;
  d.deliver({ kind: "start" });
  assert.equal(d.state.phase, "loading");
  assert.equal(d.counter("load.failed"), 1);
  d.failure = 0;
  d.advance(SUPPLIER_DEFAULTS.loadRetryMs - 1);
  assert.equal(d.state.phase, "loading");
  d.advance(1);
  assert.equal(d.state.phase, "ready");
});

Deno.test("step: orphans found at start are deleted; a damaged record keeps its fragments", () => {
  const first = new Driver();
  first.contract("alice", 5000);
  first.store("alice", "v/0/0/0", 100);
  first.store("alice", "v/0/0/1", 200);
  const blobs = first.disk.blobs;
  blobs.set("frag/bob/v/0/0/0", new Uint8Array(10)); // no contract
  blobs.set("contract/carol", new Uint8Array([1, 2, 3])); // damaged, with a fragment: kept
  blobs.set("frag/carol/x", new Uint8Array(10));
  blobs.set("frag/nope", new Uint8Array(1)); // names no customer
  blobs.set("contract/Not A Name", new Uint8Array(3)); // names no customer
  const key = keyOf("dave");
  const misfiled = encodeContract({
    customer: "dave",
    quotaBytes: 9,
    sinceMs: 0,
    key,
    renewedMs: 0,
    epoch: 0,
  });
  blobs.set("contract/erin", misfiled); // damaged for erin, who has no fragment: deleted
  const d = new Driver({}, first.disk);
  assert.deepEqual(d.notices[0], {
    type: "loaded",
    customers: 1,
    fragments: 2,
    orphans: 4,
    damaged: 2,
  });
  assert.deepEqual([...blobs.keys()].sort(), [
    "contract/alice",
    "contract/carol",
    "frag/alice/v/0/0/0",
    "frag/alice/v/0/0/1",
    "frag/carol/x",
  ]);
  assert.equal(d.counter("load.contract_corrupt"), 3);
  assert.equal(d.counter("load.contract_damaged"), 1);
  assert.equal(d.state.customers.get("alice")!.usedBytes, 300);
  assert.equal(d.state.customers.get("alice")!.quotaBytes, 5000);
  assert.equal(d.state.customers.has("carol"), false, "kept, but no contract");
  assert.equal(d.state.unclaimed.get("carol")!.usedBytes, 10);
  assert.equal(d.state.chargedBytes, 300, "a loaded contract is charged its bytes");
  assert.equal(d.state.unclaimedBytes, 10, "and what a damaged record kept is held too");
});

Deno.test("step: bytes beyond the capacity on disk are kept; nothing more is offered", () => {
  const first = new Driver({ capacityBytes: 10_000 });
  first.contract("alice", 8000);
  first.store("alice", "a", 6000);
  const d = new Driver({ capacityBytes: 5000 }, first.disk);
  assert.equal(d.state.customers.get("alice")!.quotaBytes, 8000);
  assert.equal(d.state.capacityBytes, 6000);
  assert.equal(d.counter("load.over_capacity"), 1);
  const reply = d.ask("bob", { type: "contract_request", requestId: 1, epoch: 0, quotaBytes: 1 });
  assert.equal(as(reply, "contract_reply").outcome, "no_space");
  assert.equal(d.store("alice", "b", 1).outcome, "no_space", "her quota, but no room");
  // As bytes go, the capacity falls back to the configured one.
  d.ask("alice", { type: "remove", requestId: 2, epoch: 0, keys: ["a"] });
  assert.equal(d.state.capacityBytes, 5000);
  assert.equal(d.store("alice", "b", 5000).outcome, "stored");
  assert.equal(d.store("alice", "c", 1).outcome, "no_space");
});

Deno.test("step: a contract is granted only once written; a failed write grants nothing", () => {
  const d = new Driver();
  d.holdIo = true;
  const request: Message = { type: "contract_request", requestId: 9, epoch: 0, quotaBytes: 4000 };
  assert.deepEqual(d.from("alice", request), []);
  assert.equal(d.state.chargedBytes, 4000, "reserved while written");
  assert.deepEqual(d.from("alice", request), [], "a second request waits for the first");
  assert.equal(outcome(d.from("alice", storeMessage("k"))), "no_contract");
  d.release();
  const reply = as(lastTo(d, "alice"), "contract_reply");
  assert.deepEqual([reply.requestId, reply.outcome, reply.quotaBytes], [9, "accepted", 4000]);
  d.holdIo = false;
  d.failure = 1;
  assert.deepEqual(d.from("alice", { ...request, quotaBytes: 6000 }), []);
  assert.equal(d.state.chargedBytes, 4000);
  assert.deepEqual(d.from("bob", request), []);
  assert.equal(d.state.customers.has("bob"), false);
  assert.equal(d.counter("contract.io_error"), 2);
  d.failure = 0;
  d.disk.config.capacityBytes = d.disk.usedBytes; // the disk is full
  assert.equal(as(d.ask("bob", request), "contract_reply").outcome, "no_space");
});

Deno.test("step: busy when blob operations run out, the key is locked, or audits pile up", () => {
  const d = new Driver({ blobOpsMax: 3, auditsMax: 1 });
  d.contract("alice", 100_000);
  d.store("alice", "a", 100);
  d.holdIo = true;
  assert.equal(outcome(d.from("alice", storeMessage("k1"))), undefined);
  assert.equal(outcome(d.from("alice", storeMessage("k1"))), "busy", "locked");
  const audit: Message = { type: "audit", requestId: 1, key: "a", leafIndex: 0, leafBytes: 64 };
  assert.deepEqual(d.from("alice", audit), []);
  assert.equal(outcome(d.from("alice", audit)), "busy", "audits");
  assert.deepEqual(d.from("alice", { type: "fetch", requestId: 1, key: "a" }), []);
  assert.equal(outcome(d.from("alice", storeMessage("k2"))), "busy", "blob operations");
  assert.equal(outcome(d.from("alice", { type: "fetch", requestId: 1, key: "a" })), "busy");
  assert.deepEqual(
    d.from("alice", { type: "contract_request", requestId: 1, epoch: 0, quotaBytes: 1 }),
    [],
  );
  d.release();
  assert.equal(d.state.ops.size, 0);
  assert.equal(d.state.auditsInFlight, 0);
  assert.equal(d.counter("store.stored"), 2);
  assert.equal(d.counter("audit.found"), 1);
});

Deno.test("step: write errors reach the customer as io_error or no_space", () => {
  const d = new Driver();
  d.contract("alice", 100_000);
  d.failure = 1;
  assert.equal(d.store("alice", "k", 10).outcome, "io_error");
  d.failure = 0;
  d.disk.config.capacityBytes = d.disk.usedBytes + 5;
  assert.equal(d.store("alice", "k", 10).outcome, "no_space");
  assert.equal(d.state.customers.get("alice")!.usedBytes, 0);
  assert.equal(d.state.customers.get("alice")!.reservedBytes, 0);
  d.store("alice", "j", 5);
  d.failure = 1;
  const fetched = d.ask("alice", { type: "fetch", requestId: 1, key: "j" });
  assert.equal(as(fetched, "fetch_reply").outcome, "io_error");
  const audited = d.ask("alice", {
    type: "audit",
    requestId: 1,
    key: "j",
    leafIndex: 0,
    leafBytes: 64,
  });
  assert.equal(as(audited, "audit_reply").outcome, "io_error");
  const removed = d.ask("alice", { type: "remove", requestId: 1, epoch: 0, keys: ["j"] });
  assert.equal(as(removed, "remove_reply").removed, 0);
  assert.equal(d.state.customers.get("alice")!.fragments.has("j"), true, "still on disk");
});

Deno.test("step: table limits on fragments and customers are refused as values", () => {
  const d = new Driver({ fragmentsPerCustomerMax: 2, fragmentsMax: 3, customersMax: 2 });
  d.contract("alice", 1000);
  d.contract("bob", 1000);
  const third = d.ask("carol", { type: "contract_request", requestId: 1, epoch: 0, quotaBytes: 1 });
  assert.equal(as(third, "contract_reply").outcome, "too_many_customers");
  assert.equal(d.store("alice", "a", 1).outcome, "stored");
  assert.equal(d.store("alice", "b", 1).outcome, "stored");
  assert.equal(d.store("alice", "c", 1).outcome, "over_quota");
  assert.equal(d.counter("store.too_many_fragments"), 1);
  assert.equal(d.store("alice", "b", 2).outcome, "stored", "replacing needs no new entry");
  assert.equal(d.store("bob", "a", 1).outcome, "stored");
  assert.equal(d.store("bob", "b", 1).outcome, "no_space");
  assert.equal(d.state.fragmentCount, 3);
});

Deno.test("step: list pages through the sender's sorted keys under a prefix", () => {
  const d = new Driver();
  d.contract("alice", 100_000);
  d.contract("bob", 100_000);
  const keys: string[] = [];
  for (let i = 0; i < LIST_KEYS_MAX + 6; i++) keys.push(`v${i % 3}/${i}`);
  Random.stream(3).shuffle(keys);
  for (const key of keys) assert.equal(d.store("alice", key, 1).outcome, "stored");
  d.store("bob", "v0/bob", 1);
  const list = (prefix: string, after: string) =>
    as(d.ask("alice", { type: "list", requestId: 1, prefix, after }), "list_reply");
  const page1 = list("", "");
  assert.equal(page1.keys.length, LIST_KEYS_MAX);
  assert.equal(page1.more, true);
  const page2 = list("", page1.keys.at(-1)!);
  assert.equal(page2.more, false);
  assert.deepEqual([...page1.keys, ...page2.keys], [...keys].sort());
  const v1 = list("v1/", "");
  assert.deepEqual(v1.keys, keys.filter((k) => k.startsWith("v1/")).sort());
  assert.equal(v1.more, false);
  assert.deepEqual(list("v1/", "v1/5").keys, v1.keys.filter((k) => k > "v1/5"));
  assert.deepEqual(list("v9", "").keys, []);
  // Stores and removals keep the sorted index fresh.
  d.ask("alice", { type: "remove", requestId: 1, epoch: 0, keys: ["v1/1"] });
  d.store("alice", "v1/zz", 1);
  assert.deepEqual(list("v1/", "v1/999").keys, ["v1/zz"]);
  assert.equal(list("v1/", "").keys.includes("v1/1"), false);
});

Deno.test("step: malformed input from a peer is refused as a value and counted", () => {
  const d = new Driver();
  d.contract("alice", 10_000);
  d.store("alice", "ok", 100);
  const long = "k".repeat(200); // longer than the codec allows: only a buggy host passes it on
  assert.equal(outcome(d.from("alice", storeMessage(long))), "bad_key");
  assert.equal(outcome(d.from("alice", { type: "fetch", requestId: 1, key: long })), "bad_key");
  const audit = (key: string, leafIndex: number, leafBytes: number) =>
    outcome(d.from("alice", { type: "audit", requestId: 1, key, leafIndex, leafBytes }));
  assert.equal(audit(long, 0, 1), "bad_key");
  assert.equal(audit("ok", 0, 0), "bad_leaf");
  assert.equal(audit("ok", 100, 1), "bad_leaf");
  assert.equal(audit("ok", 99, 1), "found");
  const bad = storeMessage("k");
  assert.deepEqual(d.from("no/such/name", bad), []);
  assert.equal(d.counter("message.bad_sender"), 1);
  const wrong = { ...(storeMessage("k") as MessageOf<"store">), hash: sha256(new Uint8Array(3)) };
  assert.equal(outcome(d.from("alice", wrong)), "bad_hash");
  assert.equal(d.counter("store.bad_hash"), 1);
  assert.ok(d.traces.filter((t) => t === "supplier.refused").length >= 5);
});

Deno.test("step: a store that finishes after a cancel is deleted with the rest", () => {
  const d = new Driver();
  d.contract("alice", 10_000);
  d.store("alice", "old", 100);
  d.holdIo = true;
  d.from("alice", storeMessage("new", 50));
  d.from("alice", storeMessage("old", 60, 2));
  assert.deepEqual(d.from("alice", { type: "contract_cancel", requestId: 4, epoch: 0 }), []);
  assert.equal(outcome(d.from("alice", storeMessage("third"))), "no_contract");
  const again = d.ask("alice", {
    type: "contract_request",
    requestId: 5,
    epoch: 0,
    quotaBytes: 10,
  });
  assert.equal(as(again, "contract_reply").outcome, "closing");
  d.release(Infinity, Random.stream(11));
  const reply = as(lastTo(d, "alice"), "contract_cancel_reply");
  assert.equal(reply.requestId, 4);
  assert.equal(reply.removed, 1, "the one fragment alice had when she cancelled");
  assert.deepEqual([...d.disk.blobs.keys()].filter((k) => k.includes("alice")), []);
  assert.equal(d.state.customers.size, 0);
  assert.equal(d.state.chargedBytes, 0);
});

Deno.test("step: failed deletes of a cancellation are retried until the disk is clean", () => {
  const d = new Driver();
  d.contract("alice", 10_000);
  for (let i = 0; i < 5; i++) d.store("alice", `k${i}`, 10, i);
  d.failure = 1;
  assert.deepEqual(d.from("alice", { type: "contract_cancel", requestId: 1, epoch: 0 }), []);
  assert.equal(d.counter("delete.io_error"), 1, "the contract first");
  d.advance(SUPPLIER_DEFAULTS.deleteRetryMs);
  assert.equal(d.counter("delete.io_error"), 2);
  d.failure = 0;
  d.advance(SUPPLIER_DEFAULTS.deleteRetryMs);
  const reply = as(lastTo(d, "alice"), "contract_cancel_reply");
  assert.equal(reply.removed, 5);
  assert.deepEqual([...d.disk.blobs.keys()], []);
});

Deno.test("step: a removal skips keys being stored and answers when its deletes are done", () => {
  const d = new Driver();
  d.contract("alice", 10_000);
  d.store("alice", "a", 10);
  d.store("alice", "b", 10);
  d.holdIo = true;
  d.from("alice", storeMessage("a", 20));
  assert.deepEqual(
    d.from("alice", { type: "remove", requestId: 7, epoch: 0, keys: ["a", "b", "b"] }),
    [],
  );
  assert.equal(outcome(d.from("alice", storeMessage("b", 20))), "busy", "b is being removed");
  d.release(Infinity, Random.stream(5));
  const replies = d.sent.filter((s) => s.to === "alice").map((s) => s.message);
  assert.equal(as(replies.find((m) => m.type === "remove_reply")!, "remove_reply").removed, 1);
  assert.deepEqual([...d.state.customers.get("alice")!.fragments.keys()], ["a"]);
  assert.equal(d.state.customers.get("alice")!.usedBytes, 20);
});

Deno.test("step: a spurious timeout is a no-op; the invariants catch a forgotten timer", () => {
  const d = new Driver();
  d.contract("alice", 100);
  const sent = d.sent.length;
  const counters = JSON.stringify(d.state.counters);
  const due = d.deadline();
  assert.ok(due !== null && due > d.nowMs);
  d.deliver({ kind: "timeout", nowMs: d.nowMs }); // nothing is due yet
  assert.equal(d.sent.length, sent);
  assert.equal(JSON.stringify(d.state.counters), counters);
  assert.equal(d.deadline(), due);
  d.state.deadlines.stop("links");
  assert.throws(() => invariants(d.state), /links timer out of step/);
  d.state.deadlines.set("links", d.state.idServers[0].dueAtMs!);
  d.state.deadlines.set("contracts", d.state.timers[0].atMs + 1);
  assert.throws(() => invariants(d.state), /contracts timer out of step/);
});

Deno.test("step: publish and announce retry with backoff while the ID server is silent", () => {
  const d = new Driver();
  const o = d.state.options;
  assert.equal(lastTo(d, "ids").type, "identity_publish");
  d.advance(o.replyTimeoutMs);
  assert.equal(d.counter("publish.timeout"), 1);
  d.advance(1.5 * o.retryMs);
  assert.equal(d.counter("publish.sent"), 2);
  d.advance(o.replyTimeoutMs);
  d.advance(3 * o.retryMs);
  assert.equal(d.counter("publish.sent"), 3);
  const publish = as(lastTo(d, "ids"), "identity_publish");
  const busy: Message = {
    type: "identity_publish_reply",
    requestId: publish.requestId,
    name: "sup",
    outcome: "busy",
    revision: 0,
  };
  d.from("ids", busy);
  assert.equal(d.state.idServers[0].pending, null);
  d.advance(6 * o.retryMs);
  const again = as(lastTo(d, "ids"), "identity_publish");
  d.from("ids", { ...busy, requestId: again.requestId, outcome: "stored" });
  const offer = as(lastTo(d, "ids"), "offer_announce").offer;
  assert.equal(offer.supplier, "sup");
  assert.equal(offer.freeBytes, 1_000_000);
  assert.equal(offer.expiresMs - offer.issuedMs, o.offerTtlMs);
  assert.ok(verifyOffer(offer, keysFor("sup").publicKey, d.crypto));
  const announce = as(lastTo(d, "ids"), "offer_announce");
  d.from("ids", {
    type: "offer_announce_reply",
    requestId: announce.requestId,
    supplier: "sup",
    outcome: "stored",
  });
  const due = d.state.idServers[0].dueAtMs! - d.nowMs;
  assert.ok(due >= 0.9 * o.announceIntervalMs && due <= 1.1 * o.announceIntervalMs);
  // A later start publishes again at once.
  d.deliver({ kind: "start" });
  assert.equal(lastTo(d, "ids").type, "identity_publish");
  assert.equal(d.state.idServers[0].published, false);
});

Deno.test("step: refusals that waiting cannot cure are told to the operator", () => {
  const d = new Driver();
  const publish = as(lastTo(d, "ids"), "identity_publish");
  d.from("ids", {
    type: "identity_publish_reply",
    requestId: publish.requestId,
    name: "sup",
    outcome: "key_changed",
    revision: 3,
  });
  assert.deepEqual(d.notices.at(-1), {
    type: "publish_refused",
    idServer: "ids",
    outcome: "key_changed",
  });
  const due = d.state.idServers[0].dueAtMs! - d.nowMs;
  assert.ok(due >= 0.9 * d.state.options.announceIntervalMs);
  // A stale answer (wrong request id) changes nothing.
  d.from("ids", {
    type: "offer_announce_reply",
    requestId: publish.requestId,
    supplier: "sup",
    outcome: "stored",
  });
  assert.equal(d.counter("idserver.unexpected_reply"), 1);
});

Deno.test("step: status reports the supplier's tables", () => {
  const d = new Driver({ capacityBytes: 10_000 });
  d.contract("alice", 4000);
  d.store("alice", "a", 1000);
  assert.deepEqual(d.command({ type: "status" }), {
    type: "status",
    phase: "ready",
    customers: 1,
    fragments: 1,
    capacityBytes: 10_000,
    grantedBytes: 4000,
    chargedBytes: 4000,
    usedBytes: 1000,
    freeBytes: 6000,
    published: 0,
    keyRefusals: 0,
    contractsLapsed: 0,
    contractsExpired: 0,
    writesSuperseded: 0,
  });
});

Deno.test("step: a bad configuration is refused with a RangeError", () => {
  const bad = [
    { name: "bad name" },
    { identityDocument: new Uint8Array(0) },
    { capacityBytes: -1 },
    { idServers: ["a", "a"] },
    { idServers: ["a", "b", "c", "d", "e", "f", "g"] },
    { announceIntervalMs: 3 * 60 * 60 * 1000 },
    { offerTtlMs: 48 * 60 * 60 * 1000 },
    { retryMs: 0 },
    { retryMsMax: 1 },
    { reannounceShare: 0 },
    { blobOpsMax: 100_000 },
  ];
  for (const over of bad) assert.throws(() => supplierState(testConfig(over)), RangeError);
  assert.equal(supplierState(testConfig()).phase, "idle");
});
