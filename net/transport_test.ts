import assert from "node:assert/strict";
import { createIdentityCache, offerIdentity } from "../core/identity_cache.ts";
import { encodeIdentity } from "../core/identity.ts";
import { MESSAGE_BYTES_MAX } from "../core/limits.ts";
import { verifySignature } from "../data/signing.ts";
import { makeIdentity } from "./tcp/_test_util.ts";
import {
  identityPeerResolver,
  OutboundQueue,
  parseTcpContact,
  queueLimits,
  staticPeerResolver,
} from "./transport.ts";

Deno.test("OutboundQueue keeps order and counts bytes against every bound", () => {
  const limits = queueLimits({ peerQueueBytesMax: 10, peerQueueFramesMax: 3, queueBytesMax: 100 });
  const q = new OutboundQueue();
  assert.ok(q.fits(10, limits, 0));
  assert.ok(!q.fits(11, limits, 0), "peer bytes");
  assert.ok(!q.fits(5, limits, 96), "total bytes");
  for (const n of [1, 2, 3]) q.push(new Uint8Array(n));
  assert.deepEqual([q.frames, q.bytes], [3, 6]);
  assert.ok(!q.fits(1, limits, 6), "frames");
  assert.equal(q.peek()!.length, 1);
  assert.equal(q.shift()!.length, 1);
  assert.equal(q.shift()!.length, 2);
  assert.deepEqual([q.frames, q.bytes], [1, 3]);
  assert.equal(q.clear(), 1);
  assert.equal(q.shift(), undefined);
});

Deno.test("OutboundQueue stays compact over many pushes and shifts", () => {
  const q = new OutboundQueue();
  for (let i = 0; i < 10_000; i++) {
    q.push(Uint8Array.of(i & 0xff));
    if (i % 3 !== 0) assert.ok(q.shift() !== undefined);
  }
  const expected = q.frames;
  let n = 0;
  while (q.shift() !== undefined) n++;
  assert.equal(n, expected);
  assert.equal(q.bytes, 0);
});

Deno.test("queueLimits fills defaults and refuses a message limit above the global one", () => {
  assert.equal(queueLimits().messageBytesMax, MESSAGE_BYTES_MAX);
  assert.throws(() => queueLimits({ messageBytesMax: MESSAGE_BYTES_MAX + 1 }), RangeError);
  assert.throws(() => queueLimits({ peerQueueFramesMax: 0 }), RangeError);
});

Deno.test("identityPeerResolver answers from the identity cache", async () => {
  const cache = createIdentityCache();
  const bob = makeIdentity("bob", 4000);
  offerIdentity(cache, encodeIdentity(bob.doc), { verify: verifySignature }, 0);
  const resolver = identityPeerResolver(cache);
  const info = await resolver.resolve("bob");
  assert.deepEqual(info?.contacts, ["tcp://127.0.0.1:4000"]);
  assert.deepEqual(info?.signingKey, bob.keys.publicKey);
  assert.deepEqual(resolver.lookup?.("bob"), info);
  assert.equal(await resolver.resolve("carol"), undefined);
  const fixed = staticPeerResolver(new Map([["bob", info!]]));
  assert.equal(await fixed.resolve("bob"), info);
});

Deno.test("parseTcpContact accepts tcp://host:port only", () => {
  assert.deepEqual(parseTcpContact("tcp://127.0.0.1:8080"), { hostname: "127.0.0.1", port: 8080 });
  assert.equal(parseTcpContact("tcp://host:0"), undefined);
  assert.equal(parseTcpContact("tcp://host:70000"), undefined);
  assert.equal(parseTcpContact("relay://router"), undefined);
  assert.equal(parseTcpContact("tcp://host"), undefined);
});
