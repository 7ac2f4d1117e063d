import assert from "node:assert/strict";
import { IDENTITY_REFRESH_MS } from "../core/limits.ts";
import { Random } from "../core/prng.ts";
import {
  answeredLink,
  awaitAnswer,
  backOff,
  confirm,
  createLinks,
  expireAnswer,
  type IdServerLink,
  linkDue,
  nextLinkDeadline,
  onPublished,
  refreshDue,
  restartLink,
  scheduleNext,
} from "./idserver_link.ts";

const PACING = {
  replyTimeoutMs: 30_000,
  retryMs: 5_000,
  retryMsMax: 60_000,
  intervalMs: 3_600_000,
};

/** Sends a publish on `link` at `nowMs` and lets it go unanswered: the backoff it was given. */
function lose(link: IdServerLink, nowMs: number, random: Random, requestId: number): number {
  const delay = link.retryMs;
  awaitAnswer(link, { kind: "publish", requestId }, nowMs, PACING);
  const at = nowMs + PACING.replyTimeoutMs;
  assert.equal(linkDue(link, at - 1), false);
  assert.equal(linkDue(link, at), true);
  assert.equal(expireAnswer(link, at, random, PACING)?.requestId, requestId);
  assert.equal(link.pending, null);
  const wait = link.dueAtMs! - at;
  assert.ok(wait >= 0.5 * delay && wait <= 1.5 * delay, `waited ${wait} for a delay of ${delay}`);
  return delay;
}

Deno.test("idserver_link: lost answers back off, doubling to the cap", () => {
  const random = Random.stream(7, "links");
  const [link] = createLinks(["ids1"], PACING);
  let nowMs = 0;
  const delays: number[] = [];
  for (let i = 1; i <= 7; i++) {
    delays.push(lose(link, nowMs, random, i));
    nowMs = link.dueAtMs!;
  }
  assert.deepEqual(delays, [5_000, 10_000, 20_000, 40_000, 60_000, 60_000, 60_000]);
  assert.equal(link.retryMs, PACING.retryMsMax);
  backOff(link, nowMs, random, PACING); // a refusal that waiting may cure backs off the same way
  assert.equal(link.retryMs, PACING.retryMsMax);
});

Deno.test("idserver_link: each server keeps its own backoff and deadline", () => {
  const random = Random.stream(8, "links");
  const links = createLinks(["ids1", "ids2", "ids3"], PACING);
  assert.equal(nextLinkDeadline(links), null);
  for (let i = 1; i <= 3; i++) lose(links[0], 0, random, i);
  awaitAnswer(links[1], { kind: "publish", requestId: 10 }, 1_000, PACING);
  assert.deepEqual(links.map((l) => l.retryMs), [40_000, 5_000, 5_000]);
  assert.equal(links[2].dueAtMs, null);
  assert.equal(nextLinkDeadline(links), Math.min(links[0].dueAtMs!, 31_000));
  // An answer is matched to its own server's pending request only.
  assert.equal(answeredLink(links, "ids2", "publish", 10), links[1]);
  assert.equal(answeredLink(links, "ids1", "publish", 10), null);
  assert.equal(answeredLink(links, "ids2", "announce", 10), null);
  assert.equal(answeredLink(links, "ids2", "publish", 11), null);
  assert.equal(answeredLink(links, "nobody", "publish", 10), null);
  // A lost answer at one server leaves the others untouched.
  assert.equal(expireAnswer(links[1], 31_000, random, PACING)?.requestId, 10);
  assert.deepEqual(links.map((l) => l.retryMs), [40_000, 10_000, 5_000]);
  assert.equal(links[2].pending, null);
});

Deno.test("idserver_link: a confirmation resets the backoff; a publish schedules refreshes", () => {
  const random = Random.stream(9, "links");
  const [link, other] = createLinks(["ids1", "ids2"], PACING);
  for (let i = 1; i <= 4; i++) lose(link, 0, random, i);
  lose(other, 0, random, 9);
  assert.equal(link.retryMs, 60_000);
  onPublished(link, 100_000, random, PACING);
  assert.equal(link.published, true);
  assert.equal(link.retryMs, PACING.retryMs);
  assert.equal(other.retryMs, 10_000, "another server's backoff stays");
  const refreshIn = link.refreshAtMs! - 100_000;
  assert.ok(refreshIn >= 0.9 * IDENTITY_REFRESH_MS && refreshIn <= 1.1 * IDENTITY_REFRESH_MS);
  // The next periodic request comes about an interval later, never after the refresh.
  scheduleNext(link, 100_000, random, PACING);
  const nextIn = link.dueAtMs! - 100_000;
  assert.ok(nextIn >= 0.9 * PACING.intervalMs && nextIn <= 1.1 * PACING.intervalMs);
  link.refreshAtMs = 200_000;
  scheduleNext(link, 100_000, random, PACING);
  assert.equal(link.dueAtMs, 200_000);
  assert.equal(refreshDue(link, 199_999), false);
  assert.equal(refreshDue(link, 200_000), true);
  assert.equal(link.published, false, "a refresh publishes first");
  assert.equal(link.refreshAtMs, null);
  // Any other confirmation resets the backoff too; a restart forgets everything but the deadline.
  for (let i = 1; i <= 2; i++) lose(link, 0, random, i);
  confirm(link, PACING);
  assert.equal(link.retryMs, PACING.retryMs);
  lose(other, 0, random, 10);
  onPublished(other, 0, random, PACING);
  restartLink(other, PACING);
  assert.deepEqual([other.published, other.pending, other.refreshAtMs], [false, null, null]);
  assert.equal(other.retryMs, PACING.retryMs);
});

Deno.test("idserver_link: a due link with nothing pending is the owner's turn to send", () => {
  const random = Random.stream(10, "links");
  const [link] = createLinks(["ids1"], PACING);
  assert.equal(linkDue(link, 1e12), false, "never scheduled: never due");
  scheduleNext(link, 0, random, PACING);
  const before = link.dueAtMs;
  assert.equal(expireAnswer(link, before!, random, PACING), null);
  assert.equal(link.dueAtMs, before, "nothing lost: no backoff");
  assert.equal(link.retryMs, PACING.retryMs);
});

Deno.test("idserver_link: the same seed gives the same deadlines", () => {
  const run = () => {
    const random = Random.stream(11, "links");
    const links = createLinks(["a", "b"], PACING);
    for (let i = 0; i < 5; i++) for (const l of links) lose(l, i * 1_000, random, i);
    return links.map((l) => l.dueAtMs);
  };
  assert.deepEqual(run(), run());
});
