import assert from "node:assert/strict";
import {
  IDENTITY_LOAD_GRACE_MS,
  IDENTITY_TTL_MS,
  IDSERVER_EXPIRY_DROPS_MAX,
  IDSERVER_EXPIRY_SWEEP_MS,
  IDSERVER_REFRESH_PERSIST_MS,
} from "../../core/limits.ts";
import { signFamilyRecord, signOffer } from "../../core/protocol/identity.ts";
import { type IdServerNotice, idServerState } from "./mod.ts";
import { decodeRecord } from "./records.ts";
import { aliceCrypto, doc, Driver, keyed, ownDoc } from "./_driver_test.ts";

const DAY_MS = 24 * 60 * 60 * 1000;

function fetched(d: Driver, name: string): string {
  const n = d.ask({ type: "identity_fetch", requestId: 1, name }) as IdServerNotice & {
    outcome: string;
  };
  return n.outcome;
}

function familyOf(d: Driver, owner: string): string {
  const n = d.ask({ type: "family_fetch", requestId: 1, owner }) as IdServerNotice & {
    outcome: string;
  };
  return n.outcome;
}

/** The refresh time kept in `name`'s blob (`null`: the old format). */
function persisted(d: Driver, name: string): number | null {
  return decodeRecord(d.blobs.get(`id/${name}`)!)!.refreshedMs;
}

function hostAll(d: Driver) {
  const t0 = d.nowMs;
  assert.equal(d.publish(doc("gone", 1)), "stored");
  assert.equal(d.publish(doc("kept", 1)), "stored");
  const record = signFamilyRecord(
    { owner: "gone", revision: 1, issuedMs: t0, sealed: new Uint8Array(16) },
    aliceCrypto.sign,
  );
  const family = d.ask({ type: "family_publish", requestId: 2, record }) as { outcome: string };
  assert.equal(family.outcome, "stored");
  return t0;
}

Deno.test("expiry: an identity not refreshed within the TTL goes, and its family record", () => {
  const d = new Driver();
  const t0 = hostAll(d);
  // `kept` is refreshed every 20 days (an unchanged publish), `gone` never again.
  d.runUntil(t0 + 20 * DAY_MS);
  assert.equal(d.publish(doc("kept", 1)), "unchanged");
  d.runUntil(t0 + IDENTITY_TTL_MS);
  assert.equal(fetched(d, "gone"), "found", "not yet past the TTL");
  d.nowMs = t0 + IDENTITY_TTL_MS + 1; // past the TTL, before the sweep: no longer served
  assert.equal(fetched(d, "gone"), "not_found");
  assert.equal(familyOf(d, "gone"), "not_found");
  assert.ok(d.state.docs.has("gone"), "the sweep has not run yet");
  d.runUntil(t0 + IDENTITY_TTL_MS + IDSERVER_EXPIRY_SWEEP_MS + 1);
  assert.equal(d.state.docs.has("gone"), false);
  assert.equal(d.state.families.has("gone"), false);
  assert.equal(d.blobs.has("id/gone"), false, "its blobs are deleted");
  assert.equal(d.blobs.has("family/gone"), false);
  assert.deepEqual(
    [d.state.counters["expire.identities"], d.state.counters["expire.families"]],
    [1, 1],
  );
  assert.equal(fetched(d, "kept"), "found", "refreshed in time: stays");
  assert.deepEqual(d.state.names, ["kept"]);
  // The name is free: another key may register it now.
  assert.equal(d.publish(ownDoc("gone")), "stored");
  d.runUntil(t0 + 49 * DAY_MS);
  assert.equal(fetched(d, "kept"), "found");
  d.runUntil(t0 + 51 * DAY_MS);
  assert.equal(fetched(d, "kept"), "not_found", "30 days after its last refresh");
});

Deno.test("expiry: a refresh is cheap; its time is written at most once a day", () => {
  const d = new Driver();
  const t0 = d.nowMs;
  assert.equal(d.publish(doc("a", 1)), "stored");
  assert.equal(persisted(d, "a"), t0);
  const writes = d.writes;
  for (let i = 1; i <= 10; i++) {
    d.nowMs = t0 + i * 60_000;
    assert.equal(d.publish(doc("a", 1)), "unchanged");
  }
  assert.equal(d.writes, writes, "refreshes within a day write nothing");
  assert.equal(d.state.docs.get("a")!.refreshedMs, t0 + 10 * 60_000, "but count in memory");
  d.nowMs = t0 + IDSERVER_REFRESH_PERSIST_MS;
  assert.equal(d.publish(doc("a", 1)), "unchanged");
  assert.equal(d.writes, writes + 1, "a day later the refresh time is written");
  assert.equal(persisted(d, "a"), t0 + IDSERVER_REFRESH_PERSIST_MS);
  // A refresh that cannot be written is still a refresh.
  d.nowMs += IDSERVER_REFRESH_PERSIST_MS;
  d.failWrites = true;
  assert.equal(d.publish(doc("a", 1)), "unchanged");
  assert.equal(d.state.docs.get("a")!.refreshedMs, d.nowMs);
  assert.equal(d.state.counters["publish.refresh_write_failed"], 1);
  assert.equal(d.state.counters["publish.refreshed"], 12);
});

