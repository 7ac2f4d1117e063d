/**
 * The impostor workload (`--impostors R`): an attacker on the network sends, R times per
 * simulated hour across the network, a destructive message that claims an existing name under
 * a key that is not that name's.
 *
 * The attacker is omniscient: it reads the simulation's state to pick its targets (who holds
 * whose fragments, under which keys, which requests are awaiting an answer), as an attacker who
 * watched the public names and the traffic could approximate. It sends from one dedicated
 * attacker node (`Simulator.addAttacker`), so its frames cross the simulated network like every
 * other one. Both directions:
 *
 * | to        | claiming             | messages                                                |
 * |-----------|----------------------|---------------------------------------------------------|
 * | supplier  | one of its customers | `list`; `fetch`, `audit` and `remove` of real fragment  |
 * |           |                      | keys; `store` over a real fragment (garbage under its   |
 * |           |                      | own valid hash); `contract_cancel`; `contract_request`  |
 * |           |                      | for the whole capacity or for nothing                   |
 * | customer  | one of its suppliers | answers to requests in flight to that supplier:         |
 * |           |                      | `store_reply` "stored" (or a refusal that gets it       |
 * |           |                      | fired), `probe_reply` "no contract" for a supplier that |
 * |           |                      | is up and "all is well" for one that is down,           |
 * |           |                      | `audit_reply` and `fetch_reply` garbage or "not found", |
 * |           |                      | `contract_cancel_reply`, `list_reply` with bogus keys   |
 *
 * Keys: `fresh` (the default) uses a pool of keys derived from the seed that nobody pinned, and
 * for a quarter of the messages the genuine key of another node of the network (a peer claiming
 * a name not its own). `stolen` uses the claimed node's own key: the receiver cannot tell it
 * from the real node, so every delivery counts as accepted; tests use it to prove the count is
 * not zero by construction.
 *
 * Only relationships the target has pinned are attacked: a supplier holding a contract record
 * for the claimed customer; a customer whose active family member is the claimed supplier (or,
 * for `contract_cancel_reply`, a fired one it is still telling to cancel). A customer's
 * candidate before hiring, or a customer's first `contract_request` to a new supplier, are not
 * targets: on the real network the transport's admission (a name's key confirmed against the
 * ID servers before a link is admitted) stops those, and the simulator has no such layer. The
 * same holds at delivery: a frame whose relationship ended in flight is dropped as `unpinned`
 * (see `sim/simulator.ts`). An answer whose request was answered or expired in flight is
 * delivered but not counted (`stale`): it could not have achieved anything either way.
 *
 * An answer with no request of its kind in flight lies in wait: it answers the next such
 * request as it leaves the customer (the attacker watches the traffic), racing the real answer.
 *
 * Everything is drawn from the `impostors` stream of the seed: runs stay reproducible.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { NodeId } from "../../core/actor.ts";
import { AUDIT_LEAF_BYTES } from "../../core/storage.ts";
import { Random, type Seed } from "../../core/prng.ts";
import type { Message } from "../../core/protocol/mod.ts";
import type { CustomerState, PendingRequest, RequestPurpose } from "../../actors/customer/state.ts";
import type { SupplierState } from "../../actors/supplier/mod.ts";
import type { ImpostorOutcome, ImpostorStanding, SimNode, Simulator } from "../simulator.ts";
import { nodeKeys, type StorageSimProtocol } from "./world.ts";
import { fragmentKey } from "../../parts/fragment_keys.ts";
import { findBlock } from "../../actors/customer/catalogue.ts";

const HOUR_MS = 3_600_000;
/** Fresh keys in the attacker's pool. */
const FRESH_KEYS = 16;
/** Targets tried per kind of message before the attacker moves to another kind. */
const TRIES = 8;
/** Real fragment keys named in one forged `remove`. */
const REMOVE_KEYS = 16;

type Sim = Simulator<StorageSimProtocol>;
type Node = SimNode<StorageSimProtocol>;
type Purpose = RequestPurpose;
type CustomerRecord = SupplierState["customers"] extends Map<string, infer R> ? R : never;

/** Messages to a supplier, claiming one of its customers. */
const TO_SUPPLIER = [
  "list",
  "fetch",
  "remove",
  "contract_cancel",
  "contract_request",
  "store",
  "audit",
];
/** Answers to a customer, claiming one of its suppliers. */
const TO_CUSTOMER = [
  "store_reply",
  "probe_reply",
  "audit_reply",
  "fetch_reply",
  "contract_cancel_reply",
  "list_reply",
];
/** Every kind of message the attacker sends. */
export const IMPOSTOR_KINDS = [...TO_SUPPLIER, ...TO_CUSTOMER];
/** One of {@link IMPOSTOR_KINDS}. */
export type ImpostorKind = typeof IMPOSTOR_KINDS[number];

