/**
 * The simulated ID server behind the real node's HTTP path: a wrapper around the ID-server actor
 * so that the simulator runs the same translations as a real node talking to a real ID server.
 *
 * Theory of operation. A real node hands its ID-server messages to `net/id_gateway.ts`, which
 * makes an HTTP request; the real ID server (`net/idserver_http.ts`) routes it, asks its actor
 * with a command, and turns the actor's notice into the response; the gateway turns that into
 * the node's reply message. {@link httpFacade} does the same for every ID-server request message
 * the simulated ID server receives, with the same pure translators (`parts/idserver_wire.ts`):
 *
 *   message → `requestOf` → request bytes → `inputOf` (the sender's name is its address) →
 *   command to the actor … its notice → `responseOf` → response bytes → `replyOf` → the reply
 *   message, sent to the sender.
 *
 * Requests and responses are written out as HTTP/1.1 text and read back (`encodeRequest` and
 * the rest below), so that paths, queries and bodies cross an encoding as they do on a socket.
 * A reply the client side gives without asking goes straight back; a request the server side
 * refuses at once (bad query, too large) is answered without the actor; an answer that makes no
 * sense to the client is silence (counted), as on a real node.
 *
 * State: the actor's own, and the requests it is answering by the id the facade gave their
 * command (at most `IDSERVER_PENDING_REQUESTS_MAX`; beyond, the request is answered 503
 * `timeout` at once, as the HTTP front does). The actor answers every command, at once or when
 * its blob write completes, so the table only holds writes in progress; no timer of its own.
 * Other inputs and messages pass through unchanged; notices the facade is not waiting for too.
 *
 * @module
 */

import type { Actor, Effect, Input, NodeId, StepContext } from "../core/actor.ts";
import { assert } from "../core/assert.ts";
import { IDSERVER_PENDING_REQUESTS_MAX } from "../core/limits.ts";
import type { IdServerProtocol } from "../actors/idserver/mod.ts";
import {
  type IdServerRequestMessage,
  inputOf,
  isIdServerRequest,
  replyOf,
  requestOf,
  responseOf,
  type ServerAsk,
  type WireRequest,
  type WireResponse,
} from "../parts/idserver_wire.ts";

/** A request the wrapped actor is answering. */
interface Waiting {
  /** Who sent the message, and the message (its reply goes back to them). */
  from: NodeId;
  message: IdServerRequestMessage;
  /** The question the actor was asked. */
  ask: ServerAsk;
}

/** What the facade has done. */
export interface HttpFacadeCounters {
  /** Requests that took the HTTP path to the actor. */
  asked: number;
  /** Replies the client side gave without asking. */
  answeredLocally: number;
  /** Requests the server side answered without the actor. */
  refused: number;
  /** Answers that made no sense to the client side: no reply. */
  silenced: number;
}

/** The state of a wrapped actor: its own, and the requests it is answering. */
export interface HttpFacadeState<S> {
  server: S;
  waiting: Map<number, Waiting>;
  nextId: number;
  counters: HttpFacadeCounters;
}

/** The state of {@link httpFacade}`(actor)` around the actor's state `server`. */
export function httpFacadeState<S>(server: S): HttpFacadeState<S> {
  const counters = { asked: 0, answeredLocally: 0, refused: 0, silenced: 0 };
  return { server, waiting: new Map(), nextId: 1, counters };
}

/** The ID-server actor `actor` behind the HTTP path; see the module header. */
export function httpFacade<S>(
  actor: Actor<S, IdServerProtocol>,
): Actor<HttpFacadeState<S>, IdServerProtocol> {
  return {
    step(state, input, ctx) {
      if (input.kind === "message" && isIdServerRequest(input.message)) {
        return onRequest(actor, state, input.from, input.message, ctx);
      }
      return answered(state, actor.step(state.server, input, ctx));
    },
    nextDeadlineMs: (state) => actor.nextDeadlineMs(state.server),
    invariants(state) {
      actor.invariants(state.server);
      assert(state.waiting.size <= IDSERVER_PENDING_REQUESTS_MAX, "too many requests waiting");
    },
  };
}

type Out = readonly Effect<IdServerProtocol>[];

function onRequest<S>(
  actor: Actor<S, IdServerProtocol>,
  state: HttpFacadeState<S>,
  from: NodeId,
  message: IdServerRequestMessage,
  ctx: StepContext,
): Out {
  const asked = requestOf(message);
  if (asked.kind === "local") {
    state.counters.answeredLocally++;
    return [{ kind: "send", to: from, message: asked.reply }];
  }
  const input = inputOf(decodeRequest(encodeRequest(asked.request)), from);
  if (input.kind === "respond") {
    state.counters.refused++;
    return reply(state, { from, message, response: input.response });
  }
  if (state.waiting.size >= IDSERVER_PENDING_REQUESTS_MAX) {
    state.counters.refused++;
    return reply(state, { from, message, response: responseOf(input.ask, null) });
  }
  state.counters.asked++;
  const requestId = state.nextId++;
  state.waiting.set(requestId, { from, message, ask: input.ask });
  const command: Input<IdServerProtocol> = {
    kind: "command",
    command: { ...input.ask, requestId },
  };
  return answered(state, actor.step(state.server, command, ctx));
}

