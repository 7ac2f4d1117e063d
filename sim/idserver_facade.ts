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
 *   message → `requestOf` → request → `inputOf` (the sender's name is its address) →
 *   command to the actor … its notice → `responseOf` → response → `replyOf` → the reply
 *   message, sent to the sender.
 *
 * What crosses is what a socket would let through: no object either side could later change
 * under the other (`crossRequest`; the end of this file says what that takes). The HTTP/1.1
 * framing around it is hono's and fetch's code on a real node, not modelled here.
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
  const input = inputOf(crossRequest(asked.request), from);
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
  // Every answer is JSON, which the client parses afresh: it crosses as it is (see below).
  const got = replyOf(r.message, r.response);
  if (got.reply === null) {
    state.counters.silenced++;
    return [];
  }
  return [{ kind: "send", to: r.from, message: got.reply }];
}

// -----------------------------------------------------------------------------------------------
// What crosses the socket. (The HTTP/1.1 text framing itself is not modelled: it cost 2.5% of a
// simulated run and is hono's and fetch's code on a real node, not ours.) A copy is made only
// where one side keeps what the other made: a binary body, which the server stores as the
// identity document. JSON bodies are parsed into fresh values by the reader and kept by no one,
// and query values are strings, so those cross as they are (copying them cost 0.7% of a run).

/** `request` as the server receives it: a binary body copied, the rest as it is. */
function crossRequest(request: WireRequest): WireRequest {
  const binary = request.body !== null && request.contentType !== "application/json";
  return binary ? { ...request, body: request.body!.slice() } : request;
}
