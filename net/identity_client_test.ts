import assert from "node:assert/strict";
import { identityToJson } from "../core/identity.ts";
import { stepCryptoFor } from "../data/signing.ts";
import { signFamilyRecord } from "../core/protocol/identity.ts";
import {
  createIdentity,
  fetchFamilyRecord,
  fetchIdentity,
  publishFamilyRecord,
  publishIdentity,
} from "./identity_client.ts";
import { familyToJson } from "./idserver_http.ts";
import { generateNodeKeys } from "./keys.ts";

const keys = generateNodeKeys("alice");
const sign = stepCryptoFor(keys.signingPrivateKey).sign;
const doc = createIdentity(keys, ["http://ids.test"], [], 1, sign);

function fakeFetch(respond: (req: Request) => Response | Promise<Response>): typeof fetch {
  return (input, init) => Promise.resolve(respond(new Request(input, init)));
}

Deno.test("fetchIdentity() turns every bad answer into a reason", async () => {
  const cases: [Response | "hang" | "refuse", string][] = [
    [new Response("x".repeat(100_000)), "oversized"],
    [new Response("not json"), "malformed"],
    [Response.json({ ...identityToJson(doc), revision: "1" }), "malformed"],
    [new Response("gone", { status: 404 }), "not_found"],
    [new Response("oops", { status: 500 }), "http_error"],
    ["hang", "timeout"],
    ["refuse", "unreachable"],
  ];
  for (const [answer, reason] of cases) {
    const fetch: typeof globalThis.fetch = (_input, init) => {
      if (answer === "refuse") return Promise.reject(new TypeError("connection refused"));
      if (answer !== "hang") return Promise.resolve(answer);
      return new Promise((_, reject) =>
        init?.signal?.addEventListener("abort", () => reject(init.signal!.reason))
      );
    };
    const result = await fetchIdentity("http://ids.test", "alice", { fetch, timeoutMs: 20 });
    assert.equal(result.ok ? "ok" : result.reason, reason);
  }
  const good = await fetchIdentity("http://ids.test", "alice", {
    fetch: fakeFetch(() => Response.json(identityToJson(doc))),
  });
  assert.ok(good.ok);
});

Deno.test("publishIdentity() reports the server's refusal reason", async () => {
  const refused = await publishIdentity("http://ids.test", doc, {
    fetch: fakeFetch(() => Response.json({ error: "key_changed", message: "no" }, { status: 403 })),
  });
  assert.deepEqual(refused, { ok: false, reason: "key_changed", detail: "no" });
  const garbage = await publishIdentity("http://ids.test", doc, {
    fetch: fakeFetch(() => new Response("<html>", { status: 502 })),
  });
  assert.deepEqual(garbage, { ok: false, reason: "http_error", detail: "502" });
  let seenUrl = "";
  const stored = await publishIdentity("http://ids.test", doc, {
    fetch: fakeFetch(async (req) => {
      seenUrl = req.url;
      assert.deepEqual(await req.json(), identityToJson(doc));
      return Response.json({ outcome: "stored" });
    }),
  });
  assert.deepEqual(stored, { ok: true, outcome: "stored" });
  assert.equal(seenUrl, "http://ids.test/alice.json");
});

const family = signFamilyRecord(
  { owner: "alice", revision: 2, issuedMs: 1, sealed: new Uint8Array([1, 2, 3]) },
  sign,
);

Deno.test("fetchFamilyRecord() turns every bad answer into a reason", async () => {
  const cases: [Response, string][] = [
    [new Response("x".repeat(400_000)), "oversized"],
    [new Response("not json"), "malformed"],
    [Response.json({ ...familyToJson(family), sealed: "zz" }), "malformed"],
    [Response.json({ ...familyToJson(family), owner: "bob" }), "malformed"],
    [new Response("gone", { status: 404 }), "not_found"],
    [new Response("wait", { status: 503 }), "starting"],
    [new Response("oops", { status: 500 }), "http_error"],
  ];
  for (const [answer, reason] of cases) {
    const result = await fetchFamilyRecord("http://ids.test", "alice", {
      fetch: fakeFetch(() => answer),
    });
    assert.equal(result.ok ? "ok" : result.reason, reason);
  }
  let seenUrl = "";
  const good = await fetchFamilyRecord("http://ids.test", "alice", {
    fetch: fakeFetch((req) => {
      seenUrl = req.url;
      return Response.json(familyToJson(family));
    }),
  });
  assert.deepEqual(good, { ok: true, record: family });
  assert.equal(seenUrl, "http://ids.test/alice/family");
});

Deno.test("publishFamilyRecord() reports the outcome and the server's revision", async () => {
  const refused = await publishFamilyRecord("http://ids.test", family, {
    fetch: fakeFetch(() =>
      Response.json({ error: "older_revision", message: "no", revision: 5 }, { status: 409 })
    ),
  });
  assert.deepEqual(refused, { ok: false, reason: "older_revision", revision: 5, detail: "no" });
  const garbage = await publishFamilyRecord("http://ids.test", family, {
    fetch: fakeFetch(() => new Response("<html>", { status: 502 })),
  });
  assert.deepEqual(garbage, { ok: false, reason: "http_error", detail: "502" });
  const stored = await publishFamilyRecord("http://ids.test", family, {
    fetch: fakeFetch(async (req) => {
      assert.equal(req.method, "PUT");
      assert.equal(req.url, "http://ids.test/alice/family");
      assert.deepEqual(await req.json(), familyToJson(family));
      return Response.json({ outcome: "stored", owner: "alice", revision: 2 });
    }),
  });
  assert.deepEqual(stored, { ok: true, outcome: "stored", revision: 2 });
});
