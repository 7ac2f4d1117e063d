/**
 * Routers and NAT in the storage workload (`--nat F`, `--routers F`).
 *
 * A share `--routers` of the nodes are routers (`actors/router`), public, churning like every
 * supporter. A share `--nat` of the users and suppliers sit behind NAT (the network model drops
 * what reaches them without a session they opened, `sim/simulator.ts`). Every user and supplier
 * runs a route client beside its actor (`parts/route_client.ts`, mode `auto`): it asks a router
 * to dial it back, learns whether it is behind NAT, and if so keeps a route at a router, which
 * its identity then names. Senders reach a routed node through that router (`sim/relay.ts`);
 * replies from a public node go straight back, and a public node a NATed one talks to is
 * reached directly from then on, so routers carry only what must be relayed.
 *
 * What it reports: `roles.routers`, `relay.bytes` (inner bytes that went through a router),
 * `relay.share` (their share of all bytes nodes sent, routers' forwards not counted twice),
 * `routes.moved` (changes of router: a route client that lost its router and registered at
 * another), and what NAT cost (`nat.dropped`: messages that found no session and no route).
 * Its checker scans every router's memory (its state, deeply) and disk for the run's plaintext
 * marker and the users' paths (their disks, if any, are scanned with every node's).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { routerActor, routerState } from "../../actors/router/mod.ts";
import type { NodeId } from "../../core/actor.ts";
import { Random } from "../../core/prng.ts";
import { RouteClient } from "../../parts/route_client.ts";
import type { Churn } from "../churn.ts";
import type { SimFlags } from "../flags.ts";
import { simRelay } from "../relay.ts";
import type { Report } from "../report.ts";
import type { SimNode, SimRelay, Simulator } from "../simulator.ts";
import type { Contents } from "./content.ts";
import type { StorageSimProtocol } from "./world.ts";

/**
 * How often the simulated routers ping their routes (10 min), and how long a simulated NAT keeps
 * an idle session (30 min, `natIdleMs`): a home gateway's TCP mapping lasts hours, and pings
 * every 30 s (the real router's default, under the TCP transport's idle close) would be most of
 * the run's messages. A router that vanishes is noticed after three missed pings.
 */
const SIM_ROUTE_PING_MS = 10 * 60_000;
/** See {@link SIM_ROUTE_PING_MS}. */
export const SIM_NAT_IDLE_MS = 30 * 60_000;

type Sim = Simulator<StorageSimProtocol>;
type Node = SimNode<StorageSimProtocol>;

/** How many of `nodes` nodes are routers. */
export function routerCount(flags: SimFlags): number {
  const share = Math.round(flags.routers * flags.nodes);
  return flags.nat > 0 ? Math.max(1, share) : share;
}

/** The simulator's relay for a storage run: routers are the nodes of role `router`. */
export function storageRelay(seed: number | string, sim: () => Sim): SimRelay<StorageSimProtocol> {
  return simRelay<StorageSimProtocol>(
    seed,
    (node) => node.role === "router",
    (index) => sim().nodes[index],
  );
}

/** The routers of a run, who is behind NAT, and the route clients. */
export class Routing {
  readonly routers: NodeId[] = [];
  readonly #random: Random;
  readonly #clients: { node: Node; client: RouteClient<StorageSimProtocol> }[] = [];

  constructor(readonly sim: Sim, readonly flags: SimFlags) {
    this.#random = Random.stream(flags.seed, "nat");
  }

  /** Adds the run's routers (before any user or supplier: their route clients name them). */
  addRouters(count: number, churn: Churn<StorageSimProtocol>): void {
    for (let i = 0; i < count; i++) {
      const name = `n${this.sim.nodes.length}`;
      const node = this.sim.addNode(
        "router",
        routerActor,
        routerState({ name, pingMs: SIM_ROUTE_PING_MS }),
        name,
      );
      this.routers.push(node.id);
      churn.watch(node);
    }
  }

  /** A route client for a user or supplier about to be added, or none when there are no routers. */
  client(): RouteClient<StorageSimProtocol> | undefined {
    if (this.routers.length === 0) return undefined;
    return new RouteClient<StorageSimProtocol>({ mode: "auto", routers: this.routers });
  }

  /** Draws whether `node` (a user or supplier just added) sits behind NAT. */
  place(node: Node): void {
    const client = node.shell.companion;
    if (client instanceof RouteClient) this.#clients.push({ node, client });
    if (this.flags.nat === 0 || !(this.#random.float() < this.flags.nat)) return;
    this.sim.network.setNat(node.index, true);
  }

  /** The report's routing sections. */
  report(): Report {
    const c = this.sim.counters;
    const total = c.bytesDirect + c.relayBytes;
    const all = this.#clients.map((c) => c.client);
    const liveNodes = this.#clients.filter((c) => c.node.status !== "departed");
    const live = liveNodes.map((c) => c.client);
    const behind = (c: { node: Node }) => this.sim.network.isNat(c.node.index);
    const sum = (f: (r: RouteClient) => number) => all.reduce((a, r) => a + f(r), 0);
    return {
      relay: {
        bytes: c.relayBytes,
        share: total === 0 ? 0 : c.relayBytes / total,
        messages: c.relayWrapped,
        forwardedBytes: c.bytesRouted,
        rejected: c.relayRejected,
        refused: sum((r) => r.counters.relayRefused),
      },
      routes: {
        moved: sum((r) => r.counters.moves),
        held: live.filter((r) => r.phase === "held").length,
        routed: live.filter((r) => r.reach === "nat").length,
      },
      nat: {
        nodes: this.#clients.filter(behind).length,
        live: liveNodes.filter(behind).length,
        dropped: c.dropNat,
      },
    };
  }

  /**
   * Routers whose memory (their state, walked deeply) holds the run's plaintext marker or a
   * user's path; their disks are scanned with every other node's (`plaintextLeaks`).
   */
  leaks(contents: Contents): string[] {
    const marker = Buffer.from(contents.markerPrefix);
    const hex = contents.markerHex;
    const hexBytes = Buffer.from(hex, "latin1");
    return this.routers.filter((id) =>
      holds(this.sim.node(id)!.state, [marker, hexBytes], hex, new Set())
    ).map((id) => `${id}: memory`);
  }
}

/** Whether `value`, walked deeply, holds one of `needles` or the `hex` text anywhere. */
function holds(value: unknown, needles: Buffer[], hex: string, seen: Set<object>): boolean {
  if (typeof value === "string") return value.includes(hex);
  if (value === null || typeof value !== "object" || seen.has(value)) return false;
  seen.add(value);
  if (value instanceof Uint8Array) {
    const view = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    return needles.some((needle) => view.indexOf(needle) >= 0);
  }
  if (ArrayBuffer.isView(value)) return false;
  const items = value instanceof Map
    ? [...value.keys(), ...value.values()]
    : value instanceof Set
    ? [...value]
    : Object.values(value);
  return items.some((item) => holds(item, needles, hex, seen));
}
