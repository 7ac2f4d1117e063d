import assert from "node:assert/strict";
import net from "node:net";
import fc from "fast-check";
import { Hono } from "hono";
import { getConnInfo } from "hono/deno";
import {
  type HttpCounters,
  type HttpHandler,
  type HttpLimits,
  HttpServer,
  parseRequestHead,
  serveHttp,
} from "./http_server.ts";
import { HTTP_LIMITS } from "./http_server.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A raw client socket (node:net, so it can pick its source address) and what it received. */
class Client {
  readonly socket: net.Socket;
  received = new Uint8Array(0);
  ended = false;
  readonly closed: Promise<void>;
  #wake: () => void = () => {};

  constructor(port: number, localAddress = "127.0.0.1") {
    this.socket = net.connect({ host: "127.0.0.1", port, localAddress });
    this.socket.on("error", () => {});
    this.socket.on("data", (d: Uint8Array) => {
      const next = new Uint8Array(this.received.length + d.length);
      next.set(this.received, 0);
      next.set(d, this.received.length);
      this.received = next;
      this.#wake();
    });
    this.closed = new Promise((resolve) =>
      this.socket.once("close", () => {
        this.ended = true;
        this.#wake();
        resolve();
      })
    );
  }

  connected(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.socket.readyState === "open") return resolve();
      this.socket.once("connect", () => resolve());
      this.socket.once("close", () => reject(new Error("closed before connecting")));
    });
  }

  send(data: string | Uint8Array): void {
    this.socket.write(typeof data === "string" ? enc.encode(data) : data);
  }

  get text(): string {
    return dec.decode(this.received);
  }

  /** Waits until `done(received)` or the socket closed; false when it closed first. */
  async until(done: (text: string) => boolean): Promise<boolean> {
    while (!done(this.text)) {
      if (this.ended) return false;
      await new Promise<void>((r) => this.#wake = r);
    }
    return true;
  }

  /** The next whole response (Content-Length or chunked), removed from what was received. */
  async response(): Promise<{ status: number; headers: Map<string, string>; body: string }> {
    let parsed: ReturnType<typeof parseResponse> = null;
    await this.until((t) => (parsed = parseResponse(t)) !== null);
    if (parsed === null) throw new Error(`no whole response before close: ${this.text}`);
    const p = parsed as NonNullable<ReturnType<typeof parseResponse>>;
    this.received = this.received.subarray(p.length);
    return p;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

function parseResponse(text: string) {
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) return null;
  const [statusLine, ...fields] = text.slice(0, end).split("\r\n");
  const headers = new Map<string, string>();
  for (const f of fields) {
    const i = f.indexOf(":");
    headers.set(f.slice(0, i).toLowerCase(), f.slice(i + 1).trim());
  }
  const status = Number(statusLine.split(" ")[1]);
  let at = end + 4;
  if (headers.get("transfer-encoding") === "chunked") {
    let body = "";
    for (;;) {
      const line = text.indexOf("\r\n", at);
      if (line < 0) return null;
      const size = parseInt(text.slice(at, line), 16);
      if (text.length < line + 2 + size + 2) return null;
      body += text.slice(line + 2, line + 2 + size);
      at = line + 2 + size + 2;
      if (size === 0) return { status, headers, body, length: at };
    }
  }
  const length = Number(headers.get("content-length") ?? "0");
  if (text.length < at + length) return null;
  return { status, headers, body: text.slice(at, at + length), length: at + length };
}

/** Runs `fn` against a server on 127.0.0.1 with `limits`, then shuts it down. */
async function withServer(
  handler: HttpHandler,
  limits: Partial<HttpLimits>,
  fn: (port: number, server: HttpServer, errors: unknown[]) => Promise<void>,
): Promise<void> {
  const errors: unknown[] = [];
  const server = serveHttp(
    { hostname: "127.0.0.1", port: 0, limits, onError: (e) => errors.push(e) },
    handler,
  );
  try {
    await fn(server.addr.port, server, errors);
  } finally {
    await server.shutdown();
  }
}

const hello: HttpHandler = () => new Response("hello");

function get(path = "/", extra = ""): string {
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}\r\n`;
}

async function refused(
  port: number,
  request: string | Uint8Array,
  limits: Partial<HttpLimits> = {},
): Promise<{ status: number; body: string; closed: boolean }> {
  void limits;
  const c = new Client(port);
  c.send(request);
  const r = await c.response();
  await c.closed;
  return { status: r.status, body: r.body, closed: c.ended };
}

/** Polls `check` every 20 ms (the test's own timeout catches a hang). */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 20));
}

function counted(server: HttpServer, name: keyof HttpCounters): number {
  return server.counters()[name];
}

Deno.test("serves a hono app: conn info, keep-alive, pipelining, HEAD, completed", async () => {
  const app = new Hono();
  let completed: Promise<void> | undefined;
  app.get("/who", (c) => {
    completed = (c.env as { completed: Promise<void> }).completed;
    const info = getConnInfo(c);
    return c.json({ address: info.remote.address, port: info.remote.port });
  });
  app.post("/echo", async (c) => c.text(await c.req.text()));
  await withServer(app.fetch, {}, async (port) => {
    const res = await fetch(`http://127.0.0.1:${port}/who`);
    const who = await res.json();
    assert.equal(who.address, "127.0.0.1");
    assert.equal(typeof who.port, "number");
    await completed;
    const echo = await fetch(`http://127.0.0.1:${port}/echo`, { method: "POST", body: "grüße" });
    assert.equal(await echo.text(), "grüße");

    const c = new Client(port);
    const post = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
    c.send(get("/who") + post + `HEAD /who HTTP/1.1\r\nHost: x\r\n\r\n` + get("/who"));
    assert.equal((await c.response()).status, 200);
    assert.equal((await c.response()).body, "abc", "pipelined POST");
    const head = await c.response();
    assert.equal(head.status, 200);
    assert.equal(head.body, "", "HEAD has no body");
    assert.equal((await c.response()).status, 200, "the connection is still usable");
    c.destroy();
  });
});

