/**
 * A small, bounded HTTP/1.1 server over `Deno.listen`, for every HTTP server bitdust runs (the ID
 * server, the daemon's local API). `Deno.serve` has no header, body, idle or write timeout and no
 * connection cap (denoland/deno#3515), and `node:http` in Deno 2.9 honours `maxConnections` but
 * not `headersTimeout`: 3,000 slowloris connections stayed open a minute and about 20,000 made the
 * process die with `Too many open files`. This server turns each request into a web `Request`,
 * calls a fetch-style handler (hono's `app.fetch`) as `handler(request, info)` with `info` shaped
 * like `Deno.ServeHandlerInfo` (`remoteAddr`, `completed`), and writes the `Response` back.
 *
 * Theory of operation.
 *
 * - Admission. A connection counts against a total cap and against the cap of its address block
 *   (IPv4 /24, IPv6 /64). The total cap is lowered to the process's open-files limit minus
 *   `HTTP_DESCRIPTORS_RESERVED`, so descriptors never run out. At a cap the server sheds the
 *   connection that has waited longest without a request being served (idle, still sending its
 *   head or body, or draining a refusal), taken from the biggest block for the total cap; only
 *   when every connection in scope is being answered is the newcomer refused (accepted and closed
 *   at once). Shedding the oldest waiter rather than the newcomer is what keeps a legitimate user
 *   served: its head arrives within a round trip of its connection, while an attacker's slots are
 *   the oldest and go first; refusing newcomers would let any attacker holding the cap lock
 *   everyone out until the header deadline, again and again.
 * - Phases of a connection, one deadline each: waiting for a head (`HTTP_HEADER_TIMEOUT_MS` from
 *   the connection's start or, on a kept-alive connection, from the next request's first byte,
 *   after at most `HTTP_IDLE_TIMEOUT_MS` idle), reading the body (`HTTP_BODY_TIMEOUT_MS`), the
 *   handler (`HTTP_HANDLER_TIMEOUT_MS`, then 503), writing the whole response
 *   (`HTTP_WRITE_TIMEOUT_MS`: a client that stops reading is cut off). A head over
 *   `HTTP_HEADER_BYTES_MAX` is 431, a body over `HTTP_BODY_BYTES_MAX` is 413 before it is read,
 *   and bodies held for all connections together are bounded by `HTTP_BODY_BUFFER_BYTES_MAX`
 *   (503 beyond). A connection serves at most `HTTP_REQUESTS_PER_CONNECTION_MAX` requests.
 * - Parsing is strict, against request smuggling: CRLF line ends only (a bare CR or LF is 400), no
 *   obs-fold, no control bytes, a token for every field name with no space before the colon, one
 *   Host (required in HTTP/1.1), at most one Content-Length of digits only, no Transfer-Encoding
 *   at all (chunked request bodies are 411, other codings 501, together with Content-Length 400),
 *   origin-form targets only. Every refusal that can still be answered is answered (JSON
 *   `{ error, message }`, `connection: close`), then the connection drains unread bytes for at
 *   most `HTTP_LINGER_MS` so the answer is not lost to a reset, and closes.
 * - Responses carry a Content-Length when the body fits `HTTP_RESPONSE_BUFFER_BYTES_MAX`, else
 *   they are chunked (HTTP/1.1) or end with the connection (HTTP/1.0). No route of ours streams.
 * - Shutdown stops accepting, closes the connections that wait for a request, lets the requests
 *   in flight finish (their answers say `connection: close`), and resolves once all are closed.
 * - A closed socket's descriptor is freed only once its pending read is cancelled, so under a
 *   flood of evictions accepting pauses while `HTTP_CLOSING_MAX` of them are still in the
 *   runtime's hands: descriptors stay below the cap plus that.
 * - Accept errors (EMFILE and the like) are counted and the loop backs off for a moment, up to
 *   `HTTP_ACCEPT_BACKOFF_MS_MAX`, then keeps serving.
 * - Every refusal is counted in {@link HttpCounters}.
 *
 * @example
 * ```ts
 * const server = serveHttp({ hostname: "127.0.0.1", port: 0 }, () => new Response("hi"));
 * await server.shutdown();
 * ```
 *
 * @module
 */

import { addressBlock } from "../core/address.ts";
import {
  HTTP_ACCEPT_BACKOFF_MS_MAX,
  HTTP_BODY_BUFFER_BYTES_MAX,
  HTTP_BODY_BYTES_MAX,
  HTTP_BODY_TIMEOUT_MS,
  HTTP_CLOSING_MAX,
  HTTP_CONNECTIONS_MAX,
  HTTP_CONNECTIONS_PER_BLOCK_MAX,
  HTTP_DESCRIPTORS_RESERVED,
  HTTP_HANDLER_TIMEOUT_MS,
  HTTP_HEADER_BYTES_MAX,
  HTTP_HEADER_FIELDS_MAX,
  HTTP_HEADER_TIMEOUT_MS,
  HTTP_IDLE_TIMEOUT_MS,
  HTTP_LINGER_BYTES_MAX,
  HTTP_LINGER_MS,
  HTTP_REQUESTS_PER_CONNECTION_MAX,
  HTTP_RESPONSE_BUFFER_BYTES_MAX,
  HTTP_WRITE_TIMEOUT_MS,
} from "../core/limits.ts";

