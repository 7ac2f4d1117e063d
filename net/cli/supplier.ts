/**
 * `bitdust supplier --data DIR --donate SIZE --idserver URL [--host 127.0.0.1] [--port 0]
 * [--name NAME]`: lends disk space to users.
 *
 * The first run creates the supplier's keys and configuration in `DIR` (its name is `--name`, or
 * `supplier-<random>`); later runs reuse them, and flags given again replace the saved values.
 * Fragments are files under `DIR/store/` (written atomically, fsynced), contracts live in Deno
 * KV at `DIR/state.kv`. Once its identity is published and the socket bound it prints
 * `listening tcp://HOST:PORT`. SIGINT or SIGTERM stops it cleanly; a restart loses nothing.
 * The address is kept in `DIR/server.json` (see `_address.ts`): customers dial the contact in
 * its published identity, so a restart with `--port 0` or no `--port` listens where it did
 * before, and only an explicit `--port N` or `--host H` moves it (one line says so).
 *
 * On stderr it logs contracts as they are granted and as they end (cancelled by their customer,
 * lapsed because nothing was stored while their space was reserved, or expired because their
 * customer was silent for the lease); a start line (name, data directory, space lent, ID
 * servers, address); the same status line each minute in which it changed; and, when it stops,
 * one status line with its tables and what it refused: messages under a key that is not the one
 * pinned for their sender's name, contracts lapsed and expired, writes refused because another
 * instance of their customer had written at a newer writer epoch (`superseded`).
 *
 * @module
 */

import {
  supplierActor,
  type SupplierNotice,
  type SupplierProtocol,
  type SupplierState,
  supplierState,
  type SupplierStatus,
} from "../../actors/supplier/mod.ts";
import { encodeIdentity } from "../../core/identity.ts";
import { toHex } from "../../core/ids.ts";
import {
  SUPPLIER_ANNOUNCE_REPLY_TIMEOUT_MS,
  SUPPLIER_ANNOUNCE_RETRY_MS_MAX,
} from "../../core/limits.ts";
import { FsBlobStore } from "../fs_store.ts";
import {
  dataDir,
  ensureDir,
  lockDataDir,
  openMetadataStore,
  paths,
  readJson,
  type SupplierConfigFile,
  writeJson,
} from "../home.ts";
import { JobPool } from "../job_pool.ts";
import { generateNodeKeys, loadKeyFile, type NodeKeys, saveKeyFile } from "../keys.ts";
import { idServerIds, NodeRuntime } from "../node_runtime.ts";
import { RoutedStore } from "../routed_store.ts";
import {
  CliError,
  parseArgs,
  portFlag,
  runCommand,
  sizeFlag,
  stopSignal,
  UsageError,
} from "./_command.ts";
import { idServerUrls } from "./init.ts";
import { workerUrl } from "./_worker.ts";
import { chooseAddress, keptHint, recordAddress, savedAddress } from "./_address.ts";

const USAGE = "usage: bitdust supplier --data DIR --donate SIZE --idserver URL " +
  "[--host 127.0.0.1] [--port 0] [--name NAME]";

const SPEC = {
  data: { kind: "string", help: "data directory" },
  donate: { kind: "string", help: "disk space lent to users (e.g. 10GiB)" },
  idserver: { kind: "string", help: "ID server URL(s), comma-separated" },
  host: { kind: "string", help: "address to listen on" },
  port: { kind: "string", help: "port to listen on (0: any)" },
  name: { kind: "string", help: "name on the network (first run only)" },
  help: { kind: "boolean", help: "show usage" },
} as const;

async function loadOrCreate(
  dir: string,
  flags: Record<string, string | boolean | undefined>,
): Promise<{ keys: NodeKeys; config: SupplierConfigFile }> {
  const p = paths(dir);
  await ensureDir(dir);
  const saved = await readJson(p.config) as SupplierConfigFile | null;
  if (saved !== null && saved.role !== "supplier") {
    throw new CliError(`${dir} belongs to a ${saved.role}, not a supplier`);
  }
  const idServers = flags.idserver !== undefined
    ? idServerUrls(flags.idserver)
    : saved?.idServers ?? idServerUrls(undefined);
  const donateBytes = typeof flags.donate === "string"
    ? sizeFlag(flags.donate, "donate")
    : saved?.donateBytes;
  if (donateBytes === undefined) throw new UsageError("--donate SIZE is required");
  let keys: NodeKeys;
  if (saved === null) {
    const name = typeof flags.name === "string"
      ? flags.name
      : `supplier-${toHex(crypto.getRandomValues(new Uint8Array(4)))}`;
    keys = generateNodeKeys(name);
    await saveKeyFile(p.keys, keys);
  } else {
    keys = await loadKeyFile(p.keys);
  }
  const config: SupplierConfigFile = { role: "supplier", name: keys.name, idServers, donateBytes };
  await writeJson(p.config, config);
  return { keys, config };
}

/** How often the status line is considered for the log (printed only when it changed). */
const SUMMARY_INTERVAL_MS = 60_000;

const ENDED = {
  cancelled: "cancelled by its customer",
  lapsed: "lapsed: nothing was stored while its space was reserved",
  expired: "expired: its customer was silent for the whole lease",
} as const;