Deno.test("refuses oversized heads (431) and bodies (413) before reading them", async () => {
  await withServer(hello, { headerBytesMax: 1024, bodyBytesMax: 100 }, async (port, server) => {
    const big = await refused(port, get("/", `X-Big: ${"a".repeat(2000)}\r\n`));
    assert.equal(big.status, 431);
    assert.equal(JSON.parse(big.body).error, "headers_too_large");
    const many = Array.from({ length: HTTP_LIMITS.headerFieldsMax + 1 }, (_, i) => `X-${i}: 1\r\n`);
    assert.equal((await refused(port, get("/", many.join("")))).status, 431, "too many fields");
    const body = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n";
    const r = await refused(port, body);
    assert.equal(r.status, 413);
    assert.equal(JSON.parse(r.body).error, "oversized");
    // A client that sends the body anyway still gets the answer (the server drains, then closes).
    const res = await fetch(`http://127.0.0.1:${port}/`, {
      method: "POST",
      body: "x".repeat(200_000),
    });
    assert.equal(res.status, 413);
    await res.body?.cancel();
    assert.equal(counted(server, "headerTooLarge"), 2);
    assert.equal(counted(server, "bodyTooLarge"), 2);
  });
});

Deno.test("refuses ambiguous and malformed heads (request smuggling)", async () => {
  await withServer(hello, {}, async (port, server) => {
    const cases: [string, number][] = [
      [
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        400,
      ],
      [
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        411,
      ],
      ["POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501],
      ["POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400],
      ["POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc", 400],
      ["POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc", 400],
      ["GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n", 400],
      ["GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400],
      ["GET / HTTP/1.1\r\n\r\n", 400],
      ["GET / HTTP/1.1\r\nHost: x y\r\n\r\n", 400],
      ["GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400],
      ["GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", 400],
      ["GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n", 400],
      ["GET / HTTP/1.1\nHost: x\n\n", 400],
      ["GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400],
      ["GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n", 400],
      ["GET /#frag HTTP/1.1\r\nHost: x\r\n\r\n", 400],
      ["GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505],
      ["GET / HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n", 417],
      ["TRACE / HTTP/1.1\r\nHost: x\r\n\r\n", 501],
    ];
    for (const [request, status] of cases) {
      const r = await refused(port, request);
      assert.equal(r.status, status, JSON.stringify(request));
      assert.ok(r.closed, "the connection is closed after a refusal");
    }
    assert.equal(counted(server, "badRequests"), cases.length);
    // HTTP/1.0 without Host is fine, and ends with the connection.
    const c = new Client(port);
    c.send("GET / HTTP/1.0\r\n\r\n");
    assert.equal((await c.response()).body, "hello");
    await c.closed;
  });
});

Deno.test("Expect: 100-continue gets a 100 before the body is sent", async () => {
  const app = new Hono();
  app.post("/", async (c) => c.text(await c.req.text()));
  await withServer(app.fetch, {}, async (port) => {
    const c = new Client(port);
    c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
    assert.ok(await c.until((t) => t.startsWith("HTTP/1.1 100 Continue\r\n\r\n")));
    c.received = c.received.subarray("HTTP/1.1 100 Continue\r\n\r\n".length);
    c.send("ok");
    assert.equal((await c.response()).body, "ok");
    c.destroy();
  });
});

Deno.test("a head that does not arrive by the deadline is cut (408 once started)", async () => {
  await withServer(hello, { headerTimeoutMs: 300 }, async (port, server) => {
    const silent = new Client(port);
    const slow = new Client(port);
    slow.send("GET / HTTP/1.1\r\nHost: x\r\n");
    const trickle = setInterval(() => slow.send("X-A: b\r\n"), 50);
    await Promise.all([silent.closed, slow.closed]);
    clearInterval(trickle);
    assert.equal(silent.text, "", "a silent connection is closed without an answer");
    assert.match(slow.text, /^HTTP\/1\.1 408 /);
    assert.equal(counted(server, "headerTimeouts"), 2);
    assert.equal(await fetch(`http://127.0.0.1:${port}/`).then((r) => r.text()), "hello");
  });
});

Deno.test("a body that does not arrive by its deadline is cut with 408", async () => {
  await withServer(hello, { bodyTimeoutMs: 300 }, async (port, server) => {
    const c = new Client(port);
    c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
    await c.closed;
    assert.match(c.text, /^HTTP\/1\.1 408 /);
    assert.equal(counted(server, "bodyTimeouts"), 1);
  });
});

Deno.test("an idle kept-alive connection is closed; requests per connection capped", async () => {
  const limits = { idleTimeoutMs: 300, requestsPerConnectionMax: 3 };
  await withServer(hello, limits, async (port, server) => {
    const idle = new Client(port);
    idle.send(get());
    assert.equal((await idle.response()).status, 200);
    await idle.closed;
    assert.equal(counted(server, "idleTimeouts"), 1);

    const busy = new Client(port);
    busy.send(get() + get() + get() + get());
    assert.equal((await busy.response()).headers.get("connection"), undefined);
    await busy.response();
    const third = await busy.response();
    assert.equal(third.headers.get("connection"), "close", "the last request says so");
    await busy.closed;
    assert.equal(busy.text, "", "the fourth request is not answered on this connection");
  });
});

Deno.test("a client that stops reading a large response is cut by the write timeout", async () => {
  const big = new Uint8Array(64 * 1024 * 1024);
  await withServer(() => new Response(big), { writeTimeoutMs: 500 }, async (port, server) => {
    // A raw socket that is never read: the kernel's buffers fill and the server's writes stall.
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(enc.encode(get()));
    await until(() => counted(server, "writeTimeouts") === 1);
    let received = 0;
    const buf = new Uint8Array(1 << 20);
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      received += n;
    }
    conn.close();
    assert.ok(received < big.length, `the response was cut (${received} bytes arrived)`);
  });
  // A reading client gets all of it, chunked (with the default deadline: a loaded machine may
  // take longer than half a second to move 64 MiB).
  await withServer(() => new Response(big), {}, async (port) => {
    const res = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(res.headers.get("transfer-encoding"), "chunked");
    assert.equal((await res.arrayBuffer()).byteLength, big.length);
  });
});

Deno.test("handler errors are 500, slow handlers 503, both counted", async () => {
  const handler: HttpHandler = (req) => {
    if (req.url.endsWith("/throw")) throw new Error("boom");
    return new Promise(() => {});
  };
  await withServer(handler, { handlerTimeoutMs: 200 }, async (port, server, errors) => {
    const a = await fetch(`http://127.0.0.1:${port}/throw`);
    assert.equal(a.status, 500);
    await a.body?.cancel();
    const b = await fetch(`http://127.0.0.1:${port}/hang`);
    assert.equal(b.status, 503);
    await b.body?.cancel();
    assert.equal(counted(server, "handlerErrors"), 1);
    assert.equal(counted(server, "handlerTimeouts"), 1);
    assert.equal(errors.length, 1);
  });
});

Deno.test("bodies over the shared budget are refused with 503", async () => {
  await withServer(hello, { bodyBufferBytesMax: 100 }, async (port, server) => {
    const holder = new Client(port);
    holder.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 80\r\n\r\n");
    await new Promise((r) => setTimeout(r, 100));
    const r = await refused(port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 80\r\n\r\n");
    assert.equal(r.status, 503);
    assert.equal(counted(server, "bodyBudgetFull"), 1);
    holder.send("x".repeat(80));
    assert.equal((await holder.response()).status, 200, "the first body is served");
    holder.destroy();
  });
});

/** Opens `n` connections from `ip` and waits until the server has them. */
async function hold(port: number, ip: string, n: number): Promise<Client[]> {
  const clients = Array.from({ length: n }, () => new Client(port, ip));
  await Promise.all(clients.map((c) => c.connected()));
  await new Promise((r) => setTimeout(r, 100));
  return clients;
}

Deno.test("at a cap the oldest waiting connection of the biggest block goes first", async () => {
  const limits = { connectionsMax: 6, connectionsPerBlockMax: 4 };
  await withServer(hello, limits, async (port, server) => {
    const a = await hold(port, "127.1.0.1", 4);
    const b = await hold(port, "127.2.0.1", 2);
    assert.equal(server.counters().open, 6);
    // A fifth from block a: its oldest goes.
    const a5 = await hold(port, "127.1.0.2", 1);
    await a[0].closed;
    assert.equal(counted(server, "evicted"), 1);
    // A newcomer from a third block: the total cap is full, so block a (the biggest) gives one.
    const legit = new Client(port, "127.0.0.1");
    legit.send(get());
    assert.equal((await legit.response()).body, "hello");
    await a[1].closed;
    assert.ok(!b[0].ended && !b[1].ended, "the smaller block is left alone");
    assert.equal(counted(server, "evicted"), 2);
    for (const c of [...a, ...b, ...a5, legit]) c.destroy();
  });
});

Deno.test("at a cap with every connection being answered, newcomers are refused", async () => {
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => release = r);
  const handler: HttpHandler = async () => {
    await gate;
    return new Response("done");
  };
  await withServer(handler, { connectionsMax: 2, connectionsPerBlockMax: 2 }, async (port, s) => {
    const busy = await hold(port, "127.3.0.1", 2);
    for (const c of busy) c.send(get());
    await new Promise((r) => setTimeout(r, 100));
    const late = new Client(port, "127.4.0.1");
    await late.closed;
    assert.equal(late.text, "");
    assert.equal(counted(s, "refusedFull"), 1);
    const sameBlock = new Client(port, "127.3.0.2");
    await sameBlock.closed;
    assert.equal(counted(s, "refusedBlock"), 1);
    release();
    for (const c of busy) assert.equal((await c.response()).body, "done", "old ones served");
    for (const c of busy) c.destroy();
  });
});

Deno.test("shutdown: stops accepting, closes idle connections, finishes requests", async () => {
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => release = r);
  let entered: () => void = () => {};
  const inside = new Promise<void>((r) => entered = r);
  const handler: HttpHandler = async () => {
    entered();
    await gate;
    return new Response("late");
  };
  const server = serveHttp({ hostname: "127.0.0.1", port: 0 }, handler);
  const port = server.addr.port;
  const idle = new Client(port);
  await idle.connected();
  const inflight = new Client(port);
  inflight.send(get());
  await inside;
  let finished = false;
  const stopped = server.shutdown().then(() => finished = true);
  await idle.closed;
  await assert.rejects(fetch(`http://127.0.0.1:${port}/`), "no new connections");
  assert.equal(finished, false, "waits for the request in flight");
  release();
  const r = await inflight.response();
  assert.equal(r.body, "late");
  assert.equal(r.headers.get("connection"), "close");
  await stopped;
  await inflight.closed;
});

Deno.test("the accept loop survives accept() errors (EMFILE) and keeps serving", async () => {
  const real = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let failures = 5;
  const flaky = {
    addr: real.addr,
    accept: () => {
      if (failures-- > 0) return Promise.reject(new Error("Too many open files (os error 24)"));
      return real.accept();
    },
    close: () => real.close(),
  };
  const server = new HttpServer(flaky, hello);
  try {
    const res = await fetch(`http://127.0.0.1:${real.addr.port}/`);
    assert.equal(await res.text(), "hello");
    assert.equal(server.counters().acceptErrors, 5);
  } finally {
    await server.shutdown();
  }
});

const VALID = [
  get("/a.json"),
  "PUT /alice.json HTTP/1.1\r\nHost: 127.0.0.1:80\r\nContent-Type: application/json\r\n" +
  "Content-Length: 2\r\n\r\n{}",
  "POST /offers?x=1 HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
  "GET / HTTP/1.0\r\n\r\n",
];

Deno.test("parseRequestHead never throws: random bytes, mutated heads (fast-check)", () => {
  const limits = { headerFieldsMax: 100, bodyBytesMax: 1000 };
  const mutated = fc.tuple(
    fc.constantFrom(...VALID),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
  ).map(([text, edits]) => {
    const bytes = enc.encode(text);
    for (const [at, b] of edits) bytes[at % bytes.length] = b;
    return bytes;
  });
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 600 }), mutated), (bytes) => {
      const head = parseRequestHead(bytes, limits);
      if ("refused" in head) {
        assert.ok([400, 411, 413, 417, 431, 501, 505].includes(head.status));
      } else {
        assert.ok(head.contentLength <= limits.bodyBytesMax);
        assert.ok(head.target.startsWith("/"));
      }
    }),
    { numRuns: 5000 },
  );
  for (const text of VALID) {
    const end = text.indexOf("\r\n\r\n") + 4;
    assert.ok(!("refused" in parseRequestHead(enc.encode(text.slice(0, end)), limits)), text);
  }
});

