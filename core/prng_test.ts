import fc from "fast-check";
import { Random } from "./prng.ts";

function draws(r: Random, n: number): number[] {
  return Array.from({ length: n }, () => r.nextU32());
}

Deno.test("Random.stream gives the same draws for the same seed and label", () => {
  fc.assert(
    fc.property(fc.oneof(fc.maxSafeNat(), fc.string()), fc.string(), (seed, label) => {
      const a = draws(Random.stream(seed, label), 16);
      const b = draws(Random.stream(seed, label), 16);
      if (a.join() !== b.join()) throw new Error("streams differ");
    }),
  );
});

Deno.test("Random streams of different seeds or labels differ", () => {
  const seen = new Set<string>();
  for (const seed of [0, 1, 2, 2 ** 32, 2 ** 32 + 1, "a", "b"]) {
    for (const label of [0, 1, "node:0", "node:1"]) {
      const key = draws(Random.stream(seed, label), 4).join();
      if (seen.has(key)) throw new Error(`collision at ${seed}/${label}`);
      seen.add(key);
    }
  }
});

Deno.test("adding a node does not shift another node's draws (streams are independent)", () => {
  const before = draws(Random.stream(42, "node:7"), 8);
  // Other streams drawing in between must not matter.
  for (let i = 0; i < 100; i++) draws(Random.stream(42, `node:${i}`), 10);
  const after = draws(Random.stream(42, "node:7"), 8);
  if (before.join() !== after.join()) throw new Error("stream moved");
});

Deno.test("fork derives from the stream's identity, not from its position", () => {
  const a = Random.stream(5, "x");
  const forkFirst = draws(a.fork("child"), 4);
  draws(a, 100);
  const forkLater = draws(a.fork("child"), 4);
  if (forkFirst.join() !== forkLater.join()) throw new Error("fork depends on draws");
  if (forkFirst.join() === draws(a.fork("other"), 4).join()) throw new Error("labels collide");
});

Deno.test("Random.int stays in range and is roughly uniform", () => {
  const r = Random.stream(9);
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 2 ** 40 }), (n) => {
      const x = r.int(n);
      if (!(Number.isInteger(x) && x >= 0 && x < n)) throw new Error(`${x} not in [0, ${n})`);
    }),
    { numRuns: 2000 },
  );
  const buckets = new Array(10).fill(0);
  const draws = 100_000;
  for (let i = 0; i < draws; i++) buckets[r.int(10)]++;
  // Chi-square with 9 degrees of freedom: 27.9 is the 0.1% critical value.
  const expected = draws / 10;
  const chi = buckets.reduce((sum, b) => sum + (b - expected) ** 2 / expected, 0);
  if (chi > 27.9) throw new Error(`not uniform: chi-square ${chi.toFixed(1)}, ${buckets}`);
});

Deno.test("Random.float is in [0, 1) and exponential has the asked mean", () => {
  const r = Random.stream("float");
  let sum = 0;
  const n = 200_000;
  for (let i = 0; i < n; i++) {
    const f = r.float();
    if (!(f >= 0 && f < 1)) throw new Error(`float ${f}`);
    sum += r.exponential(3);
  }
  const mean = sum / n;
  // Standard error of the mean is 3/sqrt(n) ≈ 0.0067; allow 6 of them.
  if (Math.abs(mean - 3) > 0.04) throw new Error(`exponential mean ${mean}`);
});

Deno.test("Random.shuffle permutes and fill writes every byte position", () => {
  const r = Random.stream(3);
  const items = Array.from({ length: 50 }, (_, i) => i);
  const shuffled = r.shuffle([...items]);
  if ([...shuffled].sort((a, b) => a - b).join() !== items.join()) throw new Error("lost items");
  if (shuffled.join() === items.join()) throw new Error("not shuffled");
  for (const n of [0, 1, 3, 4, 5, 17]) {
    const b = r.bytes(n);
    if (b.length !== n) throw new Error("wrong length");
  }
  let threw = false;
  try {
    r.int(0);
  } catch {
    threw = true;
  }
  if (!threw) throw new Error("int(0) accepted");
});
