/**
 * Statistical and determinism checks of the storage simulation:
 * - without repair, measured durability agrees with the binomial model;
 * - the same seed gives the same trace hash, another seed another.
 */

import { parseFlags } from "../flags.ts";
import { holders } from "../../actors/customer/catalogue.ts";
import { durableFiles } from "./checkers.ts";
import { simulateStorage } from "./run.ts";

function binomialAtLeast(n: number, q: number, k: number): number {
  let total = 0;
  for (let x = k; x <= n; x++) {
    let c = 1;
    for (let i = 0; i < x; i++) c = (c * (n - i)) / (i + 1);
    total += c * q ** x * (1 - q) ** (n - x);
  }
  return total;
}

Deno.test("binomialAtLeast matches hand-computed values", () => {
  const cases: [number, number, number, number][] = [
    [8, 0.5, 4, 163 / 256],
    [2, 0.9, 1, 0.99],
    [3, 0.5, 3, 0.125],
  ];
  for (const [n, q, k, want] of cases) {
    if (Math.abs(binomialAtLeast(n, q, k) - want) > 1e-12) throw new Error(`${n} ${q} ${k}`);
  }
});

Deno.test("without repair, durability follows the binomial model (several seeds)", () => {
  const k = 4;
  const n = 8;
  let users = 0;
  let survivors = 0;
  let members = 0;
  let departed = 0;
  for (const seed of [11, 12, 13, 14]) {
    const flags = parseFlags([
      "--nodes=200",
      "--days=30",
      "--permanent=0.1",
      "--files=1",
      "--file-size=20000",
      "--no-repair",
      `--seed=${seed}`,
      `--ecc=rs:${k}+${n - k}`,
    ]);
    const { report, run } = simulateStorage(flags, flags, {});
    const lookup = (id: string) => run.sim.node(id);
    for (const user of run.users) {
      const family = user.state.family.positions.map((p) => p.supplier);
      const first = user.state.catalogue.versions.find((v) => v.status === "complete");
      if (family.some((s) => s === null) || first === undefined) continue;
      // A backup that gave up a silent position keeps fewer fragments: the model is for N.
      const blocks = [
        ...first.files.flatMap((f) => f.blocks),
        ...(first.manifest ? [first.manifest] : []),
      ];
      if (blocks.some((b) => holders(user.state, b) !== b.heldAt.length)) continue;
      users++;
      const alive = family.filter((s) => run.sim.node(s!)!.status !== "departed").length;
      members += n;
      departed += n - alive;
      // What the checker reads off the disks, not what the model assumes.
      const durable = durableFiles(user.node, lookup).get(first.id)!.every((ok) => ok);
      if (durable) survivors++;
      if (durable !== (alive >= k)) {
        throw new Error(`seed ${seed}, ${user.id}: disks say ${durable}, ${alive} holders alive`);
      }
    }
    const files = report.files as { stored: number; lost: number };
    if (files.stored === 0) throw new Error(`seed ${seed}: nothing stored`);
  }
  const p = departed / members; // measured share of holders that departed
  const predicted = binomialAtLeast(n, 1 - p, k);
  const measured = survivors / users;
  const se = Math.sqrt((predicted * (1 - predicted)) / users);
  if (Math.abs(measured - predicted) > 3 * se + 0.01) {
    throw new Error(
      `durability ${measured.toFixed(3)} vs binomial ${predicted.toFixed(3)} ` +
        `(p=${p.toFixed(3)}, ${users} users, se ${se.toFixed(3)})`,
    );
  }
  if (p < 0.2 || p > 0.8) throw new Error(`departure share ${p} makes a weak test`);
});
