import fc from "fast-check";
import { RequestTable } from "./requests.ts";

type P = { kind: "probe"; position: number };

function eq(actual: unknown, expected: unknown, what: string): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: got ${a}, want ${e}`);
}

const probe = (position: number): P => ({ kind: "probe", position });

Deno.test("RequestTable: ids are 1, 2, 3 in sending order and never reused", () => {
  const t = new RequestTable<P>(4);
  eq(t.open("a", 10, probe(0)), 1, "first");
  eq(t.open("b", 20, probe(1)), 2, "second");
  t.settle(1, "a");
  t.settle(2, "b");
  eq(t.open("c", 30, probe(2)), 3, "after the table emptied");
});

Deno.test("RequestTable: open refuses over the limit", () => {
  const t = new RequestTable<P>(2);
  eq(t.canOpen(2), true, "room for two");
  t.open("a", 10, probe(0));
  eq(t.canOpen(2), false, "no room for two more");
  t.open("b", 10, probe(1));
  eq(t.open("c", 10, probe(2)), null, "full");
  eq(t.size, 2, "size");
  t.settle(1);
  eq(t.open("c", 10, probe(2)), 3, "room again");
});

Deno.test("RequestTable: settle matches the sender, once", () => {
  const t = new RequestTable<P>(4);
  const id = t.open("a", 10, probe(3))!;
  eq(t.settle(id, "b"), null, "wrong sender");
  eq(t.has(id), true, "still awaited");
  eq(t.settle(id, "a")?.purpose, probe(3), "right sender");
  eq(t.settle(id, "a"), null, "twice");
  eq(t.settle(99), null, "unknown id");
});

Deno.test("RequestTable: next and expired in sending order", () => {
  const t = new RequestTable<P>(8);
  eq(t.next(), null, "empty");
  t.open("a", 10, probe(0));
  t.open("b", 20, probe(1));
  t.open("c", 30, probe(2));
  eq(t.next(), 10, "earliest");
  eq(t.expired(9), [], "nothing due");
  eq(t.expired(20).map((r) => r.to), ["a", "b"], "two due");
  eq(t.next(), 30, "then");
  eq(t.size, 1, "removed");
});

Deno.test("RequestTable: only open() inserts; the table shows reads, not a Map's writes", () => {
  const t = new RequestTable<P>(2);
  eq("set" in t, false, "no set");
  eq("delete" in t, false, "no delete");
  const id = t.open("a", 5, probe(0))!;
  eq(t.has(id) && t.get(id)?.to === "a" && [...t.values()].length === 1, true, "reads");
  t.clear();
  eq(t.size, 0, "cleared");
  eq(t.next(), null, "nothing due");
});

Deno.test("RequestTable: a bad limit is a RangeError", () => {
  for (const limit of [0, -1, 1.5, NaN]) {
    let threw = false;
    try {
      new RequestTable<P>(limit);
    } catch (e) {
      threw = e instanceof RangeError;
    }
    eq(threw, true, `limit ${limit}`);
  }
});

Deno.test("RequestTable: next and expired agree with a model, deadlines in any order", () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant("open" as const), deadline: fc.integer({ min: 0, max: 100 }) }),
    fc.record({ kind: fc.constant("settle" as const), id: fc.integer({ min: 1, max: 40 }) }),
    fc.record({ kind: fc.constant("expire" as const), now: fc.integer({ min: 0, max: 100 }) }),
  );
  fc.assert(fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
    const t = new RequestTable<P>(8);
    const model = new Map<number, number>(); // id -> deadline, in sending order
    let nextId = 1;
    for (const o of ops) {
      if (o.kind === "open") {
        const id = t.open("a", o.deadline, probe(0));
        if (model.size >= 8) eq(id, null, "full");
        else {
          eq(id, nextId, "id");
          model.set(nextId++, o.deadline);
        }
      } else if (o.kind === "settle") {
        eq(t.settle(o.id) !== null, model.delete(o.id), "settle");
      } else {
        const due = [...model].filter(([, d]) => d <= o.now).map(([id]) => id);
        for (const id of due) model.delete(id);
        eq(t.expired(o.now).map((r) => r.id), due, "expired");
      }
      const deadlines = [...model.values()];
      eq(t.next(), deadlines.length === 0 ? null : Math.min(...deadlines), "next");
      eq(t.size, model.size, "size");
    }
  }));
});