/** Every bound of one server; see the module comment. */
export interface HttpLimits {
  connectionsMax: number;
  connectionsPerBlockMax: number;
  headerTimeoutMs: number;
  headerBytesMax: number;
  headerFieldsMax: number;
  bodyBytesMax: number;
  bodyTimeoutMs: number;
  bodyBufferBytesMax: number;
  idleTimeoutMs: number;
  requestsPerConnectionMax: number;
  writeTimeoutMs: number;
  handlerTimeoutMs: number;
  lingerMs: number;
  lingerBytesMax: number;
}

/** The limits of a public server (the ID server), from `core/limits.ts`. */
export const HTTP_LIMITS: Readonly<HttpLimits> = Object.freeze({
  connectionsMax: HTTP_CONNECTIONS_MAX,
  connectionsPerBlockMax: HTTP_CONNECTIONS_PER_BLOCK_MAX,
  headerTimeoutMs: HTTP_HEADER_TIMEOUT_MS,
  headerBytesMax: HTTP_HEADER_BYTES_MAX,
  headerFieldsMax: HTTP_HEADER_FIELDS_MAX,
  bodyBytesMax: HTTP_BODY_BYTES_MAX,
  bodyTimeoutMs: HTTP_BODY_TIMEOUT_MS,
  bodyBufferBytesMax: HTTP_BODY_BUFFER_BYTES_MAX,
  idleTimeoutMs: HTTP_IDLE_TIMEOUT_MS,
  requestsPerConnectionMax: HTTP_REQUESTS_PER_CONNECTION_MAX,
  writeTimeoutMs: HTTP_WRITE_TIMEOUT_MS,
  handlerTimeoutMs: HTTP_HANDLER_TIMEOUT_MS,
  lingerMs: HTTP_LINGER_MS,
  lingerBytesMax: HTTP_LINGER_BYTES_MAX,
});

/** What the server did and refused, since it started. */
export interface HttpCounters {
  /** Connections accepted from the listener (refused ones included). */
  accepted: number;
  /** Connections open now. */
  open: number;
  /** Requests handed to the handler. */
  requests: number;
  /** Newcomers closed at once: the total cap was reached and every connection was answering. */
  refusedFull: number;
  /** Newcomers closed at once: their block's cap was reached and all of it was answering. */
  refusedBlock: number;
  /** Connections closed to make room for a newcomer (the oldest waiting one). */
  evicted: number;
  /** Failed `accept()` calls (descriptors exhausted, ...), each followed by a short pause. */
  acceptErrors: number;
  /** Heads that did not arrive in time (408 when some bytes had come). */
  headerTimeouts: number;
  /** Kept-alive connections closed after sitting idle. */
  idleTimeouts: number;
  /** Bodies that did not arrive in time (408). */
  bodyTimeouts: number;
  /** Responses the client did not read in time (connection cut). */
  writeTimeouts: number;
  /** Requests the handler did not answer in time (503). */
  handlerTimeouts: number;
  /** Heads over the size or field-count cap (431). */
  headerTooLarge: number;
  /** Bodies declared over the cap (413). */
  bodyTooLarge: number;
  /** Bodies refused because all connections' bodies together would pass their budget (503). */
  bodyBudgetFull: number;
  /** Malformed or ambiguous heads (400, 411, 417, 501, 505). */
  badRequests: number;
  /** Requests whose handler threw or returned no `Response` (500). */
  handlerErrors: number;
}

/** The second argument of the handler: the same shape as `Deno.ServeHandlerInfo`. */
export interface HttpHandlerInfo {
  remoteAddr: Deno.NetAddr;
  /** Resolves once the response is written; rejects (`Deno.errors.Interrupted`) if it was not. */
  completed: Promise<void>;
}

/** A fetch-style handler, such as hono's `app.fetch`. */
export type HttpHandler = (
  request: Request,
  info: HttpHandlerInfo,
) => Response | Promise<Response>;

/** Where to listen and how. */
export interface HttpServerOptions {
  hostname: string;
  port: number;
  /** Overrides of {@link HTTP_LIMITS}. */
  limits?: Partial<HttpLimits>;
  /** Called once the socket is bound. */
  onListen?: (addr: Deno.NetAddr) => void;
  /** Called with what a handler threw (default: one line on stderr). */
  onError?: (error: unknown) => void;
}

/** What the server needs of a listener (a `Deno.TcpListener`; tests pass failing ones). */
export interface Acceptor {
  readonly addr: Deno.Addr;
  accept(): Promise<Deno.Conn>;
  close(): void;
}

