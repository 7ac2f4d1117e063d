import assert from "node:assert/strict";
import { RELAY_ENVELOPE_BYTES_MAX } from "../../core/limits.ts";
import type { Message } from "../../core/protocol/mod.ts";
import { envelopeOf, RouterDriver, type Sent } from "./_driver_test.ts";

type Relayed = Extract<Message, { type: "relayed" }>;
type Refused = Extract<Message, { type: "relay_refused" }>;
const relayed = (sent: Sent[]) =>
  sent.filter((s) => s.message.type === "relayed") as { to: string; message: Relayed }[];
const refusals = (sent: Sent[]) =>
  sent.filter((s) => s.message.type === "relay_refused").map((s) => s.message as Refused);

/** A slow router: 1000 B/s, a route's share 250 B/s, envelopes of at most 100 bytes. */
const SLOW = { bandwidthBytesPerSec: 1000, envelopeBytesMax: 100 };

Deno.test("relay: the very same bytes go to the route, from the authenticated sender", () => {
  const d = new RouterDriver();
  d.register("node");
  d.take();
  const envelope = envelopeOf(1000, 3);
  d.relay("sender", "node", envelope);
  assert.deepEqual(d.take(), [{
    kind: "send",
    to: "node",
    message: { type: "relayed", from: "sender", envelope },
  }]);
  d.relay("sender", "node", envelope);
  assert.equal(relayed(d.take())[0].message.envelope, envelope); // not a copy
  assert.deepEqual(envelope, envelopeOf(1000, 3)); // nor touched
  const c = d.state.counters;
  assert.equal(c.relayedFrames, 2);
  assert.equal(c.relayedBytes, 2000);
});

Deno.test("relay: one envelope of the largest size passes a full route share", () => {
  const d = new RouterDriver(); // default 12.5 MB/s: a route's share is 3.125 MB/s
  d.register("node");
  d.take();
  const big = new Uint8Array(RELAY_ENVELOPE_BYTES_MAX);
  d.relay("sender", "node", big);
  assert.equal(relayed(d.take())[0].message.envelope, big);
  assert.equal(d.state.queuedFrames, 0);
});

Deno.test("relay: refusals say why, to the sender, and are counted by reason", () => {
  const d = new RouterDriver({ ...SLOW, routeQueueFramesMax: 2 });
  d.register("node");
  d.take();
  d.relay("s", "nobody", envelopeOf(10));
  d.relay("s", "node", envelopeOf(101));
  for (let i = 0; i < 5; i++) d.relay("s", "node", envelopeOf(100, i)); // 2 go, 2 wait, 1 over
  d.deliver({ kind: "command", command: { type: "close" } });
  d.relay("s", "node", envelopeOf(10));
  const sent = d.take();
  assert.ok(refusals(sent).every((m) => sent.find((s) => s.message === m)!.to === "s"));
  assert.deepEqual(refusals(sent).map((m) => [m.to, m.reason, m.size]), [
    ["nobody", "no_route", 10],
    ["node", "oversized", 101],
    ["node", "queue_full", 100],
    ["node", "closing", 10],
  ]);
  const r = d.state.counters.refused;
  assert.deepEqual(r, { no_route: 1, oversized: 1, queue_full: 1, rate: 0, closing: 1 });
});

Deno.test("relay: queue bounds in bytes, per route and for all routes together", () => {
  const d = new RouterDriver({ ...SLOW, routeQueueBytesMax: 250, queueBytesMax: 300 });
  d.register("a");
  d.register("b");
  d.take();
  for (let i = 0; i < 5; i++) d.relay("s", "a", envelopeOf(100, i)); // 2 go, 2 wait, 1 over
  assert.equal(d.state.routes.get("a")!.queuedBytes, 200);
  for (let i = 0; i < 5; i++) d.relay("s", "b", envelopeOf(100, i)); // 2 go, 1 waits, 2 over
  assert.equal(d.state.routes.get("b")!.queuedBytes, 100);
  assert.equal(d.state.queuedBytes, 300);
  assert.equal(d.state.counters.refused.queue_full, 1 + 2);
  assert.equal(d.state.counters.queuedPeakBytes, 300);
});