/** What became of the messages of one kind. */
export type ImpostorTally = Record<ImpostorOutcome | "sent", number>;

/** How the attacker works. */
export interface ImpostorOptions {
  /** Messages per simulated hour across the network. */
  ratePerHour: number;
  /** `fresh`: keys nobody pinned; `stolen`: the claimed node's own key. */
  keys: "fresh" | "stolen";
  /** The kinds of message to send (default: all of {@link IMPOSTOR_KINDS}). */
  kinds?: readonly ImpostorKind[];
}

/** The attacker of one run. */
export class Impostors {
  /** Per kind of message, what became of the ones sent. */
  readonly tally = new Map<ImpostorKind, ImpostorTally>();
  /** Attempts that found nothing to attack (early in a run, before any contract). */
  idle = 0;
  readonly #random: Random;
  readonly #fresh: Uint8Array[] = [];
  readonly #attacker: Node;
  readonly #kinds: readonly ImpostorKind[];
  /** Kinds of answer waiting for their request to be sent (see {@link #ambush}). */
  readonly #waiting = new Set<typeof TO_CUSTOMER[number]>();

  constructor(
    readonly sim: Sim,
    readonly seed: Seed,
    readonly options: ImpostorOptions,
    readonly customers: () => readonly Node[],
  ) {
    this.#random = Random.stream(seed, "impostors");
    this.#kinds = options.kinds ?? IMPOSTOR_KINDS;
    for (let i = 0; i < FRESH_KEYS; i++) {
      this.#fresh.push(nodeKeys(seed, `impostor-key-${i}`).signingPublic);
    }
    for (const kind of IMPOSTOR_KINDS) {
      this.tally.set(kind, {
        sent: 0,
        refused: 0,
        accepted: 0,
        stale: 0,
        unpinned: 0,
        dropped: 0,
      });
    }
    this.#attacker = sim.addAttacker();
    sim.watchSends((from, to, message) => this.#ambush(from, to, message));
  }

  /** Attacks from now until virtual time `untilMs`. */
  start(untilMs: number): void {
    if (this.options.ratePerHour <= 0) return;
    const next = () => {
      const gap = this.#random.exponential(HOUR_MS / this.options.ratePerHour);
      const at = this.sim.nowMs + gap;
      if (at > untilMs) return;
      this.sim.at(at, () => {
        this.#attack();
        next();
      });
    };
    next();
  }

  /** Kinds of message with one of the outcomes `outcomes` at least once. */
  kindsWith(...outcomes: ImpostorOutcome[]): ImpostorKind[] {
    return IMPOSTOR_KINDS.filter((k) => outcomes.some((o) => this.tally.get(k)![o] > 0));
  }

  /** One message: a kind at random, or the next kind that has a target. */
  #attack(): void {
    const kinds = this.#kinds;
    const first = this.#random.int(kinds.length);
    for (let i = 0; i < kinds.length; i++) {
      const kind = kinds[(first + i) % kinds.length];
      const sent = (TO_SUPPLIER as readonly string[]).includes(kind)
        ? this.#toSupplier(kind as typeof TO_SUPPLIER[number])
        : this.#toCustomer(kind as typeof TO_CUSTOMER[number]);
      if (sent) return;
    }
    this.idle++;
  }

