/**
 * The ID server as a user runs it: `bitdust idserver` processes on loopback, spoken to over HTTP.
 *
 * @module
 */

import assert from "node:assert/strict";
import http from "node:http";
import {
  idServerActor,
  type IdServerLimits,
  type IdServerProtocol,
  type IdServerState,
  idServerState,
} from "../actors/idserver/mod.ts";
import { Random } from "../core/prng.ts";
import { type BlobStore, MemoryBlobStore } from "../net/blob_store.ts";
import { Host } from "../net/host.ts";
import {
  encodeIdentity,
  type IdentityDocument,
  identityToJson,
  signIdentity,
} from "../core/identity.ts";
import { createIdentityCache } from "../core/identity_cache.ts";
import {
  type FamilyBody,
  type SignedFamilyRecord,
  signFamilyRecord,
  signOffer,
} from "../core/protocol/identity.ts";
import {
  FAMILY_SEALED_BYTES_MAX,
  IDSERVER_BLOCK_REGISTRATIONS_MAX,
  IDSERVER_NAMES_PER_KEY_MAX,
} from "../core/limits.ts";
import { stepCryptoFor } from "../data/signing.ts";
import {
  createIdentity,
  fetchFamilyRecord,
  fetchIdentity,
  IdentityPublisher,
  IdentityResolver,
  publishFamilyRecord,
  publishIdentity,
} from "../net/identity_client.ts";
import { familyToJson, idServerApp, offerToJson } from "../net/idserver_http.ts";
import { generateNodeKeys, type NodeKeys } from "../net/keys.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** A running `bitdust idserver` child process. */
interface Server {
  url: string;
  child: Deno.ChildProcess;
  stop(signal?: Deno.Signal): Promise<number>;
}

async function startServer(dataDir: string, extra: string[] = []): Promise<Server> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", "idserver", "--port", "0", "--data", dataDir, ...extra],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  let url = "";
  while (url === "") {
    const { done, value } = await reader.read();
    if (done) {
      await child.status;
      throw new Error(`idserver exited before listening: ${seen} ${await stderr}`);
    }
    seen += value;
    const m = /^listening (http:\/\/127\.0\.0\.1:\d+)$/m.exec(seen);
    if (m !== null) url = m[1];
  }
  const rest = (async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })();
  let stopped: Promise<number> | undefined;
  const stop = (signal: Deno.Signal = "SIGTERM") => {
    stopped ??= (async () => {
      try {
        child.kill(signal);
      } catch { /* already gone */ }
      const status = await child.status;
      await rest;
      await stderr;
      return status.code;
    })();
    return stopped;
  };
  return { url, child, stop };
}

function person(name: string): { keys: NodeKeys; sign: (d: Uint8Array) => Uint8Array } {
  const keys = generateNodeKeys(name);
  return { keys, sign: stepCryptoFor(keys.signingPrivateKey).sign };
}

function put(url: string, body: BodyInit, type = "application/json") {
  return fetch(url, { method: "PUT", headers: { "content-type": type }, body });
}

async function expectError(res: Response, status: number, error: string): Promise<void> {
  const body = await res.json();
  assert.equal(res.status, status, JSON.stringify(body));
  assert.equal(body.error, error);
  assert.equal(typeof body.message, "string");
}

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "bitdust-idserver-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** `doc`'s fields, signed again by `sign` (which may be somebody else's key). */
function resign(doc: IdentityDocument, sign: (d: Uint8Array) => Uint8Array): IdentityDocument {
  const { signature: _, ...body } = doc;
  return signIdentity(body, sign);
}

type Person = ReturnType<typeof person>;
const json = (doc: IdentityDocument) => JSON.stringify(identityToJson(doc));

/** Uploads revision 1, fetches it, uploads revision 3; returns revision 3. */
async function uploadAndUpdate(server: Server, alice: Person): Promise<IdentityDocument> {
  const url = `${server.url}/alice.json`;
  await expectError(await fetch(url), 404, "not_found");
  const v1 = createIdentity(alice.keys, [server.url], ["tcp://127.0.0.1:7001"], 1000, alice.sign);
  assert.deepEqual(await publishIdentity(server.url, v1), { ok: true, outcome: "stored" });
  const got = await fetch(url);
  assert.equal(got.status, 200);
  assert.deepEqual(await got.json(), identityToJson(v1));
  assert.deepEqual(await publishIdentity(server.url, v1), { ok: true, outcome: "unchanged" });
  const v3 = resign({ ...v1, contacts: [], revision: 3, dateMs: 2000 }, alice.sign);
  assert.deepEqual(await publishIdentity(server.url, v3), { ok: true, outcome: "stored" });
  return v3;
}

