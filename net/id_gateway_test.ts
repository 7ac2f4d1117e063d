/**
 * The ID-server gateway against a real `bitdust idserver` process on loopback, and against
 * servers that stall or do not exist.
 *
 * @module
 */

import assert from "node:assert/strict";
import { IDSERVER_NAMES_PER_KEY_MAX } from "../core/limits.ts";
import type { NodeId } from "../core/actor.ts";
import { encodeIdentity, type IdentityDocument, signIdentity } from "../core/identity.ts";
import { type SignedFamilyRecord, signFamilyRecord, signOffer } from "../core/protocol/identity.ts";
import type { Message, MessageOf } from "../core/protocol/mod.ts";
import { stepCryptoFor } from "../data/signing.ts";
import { IdGateway, idServerNodeId, idServerUrl, isIdServerRequest } from "./id_gateway.ts";
import { createIdentity } from "./identity_client.ts";
import { familyToJson } from "./idserver_http.ts";
import { generateNodeKeys, type NodeKeys } from "./keys.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** A running `bitdust idserver`: its node name (`127.0.0.1:port`) and base URL. */
interface Server {
  node: NodeId;
  url: string;
  stop(): Promise<void>;
}

async function startServer(dataDir: string): Promise<Server> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", "idserver", "--port", "0", "--data", dataDir],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  let m: RegExpExecArray | null = null;
  try {
    while (m === null) {
      const { done, value } = await reader.read();
      if (done) throw new Error(`idserver exited before listening: ${seen} ${await stderr}`);
      seen += value;
      m = /^listening http:\/\/(127\.0\.0\.1:\d+)$/m.exec(seen);
    }
  } catch (e) {
    child.kill("SIGKILL");
    await child.status;
    throw e;
  }
  const rest = (async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })();
  const stop = async () => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
    await rest;
    await stderr;
  };
  return { node: m[1], url: `http://${m[1]}`, stop };
}

/** A gateway whose replies are collected, and a way to ask and wait for the answer. */
function harness(options: { timeoutMs?: number; requestsMax?: number } = {}) {
  const replies: { from: NodeId; message: Message }[] = [];
  const gateway = new IdGateway({
    ...options,
    deliver: (from, message) => replies.push({ from, message }),
  });
  let next = 1;
  const ask = async <T extends Message["type"]>(
    to: NodeId,
    build: (requestId: number) => Message,
    type: T,
  ): Promise<MessageOf<T>> => {
    const requestId = next++;
    assert.equal(gateway.send(to, build(requestId)), true);
    await gateway.settled();
    await Promise.resolve(); // local replies are delivered in a microtask
    const got = replies.find((r) => (r.message as { requestId?: number }).requestId === requestId);
    assert.ok(got !== undefined, `no reply to request ${requestId}`);
    assert.equal(got.from, to);
    assert.equal(got.message.type, type);
    return got.message as MessageOf<T>;
  };
  return { gateway, replies, ask };
}

function person(name: string): { keys: NodeKeys; sign: (d: Uint8Array) => Uint8Array } {
  const keys = generateNodeKeys(name);
  return { keys, sign: stepCryptoFor(keys.signingPrivateKey).sign };
}

function resign(doc: IdentityDocument, sign: (d: Uint8Array) => Uint8Array): IdentityDocument {
  const { signature: _, ...body } = doc;
  return signIdentity(body, sign);
}

Deno.test("idServerUrl and idServerNodeId read host:port names", () => {
  assert.equal(idServerUrl("127.0.0.1:8080"), "http://127.0.0.1:8080");
  assert.equal(idServerUrl("ids.example.org:80"), "http://ids.example.org:80");
  assert.equal(idServerUrl("::1:8080"), "http://[::1]:8080");
  assert.equal(idServerUrl("alice"), null);
  assert.equal(idServerUrl("host:0"), null);
  assert.equal(idServerUrl("host:70000"), null);
  assert.equal(idServerUrl("a@b:80"), null);
  assert.equal(idServerNodeId("http://127.0.0.1:8080"), "127.0.0.1:8080");
  assert.equal(idServerNodeId("http://ids.example.org"), "ids.example.org:80");
  assert.equal(idServerNodeId("http://ids.example.org/path"), null);
  assert.equal(idServerNodeId("https://ids.example.org"), null);
});