/** Binds `options.hostname:port` and serves `handler` there; throws when it cannot bind. */
export function serveHttp(options: HttpServerOptions, handler: HttpHandler): HttpServer {
  const listener = Deno.listen({ hostname: options.hostname, port: options.port });
  const limits = { ...HTTP_LIMITS, ...options.limits };
  const files = openFilesLimit();
  if (files !== null) {
    const room = Math.max(16, files - HTTP_DESCRIPTORS_RESERVED);
    limits.connectionsMax = Math.min(limits.connectionsMax, room);
  }
  const server = new HttpServer(listener, handler, { ...options, limits });
  options.onListen?.(server.addr);
  return server;
}

/** The soft open-files limit of this process (Linux), or `null` when it cannot be read. */
function openFilesLimit(): number | null {
  try {
    const text = Deno.readTextFileSync("/proc/self/limits");
    const m = /^Max open files\s+(\d+)/m.exec(text);
    return m === null ? null : Number(m[1]);
  } catch {
    return null;
  }
}

/** A request head as the server understood it. */
export interface RequestHead {
  method: string;
  /** The origin-form target: path and query. */
  target: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1 (and later 1.x). */
  minor: 0 | 1;
  headers: [string, string][];
  host: string | null;
  contentLength: number;
  /** The exchange ends the connection (`Connection: close`, or HTTP/1.0). */
  close: boolean;
  expectContinue: boolean;
}

/** Why a head was refused: the status to answer with and a short error code. */
export interface HeadRefusal {
  refused: true;
  status: 400 | 411 | 413 | 417 | 431 | 501 | 505;
  error: string;
  message: string;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const TARGET = /^\/[\x21-\x22\x24-\x7e]*$/; // visible ASCII without '#'
const VERSION = /^HTTP\/(\d)\.(\d)$/;
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]+)(?::\d{0,5})?$/;
const UNSUPPORTED_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);

function refusal(status: HeadRefusal["status"], error: string, message: string): HeadRefusal {
  return { refused: true, status, error, message };
}

function latin1(bytes: Uint8Array, from: number, to: number): string {
  let s = "";
  for (let at = from; at < to; at += 8192) {
    s += String.fromCharCode(...bytes.subarray(at, Math.min(to, at + 8192)));
  }
  return s;
}

/** Splits a head into lines; refuses bare CR or LF and control bytes. */
function headLines(head: Uint8Array): string[] | HeadRefusal {
  const lines: string[] = [];
  let start = 0;
  for (let i = 0; i < head.length; i++) {
    const b = head[i];
    if (b === 0x0d) {
      if (head[i + 1] !== 0x0a) return refusal(400, "bad_request", "a bare CR in the head");
      lines.push(latin1(head, start, i));
      start = ++i + 1;
    } else if (b === 0x0a) {
      return refusal(400, "bad_request", "a bare LF in the head");
    } else if ((b < 0x20 && b !== 0x09) || b === 0x7f) {
      return refusal(400, "bad_request", "a control byte in the head");
    }
  }
  if (start !== head.length || lines.length < 2 || lines[lines.length - 1] !== "") {
    return refusal(400, "bad_request", "the head does not end with an empty line");
  }
  return lines.slice(0, -1);
}

/** Parses the request line; `minor` is the HTTP/1 minor version. */
function requestLine(line: string): [string, string, 0 | 1] | HeadRefusal {
  const parts = line.split(" ");
  if (parts.length !== 3) return refusal(400, "bad_request", "a malformed request line");
  const [method, target, version] = parts;
  if (!TOKEN.test(method)) return refusal(400, "bad_request", "a malformed method");
  const v = VERSION.exec(version);
  if (v === null) return refusal(400, "bad_request", "a malformed HTTP version");
  if (v[1] !== "1") return refusal(505, "version_not_supported", "only HTTP/1.x is served");
  if (!TARGET.test(target)) return refusal(400, "bad_request", "the target must be a path");
  if (UNSUPPORTED_METHODS.has(method.toUpperCase())) {
    return refusal(501, "not_implemented", `${method} is not served`);
  }
  return [method, target, v[2] === "0" ? 0 : 1];
}

/** Parses the header field lines. */
function fieldLines(lines: string[], fieldsMax: number): [string, string][] | HeadRefusal {
  if (lines.length > fieldsMax) return refusal(431, "headers_too_large", "too many header fields");
  const fields: [string, string][] = [];
  for (const line of lines) {
    if (line[0] === " " || line[0] === "\t") {
      return refusal(400, "bad_request", "folded header lines are not accepted");
    }
    const colon = line.indexOf(":");
    const name = colon < 0 ? "" : line.slice(0, colon);
    if (!TOKEN.test(name)) return refusal(400, "bad_request", "a malformed header field name");
    fields.push([name.toLowerCase(), line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "")]);
  }
  return fields;
}

/**
 * Parses a request head: the bytes from the request line through the empty line that ends it.
 * Refuses, as a value, anything ambiguous (see the module comment). Never throws.
 */
