import assert from "node:assert/strict";
import { type LeaseBody, type SignedLease, signLease } from "../../core/protocol/identity.ts";
import { aliceCrypto, doc, Driver, malloryCrypto } from "./_driver_test.ts";

function lease(d: Driver, over: Partial<LeaseBody> = {}, sign = aliceCrypto.sign): SignedLease {
  const body: LeaseBody = {
    owner: "alice",
    epoch: 1,
    instance: "a".repeat(32),
    machine: "laptop",
    issuedMs: d.nowMs,
    expiresMs: d.nowMs + 600_000,
    takeOver: false,
    ...over,
  };
  return signLease(body, sign);
}

function claim(d: Driver, l: SignedLease) {
  const n = d.ask({ type: "lease_claim", requestId: 3, lease: l });
  assert.ok(n.type === "lease_claim_reply" && n.requestId === 3 && n.owner === l.owner);
  return n;
}

Deno.test("lease: one holder; renewals; others refused until expiry or a take-over", () => {
  const d = new Driver();
  assert.equal(claim(d, lease(d)).outcome, "unknown_owner");
  d.publish(doc("alice", 1));
  assert.equal(claim(d, lease(d, {}, malloryCrypto.sign)).outcome, "bad_signature");
  assert.equal(claim(d, lease(d, { expiresMs: d.nowMs })).outcome, "bad_span");
  assert.equal(claim(d, lease(d, { expiresMs: d.nowMs + 30 * 86_400_000 })).outcome, "bad_span");
  const a = lease(d);
  const granted = claim(d, a);
  assert.equal(granted.outcome, "granted");
  assert.equal(granted.current?.machine, "laptop");
  // The same instance renews; another one is told who holds it.
  d.nowMs += 100_000;
  assert.equal(claim(d, lease(d)).outcome, "granted");
  const b = { instance: "b".repeat(32), machine: "desktop" };
  const held = claim(d, lease(d, { ...b, epoch: 5 }));
  assert.equal(held.outcome, "held");
  assert.equal(held.current?.machine, "laptop");
  assert.equal(held.current?.expiresMs, d.nowMs + 600_000);
  // A take-over must go above the current epoch.
  assert.equal(claim(d, lease(d, { ...b, epoch: 1, takeOver: true })).outcome, "stale_epoch");
  const taken = claim(d, lease(d, { ...b, epoch: 2, takeOver: true }));
  assert.equal(taken.outcome, "granted");
  assert.equal(taken.replaced?.machine, "laptop");
  assert.equal(taken.current?.machine, "desktop");
  // The old holder's renewal is refused now, and it learns the new epoch.
  const lost = claim(d, lease(d));
  assert.equal(lost.outcome, "held");
  assert.equal(lost.current?.epoch, 2);
  // After expiry another instance gets it, at a higher epoch only.
  d.nowMs += 700_000;
  assert.equal(claim(d, lease(d, { epoch: 2 })).outcome, "stale_epoch");
  assert.equal(claim(d, lease(d, { epoch: 3 })).outcome, "granted");
  assert.equal(d.state.counters["lease.held"], 2);
  assert.equal(d.state.counters["lease.stale_epoch"], 2);
});

Deno.test("lease: at most leasesMax owners", () => {
  const d = new Driver(undefined, { leasesMax: 1 });
  d.publish(doc("alice", 1));
  d.publish(doc("bob", 1));
  assert.equal(claim(d, lease(d)).outcome, "granted");
  const bob = signLease({
    owner: "bob",
    epoch: 1,
    instance: "c".repeat(32),
    machine: "m",
    issuedMs: d.nowMs,
    expiresMs: d.nowMs + 1000,
    takeOver: false,
  }, aliceCrypto.sign);
  assert.equal(claim(d, bob).outcome, "full");
});
