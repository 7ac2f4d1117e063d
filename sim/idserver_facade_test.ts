import assert from "node:assert/strict";
import type { NodeId } from "../core/actor.ts";
import {
  idServerActor,
  type IdServerProtocol,
  type IdServerState,
  idServerState,
} from "../actors/idserver/mod.ts";
import { doc, keyed, ownDoc } from "../actors/idserver/_driver_test.ts";
import { signFamilyRecord, signLease, signOffer } from "../core/protocol/identity.ts";
import { type Message, messageCodec } from "../core/protocol/mod.ts";
import { stepCryptoFor } from "../data/signing.ts";
import type { IdServerRequestMessage } from "../parts/idserver_wire.ts";
import { DirectDriver } from "./driver.ts";
import { httpFacade, type HttpFacadeState, httpFacadeState } from "./idserver_facade.ts";

const NOW_MS = 1_000_000;

function plain(): DirectDriver<IdServerState, IdServerProtocol> {
  const d = new DirectDriver({
    actor: idServerActor,
    state: idServerState(),
    codec: messageCodec,
    self: "ids",
    crypto: stepCryptoFor(),
    nowMs: NOW_MS,
  });
  d.deliver({ kind: "start" });
  return d;
}

function facade(): DirectDriver<HttpFacadeState<IdServerState>, IdServerProtocol> {
  const d = new DirectDriver({
    actor: httpFacade(idServerActor),
    state: httpFacadeState(idServerState()),
    codec: messageCodec,
    self: "ids",
    crypto: stepCryptoFor(),
    nowMs: NOW_MS,
  });
  d.deliver({ kind: "start" });
  return d;
}

/** Sends `message` from `from` to both drivers; returns what each sent back. */
function both(
  drivers: { plain: DirectDriver<IdServerState, IdServerProtocol> } & {
    facade: DirectDriver<HttpFacadeState<IdServerState>, IdServerProtocol>;
  },
  from: NodeId,
  message: Message,
): { plain: unknown[]; facade: unknown[] } {
  const out = { plain: [] as unknown[], facade: [] as unknown[] };
  for (const key of ["plain", "facade"] as const) {
    const d = drivers[key];
    const before = d.sent.length;
    d.deliver({ kind: "message", from, fromKey: null, message });
    out[key] = d.sent.slice(before);
  }
  return out;
}

Deno.test("httpFacade answers every request as the actor does, through the HTTP path", () => {
  const drivers = { plain: plain(), facade: facade() };
  const alice = keyed();
  const aliceDoc = ownDoc("alice", 1, alice);
  const sign = alice.sign;
  const offer = signOffer(
    { supplier: "alice", freeBytes: 1000, issuedMs: NOW_MS, expiresMs: NOW_MS + 60_000 },
    sign,
  );
  const record = signFamilyRecord(
    { owner: "alice", revision: 2, issuedMs: NOW_MS, sealed: new Uint8Array([1, 2, 3]) },
    sign,
  );
  const lease = signLease({
    owner: "alice",
    epoch: 1,
    instance: "0123456789abcdef",
    machine: "laptop",
    issuedMs: NOW_MS,
    expiresMs: NOW_MS + 60_000,
    takeOver: false,
  }, sign);
  const messages: IdServerRequestMessage[] = [
    { type: "identity_fetch", requestId: 1, name: "alice" },
    { type: "identity_publish", requestId: 2, document: aliceDoc },
    { type: "identity_publish", requestId: 3, document: aliceDoc },
    { type: "identity_fetch", requestId: 4, name: "alice" },
    { type: "identity_fetch", requestId: 5, name: "not a name" },
    { type: "identity_publish", requestId: 6, document: new Uint8Array([1, 2, 3]) },
    { type: "offer_announce", requestId: 7, offer },
    { type: "offer_query", requestId: 8, count: 5, minFreeBytes: 10, exclude: ["bob"] },
    { type: "offer_query", requestId: 9, count: 0, minFreeBytes: 0, exclude: [] },
    { type: "family_fetch", requestId: 10, owner: "alice" },
    { type: "family_publish", requestId: 11, record },
    { type: "family_publish", requestId: 12, record },
    { type: "family_fetch", requestId: 13, owner: "alice" },
    { type: "lease_claim", requestId: 14, lease },
    { type: "lease_claim", requestId: 15, lease: { ...lease, owner: "bob" } },
  ];
  for (const message of messages) {
    const got = both(drivers, "n7", message);
    assert.equal(got.facade.length, 1, `one reply to ${message.type} ${message.requestId}`);
    assert.deepEqual(got.facade, got.plain, `${message.type} ${message.requestId}`);
  }
  const counters = drivers.facade.state.counters;
  assert.deepEqual(counters, { asked: 12, answeredLocally: 3, refused: 0, silenced: 0 });
  assert.equal(drivers.facade.state.waiting.size, 0);
});

Deno.test("httpFacade: what HTTP does not carry, and what passes through", () => {
  const drivers = { plain: plain(), facade: facade() };
  both(drivers, "n1", { type: "identity_publish", requestId: 1, document: doc("carol", 3) });
  const takeover = ownDoc("carol", 4);
  const refused = both(drivers, "n2", {
    type: "identity_publish",
    requestId: 2,
    document: takeover,
  });
  const reply = (r: unknown[]) => (r[0] as { message: Message }).message;
  assert.deepEqual(reply(refused.plain), {
    type: "identity_publish_reply",
    requestId: 2,
    name: "carol",
    outcome: "key_changed",
    revision: 3,
  });
  assert.deepEqual(reply(refused.facade), { ...reply(refused.plain), revision: 0 }, "no revision");
  const other = both(drivers, "n3", { type: "offer_query_reply", requestId: 3, offers: [] });
  assert.deepEqual(other, { plain: [], facade: [] });
  assert.equal(drivers.facade.state.server.counters["message.unexpected"], 1, "passed through");
});