/** Every refusal over HTTP: a 4xx status and a JSON error naming the reason. */
async function refusals(server: Server, alice: Person, v3: IdentityDocument): Promise<void> {
  const url = `${server.url}/alice.json`;
  const v2 = resign({ ...v3, revision: 2 }, alice.sign);
  await expectError(await put(url, json(v2)), 409, "older_revision");
  await expectError(await put(url, json({ ...v3, dateMs: 1 })), 403, "bad_signature");
  const conflict = resign({ ...v3, dateMs: 5 }, alice.sign);
  await expectError(await put(url, json(conflict)), 409, "conflict");
  const mallory = person("mallory");
  const takeover = resign(
    { ...v3, revision: 9, signingKey: mallory.keys.signingPublicKey },
    mallory.sign,
  );
  await expectError(await put(url, json(takeover)), 403, "key_changed");
  await expectError(await put(url, "this is not json"), 400, "malformed");
  await expectError(await put(url, JSON.stringify({ name: "alice" })), 400, "malformed");
  await expectError(await put(url, "x".repeat(100_000)), 413, "oversized");
  const garbage = new Uint8Array(50);
  await expectError(await put(url, garbage, "application/octet-stream"), 400, "malformed");
  await expectError(await put(`${server.url}/bob.json`, json(v3)), 400, "name_mismatch");
  await expectError(await put(`${server.url}/a%20b.json`, "{}"), 400, "invalid_name");
  await expectError(await fetch(`${server.url}/?limit=0`), 400, "bad_request");
}

/** A supplier offer announced over HTTP and found by a query. */
async function offers(server: Server, alice: Person): Promise<void> {
  const now = Date.now();
  const offer = signOffer(
    { supplier: "alice", freeBytes: 1 << 30, issuedMs: now, expiresMs: now + 60_000 },
    alice.sign,
  );
  const posted = await fetch(`${server.url}/offers`, {
    method: "POST",
    body: JSON.stringify(offerToJson(offer)),
  });
  assert.deepEqual(await posted.json(), { outcome: "stored" });
  const found = await (await fetch(`${server.url}/offers?count=5&minFreeBytes=1000`)).json();
  assert.deepEqual(found, { offers: [offerToJson(offer)] });
  const none = await (await fetch(`${server.url}/offers?exclude=alice`)).json();
  assert.deepEqual(none, { offers: [] });
  const stale = await fetch(`${server.url}/offers`, {
    method: "POST",
    body: JSON.stringify(offerToJson(offer)),
  });
  await expectError(stale, 409, "stale");
}

Deno.test("idserver over HTTP: upload, fetch, update, refusals, offers, restart", async () => {
  await withTempDir(async (dir) => {
    let server = await startServer(dir);
    try {
      const alice = person("alice");
      const v3 = await uploadAndUpdate(server, alice);
      await refusals(server, alice, v3);
      const v4 = encodeIdentity(resign({ ...v3, revision: 4 }, alice.sign));
      const binary = await put(`${server.url}/alice.json`, v4, "application/octet-stream");
      assert.equal(binary.status, 200, "binary upload");
      await binary.body?.cancel();
      await offers(server, alice);
      // Still serving after all that.
      const list = await (await fetch(`${server.url}/?limit=10`)).json();
      assert.deepEqual(list, { names: ["alice"], next: null });

      assert.equal(await server.stop("SIGTERM"), 0, "clean exit on SIGTERM");
      server = await startServer(dir);
      const after = await fetchIdentity(server.url, "alice");
      assert.ok(after.ok);
      assert.deepEqual(after.bytes, v4, "revision 4 survived the restart");
      await expectError(await put(`${server.url}/alice.json`, json(v3)), 409, "older_revision");
      assert.equal(await server.stop("SIGINT"), 0, "clean exit on SIGINT");
    } finally {
      await server.stop("SIGKILL");
    }
  });
});

