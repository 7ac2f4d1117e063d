import assert from "node:assert/strict";
import { type OfferBody, signOffer } from "../../core/protocol/identity.ts";
import { idServerState, OFFER_SWEEP_INTERVAL_MS } from "./mod.ts";
import { aliceCrypto, doc, Driver, mallory, malloryCrypto } from "./_driver_test.ts";

Deno.test("idserver: publish, fetch, update, and every publish refusal", () => {
  const d = new Driver();
  assert.deepEqual(d.notices[0], { type: "ready", identities: 0, corrupt: 0 });
  assert.equal(d.publish(doc("alice", 1), "alice"), "stored");
  const fetched = d.ask({ type: "identity_fetch", requestId: 2, name: "alice" });
  assert.ok(fetched.type === "identity_fetch_reply" && fetched.outcome === "found");
  assert.deepEqual(fetched.document, doc("alice", 1));
  assert.equal(d.publish(doc("alice", 1)), "unchanged");
  assert.equal(d.publish(doc("alice", 3)), "stored");
  assert.equal(d.publish(doc("alice", 2)), "older_revision");
  assert.equal(d.publish(doc("alice", 3, { dateMs: 9 })), "conflict");
  const takeover = doc("alice", 9, { signingKey: mallory.publicKey }, malloryCrypto.sign);
  assert.equal(d.publish(takeover), "key_changed");
  assert.equal(d.publish(doc("alice", 4), "bob"), "name_mismatch");
  assert.equal(d.publish(new Uint8Array(9000)), "oversized");
  assert.equal(d.publish(new Uint8Array(10)), "malformed");
  const forged = doc("alice", 5).slice();
  forged[forged.length - 1] ^= 1;
  assert.equal(d.publish(forged), "bad_signature");
  const missing = d.ask({ type: "identity_fetch", requestId: 3, name: "nobody" });
  assert.ok(missing.type === "identity_fetch_reply" && missing.outcome === "not_found");
  assert.equal(d.state.counters["publish.stored"], 2);
  assert.equal(d.state.docs.get("alice")!.revision, 3);
});

Deno.test("idserver: answers only after the write, one write per name, io errors reported", () => {
  const d = new Driver();
  d.holdIo = true;
  const before = d.notices.length;
  d.deliver({
    kind: "command",
    command: { type: "identity_publish", requestId: 7, document: doc("a", 1) },
  });
  assert.equal(d.notices.length, before, "no answer before the write completes");
  assert.equal(d.publish(doc("a", 2)), "busy");
  const early = d.ask({ type: "identity_fetch", requestId: 8, name: "a" });
  assert.ok(early.type === "identity_fetch_reply" && early.outcome === "not_found");
  d.holdIo = false;
  d.release();
  assert.deepEqual(d.notices.at(-1), {
    type: "identity_publish_reply",
    requestId: 7,
    name: "a",
    outcome: "stored",
    revision: 1,
  });
  d.failWrites = true;
  assert.equal(d.publish(doc("a", 2)), "io_error");
  assert.equal(d.state.docs.get("a")!.revision, 1, "a failed write is not served");
});

Deno.test("idserver: a full server refuses new names but updates hosted ones", () => {
  const d = new Driver(new Map(), { identitiesMax: 2 });
  assert.equal(d.publish(doc("a", 1)), "stored");
  assert.equal(d.publish(doc("b", 1)), "stored");
  assert.equal(d.publish(doc("c", 1)), "full");
  assert.equal(d.publish(doc("a", 2)), "stored");
});

Deno.test("idserver: documents survive a restart; damaged blobs are skipped", () => {
  const d = new Driver();
  for (const name of ["x", "y", "z"]) d.publish(doc(name, 1));
  d.blobs.set("id/broken", new Uint8Array([1, 2, 3]));
  d.blobs.set("id/w", doc("x", 2)); // a document filed under the wrong name
  const before = d.publish(doc("x", 2));
  assert.equal(before, "stored");
  const again = new Driver(d.blobs);
  const ready = again.notices[0];
  assert.deepEqual(ready, { type: "ready", identities: 3, corrupt: 2 });
  assert.equal(again.state.docs.get("x")!.revision, 2);
  assert.equal(again.publish(doc("x", 1)), "older_revision");
});

Deno.test("idserver: requests before loading finished are answered 'starting'", () => {
  const blobs = new Map([["id/a", doc("a", 1)]]);
  const d = new Driver(new Map());
  d.state = idServerState();
  d.holdIo = true;
  d.blobs = blobs;
  d.deliver({ kind: "start" });
  assert.equal(d.publish(doc("b", 1)), "starting");
  d.holdIo = false;
  d.release(); // the list
  assert.equal(d.state.phase, "ready");
  assert.equal(d.state.docs.size, 1);
});

