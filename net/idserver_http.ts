/**
 * The ID server's HTTP front (hono): turns requests into actor commands and notices into replies.
 *
 * What a request asks and what an answer says are pure translations in `parts/idserver_wire.ts`
 * (`inputOf`, `responseOf`; the simulator runs the same ones); this file is the IO around them:
 * one hono route that builds a `WireRequest` from the request (its body read up to the route's
 * limit), asks the actor through its host, and sends the `WireResponse` back.
 *
 * | method | path             | does                                                           |
 * |--------|------------------|----------------------------------------------------------------|
 * | GET    | `/<name>.json`   | the document as JSON (`identityToJson`); 404 if absent         |
 * | PUT    | `/<name>.json`   | stores a document (JSON, or binary `application/octet-stream`) |
 * | GET    | `/`              | hosted names, sorted: `?after=<name>&limit=<n>` pages (≤ 1000) |
 * | POST   | `/offers`        | announces a signed offer (JSON, see `offerToJson`)             |
 * | GET    | `/offers`        | `?count=&minFreeBytes=&exclude=a,b`: live offers               |
 * | GET    | `/<name>/family` | the family record as JSON (`familyToJson`); 404 if none        |
 * | PUT    | `/<name>/family` | stores a family record (JSON); its `owner` must be `<name>`    |
 * | GET    | `/<name>/lease`  | the writer lease held (`leaseToJson`); 404 if none             |
 * | PUT    | `/<name>/lease`  | claims the writer lease (JSON; `actors/idserver/leases.ts`)    |
 *
 * A lease claim is answered `{ outcome, owner, current?, replaced? }` (the lease held after the
 * claim, and on a take-over the one it replaced), with 200 when granted and otherwise the status
 * of the outcome (`LEASE_STATUS` in the wire module) and the usual `error` and `message`.
 *
 * Every refusal is a 4xx or 5xx with a JSON body `{ "error": <reason>, "message": <sentence> }`;
 * the reason is the actor's outcome (`older_revision`, `key_changed`, ...); a refused family
 * record's answer also carries the `revision` the server holds (0 for none). Bodies over
 * `IDENTITY_JSON_BYTES_MAX` (`FAMILY_JSON_BYTES_MAX` for family records; each route's limit is
 * `requestBodyBytesMax`) are refused with 413 before they are read in full: by their
 * `content-length`, else when the bytes read pass the limit. At most
 * `IDSERVER_PENDING_REQUESTS_MAX` requests wait for the actor at once (503 beyond), each at most
 * {@link REQUEST_TIMEOUT_MS}.
 *
 * Budgets of new names: a `PUT` passes the client's IP address to the actor, which allows at most
 * `IDSERVER_NAMES_PER_KEY_MAX` names per signing key (403 `too_many_names`) and
 * `IDSERVER_BLOCK_REGISTRATIONS_MAX` new names per hour per /24 or /64 (429 `rate_limited`, with
 * `Retry-After`). The address is read from hono's `c.env.remoteAddr.hostname`: the server hands
 * its `ServeHandlerInfo` (`{ remoteAddr }`) to `app.fetch` as the second argument. Behind a
 * reverse proxy every client has the proxy's address and shares its budget. A request with no
 * address (an `app.fetch` without one) is counted as the address `unknown`.
 *
 * @module
 */

import { Hono } from "hono";
import type { Context } from "hono";
import type {
  IdServerNotice,
  IdServerProtocol,
  IdServerRequest,
  IdServerState,
} from "../actors/idserver/mod.ts";
import { IDSERVER_PENDING_REQUESTS_MAX } from "../core/limits.ts";
import {
  inputOf,
  requestBodyBytesMax,
  responseOf,
  serverErrorResponse,
  tooLargeResponse,
  type WireRequest,
  type WireResponse,
} from "../parts/idserver_wire.ts";
import type { Host } from "./host.ts";