function familyRecord(
  who: Person,
  revision: number,
  over: Partial<FamilyBody> = {},
): SignedFamilyRecord {
  const sealed = new TextEncoder().encode(
    `sealed family of ${who.keys.name}, revision ${revision}`,
  );
  return signFamilyRecord(
    { owner: who.keys.name, revision, issuedMs: 1000 + revision, sealed, ...over },
    who.sign,
  );
}

const familyJson = (r: SignedFamilyRecord) => JSON.stringify(familyToJson(r));

/** Uploads, fetches and replaces alice's family record; returns the last one stored. */
async function familyUploads(server: Server, alice: Person): Promise<SignedFamilyRecord> {
  const url = `${server.url}/alice/family`;
  await expectError(await fetch(url), 404, "not_found");
  const r1 = familyRecord(alice, 1);
  const put1 = await put(url, familyJson(r1));
  assert.deepEqual(await put1.json(), { outcome: "stored", owner: "alice", revision: 1 });
  const got = await fetch(url);
  assert.equal(got.status, 200);
  assert.deepEqual(await got.json(), familyToJson(r1));
  assert.deepEqual(await publishFamilyRecord(server.url, r1), {
    ok: true,
    outcome: "unchanged",
    revision: 1,
  });
  const r3 = familyRecord(alice, 3);
  assert.deepEqual(await publishFamilyRecord(server.url, r3), {
    ok: true,
    outcome: "stored",
    revision: 3,
  });
  const fetched = await fetchFamilyRecord(server.url, "alice");
  assert.ok(fetched.ok);
  assert.deepEqual(fetched.record, r3, "a higher revision replaces the record");
  return r3;
}

/** Every refusal of a family record over HTTP; the server keeps serving. */
async function familyRefusals(server: Server, alice: Person, r3: SignedFamilyRecord) {
  const url = `${server.url}/alice/family`;
  const rollback = await put(url, familyJson(familyRecord(alice, 2)));
  assert.equal(rollback.status, 409);
  assert.equal((await rollback.clone().json()).revision, 3, "a refusal says what is held");
  await expectError(rollback, 409, "older_revision");
  const sameRevision = familyRecord(alice, 3, { issuedMs: 1 });
  await expectError(await put(url, familyJson(sameRevision)), 409, "older_revision");
  const mallory = person("mallory");
  const mv1 = createIdentity(mallory.keys, [server.url], [], 1000, mallory.sign);
  assert.ok((await publishIdentity(server.url, mv1)).ok, "mallory is hosted too");
  const forged = signFamilyRecord(
    { owner: "alice", revision: 9, issuedMs: 9, sealed: new Uint8Array(8) },
    mallory.sign,
  );
  await expectError(await put(url, familyJson(forged)), 403, "bad_signature");
  const altered = { ...familyToJson(r3), revision: 10 };
  await expectError(await put(url, JSON.stringify(altered)), 403, "bad_signature");
  const bob = person("bob");
  const bobs = familyRecord(bob, 1);
  await expectError(await put(`${server.url}/bob/family`, familyJson(bobs)), 403, "unknown_owner");
  await expectError(await put(`${server.url}/bob/family`, familyJson(r3)), 400, "name_mismatch");
  await expectError(await put(url, "this is not json"), 400, "malformed");
  await expectError(await put(url, JSON.stringify({ owner: "alice" })), 400, "malformed");
  const upper = { ...familyToJson(r3), signature: familyToJson(r3).signature.toUpperCase() };
  await expectError(await put(url, JSON.stringify(upper)), 400, "malformed");
  const tooBig = { ...familyToJson(r3), sealed: "00".repeat(FAMILY_SEALED_BYTES_MAX + 1) };
  await expectError(await put(url, JSON.stringify(tooBig)), 400, "malformed");
  await expectError(await put(url, "x".repeat(200_000)), 413, "oversized");
  await expectError(await put(`${server.url}/a%20b/family`, familyJson(r3)), 400, "invalid_name");
  const unverified = await fetchFamilyRecord(server.url, "alice");
  assert.ok(unverified.ok);
  assert.deepEqual(unverified.record, r3, "no refusal changed the record");
}

