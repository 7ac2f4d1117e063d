/**
 * Each kind of impostor message, alone, against one user's small family: with a stolen key (the
 * claimed node's own, which no receiver can refuse) it does real harm that a user or an
 * operator would see, so the attack is not a dud; with fresh keys it is refused, counted, and
 * the same harm is absent. Plus the `--impostors` flag's validation.
 *
 * The `fresh` cases need actors that pin keys (suppliers pin their customers', customers their
 * suppliers'); against actors that do not, they fail, naming the kind and the harm.
 */

import type { CustomerState } from "../../actors/customer/mod.ts";
import type { SupplierState } from "../../actors/supplier/mod.ts";
import { FlagError, parseFlags } from "../flags.ts";
import { fragmentsOnDisk } from "./checkers.ts";
import { type ImpostorKind, Impostors } from "./impostors.ts";
import { Scenario } from "./scenario.ts";

const HOUR_MS = 3_600_000;
const QUOTA_BYTES = 64 * 1024 * 1024;

function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed * 17 + (i >> 7)) & 0xff;
  return out;
}

type Net = Scenario;

/** Sum of a counter over the suppliers. */
function supplierCount(net: Net, name: string): number {
  return net.suppliers.reduce((a, s) => a + ((s.state as SupplierState).counters[name] ?? 0), 0);
}

/** Fragments of the user's complete versions that are not intact where the family says. */
function missingFragments(net: Net): number {
  const s = net.state;
  let missing = 0;
  for (const v of s.catalogue.versions) {
    if (v.status !== "complete") continue;
    const blocks = [...v.files.flatMap((f) => f.blocks), ...(v.manifest ? [v.manifest] : [])];
    for (const b of blocks) {
      missing += s.scheme.n - fragmentsOnDisk(net.user, b, (id) => net.sim.node(id));
    }
  }
  return missing;
}

/** One kind's story: how to set the family up, and the harm the attack does when accepted. */
interface Case {
  kind: ImpostorKind;
  customer?: Partial<CustomerState["options"]>;
  /** Runs while the attacker works, after a first backup. */
  during: (net: Net) => void;
  /** How much harm was done (0: none), and what it is. */
  harm: (net: Net, before: Record<string, number>) => [number, string];
}

const QUIET = { auditIntervalMs: 1e12, sweepIntervalMs: 1e12 };

const CASES: Case[] = [
  {
    kind: "list",
    customer: QUIET,
    during: (net) => net.runFor(2 * HOUR_MS),
    harm: (net) => [supplierCount(net, "list"), "listings of the user's keys served"],
  },
  {
    kind: "fetch",
    customer: QUIET,
    during: (net) => net.runFor(2 * HOUR_MS),
    harm: (net) => [supplierCount(net, "fetch.found"), "of the user's fragments served"],
  },
  {
    kind: "audit",
    customer: QUIET,
    during: (net) => net.runFor(2 * HOUR_MS),
    harm: (net) => [supplierCount(net, "audit.found"), "audits proved to someone else"],
  },
  {
    kind: "remove",
    customer: { ...QUIET, repairScanMs: 1e12 },
    during: (net) => net.runFor(2 * HOUR_MS),
    harm: (net) => [missingFragments(net), "fragments gone from the disks"],
  },
  {
    kind: "store",
    customer: { ...QUIET, repairScanMs: 1e12 },
    during: (net) => net.runFor(2 * HOUR_MS),
    harm: (net) => [missingFragments(net), "fragments overwritten"],
  },
  {
    kind: "contract_cancel",
    customer: QUIET,
    during: (net) => net.runFor(2 * HOUR_MS),
    harm: (net) => [supplierCount(net, "cancel"), "of the user's contracts cancelled"],
  },
  {
    kind: "contract_request",
    customer: QUIET,
    during: (net) => net.runFor(2 * HOUR_MS),
    harm: (net) => {
      const changed = net.suppliers.filter((s) => {
        const c = (s.state as SupplierState).customers.get(net.user.id);
        return c !== undefined && c.quotaBytes !== QUOTA_BYTES;
      });
      return [changed.length, "of the user's quotas changed"];
    },
  },
  {
    kind: "store_reply",
    customer: QUIET,
    during: (net) => {
      // Half the family goes quiet just before a backup: only the impostor answers those.
      net.offline(net.family().slice(0, 2));
      net.startBackup({ "b.bin": bytes(30_000, 2) });
      net.runFor(HOUR_MS);
    },
    harm: (net, before) => {
      const fired = net.state.counters.fired - before.fired;
      const missing = missingFragments(net);
      return [missing + fired, `acknowledged fragments held by nobody (${missing}) or fired`];
    },
  },
  {
    kind: "probe_reply",
    customer: QUIET,
    during: (net) => net.runFor(2 * HOUR_MS),
    harm: (net, before) => [net.state.counters.fired - before.fired, "honest suppliers fired"],
  },
  {
    kind: "audit_reply",
    customer: { auditIntervalMs: HOUR_MS, sweepIntervalMs: 1e12 },
    during: (net) => net.runFor(4 * HOUR_MS),
    harm: (net, before) => [
      net.state.counters.auditsFailed - before.auditsFailed,
      "audits of honest suppliers failed",
    ],
  },
  {
    kind: "fetch_reply",
    customer: QUIET,
    during: (net) => {
      const v = net.state.catalogue.versions[0].id;
      for (let i = 0; i < 4; i++) net.restore(v);
    },
    harm: (net, before) => [
      net.state.counters.strikes - before.strikes + net.state.counters.fired - before.fired,
      "honest suppliers blamed for fragments they hold (struck or fired)",
    ],
  },
  {
    kind: "contract_cancel_reply",
    customer: { ...QUIET, fireAfterMs: HOUR_MS },
    during: (net) => {
      // A member goes away for good and is fired; the user tells it to cancel every round.
      net.offline(net.family().slice(0, 1));
      net.runFor(4 * HOUR_MS);
    },
    harm: (net, before) => [
      net.state.counters.cancelsConfirmed - before.cancelsConfirmed,
      "cancellations confirmed by a supplier that never came back",
    ],
  },
  {
    kind: "list_reply",
    customer: { auditIntervalMs: 1e12, sweepIntervalMs: HOUR_MS },
    during: (net) => net.runFor(4 * HOUR_MS),
    harm: (net, before) => [
      net.state.counters.orphansRemoved - before.orphansRemoved,
      "keys removed on a lie",
    ],
  },
];

