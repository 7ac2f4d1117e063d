/**
 * `bitdust idserver`: serve identity documents and the supplier directory over HTTP.
 *
 * ```
 * bitdust idserver --data DIR [--host 127.0.0.1] [--port 0]
 * ```
 *
 * Documents are kept in Deno KV at `DIR/idserver.kv` (created if missing) and survive restarts.
 * Once the documents are loaded and the socket is bound it prints exactly
 * `listening http://HOST:PORT` on stdout. SIGINT or SIGTERM stops it cleanly: no new connections,
 * the writes in flight finish, the offers are saved, the database is closed, exit code 0. A bad
 * flag prints one line on stderr and exits with 2; a data directory or port that cannot be used,
 * one line and exit 1.
 *
 * What must not change across a restart, because others hold it:
 * - The address. Every user's and supplier's config names the server's URL, so the address it
 *   first listened on is kept in `DIR/server.json` and used again: `--port 0` (any free port)
 *   picks one only on the first start; later starts with `--port 0` or no `--port` reuse it, and
 *   only an explicit `--port N` (or `--host H`) moves the server, which it says in one line.
 * - The supplier directory. Offers are signed by their suppliers, so they are saved as they are
 *   in `DIR/offers.json` (atomically: written beside it, fsynced, renamed), every 10 s in which
 *   the directory changed and at shutdown, and announced to the actor again at start, through
 *   the same checks as any announcement (signature against the hosted identity, expiry, the
 *   directory's size limit). A restarted server can so answer offer queries at once instead of
 *   after every supplier's next announcement (an hour); after a kill, at most the last 10 s of
 *   changes is lost, and suppliers' announcements fill it in.
 *
 * Operators see on stderr: what was loaded (identities, family records, offers still valid), a
 * line once it serves (address, data directory, limits), a summary each minute in which
 * something changed (identities, family records, offers, requests and refusals since start),
 * and one `stopped:` line with the same summary when it stops.
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
import { idServerApp, offerFromJson, offerToJson } from "../idserver_http.ts";
import { readJson, writeJson } from "../home.ts";
import { chooseAddress, keptHint, recordAddress, savedAddress } from "./_address.ts";
import type { SignedOffer } from "../../core/protocol/identity.ts";

/** How often the offers are saved when they changed: at most this much is lost to a kill. */
const OFFERS_SAVE_INTERVAL_MS = 10_000;

/** How often the summary line is printed, when it changed. */
const SUMMARY_INTERVAL_MS = 60_000;

const USAGE = "usage: bitdust idserver --data DIR [--host 127.0.0.1] [--port 0]";

/** Parsed flags of `bitdust idserver`. */
export interface IdServerFlags {
  host: string;
  port: number;
  data: string;
  /** `--host` was given (else the default, or the recorded host on a restart). */
  hostGiven: boolean;
  /** `--port` was given as a port other than 0 (else the recorded port on a restart). */
  portGiven: boolean;
}

/** Parses the flags; returns a one-line error message instead when they are wrong. */
export function parseIdServerFlags(args: string[]): IdServerFlags | { error: string } | "help" {
  const values: Record<string, string> = { host: "127.0.0.1", port: "0" };
  const given = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--help" || arg === "-h") return "help";
    const m = /^--(host|port|data)(?:=(.*))?$/.exec(arg);
    if (m === null) return { error: `unknown flag '${arg}'; ${USAGE}` };
    const value = m[2] ?? args[++i];
    if (value === undefined || value === "") return { error: `--${m[1]} needs a value` };
    values[m[1]] = value;
    given.add(m[1]);
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535 || !/^\d+$/.test(values.port)) {
    return { error: `--port must be a whole number from 0 to 65535, got '${values.port}'` };
  }
  if (values.data === undefined) return { error: `--data DIR is required; ${USAGE}` };
  if (!/^[A-Za-z0-9.\-:\[\]]+$/.test(values.host)) {
    return { error: `--host must be a host name or IP address, got '${values.host}'` };
  }
  return {
    host: values.host.replace(/^\[(.*)\]$/, "$1"),
    port,
    data: values.data,
    hostGiven: given.has("host"),
    portGiven: given.has("port") && port !== 0,
  };
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

async function loadOffers(dir: string): Promise<SignedOffer[]> {
  const v = await readJson(`${dir}/offers.json`).catch(() => null) as { offers?: unknown } | null;
  if (v === null || !Array.isArray(v.offers)) return [];
  return v.offers.map(offerFromJson).filter((o): o is SignedOffer => o !== null);
}

/** Announces saved offers again; the actor judges each as it judges any announcement. */
function restoreOffers(host: Host<IdServerState, IdServerProtocol>, offers: SignedOffer[]): void {
  // Request ids below zero are never used by the HTTP gateway, so no answer is mistaken for one
  // of its requests; the answers are not awaited (the actor answers synchronously).
  offers.sort((x, y) => x.issuedMs - y.issuedMs).forEach((offer, i) => {
    host.deliver({
      kind: "command",
      command: { type: "offer_announce", requestId: -1 - i, offer },
    });
  });
}

