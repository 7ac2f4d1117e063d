/**
 * The customer's writer lease in the simulator with the real ID server: a customer that loses
 * its lease to another instance of the same identity stands by, and does nothing destructive
 * (no firing, no cancels, no removals, no backups), however its suppliers behave; it writes
 * again once it holds the lease.
 */

import assert from "node:assert/strict";
import type { SupplierState } from "../../actors/supplier/mod.ts";
import { isWriter } from "./lease.ts";
import { Random } from "../../core/prng.ts";
import { Scenario, type ScenarioOptions } from "../../sim/storage/scenario.ts";

const HOUR_MS = 3_600_000;

/** Wraps the user's actor so that the type of every message it sends is pushed to `sent`. */
function recordingSends(sent: string[]): ScenarioOptions["wrapUser"] {
  return (actor) => ({
    ...actor,
    step: (state, input, ctx) => {
      const out = actor.step(state, input, ctx);
      for (const e of out) if (e.kind === "send") sent.push(e.message.type);
      return out;
    },
  });
}
const DAY_MS = 24 * HOUR_MS;
const LEASE_MS = 10 * 60_000;

function bytes(seed: number, n: number): Uint8Array {
  return Random.stream(seed, "lease file").bytes(n);
}

Deno.test("lease: a customer that lost its lease fires, removes and backs up nothing", () => {
  const sent: string[] = [];
  const net = new Scenario({
    seed: 5,
    ecc: "rs:4+4",
    suppliers: 12,
    customer: { fireAfterMs: 6 * HOUR_MS },
    lease: { instance: "a".repeat(32), machine: "home", leaseMs: LEASE_MS },
    wrapUser: recordingSends(sent),
  });
  const v = net.backup({ "a.bin": bytes(1, 100_000) });
  const lease = net.state.lease!;
  assert.ok(lease.held !== null, "the single instance holds the lease");

  // Another instance of the same identity takes the lease over at the ID server.
  const ids = net.idServerState;
  const ours = ids.leases.get(net.user.id)!;
  ids.leases.set(net.user.id, {
    ...ours,
    epoch: ours.epoch + 1,
    instance: "b".repeat(32),
    machine: "laptop",
    expiresMs: net.sim.nowMs + 3 * DAY_MS,
    takeOver: true,
  });
  net.runFor(LEASE_MS);
  assert.equal(lease.held, null, "its renewal was refused: it stands by");
  assert.equal(lease.holder?.machine, "laptop");
  assert.equal(lease.lost, 1);

  // Two suppliers fall silent for a day: a writer would fire them; a standby fires nobody.
  const family = net.family();
  net.offline(family.slice(0, 2));
  const from = sent.length;
  net.startBackup({ "b.bin": bytes(2, 50_000) });
  net.runFor(DAY_MS);
  const destructive = sent.slice(from).filter((t) =>
    t === "contract_cancel" || t === "remove" || t === "store" || t === "contract_request" ||
    t === "family_publish"
  );
  assert.deepEqual(destructive, []);
  assert.equal(net.state.counters.fired, 0);
  assert.ok(net.state.counters.heldBack > 0, "the fires were held back, and counted");
  assert.ok(!net.notices.some((n) => n.type === "backup_done" && n.versionId !== v));
  assert.deepEqual(net.family(), family, "the family is unchanged");
  // Restores only read: they still work.
  assert.ok(net.restore(v).ok);

  // The other instance's lease ends: this one gets the lease back, yet its catalogue may be out
  // of date (the other may have written): it still writes nothing.
  ids.leases.get(net.user.id)!.expiresMs = net.sim.nowMs;
  const before = sent.length;
  net.runFor(DAY_MS);
  // It does not even claim the lease: holding it would only keep the other instance out.
  assert.equal(net.state.lease!.held, null);
  assert.ok(net.state.lease!.otherSeen);
  // Only what changes nothing: probes, audits, the daily identity refresh.
  const harmless = ["probe", "audit", "identity_publish"];
  assert.deepEqual(sent.slice(before).filter((t) => !harmless.includes(t)), []);
  assert.equal(net.state.counters.fired, 0);
  assert.ok(!net.notices.some((n) => n.type === "backup_done" && n.versionId !== v));
});

