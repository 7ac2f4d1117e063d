/**
 * Scenarios in the simulator: a supplier, a real ID server and scripted customers.
 */

import assert from "node:assert/strict";
import { AUDIT_LEAF_BYTES_MAX } from "../../core/limits.ts";
import { verifyOffer } from "../../core/protocol/identity.ts";
import type { Message, MessageOf } from "../../core/protocol/mod.ts";
import { hashFragment, sha256, verifyMerkleProof } from "../../data/merkle.ts";
import { stepCryptoFor } from "../../data/signing.ts";
import { Random } from "../../core/prng.ts";
import { fragment, keysFor, Net } from "./_harness_test.ts";

function as<T extends Message["type"]>(m: Message, type: T): MessageOf<T> {
  assert.equal(m.type, type);
  return m as MessageOf<T>;
}

function contract(net: Net, client: string, quotaBytes: number) {
  return as(
    net.ask(client, { type: "contract_request", requestId: 0, epoch: 0, quotaBytes }),
    "contract_reply",
  );
}

function store(net: Net, client: string, key: string, data: Uint8Array, hash = sha256(data)) {
  const m = net.ask(client, { type: "store", requestId: 0, epoch: 0, key, hash, data });
  return as(m, "store_reply").outcome;
}

function fetch(net: Net, client: string, key: string) {
  return as(net.ask(client, { type: "fetch", requestId: 0, key }), "fetch_reply");
}

function audit(net: Net, client: string, key: string, leafIndex: number, leafBytes: number) {
  const m = net.ask(client, { type: "audit", requestId: 0, key, leafIndex, leafBytes });
  return as(m, "audit_reply");
}

function queryOffers(net: Net) {
  const m = net.ask("alice", {
    type: "offer_query",
    requestId: 0,
    count: 10,
    minFreeBytes: 0,
    exclude: [],
  }, "ids");
  return as(m, "offer_query_reply").offers;
}

Deno.test("supplier: publishes, then announces signed offers that follow its free space", () => {
  const net = new Net(1, { capacityBytes: 1_000_000 });
  assert.equal(net.state.counters["publish.stored"], 1);
  assert.equal(net.state.counters["announce.stored"], 1);
  let offers = queryOffers(net);
  assert.equal(offers.length, 1);
  assert.equal(offers[0].supplier, "sup");
  assert.equal(offers[0].freeBytes, 1_000_000);
  assert.ok(verifyOffer(offers[0], keysFor("sup").publicKey, stepCryptoFor()));
  // A grant of 40% of the capacity is re-announced at once.
  assert.equal(contract(net, "alice", 400_000).outcome, "accepted");
  offers = queryOffers(net);
  assert.equal(offers[0].freeBytes, 600_000);
  // Small changes wait for the next interval; filling up withdraws the offer.
  assert.equal(contract(net, "bob", 10_000).outcome, "accepted");
  assert.equal(queryOffers(net)[0].freeBytes, 600_000);
  assert.equal(contract(net, "carol", 590_000).outcome, "accepted");
  assert.equal(queryOffers(net).length, 0);
  assert.equal(net.state.counters["announce.withdrawn"], 1);
  // The offer is renewed every interval, before it expires.
  const sent = net.state.counters["announce.sent"];
  net.run(3 * 60 * 60 * 1000);
  assert.ok(net.state.counters["announce.sent"] >= sent + 2);
  const status = net.state.idServers[0];
  assert.ok(status.published && status.pending === null);
});

