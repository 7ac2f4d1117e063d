/**
 * `bitdust idserver`: serve identity documents and the supplier directory over HTTP.
 *
 * ```
 * bitdust idserver --data DIR [--host 127.0.0.1] [--port 0]
 * ```
 *
 * Documents are kept in Deno KV at `DIR/idserver.kv` (created if missing) and survive restarts;
 * supplier offers are kept in memory (suppliers re-announce them). Once the documents are loaded
 * and the socket is bound it prints exactly `listening http://HOST:PORT` on stdout (`--port 0`
 * lets the system pick a free port). SIGINT or SIGTERM stops it cleanly: no new connections, the
 * writes in flight finish, the database is closed, exit code 0. A bad flag prints one line on
 * stderr and exits with 2; a data directory or port that cannot be used, one line and exit 1.
 *
 * HTTP is served by {@link serveHttp}: header, body, idle and write deadlines, a connection cap
 * per address block and in total (see `net/http_server.ts` for every limit). Each minute in
 * which it refused or shed something, and once at exit, it logs its counters on stderr as
 * `<time> bitdust idserver http: accepted=... evicted=... headerTimeouts=...`.
 *
 * @module
 */

import { idServerActor, type IdServerState, idServerState } from "../../actors/idserver/mod.ts";
import type { IdServerProtocol } from "../../actors/idserver/mod.ts";
import { Random } from "../../core/prng.ts";
import { stepCryptoFor } from "../../data/signing.ts";
import type { BlobStore } from "../blob_store.ts";
import { openMetadataStore } from "../home.ts";
import { Host } from "../host.ts";
import { type HttpServer, logCounters, serveHttp } from "../http_server.ts";
import { idServerApp } from "../idserver_http.ts";

const USAGE = "usage: bitdust idserver --data DIR [--host 127.0.0.1] [--port 0]";

/** Parsed flags of `bitdust idserver`. */
export interface IdServerFlags {
  host: string;
  port: number;
  data: string;
}

/** Parses the flags; returns a one-line error message instead when they are wrong. */
export function parseIdServerFlags(args: string[]): IdServerFlags | { error: string } | "help" {
  const values: Record<string, string> = { host: "127.0.0.1", port: "0" };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--help" || arg === "-h") return "help";
    const m = /^--(host|port|data)(?:=(.*))?$/.exec(arg);
    if (m === null) return { error: `unknown flag '${arg}'; ${USAGE}` };
    const value = m[2] ?? args[++i];
    if (value === undefined || value === "") return { error: `--${m[1]} needs a value` };
    values[m[1]] = value;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535 || !/^\d+$/.test(values.port)) {
    return { error: `--port must be a whole number from 0 to 65535, got '${values.port}'` };
  }
  if (values.data === undefined) return { error: `--data DIR is required; ${USAGE}` };
  if (!/^[A-Za-z0-9.\-:\[\]]+$/.test(values.host)) {
    return { error: `--host must be a host name or IP address, got '${values.host}'` };
  }
  return { host: values.host.replace(/^\[(.*)\]$/, "$1"), port, data: values.data };
}

function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

async function openStore(dir: string): Promise<BlobStore> {
  await Deno.mkdir(dir, { recursive: true });
  return await openMetadataStore(dir, "idserver.kv");
}

function waitForReady(host: Host<IdServerState, IdServerProtocol>): Promise<void> {
  return new Promise((resolve) => {
    const off = host.subscribe((notice) => {
      if (notice.type !== "ready") return;
      off();
      if (notice.corrupt > 0) {
        console.error(`bitdust idserver: skipped ${notice.corrupt} damaged documents`);
      }
      resolve();
    });
  });
}

function signalled(): { done: Promise<string>; remove(): void } {
  let resolve: (s: string) => void = () => {};
  const done = new Promise<string>((r) => resolve = r);
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  const handlers = signals.map((s) => [s, () => resolve(s)] as const);
  for (const [s, h] of handlers) Deno.addSignalListener(s, h);
  return { done, remove: () => handlers.forEach(([s, h]) => Deno.removeSignalListener(s, h)) };
}

/** Runs the ID server until SIGINT or SIGTERM; returns the exit code. */
export async function run(args: string[]): Promise<number> {
  const flags = parseIdServerFlags(args);
  if (flags === "help") {
    console.log(USAGE);
    return 0;
  }
  if ("error" in flags) {
    console.error(`bitdust idserver: ${flags.error}`);
    return 2;
  }
  let store: BlobStore;
  try {
    store = await openStore(flags.data);
  } catch (e) {
    console.error(`bitdust idserver: cannot open data directory ${flags.data}: ${errorText(e)}`);
    return 1;
  }
  const host = new Host<IdServerState, IdServerProtocol>({
    actor: idServerActor,
    state: idServerState(),
    self: "idserver",
    crypto: stepCryptoFor(),
    random: Random.stream(randomSeed()),
    store,
  });
  const stop = signalled();
  try {
    const ready = waitForReady(host);
    host.start();
    const first = await Promise.race([ready.then(() => "ready"), stop.done]);
    if (first !== "ready") return 0; // stopped while loading
    return await serve(host, flags, stop.done);
  } finally {
    stop.remove();
    await host.stop();
    store.close();
  }
}

async function serve(
  host: Host<IdServerState, IdServerProtocol>,
  flags: IdServerFlags,
  stopped: Promise<string>,
): Promise<number> {
  const app = idServerApp(host);
  let server: HttpServer;
  try {
    server = serveHttp({
      hostname: flags.host,
      port: flags.port,
      onListen: ({ hostname, port }) => {
        const shown = hostname.includes(":") ? `[${hostname}]` : hostname;
        console.log(`listening http://${shown}:${port}`);
      },
      onError: (e) => console.error(`bitdust idserver: request failed: ${errorText(e)}`),
    }, app.fetch);
  } catch (e) {
    console.error(
      `bitdust idserver: cannot listen on ${flags.host}:${flags.port}: ${errorText(e)}`,
    );
    return 1;
  }
  const log = logCounters("bitdust idserver", server);
  await stopped;
  await server.shutdown();
  log.stop();
  return 0;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