Deno.test("lease: a take-over with nobody else holding the lease is a plain claim", () => {
  const net = new Scenario({
    seed: 6,
    ecc: "rs:4+4",
    suppliers: 10,
    lease: { instance: "c".repeat(32), machine: "new", leaseMs: LEASE_MS, takeOver: true },
  });
  // Nothing else held the lease: the take-over flag changed nothing.
  const lease = net.state.lease!;
  assert.ok(lease.held !== null && lease.writableFromMs === 0);
  assert.ok(lease.takeOver === false);
  net.backup({ "a.bin": bytes(3, 10_000) });
});

/**
 * Another instance wrote at a newer epoch without this one hearing of it from the ID servers
 * (its clock runs late, or the ID servers forgot the lease): the suppliers tell it. `raised`
 * members of the family have seen the newer epoch.
 */
function newerEpochAt(raised: number, seed: number) {
  const sent: string[] = [];
  const net = new Scenario({
    seed,
    ecc: "rs:4+4",
    suppliers: 12,
    customer: { fireAfterMs: 6 * HOUR_MS },
    lease: { instance: "d".repeat(32), machine: "home", leaseMs: LEASE_MS },
    wrapUser: recordingSends(sent),
  });
  const v = net.backup({ "a.bin": bytes(4, 100_000) });
  const epoch = net.state.lease!.held!.epoch;
  const family = net.family();
  for (const id of family.slice(0, raised)) {
    const node = net.sim.node(id!)!;
    (node.state as SupplierState).customers.get(net.user.id)!.epoch = epoch + 1;
  }
  return { net, v, epoch, family, sent };
}

Deno.test("lease: more suppliers than the parity reporting a newer epoch stop this writer", () => {
  const { net, v, family, sent } = newerEpochAt(5, 7);
  net.startBackup({ "b.bin": bytes(5, 200_000) });
  net.runFor(LEASE_MS);
  const lease = net.state.lease!;
  assert.ok(lease.superseded !== null, "it heard it from its probes and its refused stores");
  assert.equal(lease.superseded.suppliers, 5);
  assert.equal(lease.held, null, "it let its lease go");
  assert.equal(isWriter(net.state), false);
  const failed = net.notices.find((n) => n.type === "backup_failed");
  assert.ok(failed !== undefined && /another machine/.test(failed.reason), "the backup ends");
  // From then on it writes nothing, fires nobody, and its old version still restores.
  const from = sent.length;
  net.offline(family.slice(6, 8));
  net.runFor(DAY_MS);
  const writes = ["contract_cancel", "remove", "store", "contract_request", "family_publish"];
  assert.deepEqual(sent.slice(from).filter((t) => writes.includes(t)), []);
  assert.equal(net.state.counters.fired, 0);
  assert.deepEqual(net.family(), family);
  net.online(family.slice(6, 8));
  assert.ok(net.restore(v).ok);
});

Deno.test("lease: a few suppliers claiming a newer epoch cannot stop the writer", () => {
  // Up to the parity (4 of rs:4+4) might be lying; the writer goes on, and a backup still
  // completes on the members that take its stores (each liar refuses them by itself).
  const { net, epoch } = newerEpochAt(1, 8);
  const v = net.backup({ "c.bin": bytes(6, 100_000) });
  assert.ok(net.state.counters.superseded > 0, "the claims were heard and counted");
  assert.equal(net.state.lease!.superseded, null);
  assert.equal(net.state.lease!.held?.epoch, epoch);
  assert.ok(isWriter(net.state));
  assert.ok(net.restore(v).ok);
});