Deno.test("idserver over HTTP: family records: upload, replace, refusals, restart", async () => {
  await withTempDir(async (dir) => {
    let server = await startServer(dir);
    try {
      const alice = person("alice");
      const v1 = createIdentity(alice.keys, [server.url], [], 1000, alice.sign);
      const unknown = await publishFamilyRecord(server.url, familyRecord(alice, 1));
      assert.deepEqual(unknown.ok ? "ok" : [unknown.reason, unknown.revision], [
        "unknown_owner",
        0,
      ]);
      assert.ok((await publishIdentity(server.url, v1)).ok);
      const r3 = await familyUploads(server, alice);
      await familyRefusals(server, alice, r3);
      // The identity moves on (same key): the record stays and can still be replaced.
      const v2 = resign({ ...v1, revision: 2, contacts: ["tcp://127.0.0.1:7002"] }, alice.sign);
      assert.ok((await publishIdentity(server.url, v2)).ok);
      const r4 = familyRecord(alice, 4);
      assert.ok((await publishFamilyRecord(server.url, r4)).ok);

      assert.equal(await server.stop("SIGTERM"), 0, "clean exit on SIGTERM");
      server = await startServer(dir);
      const after = await fetchFamilyRecord(server.url, "alice");
      assert.ok(after.ok);
      assert.deepEqual(after.record, r4, "revision 4 survived the restart");
      await expectError(
        await put(`${server.url}/alice/family`, familyJson(r3)),
        409,
        "older_revision",
      );
      await expectError(await fetch(`${server.url}/mallory/family`), 404, "not_found");
      assert.deepEqual(await fetchFamilyRecord(server.url, "nobody"), {
        ok: false,
        reason: "not_found",
      });
    } finally {
      await server.stop("SIGKILL");
    }
  });
});

Deno.test("rotation: a dead ID server is replaced and a peer's cache follows", async () => {
  await withTempDir(async (dir) => {
    const servers = await Promise.all(["a", "b", "c"].map((n) => startServer(`${dir}/${n}`)));
    const [a, b, c] = servers;
    try {
      const alice = person("alice");
      const known = servers.map((s) => s.url);
      const v1 = createIdentity(alice.keys, [a.url, b.url], ["relay://r1"], 1000, alice.sign);
      const publisher = new IdentityPublisher(alice.keys, v1, known, alice.sign, {
        timeoutMs: 2000,
      });
      const first = await publisher.publishAndRotate();
      assert.ok(first.complete);
      assert.equal(first.document.revision, 1);

      const peerCache = createIdentityCache();
      const peer = new IdentityResolver(peerCache, stepCryptoFor(), { timeoutMs: 2000 });
      const seen = await peer.resolve("alice", [a.url, b.url]);
      assert.ok(seen.ok && seen.status === "new" && seen.source === a.url);

      assert.notEqual(await a.stop("SIGKILL"), 0, "server a is dead");
      const rotated = await publisher.publishAndRotate();
      assert.ok(rotated.complete, JSON.stringify(rotated.results));
      assert.deepEqual(rotated.dropped, [a.url]);
      assert.deepEqual(rotated.document.sources, [b.url, c.url]);
      assert.equal(rotated.document.revision, 2);

      // The peer asks the sources it knows (a is gone, b has revision 2) and follows.
      const followed = await peer.resolve("alice");
      assert.ok(followed.ok, JSON.stringify(followed));
      assert.equal(followed.status, "updated");
      assert.equal(followed.doc.revision, 2);
      assert.deepEqual(followed.doc.sources, [b.url, c.url]);
      const fromC = await fetchIdentity(c.url, "alice");
      assert.ok(fromC.ok);

      // Another key cannot take the name over on the new server, nor roll the peer back.
      const mallory = person("mallory");
      const takeover = resign(
        { ...rotated.document, revision: 3, signingKey: mallory.keys.signingPublicKey },
        mallory.sign,
      );
      const refused = await publishIdentity(c.url, takeover);
      assert.ok(!refused.ok && refused.reason === "key_changed");
      const stale = await peer.resolve("alice", [c.url]);
      assert.ok(stale.ok && stale.status === "unchanged");
    } finally {
      await Promise.all(servers.map((s) => s.stop("SIGKILL")));
    }
  });
});

