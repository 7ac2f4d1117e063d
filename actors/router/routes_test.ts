import assert from "node:assert/strict";
import { ROUTE_MISSED_PINGS_MAX, ROUTE_PING_MS } from "../../core/limits.ts";
import type { Message } from "../../core/protocol/mod.ts";
import { envelopeOf, keyOf, RouterDriver, type Sent } from "./_driver_test.ts";

type Ping = Extract<Message, { type: "route_ping" }>;
const pingsTo = (sent: Sent[], name: string) =>
  sent.filter((s) => s.to === name && s.message.type === "route_ping").map((s) =>
    s.message as Ping
  );

Deno.test("route_register: held with the ping period, refreshed by the same key", () => {
  const d = new RouterDriver();
  d.from("alice", { type: "route_register", requestId: 7 });
  assert.deepEqual(d.take(), [{
    kind: "send",
    to: "alice",
    message: { type: "route_register_reply", requestId: 7, outcome: "held", pingMs: ROUTE_PING_MS },
  }]);
  assert.equal(d.register("alice", keyOf("alice"), 8), "held");
  const c = d.status().counters;
  assert.equal(c.routesAdded, 1);
  assert.equal(c.routesRefreshed, 1);
  assert.equal(d.state.routes.size, 1);
});

Deno.test("route_register: another key, or none, is refused and traced auth.refused", () => {
  const d = new RouterDriver();
  assert.equal(d.register("alice"), "held");
  assert.equal(d.register("alice", keyOf("mallory")), "refused");
  assert.equal(d.register("bob", null), "refused");
  assert.equal(d.state.counters.authRefused, 2);
  assert.deepEqual(d.traces, ["auth.refused", "auth.refused"]);
  assert.deepEqual([...d.state.routes.keys()], ["alice"]);
  assert.deepEqual(d.state.routes.get("alice")!.key, keyOf("alice"));
});

Deno.test("route_register: a full table answers full; a released slot is free again", () => {
  const d = new RouterDriver({ routesMax: 2 });
  assert.equal(d.register("a"), "held");
  assert.equal(d.register("b"), "held");
  assert.equal(d.register("c"), "full");
  assert.equal(d.register("a"), "held"); // a refresh needs no new slot
  assert.equal(d.state.counters.routesFull, 1);
  d.from("a", { type: "route_release" });
  assert.equal(d.register("c"), "held");
});

Deno.test("route_release: only the route's key drops it, with its queue", () => {
  const d = new RouterDriver({ bandwidthBytesPerSec: 1000, envelopeBytesMax: 100 });
  d.register("node");
  for (let i = 0; i < 5; i++) d.relay("s", "node", envelopeOf(100, i));
  assert.ok(d.state.queuedFrames > 0);
  d.from("node", { type: "route_release" }, keyOf("mallory"));
  d.from("node", { type: "route_release" }, null);
  assert.equal(d.state.routes.size, 1);
  assert.equal(d.state.counters.authRefused, 2);
  const queued = d.state.queuedFrames;
  d.from("node", { type: "route_release" });
  assert.equal(d.state.routes.size, 0);
  assert.equal(d.state.queuedFrames, 0);
  assert.equal(d.state.queuedBytes, 0);
  assert.equal(d.state.counters.droppedFrames, queued);
  assert.equal(d.state.counters.routesReleased, 1);
  assert.equal(d.state.deadlines.at("drain"), null);
  d.from("node", { type: "route_release" }); // nothing left: counted, no throw
  assert.equal(d.state.counters.unexpected, 1);
});

Deno.test("pings: a node that answers keeps its route for as long as it answers", () => {
  const d = new RouterDriver();
  d.register("alice");
  d.take();
  for (let period = 0; period < 10; period++) {
    d.advance(ROUTE_PING_MS);
    const pings = pingsTo(d.take(), "alice");
    assert.equal(pings.length, 1, `period ${period}`);
    d.from("alice", { type: "route_pong", nonce: pings[0].nonce });
  }
  assert.equal(d.state.routes.size, 1);
  assert.equal(d.state.counters.pongs, 10);
  assert.equal(d.state.counters.routesDropped, 0);
});

Deno.test("pings: silence drops the route after three unanswered pings", () => {
  const d = new RouterDriver();
  d.register("alice");
  d.take();
  d.advance(ROUTE_MISSED_PINGS_MAX * ROUTE_PING_MS);
  assert.equal(pingsTo(d.take(), "alice").length, ROUTE_MISSED_PINGS_MAX);
  assert.equal(d.state.routes.size, 1);
  d.advance(ROUTE_PING_MS);
  assert.equal(pingsTo(d.take(), "alice").length, 0);
  assert.equal(d.state.routes.size, 0);
  assert.equal(d.state.counters.routesDropped, 1);
  assert.ok(d.traces.includes("router.route_dropped"));
  assert.equal(d.state.deadlines.at("ping"), null);
});

Deno.test("pings: a stale nonce or another key does not count as heard; a register does", () => {
  const d = new RouterDriver();
  d.register("alice");
  d.take();
  d.advance(ROUTE_PING_MS);
  const [ping] = pingsTo(d.take(), "alice");
  d.from("alice", { type: "route_pong", nonce: ping.nonce + 1 });
  d.from("alice", { type: "route_pong", nonce: ping.nonce }, keyOf("mallory"));
  assert.equal(d.state.routes.get("alice")!.nonce, ping.nonce);
  assert.equal(d.state.counters.pongsStale, 1);
  assert.equal(d.state.counters.authRefused, 1);
  d.advance(ROUTE_PING_MS);
  assert.equal(d.state.routes.get("alice")!.missed, 1);
  assert.equal(d.register("alice"), "held");
  assert.equal(d.state.routes.get("alice")!.missed, 0);
  assert.equal(d.state.routes.get("alice")!.nonce, 0);
});

Deno.test("pings: routes registered together are pinged at staggered times", () => {
  const d = new RouterDriver();
  for (let i = 0; i < 50; i++) d.register(`n${i}`);
  const times = new Set([...d.state.routes.values()].map((r) => r.ping.atMs));
  assert.ok(times.size > 40, `only ${times.size} distinct ping times`);
  for (const t of times) assert.ok(t > d.nowMs && t <= d.nowMs + ROUTE_PING_MS);
});

Deno.test("start after an absence: routes are kept, pings resume on their phase", () => {
  const d = new RouterDriver();
  d.register("alive");
  d.register("dead");
  const phase = d.state.routes.get("alive")!.ping.atMs % ROUTE_PING_MS;
  d.take();
  // Offline for a day: no timeouts are delivered meanwhile.
  d.nowMs += 24 * 60 * 60 * 1000;
  d.deliver({ kind: "start" });
  assert.equal(d.state.routes.size, 2);
  const alive = d.state.routes.get("alive")!;
  assert.equal(alive.ping.atMs % ROUTE_PING_MS, phase);
  assert.ok(alive.ping.atMs >= d.nowMs);
  for (let i = 0; i <= ROUTE_MISSED_PINGS_MAX; i++) {
    d.advance(ROUTE_PING_MS);
    for (const p of pingsTo(d.take(), "alive")) {
      d.from("alive", { type: "route_pong", nonce: p.nonce });
    }
  }
  assert.deepEqual([...d.state.routes.keys()], ["alive"]);
});
