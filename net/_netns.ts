/**
 * Test helpers: real NAT in Linux network namespaces (`ip netns`, veth pairs, nftables).
 *
 * ```
 *   public namespace (the internet)         home i: gateway namespace    private host namespace
 *   bridge 10.99.0.1/24  ---- veth ----  10.99.0.(100+i) | 192.168.i.1 ---- 192.168.i.2
 *                                        masquerade out, forward in only established/related
 * ```
 *
 * - The public namespace holds one bridge with {@link Topology.publicAddress}; every gateway's
 *   public side hangs on it. It routes every home's private /24 to that home's gateway, and every
 *   gateway routes the other homes' /24 to theirs: a hostile internet that would deliver a packet
 *   to a private address if it could, so that only the gateway's firewall keeps a home closed
 *   (not a missing route).
 * - A gateway forwards (`net.ipv4.ip_forward=1`, set inside its namespace only) from its home
 *   out, masquerading to its public address (nftables `nat` table, `postrouting` chain); inward
 *   it forwards only established or related traffic, and its own public address accepts nothing
 *   new. A home host can so dial out, and nobody can dial in, its neighbours included.
 * - Nothing reaches the machine's own network: no interface of ours is in the root namespace, no
 *   namespace has a default route out, and the root namespace's sysctls and rules are untouched.
 *
 * Names: every namespace is `<id>-pub`, `<id>-gw<i>`, `<id>-h<i>`, and every interface starts
 * with `<id>`, where `<id>` is `bd`, this process's pid in base 36 (5 characters) and 3 random
 * ones: parallel tests never collide, and {@link sweepStale} can tell a namespace left behind by
 * a dead process (its pid is gone) from one of a live run, and ignores every name not of this
 * form.
 *
 * Processes run through `ip netns exec NS ...` ({@link Topology.spawn}, {@link Topology.run});
 * {@link Topology.cleanup} kills them and anything else still inside our namespaces, then deletes
 * the namespaces (which deletes their interfaces). {@link withTopology} runs it in a `finally`.
 *
 * @module
 */

const REPO_DIR = new URL("../", import.meta.url).pathname;

/** Homes one topology may have (their private networks are 192.168.1.0/24 up to this). */
const HOMES_MAX = 50;

/** How long {@link Topology.run} lets a command run before it kills it. */
const RUN_TIMEOUT_MS = 30_000;

/** Our namespace names: `bd`, pid (base 36, 5 characters), 3 random characters, role. */
const NAME_RE = /^bd([0-9a-z]{5})([0-9a-z]{3})-(pub|gw\d+|h\d+|probe)$/;

const NETNS_DIR = "/run/netns";

/** One home behind NAT: its gateway, its host, their addresses. */
export interface Home {
  /** 1-based; the private network is `192.168.<index>.0/24`. */
  index: number;
  /** The gateway's namespace. */
  gateway: string;
  /** The private host's namespace. */
  host: string;
  /** The gateway's address on the public network: what the internet sees of this home. */
  publicAddress: string;
  /** The host's address on its private network. */
  privateAddress: string;
}

/** How a command in a namespace ended, and what it printed. */
export interface RunResult {
  code: number;
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
}

/** A process in a namespace, its output collected line by line. */
export class NsProcess {
  readonly lines: string[] = [];
  readonly errors: string[] = [];
  readonly name: string;
  /** Resolves when it has exited and its output is read. */
  readonly done: Promise<Deno.CommandStatus>;
  readonly #child: Deno.ChildProcess;

