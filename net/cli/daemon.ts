/**
 * `bitdust daemon [--data DIR] [--host 127.0.0.1] [--port 0] [--api-port 0]`: the user's node.
 *
 * It keeps the user's data alive (probes, audits, repairs) and serves the local API that the
 * other commands use. It needs a data directory made by `bitdust init` (or `key import`). Once
 * up it prints `listening tcp://HOST:PORT` (its address on the network) and
 * `api http://127.0.0.1:PORT` (the local API, whose port and token it also writes to `api.json`
 * and `api.token` in the data directory, mode 0600). SIGINT or SIGTERM stops it cleanly; a
 * restart finds its family and catalogue again. The API is served by `net/http_server.ts` with
 * at most `HTTP_API_CONNECTIONS_MAX` connections and that module's deadlines; its refusals are
 * logged on stderr (`... bitdust daemon: api http: ...`) each minute they change and at exit.
 *
 * Writer lease (issue 11): the daemon writes (hires, fires, backs up, repairs, deletes) only
 * while it holds its identity's writer lease on its ID servers (`actors/customer/lease.ts`). A
 * second daemon on the same key waits and prints `another machine (<host>) holds the writer
 * lease until <time>; waiting (run with --take-over to move it here)`; `--take-over` moves the
 * lease here, and this daemon writes once the old holder's lease has ended (at most `--lease`,
 * default 10 min, plus a minute), while the old one stops writing and says so. The lease's
 * instance id is kept in `lease-instance` in the data directory; `--machine` (or
 * `BITDUST_MACHINE`) names this machine in the lease, the host name by default; `--lease` (or
 * `BITDUST_LEASE`) sets the lease's length.
 *
 * @module
 */

import {
  customerActor,
  type CustomerNotice,
  type CustomerProtocol,
  type CustomerState,
  customerState,
} from "../../actors/customer/mod.ts";
import { toHex } from "../../core/ids.ts";
import {
  HTTP_API_CONNECTIONS_MAX,
  WRITER_LEASE_MACHINE_BYTES_MAX,
  WRITER_LEASE_MS,
  WRITER_LEASE_SPAN_MAX_MS,
} from "../../core/limits.ts";
import { eccScheme } from "../../core/storage.ts";
import { apiApp } from "../api.ts";
import { FsBlobStore } from "../fs_store.ts";
import { type HttpServer, logCounters, serveHttp } from "../http_server.ts";
import { dataDir, fileKeyOf, loadUserConfig, lockDataDir, paths, writeJson } from "../home.ts";
import { JobPool } from "../job_pool.ts";
import { KeyFileError, loadKeyFile } from "../keys.ts";
import { idServerIds, NodeRuntime } from "../node_runtime.ts";
import { RoutedStore } from "../routed_store.ts";
import { SwitchableStore, UserDaemon, writerLeaseLine } from "../user_daemon.ts";
import { CliError, durationFlag, parseArgs, portFlag, runCommand, stopSignal } from "./_command.ts";
import { workerUrl } from "./_worker.ts";

const USAGE = "usage: bitdust daemon [--data DIR] [--host 127.0.0.1] [--port 0] [--api-port 0]\n" +
  "       [--probe-interval 1m] [--fire-after 24h] [--request-timeout 30s]\n" +
  "       [--audit-interval 24h] [--take-over] [--lease 10m] [--machine NAME]";

/**
 * This home's writer-lease instance id (`actors/customer/lease.ts`): made once from the CSPRNG
 * and kept in the data directory, so a restarted daemon renews its own lease instead of waiting
 * for it to end; a second home (`key import` on another machine) gets an id of its own.
 */