  /** The key to claim `claimed` under. */
  #keyFor(claimed: NodeId): Uint8Array | null {
    const rng = this.#random;
    if (this.options.keys === "stolen") return this.sim.node(claimed)?.signingKey ?? null;
    if (rng.int(4) === 0) {
      // A real peer's genuine key, claiming a name that is not its own.
      const nodes = this.sim.nodes;
      for (let i = 0; i < 4; i++) {
        const node = nodes[rng.int(nodes.length)];
        if (node.id !== claimed && node.role !== "attacker" && node.signingKey !== null) {
          return node.signingKey;
        }
      }
    }
    return this.#fresh[rng.int(this.#fresh.length)];
  }

  #send(
    kind: ImpostorKind,
    to: Node,
    claimed: NodeId,
    message: Message,
    standing: (target: Node) => ImpostorStanding,
  ): void {
    const tally = this.tally.get(kind)!;
    tally.sent++;
    this.sim.sendImpostor(this.#attacker, {
      to: to.id,
      from: claimed,
      fromKey: this.#keyFor(claimed),
      message,
      standing,
      onOutcome: (outcome) => void tally[outcome]++,
    });
  }

  // --- to a supplier, claiming one of its customers ------------------------------------------

  #toSupplier(kind: typeof TO_SUPPLIER[number]): boolean {
    const customers = this.customers();
    if (customers.length === 0) return false;
    const rng = this.#random;
    for (let i = 0; i < TRIES; i++) {
      const customer = customers[rng.int(customers.length)];
      const s = customer.state as CustomerState;
      const members = s.family.positions.filter((p) => p.state === "active" && p.supplier !== null);
      if (members.length === 0) continue;
      const supplier = this.sim.node(members[rng.int(members.length)].supplier!);
      if (supplier === undefined || supplier.status !== "online") continue;
      const record = (supplier.state as SupplierState).customers.get(customer.id);
      if (record === undefined) continue;
      const message = this.#supplierMessage(kind, supplier, record);
      if (message === null) continue;
      const name = customer.id;
      this.#send(kind, supplier, name, message, (target) => {
        // Pinned only with a key: a record of the format before keys pins nobody yet.
        const record = (target.state as SupplierState).customers.get(name);
        return record !== undefined && record.key !== null ? "pinned" : "unpinned";
      });
      return true;
    }
    return false;
  }

  #supplierMessage(
    kind: typeof TO_SUPPLIER[number],
    supplier: Node,
    record: CustomerRecord,
  ): Message | null {
    const rng = this.#random;
    const requestId = rng.int(2 ** 31);
    switch (kind) {
      case "list":
        return { type: "list", requestId, prefix: "", after: "" };
      case "contract_cancel":
        return { type: "contract_cancel", requestId, epoch: 0 };
      case "contract_request": {
        // Grab the whole disk, or shrink the contract to nothing.
        const capacity = (supplier.state as SupplierState).capacityBytes;
        return { type: "contract_request", requestId, epoch: 0, quotaBytes: rng.int(2) * capacity };
      }
      default:
        break;
    }
    const keys = [...record.fragments.keys()];
    if (keys.length === 0) return null;
    const key = keys[rng.int(keys.length)];
    switch (kind) {
      case "fetch":
        return { type: "fetch", requestId, key };
      case "audit":
        return { type: "audit", requestId, key, leafIndex: 0, leafBytes: AUDIT_LEAF_BYTES };
      case "remove":
        return {
          type: "remove",
          requestId,
          epoch: 0,
          keys: rng.shuffle(keys).slice(0, REMOVE_KEYS),
        };
      case "store": {
        const data = rng.bytes(Math.max(1, record.fragments.get(key)!.size));
        return { type: "store", requestId, epoch: 0, key, hash: sha256(data), data };
      }
    }
    return null;
  }

  // --- to a customer, claiming one of its suppliers ------------------------------------------

  #toCustomer(kind: typeof TO_CUSTOMER[number]): boolean {
    const customers = this.customers();
    if (customers.length === 0) return false;
    const rng = this.#random;
    for (let i = 0; i < TRIES; i++) {
      const customer = customers[rng.int(customers.length)];
      if (customer.status !== "online") continue;
      const s = customer.state as CustomerState;
      const open: PendingRequest[] = [];
      for (const r of s.requests.values()) {
        if (answers(kind, r.purpose) && pins(s, r.to, kind)) open.push(r);
      }
      if (open.length === 0) continue;
      this.#answer(kind, customer, open[rng.int(open.length)]);
      return true;
    }
    if (this.#waiting.has(kind)) return false;
    // Nothing to answer now (most requests are answered within a round trip): answer the next
    // such request as it leaves, racing the real supplier's answer.
    this.#waiting.add(kind);
    return true;
  }

  /** A node sends `message` to `to`: if an answer of its kind is waiting, it goes out now. */
  #ambush(from: Node, to: NodeId, message: Message): void {
    if (this.#waiting.size === 0 || from.role !== "customer") return;
    const kind = ANSWER_TO[message.type];
    if (kind === undefined || !this.#waiting.has(kind) || !("requestId" in message)) return;
    const s = from.state as CustomerState;
    const r = s.requests.get(message.requestId);
    if (r === undefined || !answers(kind, r.purpose) || !pins(s, to, kind)) return;
    this.#waiting.delete(kind);
    this.#answer(kind, from, r);
  }

  #answer(kind: typeof TO_CUSTOMER[number], customer: Node, r: PendingRequest): void {
    const message = this.#customerMessage(kind, r, customer.state as CustomerState);
    const { id, to } = r;
    this.#send(kind, customer, to, message, (target) => {
      const t = target.state as CustomerState;
      if (!pins(t, to, kind)) return "unpinned";
      return t.requests.get(id)?.to === to ? "pinned" : "stale";
    });
  }

  #customerMessage(
    kind: typeof TO_CUSTOMER[number],
    r: PendingRequest,
    s: CustomerState,
  ): Message {
    const rng = this.#random;
    const requestId = r.id;
    const p = r.purpose;
    switch (kind) {
      case "store_reply": {
        if (p.kind !== "store") break;
        const outcome = rng.int(4) === 0 ? "no_contract" as const : "stored" as const;
        return { type: kind, requestId, key: fragmentKey(p.block, p.position), outcome };
      }
      case "probe_reply": {
        // For a supplier that is down, "all is well" (never fired); for one that is up, "I
        // have no contract with you" (fired).
        const real = this.sim.node(r.to);
        const down = real === undefined || real.status !== "online";
        const quotaBytes = down ? s.options.quotaBytes : 0;
        return { type: kind, requestId, contract: down, usedBytes: 0, quotaBytes, epoch: 0 };
      }
      case "audit_reply": {
        if (p.kind !== "audit") break;
        const key = fragmentKey(p.block, p.position);
        const size = findBlock(s, p.block)?.fragmentSize ?? 0;
        if (rng.int(4) === 0) {
          const outcome = "not_found";
          return { type: kind, requestId, key, outcome, size: 0, leaf: EMPTY, path: [] };
        }
        const leaf = rng.bytes(Math.max(1, Math.min(AUDIT_LEAF_BYTES, size)));
        const path = Array.from({ length: 1 + rng.int(4) }, () => rng.bytes(32));
        return { type: kind, requestId, key, outcome: "found", size, leaf, path };
      }
      case "fetch_reply": {
        let key: string;
        let size: number;
        if (p.kind === "fetch") {
          const ref = p.gather;
          const block = ref.role === "restore"
            ? findBlock(s, ref.block)
            : s.repairs.tasks.find((t) => t.id === ref.id)?.block;
          // A gather that ended meanwhile: still answered, for a block of no consequence.
          const blockKey = block?.key ?? (ref.role === "restore" ? ref.block : "x/0/0");
          key = fragmentKey(blockKey, p.position);
          size = block?.fragmentSize ?? 1;
        } else if (p.kind === "manifest_fetch") {
          key = `${p.fetch.id}/m/0/${p.position}`;
          size = Math.ceil(p.fetch.cipherSize / s.scheme.k);
        } else break;
        if (rng.int(4) === 0) {
          return { type: kind, requestId, key, outcome: "not_found", data: EMPTY };
        }
        const data = rng.bytes(Math.max(1, size));
        return { type: kind, requestId, key, outcome: "found", data };
      }
      case "contract_cancel_reply":
        return { type: kind, requestId, removed: rng.int(1000) };
      case "list_reply": {
        const keys = Array.from(
          { length: 1 + rng.int(8) },
          (_, i) => `x${rng.nextU32().toString(16)}/0/0/${i}`,
        );
        return { type: kind, requestId, keys, more: false };
      }
    }
    throw new Error(`no ${kind} answers a ${p.kind} request`);
  }
}

