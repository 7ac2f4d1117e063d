import assert from "node:assert/strict";
import { decode, encode } from "../../core/codec.ts";
import {
  FAMILY_PUBLISH_OUTCOMES,
  type FamilyBody,
  familyRecordCodec,
  type SignedFamilyRecord,
  signFamilyRecord,
} from "../../core/protocol/identity.ts";
import { type Message, messageCodec } from "../../core/protocol/mod.ts";
import { aliceCrypto, doc, Driver, mallory, malloryCrypto } from "./_driver_test.ts";
import { familyKey, idServerState, LOAD_RETRY_MS } from "./mod.ts";

function record(
  owner: string,
  revision: number,
  over: Partial<FamilyBody> = {},
  sign = aliceCrypto.sign,
): SignedFamilyRecord {
  const sealed = new Uint8Array([revision, 1, 2, 3]);
  return signFamilyRecord({ owner, revision, issuedMs: 7, sealed, ...over }, sign);
}

interface PublishReply {
  outcome: string;
  revision: number;
  owner: string;
}

function publish(d: Driver, r: SignedFamilyRecord, requestId = 1): PublishReply {
  const n = d.ask({ type: "family_publish", requestId, record: r });
  assert.equal(n.type, "family_publish_reply");
  assert.equal((n as { requestId: number }).requestId, requestId);
  return n as unknown as PublishReply;
}

function outcome(d: Driver, r: SignedFamilyRecord): string {
  return publish(d, r).outcome;
}

function fetchFamily(d: Driver, owner: string) {
  const n = d.ask({ type: "family_fetch", requestId: 9, owner });
  assert.ok(n.type === "family_fetch_reply" && n.owner === owner);
  return n;
}

Deno.test("family: publish, fetch, replace, and the refusals", () => {
  const d = new Driver();
  d.publish(doc("alice", 1));
  assert.equal(fetchFamily(d, "alice").outcome, "not_found");
  assert.deepEqual(publish(d, record("alice", 2)), {
    type: "family_publish_reply",
    requestId: 1,
    owner: "alice",
    outcome: "stored",
    revision: 2,
  });
  const found = fetchFamily(d, "alice");
  assert.equal(found.outcome, "found");
  assert.deepEqual(found.record, record("alice", 2));
  assert.equal(d.blobs.has(familyKey("alice")), true, "written to family/alice");

  assert.deepEqual(publish(d, record("alice", 2)), {
    type: "family_publish_reply",
    requestId: 1,
    owner: "alice",
    outcome: "unchanged",
    revision: 2,
  });
  const sameRevisionOtherBytes = record("alice", 2, { issuedMs: 8 });
  assert.deepEqual(
    [outcome(d, sameRevisionOtherBytes), publish(d, record("alice", 1)).revision],
    ["older_revision", 2],
  );
  assert.equal(outcome(d, record("alice", 1)), "older_revision");
  assert.equal(outcome(d, record("alice", 5)), "stored");
  assert.equal(d.state.families.get("alice")!.record.revision, 5);

  assert.equal(outcome(d, record("bob", 1)), "unknown_owner", "bob's identity is not hosted");
  assert.equal(outcome(d, record("alice", 6, {}, malloryCrypto.sign)), "bad_signature");
  const altered = { ...record("alice", 6), revision: 7 };
  assert.equal(outcome(d, altered), "bad_signature");
  assert.equal(d.state.families.get("alice")!.record.revision, 5, "refusals change nothing");
  assert.equal(d.state.counters["family.publish.stored"], 2);
  assert.equal(d.state.counters["family.publish.bad_signature"], 2);
  assert.equal(d.state.counters["family.fetch.found"], 1);
  assert.equal(d.state.counters["family.fetch.not_found"], 1);
});

