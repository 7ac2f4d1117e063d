/**
 * The ID-server gateway: actors speak to ID servers in messages, real ID servers speak HTTP.
 *
 * Theory of operation. Actors send `identity_publish`, `identity_fetch`, `offer_announce`,
 * `offer_query`, `family_publish`, `family_fetch` and `lease_claim` to an ID server by its node
 * name, as in the simulator. In the real network an ID server's node name is its address
 * `host:port` ({@link idServerUrl}; {@link idServerNodeId} turns a source URL into one), and the
 * real host's `send` hands these seven messages to {@link IdGateway.send} instead of the
 * transport. The gateway makes the HTTP call of `idserver_http.ts` and delivers the answer to
 * the actor as the matching reply message, with the request's `requestId`, from the ID server's
 * node name. What to ask and what an answer means are pure translations in
 * `parts/idserver_wire.ts` (`requestOf`, `replyOf`), which the simulator runs too; this file
 * adds the IO: fetch, timeouts,
 * the bound on requests in flight, abort, counters.
 *
 * | message            | HTTP call                                      | reply          |
 * |--------------------|------------------------------------------------|----------------|
 * | `identity_publish` | `PUT /<name>.json`, the binary document        | `..._reply`    |
 * | `identity_fetch`   | `GET /<name>.json`                             | `..._reply`    |
 * | `offer_announce`   | `POST /offers`, the offer as JSON              | `..._reply`    |
 * | `offer_query`      | `GET /offers?count=&minFreeBytes=&exclude=a,b` | `..._reply`    |
 * | `family_publish`   | `PUT /<owner>/family`, the record as JSON      | `..._reply`    |
 * | `family_fetch`     | `GET /<owner>/family`                          | `..._reply`    |
 * | `lease_claim`      | `PUT /<owner>/lease`, the lease as JSON        | `..._reply`    |
 *
 * Outcomes come from the server's JSON (`outcome`, or `error` on a refusal); an error that is
 * not an outcome of the message is mapped from the HTTP status (503 busy/starting, 507 full, 413
 * oversized, 429 rate_limited; see `replyOf`). A refused identity carries no revision over HTTP,
 * so refused identity publishes are answered with revision 0; a refused family record carries
 * the server's revision, and is answered with it. A document that does not decode has no name to
 * put in the URL: it is answered `malformed` (or the decoder's reason) at once, as the ID server
 * would; likewise a family record whose owner is not a node name is answered `unknown_owner`,
 * and a fetch of such an owner (or of a name that is not one) `not_found`. A query for no offers
 * is answered empty at once.
 *
 * Silence: an unreachable server, a timeout (`timeoutMs`, default
 * {@link ID_GATEWAY_TIMEOUT_MS}), or an answer that makes no sense (not JSON, an unknown status,
 * a document for another name) gives the actor no reply at all; its own timers handle silence,
 * as they do for a lost packet. Each case is counted. At most `requestsMax` (default
 * {@link ID_GATEWAY_REQUESTS_MAX}) requests are in flight; messages beyond are dropped and
 * counted. Answer bodies are read up to a size limit. `close()` aborts what is in flight.
 *
 * @module
 */

import type { NodeId } from "../core/actor.ts";
import { ID_GATEWAY_REQUESTS_MAX } from "../core/limits.ts";
import type { Message } from "../core/protocol/mod.ts";
import {
  type IdServerRequestMessage,
  isIdServerRequest,
  replyOf,
  requestOf,
  type WireRequest,
  type WireResponse,
} from "../parts/idserver_wire.ts";
import { readCapped } from "./identity_client.ts";

export { isIdServerRequest };

/** Default time limit of one HTTP request to an ID server. */
const ID_GATEWAY_TIMEOUT_MS = 15_000;

/**
 * The HTTP base URL of the ID server named `host:port` (an IPv6 host is bracketed), or `null`
 * when the name is not such an address.
 */
export function idServerUrl(server: NodeId): string | null {
  const m = /^(.+):(\d{1,5})$/.exec(server);
  if (m === null) return null;
  const [, host, port] = m;
  if (Number(port) < 1 || Number(port) > 65535) return null;
  if (/^[A-Za-z0-9.-]+$/.test(host)) return `http://${host}:${Number(port)}`;
  if (/^[0-9A-Fa-f:.]+$/.test(host) && host.includes(":")) {
    return `http://[${host}]:${Number(port)}`;
  }
  return null;
}

/**
 * The node name (`host:port`) of the ID server at source URL `url` (`http://host[:port]`, no
 * path; port 80 by default), or `null` when the URL has a path or another scheme.
 */