export function parseRequestHead(
  head: Uint8Array,
  limits: Pick<HttpLimits, "headerFieldsMax" | "bodyBytesMax">,
): RequestHead | HeadRefusal {
  const lines = headLines(head);
  if ("refused" in lines) return lines;
  const first = requestLine(lines[0]);
  if ("refused" in first) return first;
  const [method, target, minor] = first;
  const headers = fieldLines(lines.slice(1), limits.headerFieldsMax);
  if ("refused" in headers) return headers;
  const all = (name: string) => headers.filter(([n]) => n === name).map(([, v]) => v);
  const hosts = all("host");
  if (hosts.length > 1 || (minor === 1 && hosts.length === 0)) {
    return refusal(400, "bad_request", "a request must name exactly one Host");
  }
  if (hosts.length === 1 && !HOST.test(hosts[0])) {
    return refusal(400, "bad_request", "a malformed Host");
  }
  const lengths = all("content-length");
  const codings = all("transfer-encoding");
  if (codings.length > 0 && lengths.length > 0) {
    return refusal(400, "bad_request", "both Content-Length and Transfer-Encoding");
  }
  if (codings.length > 0) {
    if (minor === 0) return refusal(400, "bad_request", "Transfer-Encoding in HTTP/1.0");
    const chunked = codings.length === 1 && /^chunked$/i.test(codings[0]);
    return chunked
      ? refusal(411, "length_required", "send the body with a Content-Length")
      : refusal(501, "not_implemented", "transfer codings are not accepted");
  }
  if (lengths.length > 1 || (lengths.length === 1 && !/^\d{1,15}$/.test(lengths[0]))) {
    return refusal(400, "bad_request", "a malformed Content-Length");
  }
  const contentLength = lengths.length === 0 ? 0 : Number(lengths[0]);
  if (contentLength > limits.bodyBytesMax) {
    return refusal(413, "oversized", `bodies are at most ${limits.bodyBytesMax} bytes`);
  }
  const expect = all("expect");
  const expectContinue = expect.length === 1 && /^100-continue$/i.test(expect[0]);
  if (expect.length > 0 && !expectContinue) {
    return refusal(417, "expectation_failed", "only Expect: 100-continue is understood");
  }
  const tokens = all("connection").flatMap((v) => v.toLowerCase().split(",").map((t) => t.trim()));
  const close = minor === 0 || tokens.includes("close");
  const host = hosts.length === 1 ? hosts[0] : null;
  return { method, target, minor, headers, host, contentLength, close, expectContinue };
}

/**
 * Where a head that starts at `floor` ends, scanning `buf[from, to)`: just after its empty line;
 * -1 when not there yet; -2 when two LFs meet without CRs (a bare-LF head, refused at once
 * rather than left to time out).
 */
function headEnd(buf: Uint8Array, floor: number, from: number, to: number): number {
  for (let i = from; i < to; i++) {
    if (buf[i] !== 0x0a) continue;
    const crlfcrlf = buf[i - 1] === 0x0d && buf[i - 2] === 0x0a && buf[i - 3] === 0x0d;
    if (i - 3 >= floor && crlfcrlf) return i + 1;
    if (i - 1 >= floor && buf[i - 1] === 0x0a) return -2;
  }
  return -1;
}

const REASONS: Record<number, string> = {
  100: "Continue",
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  301: "Moved Permanently",
  302: "Found",
  304: "Not Modified",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  411: "Length Required",
  413: "Content Too Large",
  417: "Expectation Failed",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
  505: "HTTP Version Not Supported",
  507: "Insufficient Storage",
};

/** Headers the server sets itself; a handler's values for them are dropped. */
const HOP_BY_HOP = new Set([
  "connection",
  "content-length",
  "keep-alive",
  "transfer-encoding",
  "upgrade",
  "proxy-connection",
]);

const encoder = new TextEncoder();
const READ_BYTES = 4096;

type Phase = "waiting" | "body" | "busy" | "closing";

