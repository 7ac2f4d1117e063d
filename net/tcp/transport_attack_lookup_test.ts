/**
 * The lookups behind admission (`PeerLookup` in `net/identity_client.ts`, used by a real node's
 * resolver) under the inputs an attacker controls: names nobody registered, names under
 * disputed keys, sources named in its own document, floods of fresh names, ID servers that
 * hang. And the transport's own bounds on those checks (per block, in time).
 *
 * @module
 */

import assert from "node:assert/strict";
import type { NodeId } from "../../core/actor.ts";
import { identityToJson } from "../../core/identity.ts";
import { createIdentityCache, lookupIdentity } from "../../core/identity_cache.ts";
import { stepCryptoFor } from "../../data/signing.ts";
import { sleep, waitFor } from "../_transport_contract.ts";
import { type BindingVerdict, PeerLookup, type PeerLookupOptions } from "../identity_client.ts";
import { attackerAddress, connectFrom, initiateOver } from "./_attack_util.ts";
import { localIdentityOf, makeIdentity, TestNet } from "./_test_util.ts";

const A = "http://ids-a.test";
const B = "http://ids-b.test";

type Served = Map<string, ReturnType<typeof makeIdentity>["doc"] | "hang" | "down">;

/** ID servers `A` and `B` as a fake fetch: `served` maps `<server>/<name>` to an answer. */
function servers(served: Served) {
  const asked: string[] = [];
  let release: () => void = () => {};
  const held = new Promise<void>((r) => release = r);
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const url = String(input);
    asked.push(url);
    const answer = served.get(url.replace(/\.json$/, ""));
    if (answer === "down") throw new TypeError("connection refused");
    if (answer === "hang") {
      await Promise.race([
        held,
        new Promise((_, reject) =>
          init?.signal?.addEventListener("abort", () => reject(init.signal!.reason))
        ),
      ]);
    }
    if (answer === undefined || answer === "hang") return new Response("no", { status: 404 });
    return Response.json(identityToJson(answer));
  };
  return { fetch, asked, release };
}

function lookup(served: Served, options: PeerLookupOptions = {}, ids = [A, B]) {
  const s = servers(served);
  const cache = createIdentityCache();
  let now = 1000;
  const l = new PeerLookup(cache, stepCryptoFor(), ids, {
    fetch: s.fetch,
    clock: () => now,
    ...options,
  });
  return { l, cache, ...s, advance: (ms: number) => now += ms };
}

Deno.test("lookup: confirmed only when no own ID server serves another key", async () => {
  const carol = makeIdentity("carol", 1, undefined, ["http://evil.test"]);
  const fake = makeIdentity("carol", 1);
  // One server serves the real document, the other has nothing or is down: confirmed, pinned.
  for (const other of [undefined, "down" as const]) {
    const served: Served = new Map([[`${A}/carol`, carol.doc]]);
    if (other !== undefined) served.set(`${B}/carol`, other);
    const t = lookup(served);
    assert.equal(await t.l.confirm("carol", carol.keys.publicKey), "ok");
    assert.deepEqual(lookupIdentity(t.cache, "carol")?.signingKey, carol.keys.publicKey);
    assert.equal(await t.l.confirm("carol", fake.keys.publicKey), "key_mismatch");
    assert.ok(t.asked.every((u) => !u.startsWith("http://evil.test")), "never the doc's sources");
    assert.equal(t.asked.length, 2, "the second answer came from the pin");
  }
  // The servers disagree on the key: nobody is confirmed, nothing is pinned.
  const t = lookup(new Map([[`${A}/carol`, carol.doc], [`${B}/carol`, fake.doc]]));
  assert.equal(await t.l.confirm("carol", carol.keys.publicKey), "key_mismatch");
  assert.equal(await t.l.confirm("carol", fake.keys.publicKey), "key_mismatch");
  assert.equal(lookupIdentity(t.cache, "carol"), undefined);
  assert.equal(t.l.counters.conflicts, 1);
});

Deno.test("lookup: unknown and unanswered names are remembered, briefly, boundedly", async () => {
  const t = lookup(new Map([[`${A}/x`, "down"], [`${B}/x`, "down"]]), {
    negativeTtlMs: 60_000,
    failedTtlMs: 5_000,
    negativeEntriesMax: 2,
  });
  const key = new Uint8Array(32);
  assert.equal(await t.l.confirm("ghost", key), "unknown_peer");
  assert.equal(await t.l.confirm("ghost", key), "unknown_peer");
  assert.equal(t.asked.length, 2, "the second came from the negative cache");
  assert.equal(await t.l.confirm("x", key), "lookup_failed");
  t.advance(5_001);
  assert.equal(await t.l.confirm("x", key), "lookup_failed");
  assert.equal(t.asked.length, 6, "a failure is remembered for its shorter time");
  assert.equal(await t.l.confirm("ghost", key), "unknown_peer");
  assert.equal(t.asked.length, 6);
  await t.l.confirm("ghost2", key); // a third name: the oldest entry goes
  await t.l.confirm("ghost", key);
  assert.equal(t.asked.length, 10);
  t.advance(60_001);
  await t.l.confirm("ghost2", key);
  assert.equal(t.asked.length, 12, "expired");
});