  constructor(ns: string, cmd: string[], cwd = REPO_DIR) {
    this.name = `${cmd[0].split("/").pop()} in ${ns}`;
    this.#child = new Deno.Command("ip", {
      args: ["netns", "exec", ns, ...cmd],
      cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const readers = [
      collect(this.#child.stdout, this.lines),
      collect(this.#child.stderr, this.errors),
    ];
    this.done = Promise.all(readers).then(() => this.#child.status);
  }

  /** Its pid (`ip netns exec` execs the command, so it is the command's own). */
  get pid(): number {
    return this.#child.pid;
  }

  /** Waits until a line on stdout matches `re`; returns the match. */
  async waitFor(re: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    this.done.then(() => exited = true);
    while (Date.now() < deadline) {
      for (const line of this.lines) {
        const m = re.exec(line);
        if (m !== null) return m;
      }
      if (exited) break;
      await sleep(20);
    }
    const why = exited ? "exited before it printed" : `printed in ${timeoutMs} ms no`;
    throw new Error(`${this.name} ${why} ${re}; stderr:\n${this.errors.join("\n")}`);
  }

  /** Sends `signal` (unless it is gone already) and waits for the exit. */
  async stop(signal: Deno.Signal = "SIGKILL"): Promise<Deno.CommandStatus> {
    this.kill(signal);
    return await this.done;
  }

  /** Sends `signal` unless it is gone already; {@link done} tells when it has exited. */
  kill(signal: Deno.Signal = "SIGKILL"): void {
    try {
      this.#child.kill(signal);
    } catch {
      // already exited
    }
  }
}

/** A built topology: its namespaces, how to run things in them, and its cleanup. */
export class Topology {
  /** The prefix of every name this topology made. */
  readonly id: string;
  /** The public namespace (the internet). */
  readonly public: string;
  /** The public namespace's own address, where public servers listen. */
  readonly publicAddress = "10.99.0.1";
  readonly homes: Home[];
  readonly #namespaces: string[] = [];
  readonly #procs = new Set<NsProcess>();
  #cleaned: Promise<void> | undefined;

  constructor(id: string, homes: number) {
    this.id = id;
    this.public = `${id}-pub`;
    this.homes = Array.from({ length: homes }, (_, k) => ({
      index: k + 1,
      gateway: `${id}-gw${k + 1}`,
      host: `${id}-h${k + 1}`,
      publicAddress: `10.99.0.${101 + k}`,
      privateAddress: `192.168.${k + 1}.2`,
    }));
  }

  /** Every namespace made so far. */
  get namespaces(): readonly string[] {
    return this.#namespaces;
  }

  /** Starts `cmd` in namespace `ns`; {@link cleanup} kills it if it still runs then. */
  spawn(ns: string, cmd: string[]): NsProcess {
    if (this.#cleaned !== undefined) throw new Error(`topology ${this.id} is cleaned up`);
    const p = new NsProcess(ns, cmd);
    this.#procs.add(p);
    p.done.then(() => this.#procs.delete(p));
    return p;
  }

  /** Runs `cmd` in namespace `ns` to its end (killed after `timeoutMs`); what it printed. */
  async run(ns: string, cmd: string[], timeoutMs = RUN_TIMEOUT_MS): Promise<RunResult> {
    const p = this.spawn(ns, cmd);
    const timer = setTimeout(() => p.stop(), timeoutMs);
    try {
      const status = await p.done;
      const stdout = p.lines.join("\n"), stderr = p.errors.join("\n");
      return { code: status.code, signal: status.signal, stdout, stderr };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Creates namespace `name` and remembers it for {@link cleanup}. */
  async addNamespace(name: string): Promise<void> {
    await ip(["netns", "add", name]);
    this.#namespaces.push(name);
  }

  /**
   * Kills every process started here and every other process still inside our namespaces, then
   * deletes the namespaces. Safe to call twice (the second call waits for the first).
   */
  cleanup(): Promise<void> {
    this.#cleaned ??= this.#cleanup();
    return this.#cleaned;
  }

  async #cleanup(): Promise<void> {
    // Everything dies first: a grandchild holding a child's stdout would keep it from ending.
    for (const p of this.#procs) p.kill();
    for (const ns of this.#namespaces) await killInside(ns);
    await Promise.all([...this.#procs].map((p) => p.done));
    const failures: string[] = [];
    for (const ns of this.#namespaces) {
      const why = await deleteNamespace(ns);
      if (why !== null) failures.push(why);
    }
    if (failures.length > 0) throw new Error(`cleanup left behind:\n${failures.join("\n")}`);
  }
}

/** Options of {@link createTopology}. */
export interface TopologyOptions {
  /** How many homes behind NAT (1 to 50). */
  homes: number;
}

/**
 * Builds the public namespace and `homes` homes behind NAT (sweeping stale namespaces of dead
 * runs first). On failure it removes what it made and throws.
 */
export async function createTopology(options: TopologyOptions): Promise<Topology> {
  if (!Number.isInteger(options.homes) || options.homes < 1 || options.homes > HOMES_MAX) {
    throw new RangeError(`homes must be a whole number from 1 to ${HOMES_MAX}`);
  }
  await sweepStale();
  const t = new Topology(await freshId(), options.homes);
  try {
    await buildPublic(t);
    for (const home of t.homes) await buildHome(t, home);
    return t;
  } catch (e) {
    await t.cleanup().catch(() => {});
    throw e;
  }
}

/** Builds a topology, runs `fn` on it, and cleans it up however `fn` ends. */
export async function withTopology<T>(
  options: TopologyOptions,
  fn: (t: Topology) => Promise<T>,
): Promise<T> {
  const t = await createTopology(options);
  try {
    return await fn(t);
  } finally {
    await t.cleanup();
  }
}

async function buildPublic(t: Topology): Promise<void> {
  const ns = t.public, bridge = `${t.id}br`;
  await t.addNamespace(ns);
  await ip(["-n", ns, "link", "set", "lo", "up"]);
  await ip(["-n", ns, "link", "add", bridge, "type", "bridge"]);
  await ip(["-n", ns, "addr", "add", `${t.publicAddress}/24`, "dev", bridge]);
  await ip(["-n", ns, "link", "set", bridge, "up"]);
}

/** One home: its gateway on the public bridge, its host behind it, routes, NAT and firewall. */
async function buildHome(t: Topology, home: Home): Promise<void> {
  const { gateway: gw, host, index: i } = home;
  const port = `${t.id}${i}p`, wan = `${t.id}${i}w`, lan = `${t.id}${i}l`, eth = `${t.id}${i}h`;
  await t.addNamespace(gw);
  await t.addNamespace(host);
  // Each veth pair is created with its ends in their namespaces: none is ever in the root one.
  await ip(["-n", t.public, "link", "add", port, "type", "veth", "peer", "name", wan, "netns", gw]);
  await ip(["-n", t.public, "link", "set", port, "master", `${t.id}br`, "up"]);
  await ip(["-n", gw, "link", "add", lan, "type", "veth", "peer", "name", eth, "netns", host]);
  await ip(["-n", gw, "addr", "add", `${home.publicAddress}/24`, "dev", wan]);
  await ip(["-n", gw, "addr", "add", `192.168.${i}.1/24`, "dev", lan]);
  await ip(["-n", host, "addr", "add", `${home.privateAddress}/24`, "dev", eth]);
  for (const [ns, dev] of [[gw, "lo"], [gw, wan], [gw, lan], [host, "lo"], [host, eth]]) {
    await ip(["-n", ns, "link", "set", dev, "up"]);
  }
  await ip(["-n", host, "route", "add", "default", "via", `192.168.${i}.1`]);
  await ip(["-n", t.public, "route", "add", `192.168.${i}.0/24`, "via", home.publicAddress]);
  for (const other of t.homes) {
    if (other === home) continue;
    await ip(["-n", gw, "route", "add", `192.168.${other.index}.0/24`, "via", other.publicAddress]);
  }
  await command(["ip", "netns", "exec", gw, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
  await command(["ip", "netns", "exec", gw, "nft", "-f", "-"], gatewayRules(wan, lan));
}

/** The gateway's nftables rules: masquerade out, only established/related in. */
function gatewayRules(wan: string, lan: string): string {
  return `
table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "${wan}" masquerade
  }
}
table inet filter {
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "${lan}" oifname "${wan}" accept
  }
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "${wan}" ct state established,related accept
    iifname "${wan}" drop
  }
}
`;
}

/**
 * Whether namespaces can be built here: Linux, root, `ip` and `nft` present, and the kernel lets
 * us create a namespace and load nftables rules in it. The reason when not.
 */
export function available(): Promise<{ ok: true } | { ok: false; reason: string }> {
  return probed ??= probe();
}

let probed: Promise<{ ok: true } | { ok: false; reason: string }> | undefined;

async function probe(): Promise<{ ok: true } | { ok: false; reason: string }> {
  if (Deno.build.os !== "linux") return { ok: false, reason: `not Linux (${Deno.build.os})` };
  if (Deno.uid() !== 0) return { ok: false, reason: "not root (ip netns needs it)" };
  for (const [tool, pkg] of [["ip", "iproute2"], ["nft", "nftables"]]) {
    try {
      await command([tool, tool === "ip" ? "-V" : "--version"]);
    } catch (e) {
      return { ok: false, reason: `'${tool}' does not run (install ${pkg}): ${firstLine(e)}` };
    }
  }
  const ns = `${await freshId()}-probe`;
  try {
    await ip(["netns", "add", ns]);
    await command(["ip", "netns", "exec", ns, "nft", "-f", "-"], "table ip probe {}\n");
    return { ok: true };
  } catch (e) {
    return { ok: false, reason: `the kernel refused a namespace with nftables: ${firstLine(e)}` };
  } finally {
    await deleteNamespace(ns);
  }
}

/**
 * Deletes namespaces of our form whose process is gone (a killed run's leftovers) and returns
 * their names. Never touches a name not of our form, nor one of a live process.
 */
export async function sweepStale(): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await listNamespaces()) {
    const m = NAME_RE.exec(name);
    if (m === null || processAlive(parseInt(m[1], 36))) continue;
    if (await deleteNamespace(name) === null) removed.push(name);
  }
  return removed;
}

/** The names of every namespace `ip netns` knows (ours and anybody's). */
export async function listNamespaces(): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(NETNS_DIR)) names.push(e.name);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return names.sort();
}

/** A new `<id>` (see the module's header) that no namespace uses yet. */
async function freshId(): Promise<string> {
  const taken = new Set((await listNamespaces()).map((n) => n.split("-")[0]));
  for (;;) {
    const random = crypto.getRandomValues(new Uint32Array(1))[0] % 36 ** 3;
    const id = `bd${Deno.pid.toString(36).padStart(5, "0")}${random.toString(36).padStart(3, "0")}`;
    if (!taken.has(id) && !reserved.has(id)) {
      reserved.add(id);
      return id;
    }
  }
}

/** Ids handed out in this process (two topologies built at once must not pick the same one). */
const reserved = new Set<string>();

/** Kills what still runs inside `ns` and deletes it; null, or what went wrong. */
async function deleteNamespace(ns: string): Promise<string | null> {
  try {
    await killInside(ns);
    await ip(["netns", "del", ns]);
    return null;
  } catch (e) {
    if ((await listNamespaces()).includes(ns)) return `${ns}: ${firstLine(e)}`;
    return null;
  }
}

/** Sends SIGKILL to every process inside namespace `ns` (none if it does not exist). */
async function killInside(ns: string): Promise<void> {
  const pids = await command(["ip", "netns", "pids", ns]).catch(() => "");
  for (const pid of pids.split(/\s+/).filter((p) => p !== "")) {
    try {
      Deno.kill(Number(pid), "SIGKILL");
    } catch {
      // exited meanwhile
    }
  }
}

function processAlive(pid: number): boolean {
  if (pid === Deno.pid) return true;
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

function ip(args: string[]): Promise<string> {
  return command(["ip", ...args]);
}

/** Runs a command in the root namespace (feeding it `stdin`); its stdout, or throws its stderr. */
async function command(cmd: string[], stdin?: string): Promise<string> {
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const r = await child.output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  if (r.code !== 0) throw new Error(`${cmd.join(" ")}: ${decode(r.stderr).trim()}`);
  return decode(r.stdout);
}

function firstLine(e: unknown): string {
  return String(e instanceof Error ? e.message : e).split("\n")[0];
}

async function collect(stream: ReadableStream<Uint8Array>, into: string[]): Promise<void> {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop()!;
    into.push(...parts);
  }
  if (rest !== "") into.push(rest);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