Deno.test("family: 'starting' while loading, 'full' at the limit, 'io_error' if unwritten", () => {
  const d = new Driver(new Map([["id/alice", doc("alice", 1)]]), { familiesMax: 1 });
  d.state = idServerState({ familiesMax: 1 });
  d.holdIo = true;
  d.deliver({ kind: "start" });
  assert.equal(outcome(d, record("alice", 1)), "starting");
  assert.equal(fetchFamily(d, "alice").outcome, "starting");
  d.holdIo = false;
  d.release();
  assert.equal(d.state.phase, "ready");

  d.publish(doc("bob", 1));
  assert.equal(outcome(d, record("alice", 1)), "stored");
  assert.equal(outcome(d, record("bob", 1)), "full");
  assert.equal(outcome(d, record("alice", 2)), "stored", "a hosted owner may still update");

  d.failWrites = true;
  assert.deepEqual(
    [outcome(d, record("alice", 3)), d.state.families.get("alice")!.record.revision],
    ["io_error", 2],
  );
  assert.equal(publish(d, record("alice", 3)).revision, 2, "the reply carries what is stored");
  assert.equal(d.blobs.size, 3, "two identities and one record");
  assert.equal(d.state.counters["family.publish.io_error"], 2);
});

Deno.test("family: answered only after the write; a second write of one owner is refused", () => {
  const d = new Driver();
  d.publish(doc("alice", 1));
  d.holdIo = true;
  const before = d.notices.length;
  d.deliver({
    kind: "command",
    command: { type: "family_publish", requestId: 4, record: record("alice", 1) },
  });
  assert.equal(d.notices.length, before, "no answer before the write completes");
  assert.equal(fetchFamily(d, "alice").outcome, "not_found", "not served before it is written");
  assert.equal(outcome(d, record("alice", 2)), "busy", "one write per owner at a time");
  assert.equal(d.state.counters["family.publish.busy"], 1);
  d.holdIo = false;
  d.release();
  assert.deepEqual(d.notices.at(-1), {
    type: "family_publish_reply",
    requestId: 4,
    owner: "alice",
    outcome: "stored",
    revision: 1,
  });
  assert.equal(outcome(d, record("alice", 2)), "stored");
});

Deno.test("family: records survive a restart; damaged or unverifiable blobs are skipped", () => {
  const d = new Driver();
  for (const name of ["alice", "bob", "carol"]) d.publish(doc(name, 1));
  assert.equal(outcome(d, record("alice", 3)), "stored");
  assert.equal(outcome(d, record("bob", 1)), "stored");
  d.blobs.set("family/garbage", new Uint8Array([1, 2, 3]));
  d.blobs.set("family/carol", encode(familyRecordCodec, record("bob", 2)).slice()); // misfiled
  d.blobs.set("family/dave", encode(familyRecordCodec, record("dave", 1)).slice()); // no identity
  const forged = record("alice", 9, {}, malloryCrypto.sign);
  d.blobs.set("family/zed", encode(familyRecordCodec, { ...forged, owner: "zed" }).slice());

  const again = new Driver(d.blobs);
  assert.deepEqual(again.notices[0], { type: "ready", identities: 3, corrupt: 4 });
  assert.equal(again.state.families.size, 2);
  assert.equal(again.state.counters["load.families"], 2);
  assert.equal(again.state.counters["load.family_corrupt"], 4);
  assert.deepEqual(fetchFamily(again, "alice").record, record("alice", 3));
  assert.deepEqual(fetchFamily(again, "bob").record, record("bob", 1));
  assert.equal(fetchFamily(again, "carol").outcome, "not_found");
  assert.equal(outcome(again, record("alice", 2)), "older_revision", "no rollback after restart");
  assert.equal(outcome(again, record("alice", 3)), "unchanged");
  assert.equal(outcome(again, record("alice", 4)), "stored");
});