Deno.test("rotation: with no server left to rotate to, the report says so", async () => {
  await withTempDir(async (dir) => {
    const a = await startServer(`${dir}/a`);
    try {
      const alice = person("alice");
      const v1 = createIdentity(alice.keys, [a.url], [], 1000, alice.sign);
      const publisher = new IdentityPublisher(alice.keys, v1, [a.url], alice.sign, {
        timeoutMs: 2000,
      });
      await a.stop("SIGKILL");
      const report = await publisher.publishAndRotate();
      assert.equal(report.complete, false);
      assert.equal(report.document.revision, 1);
      const r = report.results[0].result;
      assert.ok(!r.ok && r.reason === "unreachable");
    } finally {
      await a.stop("SIGKILL");
    }
  });
});

Deno.test("bitdust idserver: bad flags exit 2 with one line on stderr", async () => {
  for (const args of [["--port", "99999", "--data", "x"], ["--data"], ["--nope"], []]) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "main.ts", "idserver", ...args],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 2, args.join(" "));
    const err = new TextDecoder().decode(out.stderr).trim();
    assert.equal(err.split("\n").length, 1, err);
    assert.match(err, /^bitdust idserver: /);
    assert.equal(out.stdout.length, 0);
  }
});

// ---- flooding (issue 10, finding 9) ----------------------------------------------------------

/** An ID server in this process on 127.0.0.1: its actor's counters are there to read. */
interface LocalServer {
  url: string;
  host: Host<IdServerState, IdServerProtocol>;
  close(): Promise<void>;
}

async function localServer(
  limits: Partial<IdServerLimits> = {},
  store: BlobStore = new MemoryBlobStore(),
): Promise<LocalServer> {
  const host = new Host<IdServerState, IdServerProtocol>({
    actor: idServerActor,
    state: idServerState(limits),
    self: "idserver",
    crypto: stepCryptoFor(),
    random: Random.stream(1),
    store,
  });
  const ready = new Promise<void>((resolve) => {
    const off = host.subscribe((n) => {
      if (n.type === "ready") {
        off();
        resolve();
      }
    });
  });
  host.start();
  await ready;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    idServerApp(host).fetch,
  );
  const url = `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}`;
  return {
    url,
    host,
    close: async () => {
      await server.shutdown();
      await host.stop();
    },
  };
}

/** `PUT /<name>.json` from the loopback source address `from`; the status and the JSON body. */
function putFrom(
  from: string,
  url: string,
  doc: IdentityDocument,
): Promise<{ status: number; body: { outcome?: string; error?: string } }> {
  const target = new URL(`${url}/${doc.name}.json`);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: target.hostname,
      port: Number(target.port),
      path: target.pathname,
      method: "PUT",
      localAddress: from,
      agent: false,
      headers: { "content-type": "application/json" },
    }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => text += chunk);
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on("error", reject);
    req.end(json(doc));
  });
}

/** Revision 1 of `name` under `who`'s key (a fresh key unless given). */
function firstDoc(name: string, url: string, who: Person = person(name)): IdentityDocument {
  return resign({ ...createIdentity(who.keys, [url], [], 1000, who.sign), name }, who.sign);
}

/** What each of `results` says: the outcome, or the refusal's reason. */
function tally(results: { status: number; body: { outcome?: string; error?: string } }[]) {
  const outcomes: Record<string, number> = {};
  for (const r of results) {
    const outcome = r.body.outcome ?? r.body.error ?? String(r.status);
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
  }
  return outcomes;
}

Deno.test("idserver flood: one key cannot fill the server; a new user registers", async () => {
  // Finding 9: 199,154 names under one key filled an ID server, then a new user got `507 full`.
  // The same attack at a smaller scale: a server of 64 names, 200 names under one key.
  const server = await localServer({ identitiesMax: 64 });
  try {
    const mallory = person("mallory");
    const results = [];
    for (let i = 0; i < 200; i++) {
      results.push(await putFrom("127.0.9.1", server.url, firstDoc(`m-${i}`, server.url, mallory)));
    }
    assert.deepEqual(tally(results), {
      stored: IDSERVER_NAMES_PER_KEY_MAX,
      too_many_names: 200 - IDSERVER_NAMES_PER_KEY_MAX,
    });
    assert.ok(results.slice(IDSERVER_NAMES_PER_KEY_MAX).every((r) => r.status === 403));
    const alice = await putFrom("127.0.5.5", server.url, firstDoc("alice", server.url));
    assert.deepEqual([alice.status, alice.body.outcome], [200, "stored"], "a new user registers");
    const got = await fetchIdentity(server.url, "alice");
    assert.ok(got.ok, "and is served");
    assert.equal(server.host.state.counters["publish.too_many_names"], 196);
  } finally {
    await server.close();
  }
});