Deno.test("expiry: a restart keeps refresh times; old blobs load as refreshed at load time", () => {
  const d = new Driver();
  const t0 = d.nowMs;
  d.publish(doc("a", 1));
  d.publish(doc("b", 1));
  d.nowMs = t0 + 2 * DAY_MS;
  assert.equal(d.publish(doc("b", 1)), "unchanged"); // written: older than a day on disk
  d.blobs.set("id/old", doc("old", 1)); // a blob from before refresh times were kept
  // Ten days on, the server restarts.
  const again = new Driver(d.blobs);
  again.state = idServerState();
  again.nowMs = t0 + 10 * DAY_MS;
  again.deliver({ kind: "start" });
  assert.equal(again.state.docs.get("a")!.refreshedMs, t0);
  assert.equal(again.state.docs.get("b")!.refreshedMs, t0 + 2 * DAY_MS);
  assert.equal(again.state.docs.get("old")!.refreshedMs, t0 + 10 * DAY_MS);
  assert.equal(again.state.counters["load.unrefreshed_format"], 1);
  again.runUntil(t0 + IDENTITY_TTL_MS + DAY_MS);
  assert.equal(fetched(again, "a"), "not_found", "a restart did not renew a");
  assert.equal(fetched(again, "b"), "found");
  again.runUntil(t0 + 2 * DAY_MS + IDENTITY_TTL_MS + DAY_MS);
  assert.equal(fetched(again, "b"), "not_found");
  assert.equal(fetched(again, "old"), "found");
  // The next refresh of an old-format blob rewrites it with its refresh time.
  assert.equal(again.publish(doc("old", 1)), "unchanged");
  assert.equal(persisted(again, "old"), again.nowMs);
});

Deno.test("expiry: after a long outage every identity gets a grace period to refresh", () => {
  const d = new Driver();
  const t0 = d.nowMs;
  d.publish(doc("a", 1));
  d.publish(doc("b", 1));
  const again = new Driver(d.blobs);
  again.state = idServerState();
  const back = t0 + 45 * DAY_MS;
  again.nowMs = back;
  again.deliver({ kind: "start" });
  again.runUntil(back + DAY_MS);
  assert.equal(fetched(again, "a"), "found", "not dropped at once");
  assert.equal(again.publish(doc("a", 1)), "unchanged");
  again.runUntil(back + IDENTITY_LOAD_GRACE_MS + DAY_MS);
  assert.equal(fetched(again, "a"), "found", "refreshed during the grace");
  assert.equal(fetched(again, "b"), "not_found", "never refreshed: gone after the grace");
});

Deno.test("expiry: each sweep does bounded work; deletes in flight make the name busy", () => {
  const many = IDSERVER_EXPIRY_DROPS_MAX + 44;
  const d = new Driver(new Map(), { blockRegistrationsMax: 1000 });
  const t0 = d.nowMs;
  for (let i = 0; i < many; i++) assert.equal(d.publish(ownDoc(`n${i}`)), "stored");
  d.runUntil(t0 + IDENTITY_TTL_MS + IDSERVER_EXPIRY_SWEEP_MS / 2);
  d.holdIo = true;
  d.runUntil(t0 + IDENTITY_TTL_MS + IDSERVER_EXPIRY_SWEEP_MS);
  assert.equal(d.state.counters["expire.identities"], IDSERVER_EXPIRY_DROPS_MAX, "one sweep");
  assert.equal(d.held.length, IDSERVER_EXPIRY_DROPS_MAX, "one delete each");
  const dropped = d.held[0].op as { key: string };
  const name = dropped.key.slice("id/".length);
  assert.equal(d.publish(ownDoc(name)), "busy", "not while its blob is being deleted");
  d.holdIo = false;
  d.release();
  assert.equal(d.publish(ownDoc(name)), "stored", "then the name is free");
  d.runUntil(d.nowMs + IDSERVER_EXPIRY_SWEEP_MS);
  assert.equal(d.state.counters["expire.identities"], many);
  assert.deepEqual(d.state.names, [name]);
  assert.equal(d.state.keyNames.size, 1);
});

Deno.test("expiry: its owner revives an expired identity the sweep has not reached", () => {
  const d = new Driver();
  const key = keyed();
  const t0 = d.nowMs;
  d.publish(ownDoc("a", 1, key));
  d.nowMs = t0 + IDENTITY_TTL_MS + 1;
  assert.equal(fetched(d, "a"), "not_found");
  const takeover = ownDoc("a", 5);
  assert.equal(d.publish(takeover), "key_changed", "the name is held until it is dropped");
  assert.equal(d.publish(ownDoc("a", 2, key)), "stored");
  assert.equal(fetched(d, "a"), "found");
});

Deno.test("expiry: a supplier's offer goes with its identity", () => {
  const ttl = 2 * 60 * 60 * 1000; // shorter than an offer's life, to see the offer dropped
  const d = new Driver(new Map(), { identityTtlMs: ttl });
  const t0 = d.nowMs;
  d.publish(doc("s1", 1));
  const offer = signOffer(
    { supplier: "s1", freeBytes: 1 << 20, issuedMs: t0, expiresMs: t0 + DAY_MS },
    aliceCrypto.sign,
  );
  const announced = d.ask({ type: "offer_announce", requestId: 3, offer }) as { outcome: string };
  assert.equal(announced.outcome, "stored");
  d.runUntil(t0 + ttl + IDSERVER_EXPIRY_SWEEP_MS + 1);
  assert.equal(d.state.offers.has("s1"), false);
  assert.equal(d.state.offerOrder.length, 0);
  assert.equal(d.state.counters["expire.offers"], 1);
  const query = d.ask({
    type: "offer_query",
    requestId: 4,
    count: 8,
    minFreeBytes: 0,
    exclude: [],
  });
  assert.deepEqual((query as { offers: unknown[] }).offers, []);
});