/** One accepted connection: its buffer, its one deadline, and its place in the tables. */
class Connection {
  phase: Phase = "waiting";
  /** When it last started waiting for a request (eviction takes the oldest first). */
  since = performance.now();
  requests = 0;
  closed = false;
  buf = new Uint8Array(READ_BYTES);
  start = 0;
  end = 0;
  bodyReserved = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly conn: Deno.Conn,
    readonly remote: Deno.NetAddr,
    readonly block: string,
    readonly onClose: (c: Connection) => void,
  ) {}

  get buffered(): number {
    return this.end - this.start;
  }

  arm(ms: number, expire: () => void): void {
    this.disarm();
    this.#timer = setTimeout(expire, ms);
  }

  disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Reads into the buffer (compacting or growing it first); false on EOF, error or close. */
  async fill(): Promise<boolean> {
    if (this.closed) return false;
    if (this.end === this.buf.length) {
      const size = this.buffered;
      const next = this.start > 0 && size < this.buf.length / 2
        ? this.buf
        : new Uint8Array(this.buf.length * 2);
      next.set(this.buf.subarray(this.start, this.end), 0);
      this.buf = next;
      this.start = 0;
      this.end = size;
    }
    const n = await this.readInto(this.buf.subarray(this.end));
    if (n === null) return false;
    this.end += n;
    return true;
  }

  /** One read into `into`; `null` on EOF, error or close. */
  async readInto(into: Uint8Array): Promise<number | null> {
    if (this.closed) return null;
    let n: number | null;
    try {
      n = await this.conn.read(into);
    } catch {
      n = null;
    }
    return n === null || this.closed ? null : n;
  }

  /** Moves up to `max` buffered bytes out (a view, valid until the next fill). */
  take(max: number): Uint8Array {
    const n = Math.min(max, this.buffered);
    const out = this.buf.subarray(this.start, this.start + n);
    this.start += n;
    return out;
  }

  /** Forgets consumed bytes; gives a grown buffer back once it is empty. */
  settle(): void {
    if (this.buffered > 0) return;
    this.start = this.end = 0;
    if (this.buf.length > READ_BYTES) this.buf = new Uint8Array(READ_BYTES);
  }

  async write(bytes: Uint8Array): Promise<boolean> {
    let at = 0;
    while (at < bytes.length) {
      if (this.closed) return false;
      try {
        at += await this.conn.write(bytes.subarray(at));
      } catch {
        this.close();
        return false;
      }
    }
    return !this.closed;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.disarm();
    try {
      this.conn.close();
    } catch {
      // already closed by the peer's reset
    }
    this.onClose(this);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A running server; see the module comment. Made by {@link serveHttp}. */
export class HttpServer {
  /** Where it listens. */
  readonly addr: Deno.NetAddr;
  /** Resolves once the server stopped accepting and every connection is closed. */
  readonly finished: Promise<void>;
  /** The limits in force (the total cap already lowered to the open-files limit). */
  readonly limits: Readonly<HttpLimits>;
  readonly #listener: Acceptor;
  readonly #handler: HttpHandler;
  readonly #onError: (e: unknown) => void;
  readonly #conns = new Set<Connection>();
  readonly #blocks = new Map<string, Set<Connection>>();
  readonly #counters: HttpCounters = {
    accepted: 0,
    open: 0,
    requests: 0,
    refusedFull: 0,
    refusedBlock: 0,
    evicted: 0,
    acceptErrors: 0,
    headerTimeouts: 0,
    idleTimeouts: 0,
    bodyTimeouts: 0,
    writeTimeouts: 0,
    handlerTimeouts: 0,
    headerTooLarge: 0,
    bodyTooLarge: 0,
    bodyBudgetFull: 0,
    badRequests: 0,
    handlerErrors: 0,
  };
  #bodyBytes = 0;
  /** Serve loops running: open connections and closed ones whose last read has not ended. */
  #loops = 0;
  #closing = false;
  #accepting = true;
  #finish: () => void = () => {};

  /** Serves `handler` on connections from `listener` (use {@link serveHttp} to bind one). */
  constructor(
    listener: Acceptor,
    handler: HttpHandler,
    options: { limits?: Partial<HttpLimits>; onError?: (e: unknown) => void } = {},
  ) {
    this.#listener = listener;
    this.#handler = handler;
    this.limits = Object.freeze({ ...HTTP_LIMITS, ...options.limits });
    this.#onError = options.onError ??
      ((e) => console.error(`http: handler failed: ${e instanceof Error ? e.stack : e}`));
    this.addr = listener.addr as Deno.NetAddr;
    this.finished = new Promise((resolve) => this.#finish = resolve);
    void this.#acceptLoop();
  }

  /** A snapshot of the counters. */
  counters(): HttpCounters {
    return { ...this.#counters, open: this.#conns.size };
  }

  /** Stops accepting, closes waiting connections, lets requests in flight finish. */
  shutdown(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      try {
        this.#listener.close();
      } catch {
        // already closed
      }
      for (const c of [...this.#conns]) {
        if (c.phase === "waiting" || c.phase === "closing") c.close();
      }
      this.#checkFinished();
    }
    return this.finished;
  }

  async #acceptLoop(): Promise<void> {
    let pause = 0;
    while (!this.#closing) {
      // Descriptors of closed connections are freed once their reads are cancelled.
      while (this.#loops - this.#conns.size >= HTTP_CLOSING_MAX && !this.#closing) await sleep(1);
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
        pause = 0;
      } catch (e) {
        if (this.#closing || e instanceof Deno.errors.BadResource) break;
        this.#counters.acceptErrors++;
        pause = Math.min(HTTP_ACCEPT_BACKOFF_MS_MAX, pause === 0 ? 10 : pause * 2);
        await sleep(pause);
        continue;
      }
      this.#counters.accepted++;
      if (this.#closing) {
        conn.close();
        break;
      }
      this.#admit(conn);
    }
    this.#accepting = false;
    this.#checkFinished();
  }

  #checkFinished(): void {
    if (this.#closing && !this.#accepting && this.#conns.size === 0) this.#finish();
  }

  #admit(conn: Deno.Conn): void {
    const remote = conn.remoteAddr as Deno.NetAddr;
    const block = addressBlock(remote.hostname ?? "");
    const peers = this.#blocks.get(block);
    if (peers !== undefined && peers.size >= this.limits.connectionsPerBlockMax) {
      if (!this.#evictOldest(peers)) return this.#refuse(conn, "refusedBlock");
    }
    if (this.#conns.size >= this.limits.connectionsMax) {
      const biggest = [...this.#blocks.values()].sort((a, b) => b.size - a.size);
      if (!biggest.some((s) => this.#evictOldest(s))) return this.#refuse(conn, "refusedFull");
    }
    const c = new Connection(conn, remote, block, (gone) => this.#forget(gone));
    this.#conns.add(c);
    const set = this.#blocks.get(block) ?? new Set();
    set.add(c);
    this.#blocks.set(block, set);
    void this.#serve(c);
  }

  #refuse(conn: Deno.Conn, why: "refusedFull" | "refusedBlock"): void {
    this.#counters[why]++;
    try {
      conn.close();
    } catch {
      // gone already
    }
  }

  /** Closes the connection of `set` that has waited longest for a request; false if none. */
  #evictOldest(set: Set<Connection>): boolean {
    let oldest: Connection | undefined;
    for (const c of set) {
      if (c.phase === "busy") continue;
      if (oldest === undefined || c.since < oldest.since) oldest = c;
    }
    if (oldest === undefined) return false;
    this.#counters.evicted++;
    oldest.close();
    return true;
  }

  #forget(c: Connection): void {
    this.#conns.delete(c);
    const set = this.#blocks.get(c.block);
    set?.delete(c);
    if (set?.size === 0) this.#blocks.delete(c.block);
    this.#release(c);
    this.#checkFinished();
  }

  #release(c: Connection): void {
    this.#bodyBytes -= c.bodyReserved;
    c.bodyReserved = 0;
  }

  async #serve(c: Connection): Promise<void> {
    this.#loops++;
    try {
      while (!c.closed && await this.#exchange(c));
    } catch (e) {
      this.#onError(e);
    } finally {
      c.close();
      this.#loops--;
    }
  }

  /** One request and its response; true when the connection stays open for another. */
  async #exchange(c: Connection): Promise<boolean> {
    c.phase = "waiting";
    c.since = performance.now();
    const head = await this.#readHead(c);
    if (head === null) return false;
    const body = await this.#readBody(c, head);
    if (body === null) return false;
    c.phase = "busy";
    c.requests++;
    const keep = !head.close && c.requests < this.limits.requestsPerConnectionMax;
    const written = await this.#answer(c, head, body, keep);
    this.#release(c);
    c.settle();
    return written && keep && !this.#closing;
  }

  /** Waits for a whole head and parses it; `null` when the connection is done. */
  async #readHead(c: Connection): Promise<RequestHead | null> {
    const { headerTimeoutMs, idleTimeoutMs, headerBytesMax } = this.limits;
    const onHeader = () => this.#headerExpired(c);
    let started = c.requests === 0 || c.buffered > 0;
    if (started) c.arm(headerTimeoutMs, onHeader);
    else c.arm(idleTimeoutMs, () => this.#expire(c, "idleTimeouts"));
    let scanned = 0;
    for (;;) {
      while (c.buffered >= 2 && c.buf[c.start] === 0x0d && c.buf[c.start + 1] === 0x0a) {
        c.start += 2; // empty lines before a request line are ignored (RFC 9112, 2.2)
      }
      const end = headEnd(c.buf, c.start, c.start + Math.max(0, scanned - 3), c.end);
      if (end === -2) return await this.#refuseHead(c, 400, "bad_request", "a bare LF in the head");
      if (end >= 0 && end - c.start > headerBytesMax) {
        return await this.#refuseHead(c, 431, "headers_too_large", "the head is too large");
      }
      if (end >= 0) {
        c.disarm();
        const bytes = c.take(end - c.start);
        const head = parseRequestHead(bytes, this.limits);
        if (!("refused" in head)) return head;
        return await this.#refuseHead(c, head.status, head.error, head.message);
      }
      if (c.buffered >= headerBytesMax) {
        return await this.#refuseHead(c, 431, "headers_too_large", "the head is too large");
      }
      scanned = c.buffered;
      if (!await c.fill()) return null;
      if (!started) {
        started = true;
        c.arm(headerTimeoutMs, onHeader);
      }
    }
  }

  #expire(c: Connection, why: keyof HttpCounters): void {
    if (c.closed) return;
    this.#counters[why]++;
    c.close();
  }

  /** The head deadline passed: 408 when the client had started, else a silent close. */
  #headerExpired(c: Connection): void {
    if (c.closed) return;
    this.#counters.headerTimeouts++;
    if (c.buffered === 0) return c.close();
    void this.#sendAndClose(c, 408, "timeout", "the request head did not arrive in time");
  }

  async #refuseHead(c: Connection, status: number, error: string, message: string) {
    if (status === 431) this.#counters.headerTooLarge++;
    else if (status === 413) this.#counters.bodyTooLarge++;
    else this.#counters.badRequests++;
    await this.#refuseAndLinger(c, status, error, message);
    return null;
  }

  /** Reads a body of the declared length; `null` when the connection is done. */
  async #readBody(c: Connection, head: RequestHead): Promise<Uint8Array<ArrayBuffer> | null> {
    const length = head.contentLength;
    if (length === 0) return new Uint8Array(0);
    if (this.#bodyBytes + length > this.limits.bodyBufferBytesMax) {
      this.#counters.bodyBudgetFull++;
      await this.#refuseAndLinger(c, 503, "busy", "the server is busy; retry shortly");
      return null;
    }
    this.#bodyBytes += length;
    c.bodyReserved = length;
    c.phase = "body";
    c.arm(this.limits.bodyTimeoutMs, () => {
      if (c.closed) return;
      this.#counters.bodyTimeouts++;
      void this.#sendAndClose(c, 408, "timeout", "the request body did not arrive in time");
    });
    if (head.expectContinue && c.buffered === 0) {
      if (!await c.write(encoder.encode("HTTP/1.1 100 Continue\r\n\r\n"))) return null;
    }
    let body = new Uint8Array(Math.min(length, 16 * 1024));
    let filled = 0;
    const first = c.take(length);
    body.set(first, 0);
    filled += first.length;
    while (filled < length) {
      if (filled === body.length) {
        const grown = new Uint8Array(Math.min(length, body.length * 2));
        grown.set(body, 0);
        body = grown;
      }
      const n = await c.readInto(body.subarray(filled));
      if (n === null) return null;
      filled += n;
    }
    c.disarm();
    return body;
  }

  /** Calls the handler and writes its response; false when the connection broke. */
  async #answer(
    c: Connection,
    head: RequestHead,
    body: Uint8Array<ArrayBuffer>,
    keep: boolean,
  ): Promise<boolean> {
    const request = this.#request(head, body);
    if (request === null) {
      this.#counters.badRequests++;
      await this.#refuseAndLinger(c, 400, "bad_request", "the request is not valid");
      return false;
    }
    let done: (ok: boolean) => void = () => {};
    const completed = new Promise<void>((resolve, reject) => {
      done = (ok) => ok ? resolve() : reject(new Deno.errors.Interrupted("response not sent"));
    });
    completed.catch(() => {});
    this.#counters.requests++;
    const [response, fatal] = await this.#call(request, { remoteAddr: c.remote, completed });
    const ok = await this.#writeResponse(c, head, response, keep && !fatal);
    done(ok);
    return ok && !fatal;
  }

  #request(head: RequestHead, body: Uint8Array<ArrayBuffer>): Request | null {
    const local = this.addr.hostname?.includes(":")
      ? `[${this.addr.hostname}]`
      : this.addr.hostname;
    const host = head.host ?? `${local}:${this.addr.port}`;
    const noBody = head.method === "GET" || head.method === "HEAD" || body.length === 0;
    try {
      return new Request(`http://${host}${head.target}`, {
        method: head.method,
        headers: head.headers,
        body: noBody ? undefined : body,
      });
    } catch {
      return null;
    }
  }

  /** The handler's response, or a refusal; the flag says the connection must close after. */
  async #call(request: Request, info: HttpHandlerInfo): Promise<[Response, boolean]> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((r) =>
      timer = setTimeout(() => r("late"), this.limits.handlerTimeoutMs)
    );
    try {
      const answer = await Promise.race([
        Promise.resolve().then(() => this.#handler(request, info)),
        late,
      ]);
      if (answer === "late") {
        this.#counters.handlerTimeouts++;
        return [jsonError(503, "timeout", "the server did not answer in time"), true];
      }
      if (answer instanceof Response) return [answer, false];
      throw new TypeError("the handler returned no Response");
    } catch (e) {
      this.#counters.handlerErrors++;
      this.#onError(e);
      return [jsonError(500, "internal", "the server failed; see its log"), true];
    } finally {
      clearTimeout(timer);
    }
  }

  /** Writes a response within the write deadline; false when the connection broke. */
  async #writeResponse(
    c: Connection,
    head: RequestHead,
    response: Response,
    keep: boolean,
  ): Promise<boolean> {
    c.arm(this.limits.writeTimeoutMs, () => this.#expire(c, "writeTimeouts"));
    const status = response.status;
    const lines = [`HTTP/1.1 ${status} ${response.statusText || REASONS[status] || ""}`];
    for (const [name, value] of response.headers) {
      if (!HOP_BY_HOP.has(name)) lines.push(`${name}: ${value}`);
    }
    const noBody = head.method === "HEAD" || status === 204 || status === 304;
    const reader = noBody ? undefined : response.body?.getReader();
    if (noBody) await response.body?.cancel().catch(() => {});
    const first = reader === undefined
      ? { parts: [] as Uint8Array[], done: true }
      : await readSome(reader);
    if (first === null) return false;
    const chunked = !first.done && head.minor === 1;
    const closeAfter = !keep || this.#closing || (!first.done && !chunked);
    if (first.done && !noBody) lines.push(`content-length: ${total(first.parts)}`);
    if (chunked) lines.push("transfer-encoding: chunked");
    if (closeAfter) lines.push("connection: close");
    const headBytes = encoder.encode(lines.join("\r\n") + "\r\n\r\n");
    const firstBody = concat(first.parts);
    let ok = await c.write(concat([headBytes, chunked ? chunk(firstBody) : firstBody]));
    if (ok && !first.done) ok = await this.#stream(c, reader!, chunked);
    c.disarm();
    if (!ok) return false;
    if (closeAfter) c.close();
    return !closeAfter;
  }

  /** Writes the rest of a body, chunked or until the connection closes. */
  async #stream(
    c: Connection,
    reader: ReadableStreamDefaultReader<Uint8Array>,
    chunked: boolean,
  ): Promise<boolean> {
    for (;;) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch {
        return false;
      }
      if (next.done) return chunked ? await c.write(encoder.encode("0\r\n\r\n")) : true;
      if (next.value.length === 0) continue;
      if (!await c.write(chunked ? chunk(next.value) : next.value)) {
        await reader.cancel().catch(() => {});
        return false;
      }
    }
  }

  /** Answers a refusal, stops writing, drains what the client still sends, then closes. */
  async #refuseAndLinger(c: Connection, status: number, error: string, message: string) {
    c.phase = "closing";
    c.arm(this.limits.writeTimeoutMs, () => this.#expire(c, "writeTimeouts"));
    if (!await c.write(refusalBytes(status, error, message))) return;
    try {
      await c.conn.closeWrite();
    } catch {
      return c.close();
    }
    c.arm(this.limits.lingerMs, () => c.close());
    const scratch = new Uint8Array(READ_BYTES);
    let drained = 0;
    while (drained < this.limits.lingerBytesMax) {
      const n = await c.readInto(scratch);
      if (n === null) break;
      drained += n;
    }
    c.close();
  }

  /** From a timer, while a read may be pending: answers and closes without draining. */
  async #sendAndClose(c: Connection, status: number, error: string, message: string) {
    c.phase = "closing";
    c.arm(this.limits.lingerMs, () => c.close());
    await c.write(refusalBytes(status, error, message));
    c.close();
  }
}