Deno.test("supplier: contracts are granted within capacity and customer count, and changed", () => {
  const net = new Net(2, { capacityBytes: 100_000, customersMax: 2 });
  assert.deepEqual(
    { ...contract(net, "alice", 150_000), requestId: 0 },
    { type: "contract_reply", requestId: 0, outcome: "no_space", quotaBytes: 0 },
  );
  assert.equal(contract(net, "alice", 60_000).outcome, "accepted");
  assert.equal(contract(net, "bob", 50_000).outcome, "no_space");
  assert.equal(contract(net, "bob", 40_000).outcome, "accepted");
  assert.equal(contract(net, "carol", 0).outcome, "too_many_customers");
  assert.ok(net.blobs("contract/").length === 2);
  // Alice asks for more than is free: refused, her quota stays; she shrinks, but not below use.
  assert.deepEqual(
    [contract(net, "alice", 70_000).outcome, contract(net, "alice", 70_000).quotaBytes],
    ["no_space", 60_000],
  );
  const { data } = fragment(30_000, 1);
  assert.equal(store(net, "alice", "v1/0/0/0", data), "stored");
  const shrunk = contract(net, "alice", 1000);
  assert.equal(shrunk.outcome, "accepted");
  assert.equal(shrunk.quotaBytes, 30_000);
  assert.equal(net.state.chargedBytes, 70_000);
  assert.equal(contract(net, "carol", 0).outcome, "too_many_customers");
  const notices = net.notices.filter((n) => n.node === "sup" && n.notice.type === "contract");
  assert.equal(notices.length, 3);
});

Deno.test("supplier: fragments go back byte for byte, to their owner only", () => {
  const net = new Net(3);
  contract(net, "alice", 500_000);
  contract(net, "bob", 100_000);
  const { data, hash } = fragment(200_000, 2);
  assert.equal(store(net, "alice", "v1/0/0/3", data, hash), "stored");
  const got = fetch(net, "alice", "v1/0/0/3");
  assert.equal(got.outcome, "found");
  assert.deepEqual(got.data, data);
  assert.equal(fetch(net, "bob", "v1/0/0/3").outcome, "not_found");
  assert.equal(fetch(net, "carol", "v1/0/0/3").outcome, "no_contract");
  assert.equal(audit(net, "carol", "v1/0/0/3", 0, 1024).outcome, "no_contract");
  assert.equal(audit(net, "bob", "v1/0/0/3", 0, 1024).outcome, "not_found");
  const list = net.ask("bob", { type: "list", requestId: 0, prefix: "", after: "" });
  assert.deepEqual(as(list, "list_reply").keys, []);
  const removed = net.ask("bob", { type: "remove", requestId: 0, epoch: 0, keys: ["v1/0/0/3"] });
  assert.equal(as(removed, "remove_reply").removed, 0);
  for (const client of ["bob", "carol"]) {
    for (const m of net.received(client)) {
      if (m.type === "fetch_reply") assert.equal(m.data.length, 0);
      if (m.type === "audit_reply") assert.equal(m.leaf.length, 0);
    }
  }
  assert.equal(fetch(net, "alice", "v1/0/0/3").outcome, "found");
});

Deno.test("supplier: every store refusal, and the quota", () => {
  const net = new Net(4, { capacityBytes: 1_000_000 }, ["alice", "bob"], { capacityBytes: 60_000 });
  const { data, hash } = fragment(10_000, 3);
  assert.equal(store(net, "alice", "k", data, hash), "no_contract");
  contract(net, "alice", 50_000);
  contract(net, "bob", 500_000);
  assert.equal(store(net, "alice", "../escape", data, hash), "bad_key");
  assert.equal(store(net, "alice", "a.b", data, hash), "bad_key");
  assert.equal(store(net, "alice", "k", data, sha256(new Uint8Array(1))), "bad_hash");
  assert.equal(store(net, "alice", "k1", fragment(30_000, 4).data), "stored");
  assert.equal(store(net, "alice", "k2", fragment(20_000, 5).data), "stored");
  assert.equal(store(net, "alice", "k3", fragment(1, 6).data), "over_quota");
  // Replacing a fragment counts only the difference.
  assert.equal(store(net, "alice", "k1", fragment(30_000, 7).data), "stored");
  assert.equal(store(net, "alice", "k1", fragment(30_001, 7).data), "over_quota");
  const removed = net.ask("alice", {
    type: "remove",
    requestId: 0,
    epoch: 0,
    keys: ["k2", "nope"],
  });
  assert.equal(as(removed, "remove_reply").removed, 1);
  assert.equal(store(net, "alice", "k3", fragment(20_000, 8).data), "stored");
  // The disk itself is fuller than the contracts say: its refusal reaches the customer.
  assert.equal(store(net, "bob", "big", fragment(20_000, 9).data), "no_space");
  const probe = as(net.ask("alice", { type: "probe", requestId: 0, epoch: 0 }), "probe_reply");
  assert.deepEqual(
    { contract: probe.contract, usedBytes: probe.usedBytes, quotaBytes: probe.quotaBytes },
    { contract: true, usedBytes: 50_000, quotaBytes: 50_000 },
  );
  const counters = net.state.counters;
  for (const outcome of ["no_contract", "bad_key", "bad_hash", "over_quota", "no_space"]) {
    assert.ok(counters[`store.${outcome}`] >= 1, outcome);
  }
  assert.equal(net.state.customers.get("alice")!.usedBytes, 50_000);
});

