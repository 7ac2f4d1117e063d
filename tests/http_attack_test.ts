/**
 * Attacks on every HTTP server bitdust runs, as an attacker on the network would make them:
 * `bitdust idserver` and the user daemon's local API run as subprocesses, the attacker (this
 * process) opens thousands of connections from other 127.x.y.z address blocks, and a legitimate
 * client on 127.0.0.1 must still be served. Memory is measured from outside, in the target's
 * `/proc/<pid>/status` (VmRSS), and descriptors in `/proc/<pid>/fd`.
 *
 * Sizes: ulimit -n is 20000 here and on CI, and test files may run in parallel, so one attack
 * holds at most 3,000 sockets of this process at a time.
 *
 * @module
 */

import assert from "node:assert/strict";
import net from "node:net";
import {
  HTTP_API_CONNECTIONS_MAX,
  HTTP_CLOSING_MAX,
  HTTP_CONNECTIONS_MAX,
  HTTP_CONNECTIONS_PER_BLOCK_MAX,
  HTTP_DESCRIPTORS_RESERVED,
  HTTP_HEADER_TIMEOUT_MS,
} from "../core/limits.ts";
import { type IdentityDocument, signIdentity } from "../core/identity.ts";
import { stepCryptoFor } from "../data/signing.ts";
import { createIdentity, fetchIdentity, publishIdentity } from "../net/identity_client.ts";
import { generateNodeKeys } from "../net/keys.ts";
import { network } from "./_e2e.ts";
import { sleep, SOURCES, until } from "./_procs.ts";

const MIB = 1024 * 1024;
/** Descriptors a target may open for its own work during an attack (workers, KV, dials). */
const OWN_SLACK = 32;

/** Resident memory of process `pid`, in bytes (0 once it is gone). */
async function rssBytes(pid: number): Promise<number> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
    return m === null ? 0 : Number(m[1]) * 1024;
  } catch {
    return 0;
  }
}

/** Open descriptors of process `pid` (-1 once it is gone). */
async function descriptors(pid: number): Promise<number> {
  try {
    let n = 0;
    for await (const _ of Deno.readDir(`/proc/${pid}/fd`)) n++;
    return n;
  } catch {
    return -1;
  }
}

/** Whether process `pid` still runs (and is not a zombie). */
async function alive(pid: number): Promise<boolean> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    return !/^State:\s+Z/m.test(status);
  } catch {
    return false;
  }
}

/** Samples a process's RSS and descriptors every 200 ms; keeps the largest values. */
class Gauge {
  rssMax = 0;
  descriptorsMax = 0;
  #timer: ReturnType<typeof setInterval>;
  #busy = false;

  constructor(readonly pid: number) {
    this.#timer = setInterval(async () => {
      if (this.#busy) return;
      this.#busy = true;
      this.rssMax = Math.max(this.rssMax, await rssBytes(pid));
      this.descriptorsMax = Math.max(this.descriptorsMax, await descriptors(pid));
      this.#busy = false;
    }, 200);
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

/**
 * Attackers' sockets, each bound to its own source address: `perBlock` of them in every /24
 * `127.<first + k>.0.0/24`, so that no attacker shares the legitimate client's 127.0.0.0/24.
 */
class Swarm {
  readonly sockets: net.Socket[] = [];
  /** Sockets the server closed (or refused), as opposed to those this side destroyed. */
  closedByServer = 0;
  connected = 0;
  failed = 0;
  #mine = new WeakSet<net.Socket>();