Deno.test("idserver flood: many keys from one address block: refused past its budget", async () => {
  const server = await localServer();
  try {
    const max = IDSERVER_BLOCK_REGISTRATIONS_MAX;
    // Fresh keys, each with a name of its own, from all over 127.0.7.0/24.
    const flood = (i: number) =>
      putFrom(`127.0.7.${1 + (i % 250)}`, server.url, firstDoc(`f-${i}`, server.url));
    const during = [];
    for (let i = 0; i < max + 20; i++) {
      during.push(await flood(i));
      if (i === max + 5) {
        // An honest user in another block registers in the middle of the flood.
        const bob = await putFrom("127.0.5.5", server.url, firstDoc("bob", server.url));
        assert.deepEqual([bob.status, bob.body.outcome], [200, "stored"], "bob during the flood");
      }
    }
    assert.deepEqual(tally(during), { stored: max, rate_limited: 20 });
    const refused = during[max];
    assert.equal(refused.status, 429);
    // After the flood: the block stays refused, a user from elsewhere is served.
    assert.equal((await flood(1000)).status, 429);
    const carol = await putFrom("127.0.6.6", server.url, firstDoc("carol", server.url));
    assert.deepEqual([carol.status, carol.body.outcome], [200, "stored"], "carol after the flood");
    assert.ok((await fetchIdentity(server.url, "f-0")).ok, "the flood's first names are served");
    const counters = server.host.state.counters;
    assert.equal(counters["publish.rate_limited"], 21);
    assert.equal(counters["publish.stored"], max + 2);
    assert.equal(server.host.state.docs.size, max + 2);
  } finally {
    await server.close();
  }
});

Deno.test("idserver flood: updates and refreshes from a refused block still go", async () => {
  const server = await localServer({ blockRegistrationsMax: 1 });
  try {
    const dave = person("dave");
    const v1 = firstDoc("dave", server.url, dave);
    assert.equal((await putFrom("127.0.8.1", server.url, v1)).body.outcome, "stored");
    const other = await putFrom("127.0.8.2", server.url, firstDoc("eve", server.url));
    assert.deepEqual([other.status, other.body.error], [429, "rate_limited"]);
    assert.equal((await putFrom("127.0.8.1", server.url, v1)).body.outcome, "unchanged");
    const v2 = resign({ ...v1, revision: 2, contacts: ["tcp://127.0.8.1:7000"] }, dave.sign);
    assert.equal((await putFrom("127.0.8.3", server.url, v2)).body.outcome, "stored");
  } finally {
    await server.close();
  }
});

Deno.test("idserver HTTP: the client address comes from app.fetch's second argument", async () => {
  const server = await localServer({ blockRegistrationsMax: 2 });
  try {
    const app = idServerApp(server.host);
    const put = (doc: IdentityDocument, hostname?: string) =>
      app.fetch(
        new Request(`http://ids/${doc.name}.json`, { method: "PUT", body: json(doc) }),
        hostname === undefined
          ? undefined
          : { remoteAddr: { hostname, port: 1, transport: "tcp" } },
      );
    const statuses = [];
    for (
      const [i, address] of ["2001:db8:5:6::1", "2001:db8:5:6:ffff::2", "2001:db8:5:6::3"]
        .entries()
    ) {
      const res = await put(firstDoc(`v6-${i}`, server.url), address);
      statuses.push(res.status);
      if (res.status === 429) assert.ok(Number(res.headers.get("retry-after")) > 0);
      await res.body?.cancel();
    }
    assert.deepEqual(statuses, [200, 200, 429], "one /64 is one block");
    const next = await put(firstDoc("v6-next", server.url), "2001:db8:5:7::1");
    assert.equal(next.status, 200, "the next /64 is another");
    await next.body?.cancel();
    // No address at all: every such request shares the budget of `unknown`.
    const noAddress = [];
    for (let i = 0; i < 3; i++) {
      const res = await put(firstDoc(`anon-${i}`, server.url));
      noAddress.push(res.status);
      await res.body?.cancel();
    }
    assert.deepEqual(noAddress, [200, 200, 429]);
    assert.ok(server.host.state.registrations.blocks.has("unknown"));
  } finally {
    await server.close();
  }
});
