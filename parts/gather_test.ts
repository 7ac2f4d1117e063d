import assert from "node:assert/strict";
import {
  gatherAnswered,
  gatherAsked,
  gatherCandidates,
  gatherComplete,
  gatherMissed,
  gatherNext,
  newGatherProgress,
  possibleOnline,
} from "./gather.ts";

const hashOf = (d: Uint8Array) => Uint8Array.of(d.reduce((a, b) => (a + b) & 0xff, 0));
const frag = (v: number) => new Uint8Array(4).fill(v);
const check = (p: number) => ({
  fragmentSize: 4,
  expectedHash: hashOf(frag(p + 1)),
  sha256: hashOf,
});

Deno.test("gather: holders not asked yet, online first, lower positions first", () => {
  const g = newGatherProgress(6);
  const view = {
    holds: (p: number) => p !== 4,
    askable: (p: number) => p !== 5,
    online: (p: number) => p % 2 === 1,
  };
  assert.deepEqual(gatherCandidates(g, view), [1, 3, 0, 2]);
  gatherAsked(g, 1);
  assert.deepEqual(gatherCandidates(g, view), [3, 0, 2]);
  assert.equal(possibleOnline(g, view), 2); // 1 in flight, 3 online to ask
});

Deno.test("gather: asks only what K needs, and says when K cannot be had", () => {
  const g = newGatherProgress(4);
  const all = { holds: () => true, askable: () => true, online: () => true };
  assert.deepEqual(gatherNext(g, all, 2), [0, 1]);
  gatherAsked(g, 0);
  gatherAsked(g, 1);
  assert.deepEqual(gatherNext(g, all, 2), []); // enough in flight
  gatherMissed(g, 0);
  assert.deepEqual(gatherNext(g, all, 2), [2]);
  const two = { ...all, holds: (p: number) => p < 2 };
  assert.equal(gatherNext(g, two, 2), null); // only position 1 is left: K = 2 is out of reach
});

Deno.test("gather: a fragment counts only with its size and hash", () => {
  const g = newGatherProgress(3);
  for (const p of [0, 1, 2]) gatherAsked(g, p);
  assert.equal(gatherAnswered(g, 0, frag(1), check(0)), "got");
  assert.equal(gatherAnswered(g, 1, frag(9), check(1)), "corrupt"); // altered bytes
  assert.equal(gatherAnswered(g, 2, null, check(2)), "failed"); // not found
  assert.equal(g.got, 1);
  assert.equal(g.failed, 2);
  assert.equal(g.inFlight, 0);
  assert.deepEqual(g.fragments[0], frag(1));
  assert.equal(g.fragments[1], undefined);
  assert.equal(gatherComplete(g, 1), true);
  assert.equal(gatherComplete(g, 2), false);
  const h = newGatherProgress(1);
  gatherAsked(h, 0);
  assert.equal(gatherAnswered(h, 0, new Uint8Array(3), check(0)), "corrupt"); // wrong size
});
