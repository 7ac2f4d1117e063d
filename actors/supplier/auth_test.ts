/**
 * Finding 1 of issue 10, on the supplier: a fresh key claiming an existing customer's name must
 * get nothing, change nothing, and leave the real customer served as before.
 */

import assert from "node:assert/strict";
import type { Message, MessageOf } from "../../core/protocol/mod.ts";
import { sha256 } from "../../data/merkle.ts";
import { Driver, fragment, keyOf } from "./_harness_test.ts";

function as<T extends Message["type"]>(m: Message, type: T): MessageOf<T> {
  assert.equal(m.type, type);
  return m as MessageOf<T>;
}

const MALLORY = keyOf("mallory");

/** Every request a customer may send, aimed at `keys` (which the victim holds). */
function attacks(keys: string[], capacityBytes: number): Message[] {
  const garbage = new Uint8Array(1000).fill(7);
  return [
    { type: "list", requestId: 1, prefix: "", after: "" },
    { type: "fetch", requestId: 2, key: keys[0] },
    { type: "audit", requestId: 3, key: keys[0], leafIndex: 0, leafBytes: 1024 },
    { type: "remove", requestId: 4, epoch: 0, keys },
    { type: "store", requestId: 5, epoch: 0, key: keys[1], hash: sha256(garbage), data: garbage },
    { type: "probe", requestId: 6, epoch: 0 },
    { type: "contract_request", requestId: 7, epoch: 0, quotaBytes: capacityBytes },
    { type: "contract_request", requestId: 8, epoch: 0, quotaBytes: 0 },
    { type: "contract_cancel", requestId: 9, epoch: 0 },
  ];
}

/** What a customer record and the disk look like, for before-and-after comparison. */
function snapshot(d: Driver) {
  const c = d.state.customers.get("alice")!;
  return {
    blobs: new Map(d.disk.blobs),
    status: c.status,
    quotaBytes: c.quotaBytes,
    renewedMs: c.renewedMs,
    fragments: new Map(c.fragments),
    chargedBytes: d.state.chargedBytes,
    ops: d.state.ops.size,
    tasks: d.state.tasks.size,
  };
}

Deno.test("auth: a fresh key under a customer's name is refused all, changes nothing", () => {
  const d = new Driver({ capacityBytes: 1_000_000 });
  d.contract("alice", 500_000);
  const stored = new Map<string, Uint8Array>();
  for (let i = 0; i < 12; i++) {
    const key = `v1/0/${i}/0`;
    stored.set(key, d.store("alice", key, 1000 + i, i).data);
  }
  const keys = [...stored.keys()];
  const before = snapshot(d);
  d.nowMs += 60_000; // a minute later: a refused message must not even renew the contract
  const refusals = () => d.traces.filter((t) => t === "auth.refused").length;
  let n = 0;
  for (const m of attacks(keys, 1_000_000)) {
    for (const key of [MALLORY, keyOf("bob"), null]) {
      const replies = d.from("alice", m, key);
      n++;
      assert.deepEqual(replies, [], `${m.type} under another key was answered`);
      assert.equal(refusals(), n, `${m.type}: one auth.refused trace each`);
      assert.deepEqual(snapshot(d), before, `${m.type} under another key changed something`);
    }
  }
  assert.equal(d.counter("auth.refused"), n);
  assert.equal(d.counter("auth.wrong_key"), (2 * n) / 3);
  assert.equal(d.counter("auth.no_key"), n / 3);
  // Nothing but the refusals was counted.
  assert.equal(d.counter("list") + d.counter("probe") + d.counter("remove"), 0);
  const status = d.command({ type: "status" });
  assert.equal(status.type === "status" && status.keyRefusals, n);
  // The real customer is served exactly as before: every key listed, every byte fetched.
  const list = as(
    d.ask("alice", { type: "list", requestId: 10, prefix: "", after: "" }),
    "list_reply",
  );
  assert.deepEqual(list.keys, [...keys].sort());
  for (const [key, data] of stored) {
    const got = as(d.ask("alice", { type: "fetch", requestId: 11, key }), "fetch_reply");
    assert.equal(got.outcome, "found");
    assert.deepEqual(got.data, data);
  }
  const probe = as(d.ask("alice", { type: "probe", requestId: 12, epoch: 0 }), "probe_reply");
  assert.deepEqual([probe.contract, probe.quotaBytes], [true, 500_000]);
});

Deno.test("auth: a contract asked under a new key is refused while one is being written", () => {
  const d = new Driver();
  d.holdIo = true;
  assert.deepEqual(
    d.from("alice", { type: "contract_request", requestId: 1, epoch: 0, quotaBytes: 10 }),
    [],
  );
  const m: Message = { type: "contract_request", requestId: 2, epoch: 0, quotaBytes: 900_000 };
  assert.deepEqual(d.from("alice", m, MALLORY), []);
  assert.equal(d.counter("auth.wrong_key"), 1);
  d.release();
  const reply = d.sent.filter((s) => s.to === "alice").map((s) => s.message);
  assert.equal(reply.length, 1);
  assert.equal(as(reply[0], "contract_reply").quotaBytes, 10);
  // A name nobody holds is taken by whoever asks, under its own key.
  d.holdIo = false;
  const fresh = d.from("carol", m, MALLORY);
  assert.equal(as(fresh[0], "contract_reply").outcome, "accepted");
  assert.deepEqual(
    d.from("carol", { type: "probe", requestId: 3, epoch: 0 }),
    [],
    "then only that key",
  );
});

Deno.test("auth: customer requests without a key, ID-server answers with one: refused", () => {
  const d = new Driver();
  // Nobody holds "carol": still, a link without a key speaks for nobody.
  assert.deepEqual(d.from("carol", { type: "probe", requestId: 1, epoch: 0 }, null), []);
  const request: Message = { type: "contract_request", requestId: 2, epoch: 0, quotaBytes: 1 };
  assert.deepEqual(d.from("carol", request, null), []);
  assert.equal(d.state.customers.size, 0);
  assert.deepEqual(d.from("carol", request, new Uint8Array(5)), [], "not an Ed25519 key");
  assert.equal(d.counter("auth.bad_key"), 1);
  // A peer with a key under the name of our ID server: its "answers" are refused.
  const publish = d.sent.filter((s) => s.to === "ids").at(-1)!.message;
  const answer: Message = {
    type: "identity_publish_reply",
    requestId: as(publish, "identity_publish").requestId,
    name: "sup",
    outcome: "stored",
    revision: 1,
  };
  d.from("ids", answer, MALLORY);
  assert.equal(d.counter("auth.idserver_key"), 1);
  assert.equal(d.state.idServers[0].published, false);
  d.from("ids", answer); // keyless, as over HTTP
  assert.equal(d.state.idServers[0].published, true);
  assert.equal(d.counter("auth.refused"), 4);
  // Keys matter, not the bytes of a fragment: a customer's own key is served.
  d.contract("alice", 10_000);
  const { data, hash } = fragment(10, 1);
  const reply = d.ask("alice", { type: "store", requestId: 3, epoch: 0, key: "k", hash, data });
  assert.equal(as(reply, "store_reply").outcome, "stored");
});