/** Logs what an operator wants to see on stderr. */
function logNotice(n: SupplierNotice): void {
  const at = new Date().toISOString();
  switch (n.type) {
    case "contract":
      return console.error(`${at} contract with ${n.customer}: ${n.quotaBytes} bytes`);
    case "contract_ended":
      return console.error(
        `${at} contract with ${n.customer} ${ENDED[n.reason]}; ${n.removed} fragments deleted`,
      );
    case "publish_refused":
      return console.error(`${at} ID server ${n.idServer} refused our identity: ${n.outcome}`);
    case "offer_refused":
      return console.error(`${at} ID server ${n.idServer} refused our offer: ${n.outcome}`);
  }
}

/** One line of the supplier's tables and refusals. */
export function statusLine(s: SupplierStatus): string {
  return `${s.customers} contracts, ${s.fragments} fragments, ${s.usedBytes} bytes stored, ` +
    `${s.chargedBytes} of ${s.capacityBytes} bytes taken, ${s.freeBytes} offered; ` +
    `refused ${s.keyRefusals} messages under a key not pinned for their name; ` +
    `${s.contractsLapsed} contracts lapsed, ${s.contractsExpired} expired; ` +
    `${s.writesSuperseded} writes refused as superseded`;
}

/** Starts the runtime; a failed listen on a kept address says where the address came from. */
async function startRuntime(
  o: Parameters<typeof NodeRuntime.start<SupplierState, SupplierProtocol>>[0],
  hint: string,
): Promise<NodeRuntime<SupplierState, SupplierProtocol>> {
  try {
    return await NodeRuntime.start<SupplierState, SupplierProtocol>(o);
  } catch (e) {
    if (hint !== "" && e instanceof CliError) throw new CliError(`${e.message}${hint}`);
    throw e;
  }
}

/** Runs a supplier until SIGINT or SIGTERM. */
export function run(args: string[]): Promise<number> {
  return runCommand("supplier", async () => {
    const { flags } = parseArgs(args, SPEC);
    if (flags.help) {
      console.log(USAGE);
      return 0;
    }
    if (typeof flags.data !== "string" && Deno.env.get("BITDUST_HOME") === undefined) {
      throw new UsageError("--data DIR is required");
    }
    const dir = dataDir(flags.data as string | undefined);
    const port = portFlag(flags.port, "port", 0);
    const lock = await lockDataDir(dir, "supplier");
    // Customers dial the contact in the published identity: keep the port of the last start.
    const where = chooseAddress({
      host: typeof flags.host === "string" ? flags.host : "127.0.0.1",
      port,
      hostGiven: typeof flags.host === "string",
      portGiven: port !== 0,
    }, await savedAddress(dir));
    if (where.note !== null) console.error(`bitdust supplier: ${where.note}`);
    const { keys, config } = await loadOrCreate(dir, flags);
    const fragments = await FsBlobStore.open(paths(dir).store);
    const meta = await openMetadataStore(dir);
    const store = new RoutedStore([{ prefix: "frag/", store: fragments }], meta);
    const jobs = new JobPool({ workerUrl: workerUrl() });
    const ids = idServerIds(config.idServers);
    const stop = stopSignal();
    let runtime: NodeRuntime<SupplierState, SupplierProtocol> | undefined;
    try {
      runtime = await startRuntime({
        keys,
        idServers: config.idServers,
        listenHost: where.host,
        listenPort: where.port,
        actor: supplierActor,
        makeState: (identity) =>
          supplierState({
            name: keys.name,
            identityDocument: encodeIdentity(identity),
            capacityBytes: config.donateBytes,
            idServers: ids,
            // Find an ID server that was down again within minutes, not the actor's 10.
            retryMsMax: SUPPLIER_ANNOUNCE_RETRY_MS_MAX,
            replyTimeoutMs: SUPPLIER_ANNOUNCE_REPLY_TIMEOUT_MS,
          }),
        store,
        runJob: (job) => jobs.run(job),
      }, where.kept ? keptHint(dir) : "");
      const listenPort = Number(new URL(runtime.contact.replace(/^tcp:/, "http:")).port);
      await recordAddress(dir, { host: where.host, port: listenPort }).catch((e) =>
        console.error(`bitdust supplier: cannot record the address: ${(e as Error).message}`)
      );
      const host = runtime.host;
      let last: SupplierStatus | undefined;
      host.subscribe((n) => {
        if (n.type === "status") last = n;
        else logNotice(n);
      });
      runtime.begin();
      console.log(`listening ${runtime.contact}`);
      console.error(
        `${new Date().toISOString()} bitdust supplier ${keys.name}: data ${dir}, lending ` +
          `${config.donateBytes} bytes, ID servers ${config.idServers.join(", ")}, ` +
          `listening ${runtime.contact}`,
      );
      let shown = "";
      const summary = setInterval(() => {
        host.deliver({ kind: "command", command: { type: "status" } });
        const line = last === undefined ? "" : statusLine(last);
        if (line === shown || line === "") return;
        shown = line;
        console.error(`${new Date().toISOString()} bitdust supplier: ${line}`);
      }, SUMMARY_INTERVAL_MS);
      await stop.done;
      clearInterval(summary);
      host.deliver({ kind: "command", command: { type: "status" } });
      if (last !== undefined) console.error(`bitdust supplier: stopping: ${statusLine(last)}`);
      return 0;
    } finally {
      stop.remove();
      await runtime?.stop();
      await jobs.close();
      store.close();
      lock.close();
    }
  });
}