function total(parts: Uint8Array[]): number {
  return parts.reduce((n, p) => n + p.length, 0);
}

function chunk(bytes: Uint8Array): Uint8Array {
  if (bytes.length === 0) return bytes;
  return concat([
    encoder.encode(`${bytes.length.toString(16)}\r\n`),
    bytes,
    encoder.encode("\r\n"),
  ]);
}

/** Reads a body up to the buffer size; `done` when it ended within it; `null` on error. */
async function readSome(
  reader: ReadableStreamDefaultReader<Uint8Array>,
): Promise<{ parts: Uint8Array[]; done: boolean } | null> {
  const parts: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < HTTP_RESPONSE_BUFFER_BYTES_MAX) {
      const next = await reader.read();
      if (next.done) return { parts, done: true };
      parts.push(next.value);
      size += next.value.length;
    }
  } catch {
    return null;
  }
  return { parts, done: false };
}

function jsonError(status: number, error: string, message: string): Response {
  return new Response(JSON.stringify({ error, message }), {
    status,
    headers: { "content-type": "application/json" },
  });
}

function refusalBytes(status: number, error: string, message: string): Uint8Array {
  const body = JSON.stringify({ error, message });
  const retry = status === 503 ? "retry-after: 1\r\n" : "";
  return encoder.encode(
    `HTTP/1.1 ${status} ${REASONS[status] ?? ""}\r\ncontent-type: application/json\r\n` +
      `content-length: ${encoder.encode(body).length}\r\n${retry}connection: close\r\n\r\n${body}`,
  );
}

/** One line naming every non-zero refusal counter, for a log. */
function describeCounters(c: HttpCounters): string {
  const parts = Object.entries(c).filter(([k, v]) => v !== 0 || k === "open").map(([k, v]) =>
    `${k}=${v}`
  );
  return parts.join(" ");
}

/** How often {@link logCounters} looks for new refusals. */
const COUNTERS_LOG_MS = 60_000;

/**
 * Logs `server`'s counters on stderr as `<time> <who> http: accepted=... evicted=...`: each
 * minute in which something was refused or shed, and once more when stopped.
 */
export function logCounters(who: string, server: HttpServer): { stop(): void } {
  const refusals = () => {
    const { accepted: _a, open: _o, requests: _r, ...rest } = server.counters();
    return Object.values(rest).reduce((a, b) => a + b, 0);
  };
  let logged = 0;
  const line = () => {
    logged = refusals();
    const at = new Date().toISOString();
    console.error(`${at} ${who} http: ${describeCounters(server.counters())}`);
  };
  const timer = setInterval(() => {
    if (refusals() !== logged) line();
  }, COUNTERS_LOG_MS);
  return {
    stop: () => {
      clearInterval(timer);
      line();
    },
  };
}
