import fc from "fast-check";
import { TimerTable } from "./timers.ts";

const KINDS = ["a", "b", "c", "d"] as const;
type K = (typeof KINDS)[number];

function eq(actual: unknown, expected: unknown, what: string): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: got ${a}, want ${e}`);
}

Deno.test("a new table has nothing armed", () => {
  const t = new TimerTable<K>(KINDS);
  eq(t.next(), null, "next");
  eq(t.expired(1e12), [], "expired");
  eq(t.at("a"), null, "at");
});

Deno.test("set, stop, at and next", () => {
  const t = new TimerTable<K>(KINDS);
  t.set("c", 30);
  t.set("b", 10);
  eq(t.next(), 10, "earliest");
  eq(t.at("c"), 30, "at c");
  t.set("b", 40); // replaces, does not add
  eq(t.next(), 30, "after re-set");
  t.stop("c");
  eq(t.next(), 40, "after stop");
  t.stop("c"); // stopping twice is fine
  t.stop("b");
  eq(t.next(), null, "all stopped");
});

Deno.test("expired: by deadline, ties by declaration order, clears nothing", () => {
  const t = new TimerTable<K>(KINDS);
  t.set("d", 5);
  t.set("c", 7);
  t.set("a", 7);
  t.set("b", 9);
  eq(t.expired(4), [], "before any");
  eq(t.expired(7), ["d", "a", "c"], "due at 7");
  eq(t.expired(7), ["d", "a", "c"], "still due: expired does not clear");
  eq(t.next(), 5, "next unchanged");
});

Deno.test("duplicate or unknown kinds are refused", () => {
  let threw = false;
  try {
    new TimerTable(["x", "x"]);
  } catch {
    threw = true;
  }
  eq(threw, true, "duplicate kinds");
  const t = new TimerTable<string>(["x"]);
  threw = false;
  try {
    t.set("y", 1);
  } catch {
    threw = true;
  }
  eq(threw, true, "unknown kind");
});

type Op =
  | { op: "set"; kind: K; atMs: number }
  | { op: "stop"; kind: K }
  | { op: "check"; nowMs: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant("set" as const),
    kind: fc.constantFrom(...KINDS),
    atMs: fc.integer({ min: 0, max: 50 }),
  }),
  fc.record({ op: fc.constant("stop" as const), kind: fc.constantFrom(...KINDS) }),
  fc.record({ op: fc.constant("check" as const), nowMs: fc.integer({ min: -1, max: 60 }) }),
);

Deno.test("property: agrees with a naive map model", () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
      const t = new TimerTable<K>(KINDS);
      const model = new Map<K, number>();
      for (const o of ops) {
        if (o.op === "set") {
          t.set(o.kind, o.atMs);
          model.set(o.kind, o.atMs);
        } else if (o.op === "stop") {
          t.stop(o.kind);
          model.delete(o.kind);
        } else {
          const due = KINDS.filter((k) => model.has(k) && model.get(k)! <= o.nowMs)
            .map((k) => ({ k, at: model.get(k)!, i: KINDS.indexOf(k) }))
            .sort((x, y) => x.at - y.at || x.i - y.i)
            .map((x) => x.k);
          eq(t.expired(o.nowMs), due, "expired");
        }
        const all = [...model.values()];
        eq(t.next(), all.length === 0 ? null : Math.min(...all), "next");
        for (const k of KINDS) eq(t.at(k), model.get(k) ?? null, `at ${k}`);
      }
    }),
    { numRuns: 500 },
  );
});