/** `effects` with the notices that answer waiting requests turned into replies to their senders. */
function answered<S>(state: HttpFacadeState<S>, effects: Out): Out {
  if (!effects.some((e) => e.kind === "notice")) return effects;
  const out: Effect<IdServerProtocol>[] = [];
  for (const e of effects) {
    const notice = e.kind === "notice" ? e.notice : null;
    const w = notice === null || notice.type === "ready"
      ? undefined
      : state.waiting.get(notice.requestId);
    if (notice === null || notice.type === "ready" || w === undefined) {
      out.push(e);
      continue;
    }
    state.waiting.delete(notice.requestId);
    out.push(...reply(state, { ...w, response: responseOf(w.ask, notice) }));
  }
  return out;
}

/** The reply the sender gets from `response` (through its bytes), or none when it is silence. */
function reply<S>(
  state: HttpFacadeState<S>,
  r: { from: NodeId; message: IdServerRequestMessage; response: WireResponse },
): Out {
  const got = replyOf(r.message, decodeResponse(encodeResponse(r.response)));
  if (got.reply === null) {
    state.counters.silenced++;
    return [];
  }
  return [{ kind: "send", to: r.from, message: got.reply }];
}

// -----------------------------------------------------------------------------------------------
// HTTP/1.1 text: what crosses the socket, written out and read back.

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function concat(head: string, body: Uint8Array | null): Uint8Array<ArrayBuffer> {
  const h = encoder.encode(head);
  const out = new Uint8Array(h.length + (body?.length ?? 0));
  out.set(h);
  if (body !== null) out.set(body, h.length);
  return out;
}

/** `request` as HTTP/1.1 bytes. */
export function encodeRequest(request: WireRequest): Uint8Array<ArrayBuffer> {
  const query = new URLSearchParams(request.query).toString();
  let head = `${request.method} ${request.path}${query === "" ? "" : `?${query}`} HTTP/1.1\r\n`;
  if (request.contentType !== "") head += `content-type: ${request.contentType}\r\n`;
  if (request.body !== null) head += `content-length: ${request.body.length}\r\n`;
  return concat(`${head}\r\n`, request.body);
}

/** An HTTP/1.1 message read: its start line, headers (lower-case names) and body. */
interface HttpMessage {
  start: string;
  headers: Map<string, string>;
  body: Uint8Array<ArrayBuffer>;
}

/** The head lines and body of an HTTP/1.1 message. */
function split(bytes: Uint8Array<ArrayBuffer>): HttpMessage {
  let end = -1;
  for (let i = bytes.indexOf(13); i >= 0 && i + 3 < bytes.length; i = bytes.indexOf(13, i + 1)) {
    if (bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      end = i;
      break;
    }
  }
  assert(end >= 0, "an HTTP message without the end of its head");
  const [start, ...lines] = decoder.decode(bytes.subarray(0, end)).split("\r\n");
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(":");
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { start, headers, body: bytes.slice(end + 4) };
}

/** Reads {@link encodeRequest}'s bytes back, as a server parses a request line and head. */
export function decodeRequest(bytes: Uint8Array<ArrayBuffer>): WireRequest {
  const { start, headers, body } = split(bytes);
  const [method, target] = start.split(" ");
  const url = new URL(target, "http://idserver");
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) if (!Object.hasOwn(query, k)) query[k] = v;
  const contentType = headers.get("content-type") ?? "";
  const hasBody = headers.has("content-length");
  assert(!hasBody || Number(headers.get("content-length")) === body.length, "a torn request");
  return { method, path: url.pathname, query, contentType, body: hasBody ? body : null };
}

/** `response` as HTTP/1.1 bytes. */
export function encodeResponse(response: WireResponse): Uint8Array<ArrayBuffer> {
  let head = `HTTP/1.1 ${response.status}\r\ncontent-type: application/json\r\n`;
  for (const [k, v] of Object.entries(response.headers)) head += `${k}: ${v}\r\n`;
  head += `content-length: ${response.body.length}\r\n\r\n`;
  return concat(head, response.body);
}

/** Reads {@link encodeResponse}'s bytes back. */
export function decodeResponse(bytes: Uint8Array<ArrayBuffer>): WireResponse {
  const { start, headers, body } = split(bytes);
  const status = Number(start.split(" ")[1]);
  const rest: Record<string, string> = {};
  for (const [k, v] of headers) if (k !== "content-type" && k !== "content-length") rest[k] = v;
  return { status, headers: rest, body };
}
