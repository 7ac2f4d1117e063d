import fc from "fast-check";
import { EventQueue, type Scheduled } from "./event_queue.ts";

interface Item extends Scheduled {
  id: number;
}

Deno.test("EventQueue pops in (time, insertion) order, like a stable sort (property)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 20 }), fc.boolean()), { maxLength: 300 }),
      (ops) => {
        // Interleave pushes (times from a small range, so ties are common) and pops.
        const queue = new EventQueue<Item>();
        const model: Item[] = [];
        let id = 0;
        for (const [t, pop] of ops) {
          if (pop && model.length > 0) {
            model.sort((a, b) => a.t - b.t || a.seq - b.seq);
            const want = model.shift()!;
            const got = queue.pop()!;
            if (got.id !== want.id) throw new Error(`popped ${got.id}, expected ${want.id}`);
          } else {
            const item = { t, seq: 0, id: id++ };
            queue.push(item);
            model.push(item);
          }
        }
        let last: Item | undefined;
        while (queue.size > 0) {
          const e = queue.pop()!;
          if (last && (e.t < last.t || (e.t === last.t && e.id < last.id))) {
            throw new Error("out of order");
          }
          last = e;
        }
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("EventQueue refuses more events than its limit", () => {
  const queue = new EventQueue<Item>(3);
  for (let i = 0; i < 3; i++) queue.push({ t: i, seq: 0, id: i });
  let threw = false;
  try {
    queue.push({ t: 9, seq: 0, id: 9 });
  } catch {
    threw = true;
  }
  if (!threw) throw new Error("limit not enforced");
  if (queue.pop()!.id !== 0 || queue.peek()!.id !== 1) throw new Error("order broken");
});