Deno.test("lookup: a flood of fresh names is refused as busy, and lookups time out", async () => {
  const served: Served = new Map();
  for (let i = 0; i < 5; i++) {
    served.set(`${A}/n${i}`, "hang");
    served.set(`${B}/n${i}`, "hang");
  }
  const t = lookup(served, { lookupsMax: 3, timeoutMs: 60_000 });
  const key = new Uint8Array(32);
  const first = [0, 1, 2].map((i) => t.l.confirm(`n${i}`, key));
  const joined = t.l.confirm("n0", key);
  assert.equal(await t.l.confirm("n3", key), "lookup_busy");
  assert.equal(t.l.counters.joined, 1);
  assert.equal(t.l.running, 3);
  t.release();
  assert.deepEqual(await Promise.all([...first, joined]), Array(4).fill("unknown_peer"));
  assert.equal(t.l.running, 0);
  const slow = lookup(new Map([[`${A}/s`, "hang"], [`${B}/s`, "hang"]]), { timeoutMs: 20 });
  assert.equal(await slow.l.confirm("s", key), "lookup_failed");
  slow.release();
});

Deno.test("lookup: a dial of an uncached name asks only the own ID servers", async () => {
  const carol = makeIdentity("carol", 1, undefined, ["http://evil.test"]);
  const t = lookup(new Map([[`${B}/carol`, carol.doc]]));
  const found = await t.l.find("carol");
  assert.ok(typeof found !== "string");
  assert.deepEqual(found.signingKey, carol.keys.publicKey);
  assert.deepEqual(t.asked.sort(), [`${A}/carol.json`, `${B}/carol.json`]);
});

/** A listener whose resolver knows nobody and whose binding checks never end. */
function stuckResolverNode(net: TestNet, options = {}) {
  let checks = 0;
  const b = net.node("b", {
    resolver: {
      lookup: (name: NodeId) => net.peers.get(name),
      resolve: (name: NodeId) => Promise.resolve(net.peers.get(name)),
      confirm: () => {
        checks++;
        return new Promise<BindingVerdict>(() => {});
      },
    },
    ...options,
  });
  return { b, checks: () => checks };
}

Deno.test("attack: binding checks are bounded per block and in time", async () => {
  const net = new TestNet();
  const { b, checks } = stuckResolverNode(net, { admissionTimeoutMs: 300, lookupsPerBlockMax: 4 });
  const c = net.node("c");
  const got: NodeId[] = [];
  b.onMessage((from) => got.push(from));
  const target = { name: "b", signingKey: net.peers.get("b")!.signingKey };
  try {
    const outcomes = await Promise.all(Array.from({ length: 6 }, async (_, i) => {
      const client = await connectFrom(attackerAddress(41, i), b.address!.port);
      const { result } = await initiateOver(
        client,
        localIdentityOf(makeIdentity(`new-${i}`, 1)),
        target,
      );
      client.close();
      return result.ok ? "ok" : result.reason;
    }));
    assert.deepEqual(outcomes.sort(), [
      ...Array(2).fill("lookup_busy"),
      ...Array(4).fill("lookup_failed"),
    ]);
    assert.equal(checks(), 4);
    assert.equal(b.counters.rejected.lookup_busy, 2);
    assert.equal(b.counters.rejected.lookup_failed, 4);
    assert.equal(b.handshakesInProgress, 0);
    // A known peer is admitted from its pin, with no check at all.
    c.send("b", Uint8Array.of(1));
    await waitFor(() => got.length === 1, 5000, "c's message");
    assert.equal(checks(), 4);
  } finally {
    await Promise.all([b.close(), c.close()]);
  }
});

Deno.test("TCP: close does not wait for a binding check that never ends", async () => {
  const net = new TestNet();
  const { b, checks } = stuckResolverNode(net, { admissionTimeoutMs: 600_000 });
  const target = { name: "b", signingKey: net.peers.get("b")!.signingKey };
  const client = await connectFrom(attackerAddress(42, 0), b.address!.port);
  const attempt = initiateOver(client, localIdentityOf(makeIdentity("new", 1)), target);
  await waitFor(() => checks() === 1, 5000, "the check");
  await sleep(10);
  await b.close();
  const { result } = await attempt;
  assert.equal(result.ok ? "ok" : result.reason, "eof");
  client.close();
});