Deno.test("family: a failed list of the records is retried before the server is ready", () => {
  const blobs = new Map<string, Uint8Array>([["id/alice", doc("alice", 1)]]);
  blobs.set("family/alice", encode(familyRecordCodec, record("alice", 1)).slice());
  const d = new Driver(new Map());
  d.state = idServerState();
  d.blobs = blobs;
  d.failLists = ["id/", "family/"];
  d.deliver({ kind: "start" });
  assert.equal(d.state.load.stage, "identities");
  d.advance(LOAD_RETRY_MS);
  assert.equal(d.state.load.stage, "families");
  assert.equal(d.state.phase, "loading");
  assert.equal(outcome(d, record("alice", 2)), "starting");
  d.advance(LOAD_RETRY_MS);
  assert.equal(d.state.phase, "ready");
  assert.equal(d.state.counters["load.list_failed"], 2);
  assert.equal(fetchFamily(d, "alice").outcome, "found");
});

Deno.test("family: a record stays valid when its owner's identity is revised", () => {
  const d = new Driver();
  d.publish(doc("alice", 1));
  assert.equal(outcome(d, record("alice", 1)), "stored");
  assert.equal(d.publish(doc("alice", 2, { contacts: ["tcp://127.0.0.1:1"] })), "stored");
  assert.equal(fetchFamily(d, "alice").outcome, "found");
  assert.equal(outcome(d, record("alice", 2)), "stored");
  const takeover = doc("alice", 3, { signingKey: mallory.publicKey }, malloryCrypto.sign);
  assert.equal(d.publish(takeover), "key_changed");
  assert.equal(outcome(d, record("alice", 3, {}, malloryCrypto.sign)), "bad_signature");
  const again = new Driver(d.blobs);
  assert.equal(again.state.families.get("alice")!.record.revision, 2);
});

Deno.test("family: nodes' messages are answered by messages, through the codec", () => {
  const d = new Driver();
  d.publish(doc("alice", 1));
  const wire = (m: Message) => decode(messageCodec, encode(messageCodec, m));
  d.deliver({
    kind: "message",
    from: "alice",
    fromKey: null,
    message: wire({ type: "family_publish", requestId: 3, record: record("alice", 4) }),
  });
  d.deliver({
    kind: "message",
    from: "newmachine",
    fromKey: null,
    message: wire({ type: "family_fetch", requestId: 5, owner: "alice" }),
  });
  assert.deepEqual(d.sent.map((s) => s.to), ["alice", "newmachine"]);
  assert.deepEqual(d.sent[0].message, {
    type: "family_publish_reply",
    requestId: 3,
    owner: "alice",
    outcome: "stored",
    revision: 4,
  });
  const fetched = wire(d.sent[1].message);
  assert.ok(fetched.type === "family_fetch_reply" && fetched.outcome === "found");
  assert.deepEqual(fetched.record, record("alice", 4));
});

Deno.test("family: every publish outcome is reachable (the tests above cover each one)", () => {
  const seen = new Set<string>();
  const d = new Driver(new Map(), { familiesMax: 1 });
  d.state = idServerState({ familiesMax: 1 });
  d.holdIo = true;
  d.deliver({ kind: "start" });
  seen.add(outcome(d, record("alice", 1)));
  d.holdIo = false;
  d.release();
  d.publish(doc("alice", 1));
  d.publish(doc("bob", 1));
  for (const r of [record("alice", 2), record("alice", 2), record("alice", 1)]) {
    seen.add(outcome(d, r));
  }
  seen.add(outcome(d, record("carol", 1)));
  seen.add(outcome(d, record("alice", 3, {}, malloryCrypto.sign)));
  seen.add(outcome(d, record("bob", 1)));
  d.failWrites = true;
  seen.add(outcome(d, record("alice", 3)));
  d.failWrites = false;
  d.holdIo = true;
  d.deliver({
    kind: "command",
    command: { type: "family_publish", requestId: 9, record: record("alice", 3) },
  });
  seen.add(outcome(d, record("alice", 4)));
  assert.deepEqual([...seen].sort(), [...FAMILY_PUBLISH_OUTCOMES].sort());
});
