/**
 * Identity refresh in the simulator: the supplier and customer actors re-publish their identities
 * about daily, so the ID server never expires a live node; a node that is away longer than the
 * TTL is dropped, and registers again when it comes back.
 *
 * @module
 */

import assert from "node:assert/strict";
import { IDENTITY_REFRESH_MS, IDENTITY_TTL_MS } from "../../core/limits.ts";
import { Scenario } from "../../sim/storage/scenario.ts";
import type { IdServerState } from "./mod.ts";

const DAY_MS = 24 * 60 * 60 * 1000;

function idServer(net: Scenario): IdServerState {
  return net.idServerState;
}

Deno.test("refresh (sim): live suppliers and the user keep their identities for 45 days", () => {
  const net = new Scenario({ seed: 7, ecc: "rs:2+2", suppliers: 5 });
  const version = net.backup({ "a.txt": new TextEncoder().encode("kept alive") });
  net.runFor(45 * DAY_MS);
  const ids = idServer(net);
  const live = net.sim.nodes.filter((n) => n.role !== "idserver");
  assert.equal(live.length, 6);
  for (const node of live) {
    const hosted = ids.docs.get(node.id);
    assert.ok(hosted !== undefined, `${node.id} is still hosted`);
    const age = net.sim.nowMs - hosted.refreshedMs;
    assert.ok(age <= 1.2 * IDENTITY_REFRESH_MS, `${node.id} refreshed ${age} ms ago`);
  }
  assert.equal(ids.counters["expire.identities"] ?? 0, 0);
  assert.ok((ids.counters["publish.refreshed"] ?? 0) >= 6 * 40, "about daily, for each");
  assert.ok(ids.families.has(net.user.id), "the user's family record is kept");
  assert.ok(net.restore(version).ok);
});

Deno.test("refresh (sim): a supplier away past the TTL is dropped, then registers again", () => {
  const net = new Scenario({ seed: 8, ecc: "rs:2+2", suppliers: 5 });
  const away = net.suppliers[0].id;
  net.offline([away]);
  net.runFor(IDENTITY_TTL_MS + 2 * DAY_MS);
  const ids = idServer(net);
  assert.equal(ids.docs.has(away), false, "an identity nobody refreshed expired");
  assert.equal(ids.offers.has(away), false);
  assert.equal(ids.counters["expire.identities"], 1, "and only that one");
  net.online([away]);
  net.runFor(DAY_MS);
  assert.ok(ids.docs.has(away), "back online, it published its identity again");
});

Deno.test("refresh (sim): a user away longer than the TTL gets its family record back", () => {
  const net = new Scenario({ seed: 9, ecc: "rs:2+2", suppliers: 5 });
  const version = net.backup({ "a.txt": new TextEncoder().encode("still mine") });
  const ids = idServer(net);
  assert.ok(ids.families.has(net.user.id));
  net.offline([net.user.id]);
  net.runFor(IDENTITY_TTL_MS + 2 * DAY_MS);
  assert.equal(ids.docs.has(net.user.id), false, "expired while away");
  assert.equal(ids.families.has(net.user.id), false, "and its family record with it");
  net.online([net.user.id]);
  net.runFor(DAY_MS);
  assert.ok(ids.docs.has(net.user.id), "registered again");
  assert.ok(ids.families.has(net.user.id), "and published its family record again");
  assert.ok(net.restore(version).ok);
});