const EMPTY = new Uint8Array(0);

function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(data).digest());
}

/** The requests each kind of answer answers. */
const ANSWERS: Record<typeof TO_CUSTOMER[number], readonly Purpose["kind"][]> = {
  store_reply: ["store"],
  probe_reply: ["probe"],
  audit_reply: ["audit"],
  fetch_reply: ["fetch", "manifest_fetch"],
  contract_cancel_reply: ["cancel"],
  list_reply: ["sweep_list"],
};

/** The kind of answer a request of each type gets. */
const ANSWER_TO: Partial<Record<Message["type"], typeof TO_CUSTOMER[number]>> = {
  store: "store_reply",
  probe: "probe_reply",
  audit: "audit_reply",
  fetch: "fetch_reply",
  contract_cancel: "contract_cancel_reply",
  list: "list_reply",
};

/** Whether an answer of `kind` answers a request for `purpose`. */
function answers(kind: typeof TO_CUSTOMER[number], purpose: Purpose): boolean {
  return ANSWERS[kind].includes(purpose.kind);
}

/**
 * Whether customer `s` has pinned a key for supplier `name`: an active member of its family,
 * or, for a cancellation's answer, a fired one it still tells to cancel.
 */
function pins(s: CustomerState, name: NodeId, kind: typeof TO_CUSTOMER[number]): boolean {
  if (kind === "contract_cancel_reply" && s.family.cancels.has(name)) return true;
  return s.family.positions.some((p) => p.state === "active" && p.supplier === name);
}