/** Runs one case; returns the harm found and the attacker. */
function attack(c: Case, keys: "fresh" | "stolen", seed: number) {
  const net = new Scenario({
    seed,
    ecc: "rs:2+2",
    suppliers: 8,
    customer: { quotaBytes: QUOTA_BYTES, ...c.customer },
  });
  net.backup({ "a.bin": bytes(40_000, 1) });
  const attacker = new Impostors(net.sim, seed, { ratePerHour: 120, keys, kinds: [c.kind] }, () => [
    net.user,
  ]);
  const before = { ...net.state.counters } as unknown as Record<string, number>;
  attacker.start(net.sim.nowMs + 6 * HOUR_MS);
  c.during(net);
  const [count, what] = c.harm(net, before);
  return { harm: `${count} ${what}`, attacker, harmed: count > 0 };
}

for (const [i, c] of CASES.entries()) {
  Deno.test(`impostor ${c.kind} with a stolen key is accepted and does harm`, () => {
    const { harm, attacker, harmed } = attack(c, "stolen", 300 + i);
    const t = attacker.tally.get(c.kind)!;
    if (t.accepted === 0 || t.refused !== 0) {
      throw new Error(`${c.kind}: accepted ${t.accepted}, refused ${t.refused}`);
    }
    if (!harmed) throw new Error(`${c.kind} did no harm with a stolen key: ${harm}`);
  });
  Deno.test(`impostor ${c.kind} with a fresh key is refused and does no harm`, () => {
    const { harm, attacker, harmed } = attack(c, "fresh", 300 + i);
    const t = attacker.tally.get(c.kind)!;
    const problems: string[] = [];
    if (t.refused === 0) problems.push("none delivered and refused");
    if (t.accepted !== 0) problems.push(`${t.accepted} accepted`);
    if (harmed) problems.push(harm);
    if (problems.length > 0) throw new Error(`${c.kind}: ${problems.join("; ")}`);
  });
}

Deno.test("--impostors takes a rate >= 0 per hour; a bad one is one line naming the flag", () => {
  if (parseFlags([]).impostors !== 0) throw new Error("impostors are on by default");
  if (parseFlags(["--impostors", "12.5"]).impostors !== 12.5) throw new Error("not parsed");
  for (const bad of ["-1", "abc", "", "1e9", "Infinity"]) {
    try {
      parseFlags([`--impostors=${bad}`]);
    } catch (e) {
      if (!(e instanceof FlagError)) throw e;
      if (!e.message.startsWith("--impostors ") || e.message.includes("\n")) {
        throw new Error(`message for '${bad}': ${e.message}`);
      }
      continue;
    }
    throw new Error(`--impostors=${bad} accepted`);
  }
});

Deno.test("deno task sim with a bad --impostors exits 2 with one line", async () => {
  const main = new URL("../main.ts", import.meta.url).pathname;
  for (const args of [["--impostors=-3"], ["--workload=demo", "--impostors=5"]]) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-write", "--allow-env", main, ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(out.stderr).trim();
    if (out.code !== 2 || err.split("\n").length !== 1 || !err.includes("--impostors")) {
      throw new Error(`${args}: exit ${out.code}, stderr ${err}`);
    }
  }
});