Deno.test("idserver: lists hosted names in sorted pages", () => {
  const d = new Driver(new Map(), { namesPerKeyMax: 5 }); // alice's key signs all five
  for (const name of ["m", "c", "x", "a", "q"]) d.publish(doc(name, 1));
  const page1 = d.ask({ type: "identity_list", requestId: 1, after: "", limit: 2 });
  assert.deepEqual(page1, {
    type: "identity_list_reply",
    requestId: 1,
    names: ["a", "c"],
    more: true,
  });
  const page2 = d.ask({ type: "identity_list", requestId: 2, after: "c", limit: 10 });
  assert.deepEqual(page2, {
    type: "identity_list_reply",
    requestId: 2,
    names: ["m", "q", "x"],
    more: false,
  });
});

function offer(over: Partial<OfferBody> = {}, sign = aliceCrypto.sign) {
  return signOffer({
    supplier: "s1",
    freeBytes: 1000,
    issuedMs: 1_000_000,
    expiresMs: 2_000_000,
    ...over,
  }, sign);
}

Deno.test("idserver: offers are verified, replaced, withdrawn, queried and expire", () => {
  const d = new Driver();
  for (const name of ["s1", "s2", "s3"]) d.publish(doc(name, 1));
  const announce = (o: ReturnType<typeof offer>) => {
    const n = d.ask({ type: "offer_announce", requestId: 1, offer: o });
    return (n as { outcome: string }).outcome;
  };
  assert.equal(announce(offer()), "stored");
  assert.equal(announce(offer({ supplier: "s2", freeBytes: 10 })), "stored");
  assert.equal(announce(offer({ supplier: "s3", freeBytes: 5000 })), "stored");
  assert.equal(announce(offer()), "stale");
  assert.equal(announce(offer({ supplier: "nobody" })), "unknown_supplier");
  assert.equal(
    announce(offer({ supplier: "s1", issuedMs: 1_000_001 }, malloryCrypto.sign)),
    "bad_signature",
  );
  assert.equal(announce(offer({ expiresMs: 999_999, issuedMs: 1 })), "expired");
  assert.equal(announce(offer({ issuedMs: 1, expiresMs: 100 * 86_400_000 })), "too_long");
  assert.equal(announce(offer({ supplier: "bad name" })), "invalid");
  const query = (count: number, minFreeBytes: number, exclude: string[] = []) => {
    const n = d.ask({ type: "offer_query", requestId: 2, count, minFreeBytes, exclude });
    assert.equal(n.type, "offer_query_reply");
    return (n as { offers: { supplier: string }[] }).offers.map((o) => o.supplier).sort();
  };
  assert.deepEqual(query(10, 100), ["s1", "s3"]);
  assert.deepEqual(query(10, 100, ["s3"]), ["s1"]);
  assert.equal(query(1, 0).length, 1);
  assert.equal(announce(offer({ supplier: "s3", freeBytes: 0, issuedMs: 1_000_001 })), "withdrawn");
  assert.deepEqual(query(10, 0), ["s1", "s2"]);
  assert.equal(
    announce(offer({ supplier: "s2", issuedMs: 1_000_002, expiresMs: 1_030_000 })),
    "stored",
  );
  d.advance(OFFER_SWEEP_INTERVAL_MS);
  assert.deepEqual(query(10, 0), ["s1"]);
  assert.equal(d.state.offers.size, 1);
  d.advance(2_000_000);
  assert.equal(d.state.offers.size, 0);
  assert.equal(d.state.timers.at("offer_sweep"), null);
});

Deno.test("idserver: a full offer directory refuses new suppliers", () => {
  const d = new Driver(new Map(), { offersMax: 1 });
  d.publish(doc("s1", 1));
  d.publish(doc("s2", 1));
  const announce = (o: ReturnType<typeof offer>) =>
    (d.ask({ type: "offer_announce", requestId: 1, offer: o }) as { outcome: string }).outcome;
  assert.equal(announce(offer()), "stored");
  assert.equal(announce(offer({ supplier: "s2" })), "full");
});

Deno.test("idserver: nodes' messages are answered by messages to the sender", () => {
  const d = new Driver();
  d.deliver({
    kind: "message",
    from: "n5",
    fromKey: null,
    message: { type: "identity_publish", requestId: 4, document: doc("n5", 1) },
  });
  d.deliver({
    kind: "message",
    from: "n6",
    fromKey: null,
    message: { type: "identity_fetch", requestId: 5, name: "n5" },
  });
  d.deliver({
    kind: "message",
    from: "n6",
    fromKey: null,
    message: { type: "ping", seq: 1, sentMs: 0 },
  });
  assert.equal(d.sent.length, 2);
  assert.equal(d.sent[0].to, "n5");
  assert.equal(d.sent[0].message.type, "identity_publish_reply");
  assert.equal(d.sent[1].to, "n6");
  assert.ok(
    d.sent[1].message.type === "identity_fetch_reply" && d.sent[1].message.outcome === "found",
  );
  assert.equal(d.state.counters["message.unexpected"], 1);
});