  static async open(port: number, count: number, perBlock: number, first = 10): Promise<Swarm> {
    const swarm = new Swarm();
    const batch = 250;
    for (let at = 0; at < count; at += batch) {
      const started: Promise<void>[] = [];
      for (let i = at; i < Math.min(count, at + batch); i++) {
        const block = first + Math.floor(i / perBlock);
        const host = `127.${block}.${Math.floor((i % perBlock) / 250)}.${(i % perBlock) % 250 + 1}`;
        started.push(swarm.#connect(port, host));
      }
      await Promise.all(started);
    }
    return swarm;
  }

  #connect(port: number, localAddress: string): Promise<void> {
    return new Promise((resolve) => {
      const s = net.connect({ host: "127.0.0.1", port, localAddress });
      this.sockets.push(s);
      const timer = setTimeout(() => {
        this.failed++;
        this.#mine.add(s);
        s.destroy();
        resolve();
      }, 10_000);
      s.once("connect", () => {
        clearTimeout(timer);
        this.connected++;
        resolve();
      });
      s.on("error", () => {});
      s.on("data", () => {});
      s.once("close", () => {
        clearTimeout(timer);
        if (!this.#mine.has(s)) this.closedByServer++;
        resolve();
      });
    });
  }

  /** Sockets still open from this side's point of view. */
  get open(): number {
    return this.sockets.filter((s) => !s.destroyed && s.readyState === "open").length;
  }

  /** Writes `text` on every open socket. */
  write(text: string): void {
    for (const s of this.sockets) if (!s.destroyed && s.writable) s.write(text);
  }

  destroy(): void {
    for (const s of this.sockets) {
      this.#mine.add(s);
      s.destroy();
    }
  }
}

/** A subprocess under test: its pid, its output lines, and a clean stop. */
class Target {
  readonly lines: string[] = [];
  readonly errors: string[] = [];
  readonly #child: Deno.ChildProcess;
  readonly #readers: Promise<void>[];

  /** Runs `deno <args>`, with the open-files limit lowered to `nofile` when given. */
  constructor(args: string[], nofile?: number) {
    const command = nofile === undefined ? Deno.execPath() : "/bin/sh";
    const shell = ["-c", `ulimit -n ${nofile} && exec "$@"`, "sh", Deno.execPath()];
    this.#child = new Deno.Command(command, {
      args: nofile === undefined ? args : [...shell, ...args],
      cwd: new URL("..", import.meta.url).pathname,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#readers = [lines(this.#child.stdout, this.lines), lines(this.#child.stderr, this.errors)];
  }

  get pid(): number {
    return this.#child.pid;
  }

  async waitFor(re: RegExp): Promise<RegExpMatchArray> {
    return await until(() => `${re} from the target; stderr ${this.errors.join("\n")}`, () => {
      for (const line of this.lines) {
        const m = re.exec(line);
        if (m !== null) return Promise.resolve(m);
      }
      return Promise.resolve(undefined);
    }, 60_000);
  }

  async stop(signal: Deno.Signal = "SIGTERM"): Promise<number> {
    try {
      this.#child.kill(signal);
    } catch {
      // already gone
    }
    const { code } = await this.#child.status;
    await Promise.all(this.#readers);
    return code;
  }
}

async function lines(stream: ReadableStream<Uint8Array>, into: string[]): Promise<void> {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop()!;
    into.push(...parts);
  }
  if (rest !== "") into.push(rest);
}

/** Starts `bitdust idserver` (under `ulimit -n nofile` when given). */
async function startIdServer(dir: string, nofile?: number) {
  const target = new Target([...SOURCES, "idserver", "--port", "0", "--data", dir], nofile);
  const url = (await target.waitFor(/^listening (http:\/\/127\.0\.0\.1:\d+)$/))[1];
  return { target, url, port: Number(new URL(url).port) };
}

/** The last counters line an HTTP server logged on stderr, as numbers. */
function loggedCounters(errors: string[]): Record<string, number> {
  const line = errors.findLast((l) => / http: /.test(l)) ?? "";
  const out: Record<string, number> = {};
  for (const m of line.matchAll(/(\w+)=(\d+)/g)) out[m[1]] = Number(m[2]);
  return out;
}

/** A legitimate user of an ID server: publishes ever higher revisions and reads them back. */
class Alice {
  readonly keys = generateNodeKeys("alice");
  readonly sign = stepCryptoFor(this.keys.signingPrivateKey).sign;
  revision = 0;

  constructor(readonly url: string) {}

