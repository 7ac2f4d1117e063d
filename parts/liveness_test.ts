import assert from "node:assert/strict";
import {
  LAST_COPY_PATIENCE,
  missed,
  offlineNow,
  type PeerLiveness,
  probeDue,
  probeSent,
  seen,
  staleOffline,
  verdict,
} from "./liveness.ts";

const MIN_MS = 60_000;
const O = {
  probeIntervalMs: 10 * MIN_MS,
  offlineAfterMs: 30 * MIN_MS,
  fireAfterMs: 24 * 60 * MIN_MS,
  requestTimeoutMs: 2 * MIN_MS,
};

function peer(): PeerLiveness {
  return { online: false, lastSeenMs: 0, probedMs: 0, missedMs: 0, probePending: false };
}

Deno.test("seen() marks a peer online, missed() offline with the time as evidence", () => {
  const l = peer();
  seen(l, 5_000);
  assert.deepEqual(l, { ...peer(), online: true, lastSeenMs: 5_000 });
  missed(l, 7_000);
  assert.deepEqual(l, { ...peer(), online: false, lastSeenMs: 5_000, missedMs: 7_000 });
  seen(l, 9_000);
  assert.equal(l.online, true);
  assert.equal(l.missedMs, 7_000, "an answer does not erase the evidence, it outdates it");
});

Deno.test("probeDue() holds while a probe is pending and until the caller's time", () => {
  const l = peer();
  assert.equal(probeDue(l, 0), true);
  probeSent(l, 1_000);
  assert.deepEqual([l.probePending, l.probedMs], [true, 1_000]);
  assert.equal(probeDue(l, 1_000 + O.probeIntervalMs), false, "one probe at a time");
  l.probePending = false; // answered or timed out: the caller's request table says which
  assert.equal(probeDue(l, 2_000), true);
  assert.equal(probeDue(l, 2_000, 2_001), false);
  assert.equal(probeDue(l, 2_001, 2_001), true);
});

Deno.test("offlineNow() holds once a peer is silent for longer than offlineAfterMs", () => {
  const l = peer();
  seen(l, 1_000);
  assert.equal(offlineNow(l, 1_000 + O.offlineAfterMs, O), false, "at the limit: not yet");
  assert.equal(offlineNow(l, 1_000 + O.offlineAfterMs + 1, O), true);
  assert.equal(verdict(l, 1_000 + O.offlineAfterMs, O), "online");
  assert.equal(verdict(l, 1_000 + O.offlineAfterMs + 1, O), "offline", "even before a miss");
});

Deno.test("verdict() is dead past fireAfterMs, or past patience x fireAfterMs when asked", () => {
  const l = peer();
  seen(l, 1_000);
  missed(l, 2_000);
  const at = (ms: number, patience?: number) => verdict(l, 1_000 + ms, O, patience);
  assert.equal(at(O.fireAfterMs), "offline");
  assert.equal(at(O.fireAfterMs + 1), "dead");
  assert.equal(at(O.fireAfterMs + 1, LAST_COPY_PATIENCE), "offline");
  assert.equal(at(LAST_COPY_PATIENCE * O.fireAfterMs, LAST_COPY_PATIENCE), "offline");
  assert.equal(at(LAST_COPY_PATIENCE * O.fireAfterMs + 1, LAST_COPY_PATIENCE), "dead");
  seen(l, 1_000 + 2 * O.fireAfterMs);
  assert.equal(at(2 * O.fireAfterMs), "online", "an answer brings a dead peer back");
});

Deno.test("staleOffline() tells old evidence from fresh", () => {
  const l = peer();
  seen(l, 0);
  assert.equal(staleOffline(l, 100 * MIN_MS, O), false, "believed online: nothing to ask");
  l.online = false; // the offline rule, long ago
  assert.equal(staleOffline(l, 100 * MIN_MS, O), true, "no miss, no probe: old evidence");
  // A miss is fresh for two probe intervals and a request timeout after it was sent.
  missed(l, 50 * MIN_MS);
  const fresh = 50 * MIN_MS + 2 * O.probeIntervalMs + O.requestTimeoutMs;
  assert.equal(staleOffline(l, fresh - 1, O), false);
  assert.equal(staleOffline(l, fresh, O), true);
  // A probe unanswered for a whole interval is fresh evidence; one just sent is not yet.
  probeSent(l, 100 * MIN_MS);
  assert.equal(staleOffline(l, 100 * MIN_MS + O.probeIntervalMs - 1, O), true);
  assert.equal(staleOffline(l, 100 * MIN_MS + O.probeIntervalMs, O), false);
});