export function idServerNodeId(url: string): NodeId | null {
  const m = /^http:\/\/([A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(url);
  if (m === null) return null;
  const name = `${m[1]}:${Number(m[2] ?? "80")}`;
  return idServerUrl(name) === null ? null : name;
}

/** What an {@link IdGateway} has done. */
export interface IdGatewayCounters {
  /** HTTP requests made. */
  requests: number;
  /** Replies delivered to the actor (local ones included). */
  answered: number;
  /** Replies given without asking the server (undecodable document, empty query, ...). */
  answeredLocally: number;
  /** Requests that timed out: no reply. */
  timeouts: number;
  /** Requests that could not reach the server: no reply. */
  unreachable: number;
  /** Answers that made no sense (bad status, body or JSON): no reply. */
  badAnswers: number;
  /** Offers in a query answer that did not parse (left out of the reply). */
  badOffers: number;
  /** Messages dropped because `requestsMax` requests were in flight. */
  droppedBusy: number;
  /** Messages to a name that is not a `host:port` address. */
  droppedBadAddress: number;
  /** Messages after `close()`. */
  droppedClosed: number;
}

/** How an {@link IdGateway} is wired. */
export interface IdGatewayOptions {
  /** Hands a reply to the actor, as if `from` had sent it. */
  deliver(from: NodeId, message: Message): void;
  /** Time limit of one request (default {@link ID_GATEWAY_TIMEOUT_MS}). */
  timeoutMs?: number;
  /** Requests in flight at most (default {@link ID_GATEWAY_REQUESTS_MAX}). */
  requestsMax?: number;
  /** The fetch to use (default the global one). */
  fetch?: typeof fetch;
  /** Maps an ID server's node name to its base URL (default {@link idServerUrl}). */
  urlOf?: (server: NodeId) => string | null;
}

/** Why a request got no reply. */
class Silence extends Error {
  constructor(readonly why: "badAnswers" | "timeouts" | "unreachable" | "closed", detail = "") {
    super(`${why} ${detail}`);
  }
}

/** Translates ID-server messages to HTTP and back; see the module comment. */
export class IdGateway {
  /** What the gateway has done since it was made. */
  readonly counters: IdGatewayCounters = {
    requests: 0,
    answered: 0,
    answeredLocally: 0,
    timeouts: 0,
    unreachable: 0,
    badAnswers: 0,
    badOffers: 0,
    droppedBusy: 0,
    droppedBadAddress: 0,
    droppedClosed: 0,
  };
  readonly #o: IdGatewayOptions;
  readonly #inFlight = new Map<Promise<void>, AbortController>();
  #closed = false;

  /** A gateway that hands replies to `options.deliver`. */
  constructor(options: IdGatewayOptions) {
    this.#o = options;
  }

  /** Requests in flight. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /**
   * Takes `message` to the ID server `to` if it is one of the six ID-server requests, and
   * returns `true` (even when it is dropped, see the counters); returns `false` for any other
   * message, which belongs to the transport.
   */
  send(to: NodeId, message: Message): boolean {
    if (!isIdServerRequest(message)) return false;
    if (this.#closed) {
      this.counters.droppedClosed++;
      return true;
    }
    const url = (this.#o.urlOf ?? idServerUrl)(to);
    if (url === null) {
      this.counters.droppedBadAddress++;
      return true;
    }
    const asked = requestOf(message);
    if (asked.kind === "local") {
      this.counters.answeredLocally++;
      queueMicrotask(() => this.#deliver(to, asked.reply));
      return true;
    }
    if (this.#inFlight.size >= (this.#o.requestsMax ?? ID_GATEWAY_REQUESTS_MAX)) {
      this.counters.droppedBusy++;
      return true;
    }
    const controller = new AbortController();
    const { request, responseBytesMax } = asked;
    const exchange = this.#exchange(to, url, message, request, responseBytesMax, controller);
    const done = exchange.finally(() => {
      this.#inFlight.delete(done);
    });
    this.#inFlight.set(done, controller);
    return true;
  }

  #deliver(from: NodeId, reply: Message): void {
    if (this.#closed) return;
    this.counters.answered++;
    try {
      this.#o.deliver(from, reply);
    } catch (e) {
      reportError(e); // the receiving host's bug, not the network's
    }
  }

  async #exchange(
    server: NodeId,
    url: string,
    message: IdServerRequestMessage,
    request: WireRequest,
    responseBytesMax: number,
    controller: AbortController,
  ): Promise<void> {
    const timeoutMs = this.#o.timeoutMs ?? ID_GATEWAY_TIMEOUT_MS;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    try {
      const answer = await this.#call(url, request, responseBytesMax, controller, () => timedOut);
      const got = replyOf(message, answer);
      this.counters.badOffers += got.badOffers;
      if (got.reply === null) throw new Silence("badAnswers", got.why);
      this.#deliver(server, got.reply);
    } catch (e) {
      if (!(e instanceof Silence)) throw e;
      if (e.why !== "closed") this.counters[e.why]++;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Makes `request` of the server at `url`; the answer's body read up to `capBytes`. */
  async #call(
    url: string,
    request: WireRequest,
    capBytes: number,
    controller: AbortController,
    timedOut: () => boolean,
  ): Promise<WireResponse> {
    this.counters.requests++;
    const query = new URLSearchParams(request.query).toString();
    const init: RequestInit = {
      method: request.method,
      headers: request.contentType === "" ? {} : { "content-type": request.contentType },
      body: request.body ?? undefined,
      signal: controller.signal,
    };
    let res: Response;
    try {
      res = await (this.#o.fetch ?? fetch)(
        `${url}${request.path}${query ? `?${query}` : ""}`,
        init,
      );
    } catch (e) {
      throw this.#silence(e, timedOut(), "unreachable");
    }
    let body: Uint8Array | null;
    try {
      body = await readCapped(res, capBytes);
    } catch (e) {
      throw this.#silence(e, timedOut(), "badAnswers");
    }
    if (body === null) throw new Silence("badAnswers", "answer too large");
    // readCapped's bytes are always a fresh ArrayBuffer's
    return { status: res.status, headers: {}, body: body as Uint8Array<ArrayBuffer> };
  }

  #silence(e: unknown, timedOut: boolean, otherwise: "unreachable" | "badAnswers"): Silence {
    if (timedOut) return new Silence("timeouts");
    if (this.#closed) return new Silence("closed");
    return new Silence(otherwise, String(e));
  }

  /** Resolves when no request is in flight. */
  async settled(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight.keys()]);
  }

  /** Aborts every request in flight (their replies are never delivered) and drops later ones. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const controller of this.#inFlight.values()) controller.abort();
    await this.settled();
  }
}