async function leaseInstance(path: string): Promise<string> {
  try {
    const id = (await Deno.readTextFile(path)).trim();
    if (/^[0-9a-f]{32}$/.test(id)) return id;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const id = toHex(crypto.getRandomValues(new Uint8Array(16)));
  await Deno.writeTextFile(path, id + "\n", { mode: 0o600 });
  return id;
}

/** The machine label in a lease: the host name, cut to what a lease holds. */
function machineLabel(given: string | undefined): string {
  let name = given ?? "unknown";
  try {
    if (given === undefined) name = Deno.hostname();
  } catch { /* no permission: keep "unknown" */ }
  const bytes = new TextEncoder().encode(name);
  return bytes.length <= WRITER_LEASE_MACHINE_BYTES_MAX
    ? name
    : new TextDecoder().decode(bytes.slice(0, WRITER_LEASE_MACHINE_BYTES_MAX)).replace(
      /\uFFFD/g,
      "",
    );
}

/** Prints the writer lease's state on stderr each time its line changes. */
function watchLease(state: () => CustomerState): { stop(): void } {
  let last: string | null | undefined = undefined;
  let held = false;
  const tick = () => {
    const s = state();
    const line = writerLeaseLine(s, Date.now());
    const at = new Date().toISOString();
    // A renewal moves the holder's end; say it again only when something else changed.
    const key = line?.replace(/ until \S+;/, ";") ?? null;
    if (key === last) return;
    // Told by its suppliers that another machine writes: say which, once the ID servers said.
    const l = s.lease;
    if (held && line !== null && l?.holder == null && (l?.askHolder || l?.round)) return;
    if (line === null) {
      const epoch = s.lease?.held?.epoch ?? 0;
      console.error(`${at} holding the writer lease (epoch ${epoch}); this daemon writes`);
    } else if (held && (s.lease?.holder || s.lease?.superseded)) {
      const who = s.lease.holder
        ? `another machine (${s.lease.holder.machine})`
        : "another machine";
      console.error(
        `${at} ${who} took over the writer lease; ` +
          `this daemon stopped writing (run with --take-over to move it back)`,
      );
      console.error(`${at} ${line}`);
    } else console.error(`${at} ${line}`);
    held = line === null;
    last = key;
  };
  const timer = setInterval(tick, 500);
  return { stop: () => clearInterval(timer) };
}

async function writeToken(path: string): Promise<string> {
  const token = toHex(crypto.getRandomValues(new Uint8Array(32)));
  await Deno.writeTextFile(path, token + "\n", { mode: 0o600 });
  await Deno.chmod(path, 0o600);
  return token;
}

/** Logs what a person running the daemon wants to see on stderr. */
function logNotice(n: CustomerNotice): void {
  const at = new Date().toISOString();
  switch (n.type) {
    case "hired":
      return console.error(`${at} hired ${n.supplier} for position ${n.position}`);
    case "fired":
      return console.error(`${at} fired ${n.supplier} (position ${n.position}): ${n.reason}`);
    case "backup_done":
      return console.error(`${at} backup ${n.versionId} done: ${n.files} files, ${n.bytes} bytes`);
    case "backup_failed":
      return console.error(`${at} backup ${n.versionId} failed: ${n.reason}`);
    // Restores are logged by the daemon's job (user_daemon.ts), which knows their version: a
    // restore number means nothing to whoever reads the log.
    case "recovered":
      return console.error(
        `${at} found your family of ${n.suppliers} suppliers; reading back ${n.versions} versions`,
      );
    case "recovery_failed":
      return console.error(`${at} recovery stopped: ${n.reason}`);
  }
}

/** Runs the user's daemon until SIGINT or SIGTERM. */
export function run(args: string[]): Promise<number> {
  return runCommand("daemon", async () => {
    const { flags } = parseArgs(args, {
      data: { kind: "string", help: "data directory" },
      host: { kind: "string", help: "address to listen on" },
      port: { kind: "string", help: "port to listen on (0: any)" },
      "api-port": { kind: "string", help: "port of the local API (0: any)" },
      "probe-interval": { kind: "string", help: "how often each supplier is probed" },
      "fire-after": { kind: "string", help: "silence after which a supplier is replaced" },
      "request-timeout": { kind: "string", help: "how long a request waits for its answer" },
      "audit-interval": { kind: "string", help: "time between two audits of one supplier" },
      "take-over": {
        kind: "boolean",
        help: "take the writer lease from another machine running this identity",
      },
      lease: { kind: "string", help: "how long a writer lease lasts (renewed at a third)" },
      machine: { kind: "string", help: "this machine's name in the writer lease (host name)" },
      help: { kind: "boolean", help: "show usage" },
    });
    if (flags.help) {
      console.log(USAGE);
      return 0;
    }
    const dir = dataDir(flags.data as string | undefined);
    const p = paths(dir);
    const config = await loadUserConfig(dir);
    const lock = await lockDataDir(dir, "daemon");
    const keys = await loadKeyFile(p.keys).catch((e) => {
      throw e instanceof KeyFileError ? new CliError(e.message) : e;
    });
    const scheme = eccScheme(config.ecc);
    if (scheme === null) {
      throw new CliError(`${p.config} names an unknown ECC scheme ${config.ecc}`);
    }
    const probe = durationFlag(flags["probe-interval"], "probe-interval", 60_000);
    const leaseMs = durationFlag(
      flags.lease ?? Deno.env.get("BITDUST_LEASE"),
      "lease",
      WRITER_LEASE_MS,
    );
    if (leaseMs < 5_000 || leaseMs > WRITER_LEASE_SPAN_MAX_MS) {
      throw new CliError("--lease must be between 5s and 7d");
    }
    const lease = {
      instance: await leaseInstance(`${dir}/lease-instance`),
      machine: machineLabel(
        (flags.machine as string | undefined) ?? Deno.env.get("BITDUST_MACHINE"),
      ),
      takeOver: flags["take-over"] === true,
      leaseMs,
    };
    const source = new SwitchableStore();
    const store = new RoutedStore(
      [{ prefix: "src:", store: source }],
      await FsBlobStore.open(p.store),
    );
    const jobs = new JobPool({ workerUrl: workerUrl() });
    const stop = stopSignal();
    let runtime: NodeRuntime<CustomerState, CustomerProtocol> | undefined;
    let server: HttpServer | undefined;
    let log: { stop(): void } | undefined;
    let leaseWatch: { stop(): void } | undefined;
    try {
      runtime = await NodeRuntime.start<CustomerState, CustomerProtocol>({
        keys,
        idServers: config.idServers,
        listenHost: typeof flags.host === "string" ? flags.host : "127.0.0.1",
        listenPort: portFlag(flags.port, "port", 0),
        actor: customerActor,
        makeState: () =>
          customerState({
            name: keys.name,
            idServers: idServerIds(config.idServers),
            scheme,
            fileKey: fileKeyOf(keys),
            lease,
            options: {
              blockBytes: config.blockBytes,
              quotaBytes: config.quotaBytes,
              probeIntervalMs: probe,
              offlineAfterMs: 3 * probe,
              fireAfterMs: durationFlag(flags["fire-after"], "fire-after", 24 * 3_600_000),
              requestTimeoutMs: durationFlag(flags["request-timeout"], "request-timeout", 30_000),
              auditIntervalMs: durationFlag(flags["audit-interval"], "audit-interval", 86_400_000),
              repairScanMs: Math.min(probe, 10 * 60_000),
              hireRetryMs: 2 * probe,
            },
          }),
        store,
        runJob: (job) => jobs.run(job),
        // A supplier that comes back is found again by the next probe, not after a long backoff.
        redialMaxMs: probe,
      });
      const daemon = new UserDaemon(runtime.host, source);
      runtime.host.subscribe(logNotice);
      runtime.begin();
      const host = runtime.host;
      leaseWatch = watchLease(() => host.state);
      const token = await writeToken(p.token);
      const apiPortFlag = portFlag(flags["api-port"], "api-port", 0);
      try {
        server = serveHttp({
          hostname: "127.0.0.1",
          port: apiPortFlag,
          // Every client is on this machine, so one block holds them all.
          limits: {
            connectionsMax: HTTP_API_CONNECTIONS_MAX,
            connectionsPerBlockMax: HTTP_API_CONNECTIONS_MAX,
          },
        }, apiApp(daemon, token).fetch);
      } catch (e) {
        throw new CliError(`cannot listen on 127.0.0.1:${apiPortFlag}: ${(e as Error).message}`);
      }
      log = logCounters("bitdust daemon: api", server);
      const apiPort = server.addr.port;
      await writeJson(p.api, { port: apiPort, pid: Deno.pid });
      console.log(`listening ${runtime.contact}`);
      console.log(`api http://127.0.0.1:${apiPort}`);
      await stop.done;
      return 0;
    } finally {
      stop.remove();
      await Deno.remove(p.api).catch(() => {});
      await server?.shutdown();
      log?.stop();
      leaseWatch?.stop();
      await runtime?.stop();
      await jobs.close();
      store.close();
      lock.close();
    }
  });
}
