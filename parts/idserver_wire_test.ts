import assert from "node:assert/strict";
import {
  FAMILY_SEALED_BYTES_MAX,
  IDENTITY_JSON_BYTES_MAX,
  OFFER_QUERY_RESULTS_MAX,
  SIGNATURE_BYTES,
} from "../core/limits.ts";
import type { SignedLease } from "../core/protocol/identity.ts";
import {
  type ClientAsk,
  type IdServerRequestMessage,
  inputOf,
  leaseFromJson,
  leaseToJson,
  replyOf,
  requestBodyBytesMax,
  requestOf,
  responseOf,
  type ServerInput,
  type WireRequest,
  type WireResponse,
} from "./idserver_wire.ts";

const get = (path: string, query: Record<string, string> = {}): WireRequest => ({
  method: "GET",
  path,
  query,
  contentType: "",
  body: null,
});

const put = (path: string, body: unknown, method = "PUT"): WireRequest => ({
  method,
  path,
  query: {},
  contentType: "application/json",
  body: new TextEncoder().encode(typeof body === "string" ? body : JSON.stringify(body)),
});

function refusal(input: ServerInput): { status: number; error: unknown; message: unknown } {
  assert.equal(input.kind, "respond");
  const r = (input as { response: WireResponse }).response;
  const body = JSON.parse(new TextDecoder().decode(r.body));
  return { status: r.status, error: body.error, message: body.message };
}

function asked(a: ClientAsk): WireRequest {
  assert.equal(a.kind, "ask");
  return (a as { request: WireRequest }).request;
}

const lease: SignedLease = {
  owner: "alice",
  epoch: 3,
  instance: "0123456789abcdef",
  machine: "laptop",
  issuedMs: 10,
  expiresMs: 20,
  takeOver: true,
  signature: new Uint8Array(SIGNATURE_BYTES).fill(7),
};

Deno.test("leaseFromJson() reads back leaseToJson(), and refuses what is not a lease", () => {
  const json = JSON.parse(JSON.stringify(leaseToJson(lease)));
  assert.deepEqual(leaseFromJson(json), lease);
  for (const bad of [null, [json], { ...json, owner: "a b" }, { ...json, epoch: -1 }]) {
    assert.equal(leaseFromJson(bad), null);
  }
  assert.equal(leaseFromJson({ ...json, signature: json.signature.slice(2) }), null);
  assert.equal(leaseFromJson({ ...json, takeOver: "yes" }), null);
});

Deno.test("inputOf() answers at once what it need not ask: paths, queries, bodies", () => {
  const at = "10.0.0.1";
  assert.equal(refusal(inputOf(get("/a/b/c"), at)).status, 404);
  assert.equal(refusal(inputOf(put("/alice.json", {}, "POST"), at)).status, 404);
  assert.equal(refusal(inputOf(get("/offers", { count: "0" }), at)).status, 400);
  assert.equal(refusal(inputOf(get("/", { limit: "0" }), at)).error, "bad_request");
  assert.equal(refusal(inputOf(get("/bad name.json"), at)).status, 404);
  assert.equal(refusal(inputOf(put("/alice.json", "{"), at)).error, "malformed");
  const family = requestBodyBytesMax("PUT", "/alice/family");
  assert.ok(family !== null && family > 2 * FAMILY_SEALED_BYTES_MAX);
  const big = put("/alice/family", "x".repeat(family + 1));
  const tooLarge = refusal(inputOf(big, at));
  assert.equal(tooLarge.status, 413);
  assert.match(String(tooLarge.message), /family record/);
  assert.equal(requestBodyBytesMax("PUT", "/alice.json"), IDENTITY_JSON_BYTES_MAX);
  assert.equal(requestBodyBytesMax("GET", "/alice.json"), null, "a GET reads no body");
  const mismatch = refusal(inputOf(put("/bob/lease", leaseToJson(lease)), at));
  assert.deepEqual([mismatch.status, mismatch.error], [400, "name_mismatch"]);
  const list = inputOf(get("/", { after: "b", limit: "5" }), at);
  assert.deepEqual(list, {
    kind: "ask",
    ask: { type: "identity_list", requestId: 0, after: "b", limit: 5 },
  });
});

Deno.test("requestOf() then inputOf(): the server asks what the client meant", () => {
  const message: IdServerRequestMessage = {
    type: "offer_query",
    requestId: 9,
    count: 1000,
    minFreeBytes: 5,
    exclude: ["bob", "not a name", "carol@x"],
  };
  const input = inputOf(asked(requestOf(message)), "10.0.0.1");
  assert.deepEqual(input, {
    kind: "ask",
    ask: {
      type: "offer_query",
      requestId: 0,
      count: OFFER_QUERY_RESULTS_MAX,
      minFreeBytes: 5,
      exclude: ["bob", "carol@x"],
    },
  });
  const claim: IdServerRequestMessage = { type: "lease_claim", requestId: 4, lease };
  const claimed = inputOf(asked(requestOf(claim)), "10.0.0.1");
  assert.deepEqual(claimed, { kind: "ask", ask: { type: "lease_claim", requestId: 0, lease } });
});

Deno.test("no answer from the actor is 503 timeout; the client reads it per message", () => {
  const fetch: IdServerRequestMessage = { type: "identity_fetch", requestId: 1, name: "alice" };
  const input = inputOf(asked(requestOf(fetch)), "10.0.0.1");
  assert.ok(input.kind === "ask");
  const timeout = responseOf(input.ask, null);
  assert.equal(timeout.status, 503);
  assert.equal(timeout.headers["Retry-After"], "1");
  assert.deepEqual(replyOf(fetch, timeout), {
    reply: {
      type: "identity_fetch_reply",
      requestId: 1,
      name: "alice",
      outcome: "starting",
      document: undefined,
    },
    badOffers: 0,
  });
  const query: IdServerRequestMessage = {
    type: "offer_query",
    requestId: 2,
    count: 3,
    minFreeBytes: 0,
    exclude: [],
  };
  assert.equal(replyOf(query, timeout).reply, null, "a query has no outcome for 503: silence");
  const huge = { status: 200, headers: {}, body: new Uint8Array(IDENTITY_JSON_BYTES_MAX + 1) };
  const silent = replyOf(fetch, huge);
  assert.ok(silent.reply === null && silent.why === "answer too large");
});