export {
  FAMILY_JSON_BYTES_MAX,
  familyFromJson,
  familyToJson,
  leaseToJson,
  offerFromJson,
  offerToJson,
} from "../parts/idserver_wire.ts";
import { readStreamCapped } from "./capped_body.ts";

/** Longest wait for the actor's answer to one request. */
const REQUEST_TIMEOUT_MS = 10_000;

type Answer = Exclude<IdServerNotice, { type: "ready" }>;

/** Matches actor answers to the HTTP requests waiting for them. */
class Pending {
  #next = 1;
  #waiting = new Map<number, (answer: Answer | null) => void>();

  constructor(host: Host<IdServerState, IdServerProtocol>) {
    host.subscribe((notice) => {
      if (notice.type === "ready") return;
      const resolve = this.#waiting.get(notice.requestId);
      if (resolve !== undefined) resolve(notice);
    });
  }

  /** Sends `request` to the actor under a fresh id and waits for its answer; `null`: none. */
  ask(host: Host<IdServerState, IdServerProtocol>, request: IdServerRequest) {
    if (this.#waiting.size >= IDSERVER_PENDING_REQUESTS_MAX) return Promise.resolve(null);
    const id = this.#next++;
    return new Promise<Answer | null>((resolve) => {
      const timer = setTimeout(() => done(null), REQUEST_TIMEOUT_MS);
      const done = (answer: Answer | null) => {
        clearTimeout(timer);
        this.#waiting.delete(id);
        resolve(answer);
      };
      this.#waiting.set(id, done);
      host.deliver({ kind: "command", command: { ...request, requestId: id } });
    });
  }

  /** Requests still waiting. */
  get size(): number {
    return this.#waiting.size;
  }
}

/** Builds the HTTP application of an ID server driven by `host`. */
export function idServerApp(host: Host<IdServerState, IdServerProtocol>): Hono {
  const pending = new Pending(host);
  const app = new Hono();
  app.onError(() => toResponse(serverErrorResponse()));
  app.all("*", async (c) => {
    const request = await wireRequestOf(c);
    if (request === null) return toResponse(tooLargeResponse(c.req.method, pathOf(c)));
    const input = inputOf(request, clientAddress(c));
    if (input.kind === "respond") return toResponse(input.response);
    return toResponse(responseOf(input.ask, await pending.ask(host, input.ask)));
  });
  return app;
}

/** The request's path, percent-encoded as it came. */
function pathOf(c: Context): string {
  return new URL(c.req.url).pathname;
}

/**
 * The request as a value, its body read only when its route reads one and only up to the
 * route's limit; `null` when the body is longer.
 */
async function wireRequestOf(c: Context): Promise<WireRequest | null> {
  const url = new URL(c.req.url);
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) if (!Object.hasOwn(query, k)) query[k] = v;
  const method = c.req.method;
  const max = requestBodyBytesMax(method, url.pathname);
  let body: Uint8Array<ArrayBuffer> | null = null;
  if (max !== null) {
    const declared = Number(c.req.header("content-length") ?? "0");
    if (declared > max) return null;
    body = await readStreamCapped(c.req.raw.body, max);
    if (body === null) return null;
  }
  const contentType = c.req.header("content-type") ?? "";
  return { method, path: url.pathname, query, contentType, body };
}

function toResponse(r: WireResponse): Response {
  const headers = { "content-type": "application/json", ...r.headers };
  return new Response(r.body, { status: r.status, headers });
}

/**
 * The client's IP address: `c.env.remoteAddr.hostname`, which the server passes as the second
 * argument of `app.fetch` (Deno's `ServeHandlerInfo`, or the same shape from a bounded server).
 */
function clientAddress(c: Context): string {
  const env = c.env as { remoteAddr?: { hostname?: unknown } } | undefined;
  const hostname = env?.remoteAddr?.hostname;
  return typeof hostname === "string" && hostname !== "" ? hostname : "unknown";
}
