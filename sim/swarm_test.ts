import assert from "node:assert/strict";
import {
  describeSwarm,
  drawSwarm,
  SWARM_REGRESSION_SEEDS,
  swarmProblems,
  swarmTests,
} from "./swarm.ts";
import type { Report } from "./report.ts";

Deno.test("swarm: a seed draws the same world every time, and seeds draw different worlds", () => {
  assert.deepEqual(drawSwarm(5), drawSwarm(5));
  const worlds = new Set(Array.from({ length: 50 }, (_, i) => describeSwarm(drawSwarm(i))));
  assert.equal(worlds.size, 50);
  // Every fault category is off in some runs and on in others.
  const drawn = Array.from({ length: 200 }, (_, i) => drawSwarm(i).faults);
  for (
    const get of [
      (f: typeof drawn[0]) => f.network!.loss!,
      (f: typeof drawn[0]) => f.frames!.forge!,
      (f: typeof drawn[0]) => f.diskFailure!,
      (f: typeof drawn[0]) => f.partitions?.perDay ?? 0,
      (f: typeof drawn[0]) => f.clogs?.perDay ?? 0,
      (f: typeof drawn[0]) => f.bitRotPerDiskDay ?? 0,
      (f: typeof drawn[0]) => f.crashes?.perSupplierDay ?? 0,
      (f: typeof drawn[0]) => f.clockSkewMs ?? 0,
    ]
  ) {
    const on = drawn.filter((f) => get(f) > 0).length;
    assert.ok(on > 20 && on < 180, `on in ${on} of 200`);
  }
});

Deno.test("swarm: the checks name every broken promise (they can fail)", () => {
  const report = {
    check: {
      plaintextLeaks: 1,
      wrongBytes: 2,
      durableUnrecovered: 3,
      lostRecovered: 0,
      recovered: 4,
      impostorsAccepted: 5,
      unsettled: 2,
      unsettledFirst: "n3: a backup is running",
    },
    files: { stored: 10, lost: 1 },
    impostors: { acceptedKinds: "store" },
  } as unknown as Report;
  const problems = swarmProblems(report);
  assert.equal(problems.length, 6, problems.join("; "));
  assert.ok(problems.some((p) => p.includes("n3: a backup is running")));
});

for (const seed of SWARM_REGRESSION_SEEDS) swarmTests(seed, seed + 1);