Deno.test("supplier: audits prove a leaf against the fragment's Merkle root", () => {
  const net = new Net(5);
  contract(net, "alice", 500_000);
  const { data } = fragment(100_000, 10);
  store(net, "alice", "v/1/2/3", data);
  for (const [leafIndex, leafBytes] of [[0, 16384], [6, 16384], [3, 4096], [1, 65536]]) {
    const reply = audit(net, "alice", "v/1/2/3", leafIndex, leafBytes);
    assert.equal(reply.outcome, "found");
    assert.equal(reply.size, data.length);
    const root = hashFragment(data, leafBytes).merkleRoot;
    const proof = { size: reply.size, leafBytes, leafIndex, siblings: reply.path };
    assert.ok(verifyMerkleProof(root, reply.leaf, proof), `leaf ${leafIndex} of ${leafBytes}`);
  }
  assert.equal(audit(net, "alice", "v/1/2/3", 7, 16384).outcome, "bad_leaf");
  assert.equal(audit(net, "alice", "v/1/2/3", 0, 0).outcome, "bad_leaf");
  assert.equal(audit(net, "alice", "v/1/2/3", 0, AUDIT_LEAF_BYTES_MAX + 1).outcome, "bad_leaf");
  assert.equal(audit(net, "alice", "v/1/2/4", 0, 1024).outcome, "not_found");
  assert.equal(net.state.counters["audit.bad_leaf"], 3);
  assert.equal(net.state.auditsInFlight, 0);
});

Deno.test("supplier: a cancelled contract leaves nothing on the disk", () => {
  const net = new Net(6, { capacityBytes: 1_000_000 });
  contract(net, "alice", 400_000);
  contract(net, "bob", 100_000);
  for (let i = 0; i < 20; i++) store(net, "alice", `v/0/${i}/0`, fragment(5000, i).data);
  store(net, "bob", "v/0/0/0", fragment(5000, 99).data);
  assert.equal(net.blobs("frag/alice/").length, 20);
  const reply = net.ask("alice", { type: "contract_cancel", requestId: 0, epoch: 0 });
  assert.equal(as(reply, "contract_cancel_reply").removed, 20);
  assert.deepEqual(net.blobs("frag/alice/"), []);
  assert.deepEqual(net.blobs("contract/"), ["contract/bob"]);
  assert.equal(net.state.customers.has("alice"), false);
  assert.equal(net.state.chargedBytes, 100_000);
  assert.equal(fetch(net, "alice", "v/0/0/0").outcome, "no_contract");
  assert.equal(fetch(net, "bob", "v/0/0/0").outcome, "found");
  const again = net.ask("alice", { type: "contract_cancel", requestId: 0, epoch: 0 });
  assert.equal(as(again, "contract_cancel_reply").removed, 0);
  assert.equal(contract(net, "alice", 900_000).outcome, "accepted");
  const ended = net.notices.find((n) => n.notice.type === "contract_ended");
  assert.deepEqual(ended?.notice, {
    type: "contract_ended",
    customer: "alice",
    removed: 20,
    reason: "cancelled",
  });
});