Deno.test("relay: a keyless sender is refused for its key, without an answer", () => {
  const d = new RouterDriver();
  d.register("node");
  d.take();
  d.from("s", { type: "relay", to: "node", envelope: envelopeOf(5) }, null);
  assert.deepEqual(d.take(), []);
  assert.equal(d.state.counters.authRefused, 1);
  assert.deepEqual(d.traces, ["auth.refused"]);
});

Deno.test("relay: FIFO per route under its bandwidth share, in virtual time", () => {
  const d = new RouterDriver(SLOW);
  d.register("node");
  d.take();
  const sent: Uint8Array[] = [];
  const startMs = d.nowMs;
  for (let i = 0; i < 20; i++) {
    const e = envelopeOf(100, i);
    sent.push(e);
    d.relay(i % 2 === 0 ? "s1" : "s2", "node", e);
  }
  assert.equal(relayed(d.sent).length, 2); // the share's burst: 250 bytes
  const got: { atMs: number; m: Relayed }[] = [];
  for (let t = 0; t < 20 && got.length < 20; t++) {
    d.advance(1000);
    for (const s of relayed(d.take())) got.push({ atMs: d.nowMs, m: s.message });
  }
  assert.deepEqual(got.map((g) => g.m.envelope), sent, "every envelope went, in order");
  assert.deepEqual(got.map((g) => g.m.from), sent.map((_, i) => (i % 2 === 0 ? "s1" : "s2")));
  // Never more than the burst plus 250 B/s: 20 envelopes take at least 7 s.
  assert.ok(d.nowMs - startMs >= 7000);
  assert.equal(d.state.queuedFrames, 0);
  assert.equal(d.state.deadlines.at("drain"), null);
});

Deno.test("relay: a queued envelope is not overtaken by a newcomer for the same route", () => {
  const d = new RouterDriver(SLOW);
  d.register("node");
  d.take();
  d.relay("s", "node", envelopeOf(100, 0));
  d.relay("s", "node", envelopeOf(100, 1));
  d.relay("s", "node", envelopeOf(100, 2)); // waits: 50 tokens left
  d.advance(100); // 25 more tokens: still not enough
  d.relay("t", "node", envelopeOf(10, 3)); // would fit, but must wait behind
  const order = relayed(d.take()).map((s) => s.message.envelope[0]);
  assert.deepEqual(order, [envelopeOf(100, 0)[0], envelopeOf(100, 1)[0]]);
  d.advance(1000);
  const later = relayed(d.take()).map((s) => s.message.from);
  assert.deepEqual(later, ["s", "t"]);
});

Deno.test("relay: a big envelope waiting for the router's bandwidth is not starved", () => {
  // Router 400 B/s, share 1: each route may take it all. Envelopes up to 400 bytes.
  const d = new RouterDriver({ bandwidthBytesPerSec: 400, routeShare: 1, envelopeBytesMax: 400 });
  for (const n of ["big", "small1", "small2"]) d.register(n);
  d.take();
  d.relay("s", "small1", envelopeOf(300)); // leaves 100 tokens
  d.relay("s", "big", envelopeOf(400)); // waits for the router's bandwidth
  for (let i = 0; i < 20; i++) {
    d.advance(100);
    d.relay("s", i % 2 === 0 ? "small1" : "small2", envelopeOf(40, i));
  }
  d.advance(10_000);
  const order = relayed(d.take()).map((s) => s.to);
  assert.equal(order[1], "big", `the big one went after ${order.slice(1).join(",")}`);
  assert.equal(order.length, 22);
});

Deno.test("relay: envelopes wait out an offline spell and go once the router is back", () => {
  const d = new RouterDriver(SLOW);
  d.register("node");
  for (let i = 0; i < 4; i++) d.relay("s", "node", envelopeOf(100, i));
  d.take();
  d.nowMs += 60_000; // no timeouts while offline
  d.deliver({ kind: "start" });
  assert.equal(relayed(d.take()).length, 2);
  assert.equal(d.state.queuedFrames, 0);
});
