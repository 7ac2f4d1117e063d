/**
 * Contracts that lapse: a supplier lets a reservation go when nothing was stored under it for a
 * while, and ends a contract that its customer stops renewing. The user must not lose data or
 * burn through suppliers over it: an empty position asks for its contract again, a position that
 * lost fragments is replaced and rebuilt.
 */

import type { NodeId } from "../../core/actor.ts";
import { bytesEqual } from "../../core/ids.ts";
import { Random } from "../../core/prng.ts";
import { supplierState } from "../supplier/mod.ts";
import { Scenario } from "../../sim/storage/scenario.ts";
import { nodeKeys, simIdentity } from "../../sim/storage/world.ts";

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const FILES = { "a.bin": Random.stream(1, "lapse").bytes(120_000) };

/** Supplier `name` no longer has a contract with the user, nor anything it stored (a lapse). */
function lapse(net: Scenario, name: NodeId | null): void {
  const node = net.sim.node(name!)!;
  const disk = net.sim.diskOf(node);
  for (const key of [...disk.blobs.keys()]) {
    if (key === `contract/${net.user.id}` || key.startsWith(`frag/${net.user.id}/`)) {
      disk.blobs.delete(key);
    }
  }
  net.sim.restart(
    node,
    supplierState({
      name: node.id,
      identityDocument: simIdentity(node.id, nodeKeys(net.sim.seed, node.id), ["n0"]),
      capacityBytes: 1024 ** 3,
      idServers: ["n0"],
    }),
  );
}

function restoresIntact(net: Scenario, versionId: string): void {
  const got = net.restore(versionId).files.get("a.bin");
  if (got === undefined || !bytesEqual(got, FILES["a.bin"])) throw new Error("restore differs");
}

Deno.test("family: reservations that lapse before any store are asked for again", () => {
  const net = new Scenario({ seed: 31, ecc: "rs:2+2", suppliers: 8 });
  const family = net.family();
  for (const member of family) lapse(net, member);
  net.runFor(HOUR_MS);
  const c = net.state.counters;
  if (c.fired !== 0 || net.family().join() !== family.join()) {
    throw new Error(`fired ${c.fired}: the family changed over lapsed reservations`);
  }
  if (c.contractsRenewed !== 4) throw new Error(`${c.contractsRenewed} contracts renewed`);
  for (const member of family) {
    const blobs = net.sim.diskOf(net.sim.node(member!)!).blobs;
    if (!blobs.has(`contract/${net.user.id}`)) throw new Error(`${member} has no contract`);
  }
  restoresIntact(net, net.backup(FILES));
});

Deno.test("family: without repair, a store refused for a lapsed contract renews it", () => {
  const net = new Scenario({ seed: 32, ecc: "rs:2+2", suppliers: 8, customer: { repair: false } });
  const family = net.family();
  for (const member of family) lapse(net, member);
  const v = net.backup(FILES);
  if (net.state.counters.contractsRenewed !== 4) throw new Error("contracts were not renewed");
  if (net.family().join() !== family.join()) throw new Error("the family changed");
  restoresIntact(net, v);
});

Deno.test("family: without repair, contracts are still renewed about daily", () => {
  const probes = new Map<NodeId, number>();
  const net = new Scenario({
    seed: 33,
    ecc: "rs:2+2",
    suppliers: 6,
    customer: { repair: false },
    wrapUser: (actor) => ({
      ...actor,
      step: (state, input, ctx) => {
        const out = actor.step(state, input, ctx);
        for (const e of out) {
          if (e.kind === "send" && e.message.type === "probe") {
            probes.set(e.to, (probes.get(e.to) ?? 0) + 1);
          }
        }
        return out;
      },
    }),
  });
  net.backup(FILES);
  net.runFor(4 * DAY_MS);
  for (const member of net.family()) {
    const n = probes.get(member!) ?? 0;
    if (n < 3 || n > 5) throw new Error(`${member} probed ${n} times in 4 days`);
  }
});

Deno.test("family: a supplier that lost our contract with fragments is replaced", () => {
  const net = new Scenario({ seed: 34, ecc: "rs:2+2", suppliers: 8 });
  const v = net.backup(FILES);
  const gone = net.family()[1];
  lapse(net, gone);
  net.runFor(2 * HOUR_MS);
  if (net.family().includes(gone)) throw new Error("the supplier that lost our data stayed");
  if (net.fullMembers() !== 4) throw new Error(`full members: ${net.fullMembers()}`);
  restoresIntact(net, v);
});