Deno.test("IdGateway publishes, fetches, announces and queries on a real ID server", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitdust-gateway-" });
  const server = await startServer(dir);
  const { gateway, ask } = harness();
  try {
    const ids = server.node;
    const alice = person("alice");
    const v1 = createIdentity(alice.keys, [server.url], ["tcp://127.0.0.1:7001"], 1000, alice.sign);
    const document = encodeIdentity(v1);
    const publish = (doc: Uint8Array) => (requestId: number): Message => ({
      type: "identity_publish",
      requestId,
      document: doc,
    });
    assert.deepEqual(
      await ask(ids, publish(document), "identity_publish_reply"),
      {
        type: "identity_publish_reply",
        requestId: 1,
        name: "alice",
        outcome: "stored",
        revision: 1,
      },
    );
    const again = await ask(ids, publish(document), "identity_publish_reply");
    assert.equal(again.outcome, "unchanged");
    const fetched = await ask(ids, (requestId) => ({
      type: "identity_fetch",
      requestId,
      name: "alice",
    }), "identity_fetch_reply");
    assert.equal(fetched.outcome, "found");
    assert.deepEqual(fetched.document, document);
    const missing = await ask(ids, (requestId) => ({
      type: "identity_fetch",
      requestId,
      name: "bob",
    }), "identity_fetch_reply");
    assert.equal(missing.outcome, "not_found");
    assert.equal(missing.document, undefined);

    await refusals(ids, ask, alice, v1);
    await offers(ids, ask, alice);
    assert.equal(gateway.counters.timeouts + gateway.counters.unreachable, 0);
    assert.equal(gateway.counters.badAnswers, 0);
  } finally {
    await gateway.close();
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

type Ask = ReturnType<typeof harness>["ask"];
type Person = ReturnType<typeof person>;

async function refusals(ids: NodeId, ask: Ask, alice: Person, v1: IdentityDocument) {
  const outcome = async (doc: Uint8Array) =>
    (await ask(
      ids,
      (requestId) => ({ type: "identity_publish", requestId, document: doc }),
      "identity_publish_reply",
    ))
      .outcome;
  const mallory = person("mallory");
  const takeover = resign(
    { ...v1, signingKey: mallory.keys.signingPublicKey, revision: 5 },
    mallory.sign,
  );
  assert.equal(await outcome(encodeIdentity(takeover)), "key_changed");
  const v3 = resign({ ...v1, revision: 3, dateMs: 3000 }, alice.sign);
  assert.equal(await outcome(encodeIdentity(v3)), "stored");
  const v2 = resign({ ...v1, revision: 2, dateMs: 2000 }, alice.sign);
  assert.equal(await outcome(encodeIdentity(v2)), "older_revision");
  const conflict = resign({ ...v1, revision: 3, dateMs: 3001 }, alice.sign);
  assert.equal(await outcome(encodeIdentity(conflict)), "conflict");
  const forged = encodeIdentity({ ...v3, revision: 9 }); // signature of revision 3
  assert.equal(await outcome(forged), "bad_signature");
  const local = await ask(ids, (requestId) => ({
    type: "identity_publish",
    requestId,
    document: new Uint8Array([1, 2, 3]),
  }), "identity_publish_reply");
  assert.deepEqual([local.outcome, local.name, local.revision], ["malformed", "", 0]);
  // One key holds at most IDSERVER_NAMES_PER_KEY_MAX names (alice holds one already).
  const named = (name: string) => encodeIdentity(resign({ ...v1, name }, alice.sign));
  for (let i = 2; i <= IDSERVER_NAMES_PER_KEY_MAX; i++) {
    assert.equal(await outcome(named(`alice-${i}`)), "stored");
  }
  assert.equal(await outcome(named("alice-more")), "too_many_names");
}

async function offers(ids: NodeId, ask: Ask, alice: Person) {
  const now = Date.now();
  const body = { supplier: "alice", freeBytes: 1 << 30, issuedMs: now, expiresMs: now + 60_000 };
  const offer = signOffer(body, alice.sign);
  const announce = (o: typeof offer) => (requestId: number): Message => ({
    type: "offer_announce",
    requestId,
    offer: o,
  });
  const stored = await ask(ids, announce(offer), "offer_announce_reply");
  assert.deepEqual([stored.supplier, stored.outcome], ["alice", "stored"]);
  assert.equal((await ask(ids, announce(offer), "offer_announce_reply")).outcome, "stale");
  const forged = { ...offer, freeBytes: 1 << 40 };
  assert.equal((await ask(ids, announce(forged), "offer_announce_reply")).outcome, "bad_signature");
  const ghost = signOffer({ ...body, supplier: "ghost" }, person("ghost").sign);
  assert.equal(
    (await ask(ids, announce(ghost), "offer_announce_reply")).outcome,
    "unknown_supplier",
  );
  const old = signOffer({ ...body, issuedMs: now + 1, expiresMs: now - 1 }, alice.sign);
  assert.equal((await ask(ids, announce(old), "offer_announce_reply")).outcome, "invalid");
  const late = signOffer({ ...body, issuedMs: now - 120_000, expiresMs: now - 60_000 }, alice.sign);
  assert.equal((await ask(ids, announce(late), "offer_announce_reply")).outcome, "expired");

  const query = (count: number, exclude: string[] = []) => (requestId: number): Message => ({
    type: "offer_query",
    requestId,
    count,
    minFreeBytes: 1000,
    exclude,
  });
  const found = await ask(ids, query(5), "offer_query_reply");
  assert.deepEqual(found.offers, [offer]);
  assert.deepEqual((await ask(ids, query(5, ["alice"]), "offer_query_reply")).offers, []);
  assert.deepEqual((await ask(ids, query(0), "offer_query_reply")).offers, []);
  assert.deepEqual((await ask(ids, query(500), "offer_query_reply")).offers, [offer]);
}

function familyRecord(who: Person, revision: number, issuedMs = 1): SignedFamilyRecord {
  const sealed = new Uint8Array([revision, 0xbd, 0x00, 0xff]);
  return signFamilyRecord({ owner: who.keys.name, revision, issuedMs, sealed }, who.sign);
}

Deno.test("IdGateway publishes and fetches family records on a real ID server", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitdust-gateway-" });
  const server = await startServer(dir);
  const { gateway, ask } = harness();
  try {
    const ids = server.node;
    const alice = person("alice");
    const publish = (record: SignedFamilyRecord) =>
      ask(
        ids,
        (requestId) => ({ type: "family_publish", requestId, record }),
        "family_publish_reply",
      );
    const fetchRecord = (owner: string) =>
      ask(ids, (requestId) => ({ type: "family_fetch", requestId, owner }), "family_fetch_reply");
    const result = async (record: SignedFamilyRecord) => {
      const r = await publish(record);
      return [r.outcome, r.revision];
    };
    assert.deepEqual(await result(familyRecord(alice, 1)), ["unknown_owner", 0]);
    const v1 = createIdentity(alice.keys, [server.url], [], 1000, alice.sign);
    const published = await ask(ids, (requestId) => ({
      type: "identity_publish",
      requestId,
      document: encodeIdentity(v1),
    }), "identity_publish_reply");
    assert.equal(published.outcome, "stored");

    const missing = await fetchRecord("alice");
    assert.deepEqual([missing.owner, missing.outcome, missing.record], [
      "alice",
      "not_found",
      undefined,
    ]);
    const r2 = familyRecord(alice, 2);
    const stored = await publish(r2);
    assert.deepEqual(stored, {
      type: "family_publish_reply",
      requestId: stored.requestId,
      owner: "alice",
      outcome: "stored",
      revision: 2,
    });
    assert.deepEqual(await result(r2), ["unchanged", 2]);
    assert.deepEqual(await result(familyRecord(alice, 1)), ["older_revision", 2]);
    assert.deepEqual(await result(familyRecord(alice, 2, 99)), ["older_revision", 2]);
    assert.deepEqual(await result({ ...familyRecord(alice, 3), revision: 4 }), [
      "bad_signature",
      2,
    ]);
    const mallory = person("mallory");
    const forged = signFamilyRecord({ ...r2, revision: 5 }, mallory.sign);
    assert.deepEqual(await result(forged), ["bad_signature", 2]);
    const found = await fetchRecord("alice");
    assert.equal(found.outcome, "found");
    assert.deepEqual(found.record, r2);

    // An owner that is no node name is answered without asking: no server could host it.
    const before = gateway.counters.requests;
    const local = await publish(signFamilyRecord({ ...r2, owner: "no such name" }, alice.sign));
    assert.deepEqual([local.owner, local.outcome, local.revision], [
      "no such name",
      "unknown_owner",
      0,
    ]);
    assert.equal((await fetchRecord("a/b")).outcome, "not_found");
    assert.equal(gateway.counters.requests, before);
    assert.equal(gateway.counters.badAnswers + gateway.counters.timeouts, 0);
  } finally {
    await gateway.close();
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("IdGateway maps family refusals by status and ignores nonsense", async () => {
  const alice = person("alice");
  const record = familyRecord(alice, 7);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const path = new URL(req.url).pathname;
    if (req.method === "GET" && path === "/alice/family") {
      return Response.json(familyToJson(record));
    }
    if (req.method === "GET" && path === "/bob/family") return Response.json(familyToJson(record));
    if (req.method === "GET") return new Response("starting", { status: 503 });
    const status = Number(req.headers.get("x-status") ?? "0");
    if (status === 0) return Response.json({ outcome: "stored" }); // no owner, no revision
    return Response.json({ error: "timeout", message: "busy", revision: 6 }, { status });
  });
  const statusOf = new Map<number, number>();
  const replies: { from: NodeId; message: Message }[] = [];
  let requestId = 1;
  const gateway = new IdGateway({
    deliver: (from, message) => replies.push({ from, message }),
    fetch: (input, init) => {
      const headers = new Headers(init?.headers);
      headers.set("x-status", String(statusOf.get(requestId) ?? 0));
      return fetch(input, { ...init, headers });
    },
  });
  try {
    const ids = `127.0.0.1:${server.addr.port}`;
    const outcomes: string[] = [];
    for (const status of [500, 503, 507]) {
      statusOf.set(++requestId, status);
      gateway.send(ids, { type: "family_publish", requestId, record });
      await gateway.settled();
      const reply = replies.pop()?.message;
      assert.ok(reply?.type === "family_publish_reply" && reply.revision === 6);
      outcomes.push(reply.outcome);
    }
    assert.deepEqual(outcomes, ["io_error", "starting", "full"]);
    statusOf.set(++requestId, 0);
    gateway.send(ids, { type: "family_publish", requestId, record });
    for (const owner of ["alice", "bob", "carol"]) {
      gateway.send(ids, { type: "family_fetch", requestId: ++requestId, owner });
    }
    await gateway.settled();
    const got = replies.map((r) => r.message);
    assert.equal(got.length, 2, "alice's record and carol's 'starting'");
    assert.ok(got[0].type === "family_fetch_reply" && got[1].type === "family_fetch_reply");
    const byOwner = Object.fromEntries(
      got.map((m) => m.type === "family_fetch_reply" ? [m.owner, m] : ["", m]),
    );
    assert.deepEqual(byOwner.alice.record, record);
    assert.equal(byOwner.carol.outcome, "starting");
    assert.equal(gateway.counters.badAnswers, 2, "a publish answer without owner; bob got alice's");
  } finally {
    await gateway.close();
    await server.shutdown();
  }
});

Deno.test("IdGateway is silent on unreachable and stalled servers; bounds requests", async () => {
  let release: () => void = () => {};
  const stalled = new Promise<void>((r) => release = r);
  const hang = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async () => {
    await stalled;
    return new Response("late");
  });
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const deadPort = (closed.addr as Deno.NetAddr).port;
  closed.close();
  const { gateway, replies } = harness({ timeoutMs: 200, requestsMax: 2 });
  try {
    const fetchMessage = (requestId: number): Message => ({
      type: "identity_fetch",
      requestId,
      name: "alice",
    });
    const slow = `127.0.0.1:${hang.addr.port}`;
    assert.equal(gateway.send(`127.0.0.1:${deadPort}`, fetchMessage(1)), true);
    assert.equal(gateway.send(slow, fetchMessage(2)), true);
    assert.equal(gateway.send(slow, fetchMessage(3)), true, "taken, then dropped");
    assert.equal(gateway.send("not-an-address", fetchMessage(4)), true);
    const other: Message = { type: "offer_query_reply", requestId: 5, offers: [] };
    assert.equal(gateway.send(slow, other), false, "not an ID-server request");
    assert.equal(isIdServerRequest(other), false);
    await gateway.settled();
    assert.deepEqual(replies, []);
    const c = gateway.counters;
    assert.deepEqual([c.unreachable, c.timeouts, c.droppedBusy, c.droppedBadAddress], [1, 1, 1, 1]);
    // close() aborts what is in flight: no reply afterwards
    const patient = harness({ timeoutMs: 60_000 });
    patient.gateway.send(slow, fetchMessage(6));
    assert.equal(patient.gateway.inFlight, 1);
    await patient.gateway.close();
    assert.equal(patient.gateway.inFlight, 0);
    assert.equal(patient.gateway.send(slow, fetchMessage(7)), true);
    assert.equal(patient.gateway.counters.droppedClosed, 1);
    assert.deepEqual(patient.replies, []);
  } finally {
    await gateway.close();
    release();
    await hang.shutdown();
  }
});

Deno.test("IdGateway ignores answers that make no sense", async () => {
  const answers: Record<string, () => Response> = {
    "/alice.json": () => Response.json({ hello: "world" }),
    "/bob.json": () => new Response("x".repeat(200_000)),
    "/offers": () => Response.json({ offers: [{ supplier: "s" }, "junk"] }),
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const make = answers[new URL(req.url).pathname];
    return make === undefined ? new Response("no", { status: 418 }) : make();
  });
  const { gateway, replies, ask } = harness();
  try {
    const ids = `127.0.0.1:${server.addr.port}`;
    for (const [i, name] of ["alice", "bob", "carol"].entries()) {
      gateway.send(ids, { type: "identity_fetch", requestId: 100 + i, name });
    }
    await gateway.settled();
    assert.deepEqual(replies, []);
    assert.equal(gateway.counters.badAnswers, 3);
    const empty = await ask(ids, (requestId) => ({
      type: "offer_query",
      requestId,
      count: 5,
      minFreeBytes: 0,
      exclude: [],
    }), "offer_query_reply");
    assert.deepEqual(empty.offers, []);
    assert.equal(gateway.counters.badOffers, 2);
  } finally {
    await gateway.close();
    await server.shutdown();
  }
});