  async visit(): Promise<void> {
    const doc = createIdentity(this.keys, [this.url], [], Date.now(), this.sign);
    const { signature: _, ...body } = doc;
    const next: IdentityDocument = signIdentity({ ...body, revision: ++this.revision }, this.sign);
    const put = await publishIdentity(this.url, next, { timeoutMs: 15_000 });
    assert.ok(put.ok, `PUT during the attack: ${JSON.stringify(put)}`);
    const got = await fetchIdentity(this.url, "alice", { timeoutMs: 15_000 });
    assert.ok(got.ok, `GET during the attack: ${JSON.stringify(got)}`);
  }
}

/**
 * Slowloris: `count` connections that send a request line and then one header line a second,
 * never finishing their heads. Returns once the server has closed every one of them, while
 * `during` runs as the legitimate user.
 */
async function slowloris(
  port: number,
  count: number,
  pid: number,
  during: () => Promise<void>,
): Promise<{ swarm: Swarm; gauge: Gauge }> {
  const gauge = new Gauge(pid);
  const swarm = await Swarm.open(port, count, 50);
  swarm.write("GET /alice.json HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  const trickle = setInterval(() => swarm.write("X-Slow: a\r\n"), 1000);
  try {
    await during();
    const opened = swarm.connected;
    assert.ok(opened >= count * 0.9, `only ${opened} of ${count} attackers connected`);
    // Every connection is closed by the server, the last ones at the header deadline.
    await until(
      () => `the server to close every slow connection (${swarm.open} open)`,
      () => Promise.resolve(swarm.open === 0 ? true : undefined),
      HTTP_HEADER_TIMEOUT_MS + 20_000,
    );
    assert.equal(swarm.closedByServer, opened, "every attacker was cut off by the server");
    await during();
  } finally {
    clearInterval(trickle);
    swarm.destroy();
    gauge.stop();
  }
  return { swarm, gauge };
}

/**
 * Descriptor exhaustion: `count` connections that send nothing, from many /24 blocks. Returns
 * once all are connected or closed, with `during` run as the legitimate user while they hold.
 */
async function flood(
  port: number,
  count: number,
  pid: number,
  during: () => Promise<void>,
): Promise<{ swarm: Swarm; gauge: Gauge; heldMax: number }> {
  const gauge = new Gauge(pid);
  const swarm = await Swarm.open(port, count, HTTP_CONNECTIONS_PER_BLOCK_MAX - 4);
  try {
    await sleep(500);
    const heldMax = swarm.open;
    assert.ok(await alive(pid), "the server is alive under the flood");
    await during();
    assert.ok(await alive(pid), "the server is still alive");
    return { swarm, gauge, heldMax };
  } finally {
    swarm.destroy();
    gauge.stop();
  }
}

const IDSERVER_RSS_MAX = 200 * MIB;

Deno.test("idserver: slowloris is cut at the header deadline; alice is served", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitdust-attack-" });
  const { target, url, port } = await startIdServer(dir);
  try {
    const alice = new Alice(url);
    await alice.visit();
    const before = await rssBytes(target.pid);
    const base = await descriptors(target.pid);
    const { gauge } = await slowloris(port, 2000, target.pid, () => alice.visit());
    console.log(
      `idserver slowloris: RSS ${(before / MIB).toFixed(0)} -> max ${
        (gauge.rssMax / MIB).toFixed(0)
      } MiB, descriptors max ${gauge.descriptorsMax}`,
    );
    assert.ok(gauge.rssMax < IDSERVER_RSS_MAX, `RSS ${gauge.rssMax} over the ceiling`);
    const bound = base + HTTP_CONNECTIONS_MAX + HTTP_CLOSING_MAX + OWN_SLACK;
    assert.ok(gauge.descriptorsMax <= bound, `descriptors ${gauge.descriptorsMax} > ${bound}`);
    assert.equal(await target.stop("SIGTERM"), 0, "clean exit after the attack");
    const counters = loggedCounters(target.errors);
    assert.ok((counters.headerTimeouts ?? 0) > 0, `header timeouts logged: ${target.errors}`);
  } finally {
    await target.stop("SIGKILL");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("idserver: a descriptor flood is held under the cap; alice is served", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitdust-attack-" });
  // The usual soft limit of a Linux service: the cap must fit under it, not the other way round.
  const nofile = 1024;
  const cap = Math.min(HTTP_CONNECTIONS_MAX, nofile - HTTP_DESCRIPTORS_RESERVED);
  const { target, url, port } = await startIdServer(dir, nofile);
  try {
    const alice = new Alice(url);
    await alice.visit();
    const base = await descriptors(target.pid);
    const count = 3000;
    const { swarm, gauge, heldMax } = await flood(port, count, target.pid, async () => {
      for (let i = 0; i < 3; i++) await alice.visit();
    });
    console.log(
      `idserver flood: ${swarm.connected} connected, ${heldMax} held, ${swarm.closedByServer} ` +
        `closed by the server, RSS max ${(gauge.rssMax / MIB).toFixed(0)} MiB, descriptors max ` +
        `${gauge.descriptorsMax}`,
    );
    assert.ok(heldMax <= cap, `the server holds ${heldMax} attackers, over its cap ${cap}`);
    assert.ok(swarm.closedByServer >= count - cap, "over-cap connections were shed");
    const bound = base + cap + HTTP_CLOSING_MAX + OWN_SLACK;
    assert.ok(gauge.descriptorsMax <= bound, `descriptors ${gauge.descriptorsMax} > ${bound}`);
    assert.ok(gauge.rssMax < IDSERVER_RSS_MAX, `RSS ${gauge.rssMax} over the ceiling`);
    assert.equal(await target.stop("SIGTERM"), 0, "clean exit after the attack");
    const counters = loggedCounters(target.errors);
    const shed = (counters.evicted ?? 0) + (counters.refusedFull ?? 0) +
      (counters.refusedBlock ?? 0);
    assert.ok(shed >= count - cap, `shedding counted: ${JSON.stringify(counters)}`);
  } finally {
    await target.stop("SIGKILL");
    await Deno.remove(dir, { recursive: true });
  }
});

const DAEMON_RSS_MAX = 250 * MIB;

/** The daemon's API port and a legitimate `GET /status` with the user's token. */
async function apiUser(dataDir: string, apiLine: string) {
  const port = Number(/:(\d+)$/.exec(apiLine)![1]);
  const token = (await Deno.readTextFile(`${dataDir}/api.token`)).trim();
  const status = async () => {
    const res = await fetch(`http://127.0.0.1:${port}/status`, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(15_000),
    });
    const body = await res.json();
    assert.equal(res.status, 200, `GET /status during the attack: ${JSON.stringify(body)}`);
    assert.equal(body.name, "alice");
  };
  return { port, status };
}

Deno.test("daemon API: slowloris and a descriptor flood; the CLI is served", async () => {
  const net = await network(SOURCES, 0, false);
  try {
    const daemon = net.daemon;
    const line = daemon.lines.find((l) => l.startsWith("api http://"))!;
    const { port, status } = await apiUser(net.user, line);
    await status();
    const before = await rssBytes(daemon.pid);
    const baseDescriptors = await descriptors(daemon.pid);
    const loris = await slowloris(port, 2000, daemon.pid, status);
    const { swarm, gauge, heldMax } = await flood(port, 3000, daemon.pid, async () => {
      for (let i = 0; i < 3; i++) await status();
    });
    const rssMax = Math.max(loris.gauge.rssMax, gauge.rssMax);
    const descriptorsMax = Math.max(loris.gauge.descriptorsMax, gauge.descriptorsMax);
    console.log(
      `daemon API: RSS ${(before / MIB).toFixed(0)} -> max ${(rssMax / MIB).toFixed(0)} MiB, ` +
        `descriptors ${baseDescriptors} -> max ${descriptorsMax}; flood: ${heldMax} held, ` +
        `${swarm.closedByServer} of ${swarm.connected} closed by the daemon`,
    );
    assert.ok(heldMax <= HTTP_API_CONNECTIONS_MAX, `${heldMax} attackers held`);
    assert.ok(swarm.closedByServer >= 3000 - HTTP_API_CONNECTIONS_MAX, "over-cap shed");
    assert.ok(
      descriptorsMax <= baseDescriptors + HTTP_API_CONNECTIONS_MAX + HTTP_CLOSING_MAX + OWN_SLACK,
      `descriptors ${descriptorsMax}`,
    );
    assert.ok(rssMax < DAEMON_RSS_MAX, `RSS ${rssMax} over the ceiling`);
    assert.equal(await daemon.stop("SIGTERM"), 0, "clean exit after the attacks");
    const counters = loggedCounters(daemon.errors);
    assert.ok((counters.headerTimeouts ?? 0) > 0, `header timeouts: ${daemon.errors}`);
    assert.ok((counters.evicted ?? 0) + (counters.refusedFull ?? 0) >= 3000 - 64, "shed counted");
  } finally {
    await net.procs.stopAll();
    await Deno.remove(net.dir, { recursive: true });
  }
});