Deno.test("supplier: a fresh state over the old disk recovers every contract and fragment", () => {
  const net = new Net(7);
  contract(net, "alice", 300_000);
  contract(net, "bob", 200_000);
  const stored = new Map<string, Uint8Array>();
  for (let i = 0; i < 12; i++) {
    const { data } = fragment(1000 * (i + 1), 20 + i);
    const who = i % 3 === 0 ? "bob" : "alice";
    store(net, who, `v/${i}/0/0`, data);
    stored.set(`${who}:v/${i}/0/0`, data);
  }
  const before = net.state.customers.get("alice")!.usedBytes;
  net.restart();
  const loaded = net.notices.filter((n) => n.notice.type === "loaded").at(-1)!.notice;
  assert.deepEqual(loaded, { type: "loaded", customers: 2, fragments: 12, orphans: 0, damaged: 0 });
  assert.equal(net.state.customers.get("alice")!.usedBytes, before);
  assert.equal(net.state.customers.get("alice")!.quotaBytes, 300_000);
  // Reservations are not kept on disk: loaded contracts are charged the bytes they hold.
  const usedBytes = [...stored.values()].reduce((a, d) => a + d.length, 0);
  assert.equal(net.state.chargedBytes, usedBytes);
  for (const [id, data] of stored) {
    const [who, key] = id.split(":");
    assert.deepEqual(fetch(net, who, key).data, data);
  }
  const probe = as(net.ask("bob", { type: "probe", requestId: 0, epoch: 0 }), "probe_reply");
  assert.equal(probe.contract, true);
  assert.equal(probe.quotaBytes, 200_000);
  // It publishes and announces again on the way back.
  assert.equal(net.state.idServers[0].published, true);
  assert.equal(queryOffers(net)[0].freeBytes, 1_000_000 - usedBytes);
});

Deno.test("supplier: a fragment lost or altered behind its back is reported, not trusted", () => {
  const net = new Net(8);
  contract(net, "alice", 300_000);
  const a = fragment(40_000, 30);
  const b = fragment(40_000, 31);
  store(net, "alice", "v/0/0/0", a.data);
  store(net, "alice", "v/0/0/1", b.data);
  const disk = net.supplier.disk!;
  disk.blobs.delete("frag/alice/v/0/0/0");
  const altered = b.data.slice();
  altered[12345] ^= 0x40;
  disk.blobs.set("frag/alice/v/0/0/1", altered);
  assert.equal(fetch(net, "alice", "v/0/0/0").outcome, "not_found");
  assert.equal(audit(net, "alice", "v/0/0/0", 0, 16384).outcome, "not_found");
  assert.equal(net.state.counters["fragment.vanished"], 1);
  assert.equal(net.state.customers.get("alice")!.usedBytes, 40_000, "the lost one is forgotten");
  // The altered one is served as it is; the customer's checks catch it.
  const got = fetch(net, "alice", "v/0/0/1");
  assert.equal(got.outcome, "found");
  assert.notDeepEqual(sha256(got.data), b.hash);
  const root = hashFragment(b.data, 16384).merkleRoot;
  const reply = audit(net, "alice", "v/0/0/1", 0, 16384);
  assert.equal(reply.outcome, "found");
  const proof = { size: reply.size, leafBytes: 16384, leafIndex: 0, siblings: reply.path };
  assert.equal(verifyMerkleProof(root, reply.leaf, proof), false);
  const other = audit(net, "alice", "v/0/0/1", 2, 16384); // a leaf that was not touched
  const ok = { size: other.size, leafBytes: 16384, leafIndex: 2, siblings: other.path };
  assert.equal(verifyMerkleProof(root, other.leaf, ok), false, "the path covers the change");
});