Deno.test("IdGateway maps refusals without a known outcome by their status", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const status = req.method === "POST" ? 507 : 503;
    return Response.json({ error: "timeout", message: "the server did not answer" }, { status });
  });
  const { gateway, ask } = harness();
  try {
    const ids = `127.0.0.1:${server.addr.port}`;
    const alice = person("alice");
    const doc = createIdentity(alice.keys, [`http://${ids}`], [], 1000, alice.sign);
    const published = await ask(ids, (requestId) => ({
      type: "identity_publish",
      requestId,
      document: encodeIdentity(doc),
    }), "identity_publish_reply");
    assert.deepEqual([published.name, published.outcome], ["alice", "busy"]);
    const fetched = await ask(ids, (requestId) => ({
      type: "identity_fetch",
      requestId,
      name: "alice",
    }), "identity_fetch_reply");
    assert.equal(fetched.outcome, "starting");
    const now = Date.now();
    const offer = signOffer(
      { supplier: "alice", freeBytes: 1, issuedMs: now, expiresMs: now + 1000 },
      alice.sign,
    );
    const announced = await ask(ids, (requestId) => ({
      type: "offer_announce",
      requestId,
      offer,
    }), "offer_announce_reply");
    assert.equal(announced.outcome, "full");
  } finally {
    await gateway.close();
    await server.shutdown();
  }
});