Deno.test("fuzzing a live server: no throw, no connection held past the deadlines", async () => {
  const limits = { headerTimeoutMs: 100, bodyTimeoutMs: 100, idleTimeoutMs: 100, lingerMs: 100 };
  // Longest a connection may live whatever it sends: head, body, idle and linger deadlines
  // (the handler answers at once), with a wide margin for a loaded machine.
  const boundMs = 20 * (100 + 100 + 100 + 100);
  const app = new Hono();
  app.all("*", async (c) => c.text(`${c.req.method} ${(await c.req.arrayBuffer()).byteLength}`));
  await withServer(app.fetch, limits, async (port, server, errors) => {
    const mutated = fc.tuple(
      fc.constantFrom(...VALID),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      fc.nat(),
    ).map(([text, edits, cut]) => {
      const bytes = enc.encode(text);
      for (const [at, b] of edits) bytes[at % bytes.length] = b;
      return bytes.subarray(0, cut % 3 === 0 ? cut % (bytes.length + 1) : bytes.length);
    });
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 400 }), mutated), async (bytes) => {
        const c = new Client(port);
        await c.connected();
        c.send(bytes);
        // The server ends every connection on its own within its deadlines, whatever was sent.
        let timer: ReturnType<typeof setTimeout> | undefined;
        const hung = new Promise<"hung">((r) => timer = setTimeout(() => r("hung"), boundMs));
        const outcome = await Promise.race([c.closed, hung]);
        clearTimeout(timer);
        c.destroy();
        assert.notEqual(outcome, "hung", `a connection outlived every deadline: ${c.text}`);
      }),
      { numRuns: 120 },
    );
    assert.deepEqual(errors, [], "the handler never saw a failure");
    const res = await fetch(`http://127.0.0.1:${port}/after`);
    assert.equal(await res.text(), "GET 0", "still serving");
    assert.equal(server.counters().handlerErrors, 0);
  });
});
