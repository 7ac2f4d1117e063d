/**
 * Checkers that look at a simulated storage network from outside: what is really on the disks.
 *
 * - Durability: a file of an acknowledged version is durable while every one of its blocks has
 *   at least K positions whose supplier, the customer's current family member there, is a node
 *   that has not departed and whose disk holds the fragment with the hash recorded at backup
 *   time. Copies left on fired suppliers do not count: the customer could not find them. A
 *   version's manifest is judged the same way, apart: a user whose daemon lives restores from
 *   its own catalogue; the manifest matters to a user who comes back with only the key.
 * - No plaintext: no supplier's or ID server's disk contains the run's plaintext marker (present
 *   at the start of every file) nor the marker in hex (present in every path).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import type { CustomerState } from "../../actors/customer/mod.ts";
import { onlineFragments } from "../../actors/customer/status.ts";
import { heldBits } from "../../actors/customer/catalogue.ts";
import type { SimNode } from "../simulator.ts";
import type { Contents } from "./content.ts";
import type { StorageSimProtocol } from "./world.ts";
import {
  fragmentKey,
  isManifestFragment,
  STORED_FRAGMENT_PREFIX,
  storedFragmentBlob,
} from "../../parts/fragment_keys.ts";

type Node = SimNode<StorageSimProtocol>;
type Block = CustomerState["catalogue"]["versions"][0]["files"][0]["blocks"][0];

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/** Positions of `block` whose fragment really sits, intact, on a live family member's disk. */
export function fragmentsOnDisk(
  customer: Node,
  block: Block,
  lookup: (id: string) => Node | undefined,
): number {
  const s = customer.state as CustomerState;
  let count = 0;
  s.family.positions.forEach((p, i) => {
    if (p.supplier === null) return;
    const node = lookup(p.supplier);
    if (node === undefined || node.status === "departed" || node.disk === null) return;
    const data = node.disk.blobs.get(storedFragmentBlob(customer.id, fragmentKey(block.key, i)));
    if (data === undefined) return;
    const hash = createHash("sha256").update(data).digest();
    if (sameBytes(hash, block.hashes[i])) count++;
  });
  return count;
}

/** Durability of one customer's acknowledged versions: per version, per file, durable or not. */
export function durableFiles(
  customer: Node,
  lookup: (id: string) => Node | undefined,
): Map<string, boolean[]> {
  const s = customer.state as CustomerState;
  const k = s.scheme.k;
  const out = new Map<string, boolean[]>();
  for (const v of s.catalogue.versions) {
    if (v.status !== "complete") continue;
    out.set(
      v.id,
      v.files.map((f) => f.blocks.every((b) => fragmentsOnDisk(customer, b, lookup) >= k)),
    );
  }
  return out;
}

/** Acknowledged versions of one customer whose manifest is no longer durable. */
export function lostManifests(customer: Node, lookup: (id: string) => Node | undefined): number {
  const s = customer.state as CustomerState;
  return s.catalogue.versions.filter((v) =>
    v.status === "complete" && v.manifest !== null &&
    fragmentsOnDisk(customer, v.manifest, lookup) < s.scheme.k
  ).length;
}

/**
 * Blobs on `nodes`' disks that contain the plaintext marker or the marker in hex. Paths only
 * ever travel inside manifests, so the hex form is searched in manifest fragments and in every
 * blob that is not a fragment; keys are checked too.
 */
export function plaintextLeaks(nodes: Iterable<Node>, contents: Contents): string[] {
  const marker = Buffer.from(contents.markerPrefix);
  const hex = Buffer.from(contents.markerHex, "latin1");
  const leaks: string[] = [];
  for (const node of nodes) {
    if (node.disk === null || node.role === "customer") continue;
    for (const [key, data] of node.disk.blobs) {
      const view = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      const pathsPossible = !key.startsWith(STORED_FRAGMENT_PREFIX) || isManifestFragment(key);
      if (
        view.indexOf(marker) >= 0 || (pathsPossible && view.indexOf(hex) >= 0) ||
        key.includes(contents.markerHex)
      ) {
        leaks.push(`${node.id}:${key}`);
      }
    }
  }
  return leaks;
}

/**
 * Bytes the suppliers hold, and how many of them no user can use: fragments on a supplier that
 * no longer holds that position in the owner's family (fired while offline, so the cancel never
 * reached it), or of versions the owner no longer has (deleted, or a backup that never finished).
 */
export function supplierBytes(
  nodes: Iterable<Node>,
  lookup: (id: string) => Node | undefined,
): { total: number; orphaned: number } {
  let total = 0;
  let orphaned = 0;
  for (const node of nodes) {
    if (node.role !== "supplier" || node.status === "departed" || node.disk === null) continue;
    const owners = new Map<string, { state: CustomerState; versions: Set<string> } | null>();
    for (const [key, data] of node.disk.blobs) {
      if (!key.startsWith(STORED_FRAGMENT_PREFIX)) continue;
      total += data.length;
      const parts = key.split("/");
      const owner = parts[1];
      let o = owners.get(owner);
      if (o === undefined) {
        const state = lookup(owner)?.state as CustomerState | undefined;
        o = state === undefined
          ? null
          : { state, versions: new Set(state.catalogue.versions.map((v) => v.id)) };
        owners.set(owner, o);
      }
      const position = Number(parts[parts.length - 1]);
      const useful = o !== null && o.state.family.positions[position]?.supplier === node.id &&
        o.versions.has(parts[2]);
      if (!useful) orphaned += data.length;
    }
  }
  return { total, orphaned };
}

/**
 * What an online customer still has to do, in its own view, or `null` when it is done: no
 * backup, restore or recovery under way and, when it repairs, every position filled and every
 * block of every complete version held at every position (unless fewer than K are left: lost).
 * The swarm's liveness phase waits for
 * `null` from every user.
 */
export function pendingWork(customer: Node, repair: boolean): string | null {
  const s = customer.state as CustomerState;
  if (s.backups.run !== null) return "a backup is running";
  if (s.restores.length > 0) return `${s.restores.length} restores are queued or running`;
  const stage = s.recovery.stage;
  if (stage !== "idle" && stage !== "done") return `recovery is at ${stage}`;
  if (!repair) return null;
  const unfilled = s.family.positions.findIndex((p) => p.state !== "active");
  if (unfilled >= 0) return `position ${unfilled} is ${s.family.positions[unfilled].state}`;
  for (const v of s.catalogue.versions) {
    if (v.status !== "complete") continue;
    const blocks = v.files.flatMap((f) => f.blocks);
    if (v.manifest !== null) blocks.push(v.manifest);
    for (const b of blocks) {
      // Work the customer can do now: a position whose supplier answers misses the fragment,
      // and K members it counts on hold it. Anything else waits on the firing timeline (a
      // member that may hold last copies is awaited longer than a day) or is a loss, which the
      // durability checks count.
      const held = heldBits(s, b);
      const missing = held.findIndex((h, p) => h !== 1 && usable(s, p));
      if (missing >= 0 && onlineFragments(s, b) >= s.scheme.k) {
        const p = s.family.positions[missing];
        return `version ${v.id} misses a fragment at position ${missing} (held ` +
          `${held.join("")}; its supplier ${p.supplier} answers)`;
      }
    }
  }
  return null;
}

/** Whether position `p` of `s` can take a fragment now: active, answering, key pinned. */
function usable(s: CustomerState, p: number): boolean {
  const pos = s.family.positions[p];
  return pos.state === "active" && pos.online && pos.key !== null;
}