Deno.test("supplier: hostile and unexpected messages are counted, never thrown", () => {
  const net = new Net(9);
  contract(net, "alice", 100_000);
  const { data, hash } = fragment(100, 40);
  assert.equal(store(net, "bob", "k", data, hash), "no_contract");
  assert.equal(store(net, "alice", "x".repeat(128) + "", data, hash), "stored");
  assert.equal(store(net, "alice", "/", data, hash), "bad_key");
  assert.equal(store(net, "alice", "k", data, new Uint8Array(32)), "bad_hash");
  assert.equal(audit(net, "alice", "k", 1, 100).outcome, "not_found");
  assert.equal(audit(net, "alice", "x".repeat(128), 1, 100).outcome, "bad_leaf");
  assert.equal(audit(net, "alice", "x".repeat(128), 2 ** 40, 1).outcome, "bad_leaf");
  // Messages meant for other roles, and answers nobody asked for.
  net.sim.command(net.clients.get("bob")!, {
    to: "sup",
    message: { type: "ping", seq: 1, sentMs: 0 },
  });
  net.sim.command(net.clients.get("bob")!, {
    to: "sup",
    message: {
      type: "identity_publish_reply",
      requestId: 5,
      name: "sup",
      outcome: "stored",
      revision: 1,
    },
  });
  net.sim.command(net.clients.get("bob")!, {
    to: "sup",
    message: { type: "contract_reply", requestId: 5, outcome: "accepted", quotaBytes: 1 },
  });
  net.run();
  const c = net.state.counters;
  assert.equal(c["message.unexpected"], 2);
  assert.equal(c["idserver.unexpected_reply"], 1);
  assert.equal(c["store.bad_key"], 1);
  assert.equal(c["store.bad_hash"], 1);
  assert.equal(c["audit.bad_leaf"], 2);
});

Deno.test("supplier: on a faulty disk and while it comes and goes, it never fails", () => {
  const net = new Net(10, { capacityBytes: 400_000 }, ["alice", "bob"], { failure: 0.2 });
  const random = Random.stream(10, "script");
  const clients = ["alice", "bob"];
  for (let i = 0; i < 300; i++) {
    const client = random.pick(clients);
    const key = `v/${random.int(6)}`;
    const { data, hash } = fragment(random.int(20_000), i);
    const messages: Message[] = [
      { type: "contract_request", requestId: i, epoch: 0, quotaBytes: random.int(200_000) },
      { type: "store", requestId: i, epoch: 0, key, hash, data },
      { type: "fetch", requestId: i, key },
      { type: "audit", requestId: i, key, leafIndex: random.int(3), leafBytes: 4096 },
      { type: "remove", requestId: i, epoch: 0, keys: [key, `v/${random.int(6)}`] },
      { type: "list", requestId: i, prefix: "v/", after: "" },
      { type: "probe", requestId: i, epoch: 0 },
      { type: "contract_cancel", requestId: i, epoch: 0 },
    ];
    const message = messages[random.int(random.chance(0.1) ? 8 : 7)];
    net.sim.command(net.clients.get(client)!, { to: "sup", message });
    if (random.chance(0.02)) {
      net.sim.setOffline(net.supplier);
      net.sim.at(net.sim.nowMs + 2000, (sim) => sim.setOnline(net.supplier));
    }
    net.run(100 + random.int(400));
  }
  net.run(60 * 60 * 1000);
  assert.equal(net.state.phase, "ready");
  assert.equal(net.state.ops.size, 0);
  assert.equal(net.state.tasks.size, 0);
  const c = net.state.counters;
  assert.ok((c["store.stored"] ?? 0) > 10 && (c["store.io_error"] ?? 0) > 0, JSON.stringify(c));
  for (const [name, customer] of net.state.customers) {
    for (const [key, entry] of customer.fragments) {
      const blob = net.supplier.disk!.blobs.get(`frag/${name}/${key}`);
      assert.equal(blob?.length, entry.size, `${name}/${key}`);
    }
  }
});