/** Saves the directory when it changed since the last save; never throws. */
class OfferSaver {
  #last = "";
  #saving: Promise<void> = Promise.resolve();
  constructor(readonly dir: string, readonly host: Host<IdServerState, IdServerProtocol>) {}

  /** Marks what was loaded as saved. */
  loaded(): void {
    this.#last = this.#fingerprint();
  }

  /** Changes only through these counters, so they and the size tell whether to save. */
  #fingerprint(): string {
    const c = this.host.state.counters;
    const changes = (c["offer.stored"] ?? 0) + (c["offer.withdrawn"] ?? 0) +
      (c["offer.expired_swept"] ?? 0) + (c["expire.offers"] ?? 0);
    return `${this.host.state.offers.size}:${changes}`;
  }

  /** Saves one at a time, so an older snapshot never replaces a newer one. */
  save(): Promise<void> {
    this.#saving = this.#saving.then(() => this.#save());
    return this.#saving;
  }

  async #save(): Promise<void> {
    const now = this.#fingerprint();
    if (now === this.#last) return;
    const offers = [...this.host.state.offers.values()].map(offerToJson);
    try {
      await writeJson(`${this.dir}/offers.json`, { offers });
      this.#last = now;
    } catch (e) {
      console.error(`bitdust idserver: cannot save the offers: ${errorText(e)}`);
    }
  }
}

/** Outcomes that are not refusals, and counters that are not requests. */
const ACCEPTED = new Set([
  "stored",
  "unchanged",
  "withdrawn",
  "refreshed",
  "found",
  "not_found",
  "granted",
]);
const INTERNAL = new Set([
  "offer.expired_swept",
  "publish.refresh_write_failed",
  "publish.refresh",
]);

/** Counters of requests from the network (every outcome counted as `<kind>.<outcome>`). */
const COUNTED = /^(publish|offer|family\.publish|family\.fetch|lease)\./;

/** The operator's summary: what is held, requests answered and refused since start. */
export function summary(state: IdServerState): string {
  let requests = 0;
  let refused = 0;
  for (const [k, v] of Object.entries(state.counters)) {
    if (INTERNAL.has(k) || !COUNTED.test(k)) continue;
    requests += v;
    if (!ACCEPTED.has(k.split(".").pop()!)) refused += v;
  }
  return `${state.docs.size} identities, ${state.families.size} family records, ` +
    `${state.offers.size} offers; ${requests} requests, ${refused} refused`;
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
    const saver = new OfferSaver(flags.data, host);
    const saved = await loadOffers(flags.data);
    restoreOffers(host, saved);
    saver.loaded();
    const st = host.state;
    console.error(
      `${new Date().toISOString()} bitdust idserver: data ${flags.data}: ${st.docs.size} ` +
        `identities, ${st.families.size} family records, ${st.offers.size} of ${saved.length} ` +
        `saved offers still valid`,
    );
    const code = await serve(host, flags, stop.done, saver);
    await saver.save();
    console.error(`${new Date().toISOString()} bitdust idserver: stopped: ${summary(host.state)}`);
    return code;
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
  saver: OfferSaver,
): Promise<number> {
  const app = idServerApp(host);
  const where = chooseAddress(flags, await savedAddress(flags.data));
  if (where.note !== null) console.error(`bitdust idserver: ${where.note}`);
  let server: HttpServer;
  try {
    server = serveHttp({
      hostname: where.host,
      port: where.port,
      onListen: ({ hostname, port }) => {
        const shown = hostname.includes(":") ? `[${hostname}]` : hostname;
        console.log(`listening http://${shown}:${port}`);
      },
      onError: (e) => console.error(`bitdust idserver: request failed: ${errorText(e)}`),
    }, app.fetch);
  } catch (e) {
    const kept = where.kept ? keptHint(flags.data) : "";
    console.error(
      `bitdust idserver: cannot listen on ${where.host}:${where.port}: ${errorText(e)}${kept}`,
    );
    return 1;
  }
  try {
    await recordAddress(flags.data, { host: where.host, port: server.addr.port });
  } catch (e) {
    console.error(`bitdust idserver: cannot record the address: ${errorText(e)}`);
  }
  const log = logCounters("bitdust idserver", server);
  const lim = host.state.limits;
  console.error(
    `${new Date().toISOString()} bitdust idserver: serving http://${where.host}:` +
      `${server.addr.port} from ${flags.data}; at most ${lim.identitiesMax} identities, ` +
      `${lim.offersMax} offers, ${lim.familiesMax} family records`,
  );
  const saving = setInterval(() => void saver.save(), OFFERS_SAVE_INTERVAL_MS);
  let lastSummary = summary(host.state);
  const summarizing = setInterval(() => {
    const now = summary(host.state);
    if (now === lastSummary) return;
    lastSummary = now;
    console.error(`${new Date().toISOString()} bitdust idserver: ${now}`);
  }, SUMMARY_INTERVAL_MS);
  await stopped;
  clearInterval(saving);
  clearInterval(summarizing);
  await server.shutdown();
  log.stop();
  return 0;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
