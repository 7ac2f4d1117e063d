import { cancelRestore } from "./restore.ts";
import type { StepContext } from "../../core/actor.ts";
import { Random } from "../../core/prng.ts";
import { eccScheme } from "../../core/storage.ts";
import type { E } from "./protocol.ts";
import { onFetchTimeout } from "./gather.ts";
import { pumpRestore, queueRestore } from "./restore.ts";
import { type CustomerState, customerState } from "./state.ts";
import { catalogueHealth, healthWord, notRestorableLine } from "./status.ts";

/** A customer on rs:2+2 with one complete version of one file of two blocks on all 4 suppliers. */
function world(): CustomerState {
  const s = customerState({
    name: "u",
    idServers: ["ids"],
    scheme: eccScheme("rs:2+2")!,
    fileKey: new Uint8Array(32),
  });
  s.family.positions.forEach((p, i) =>
    Object.assign(p, { state: "active", supplier: `s${i}`, online: true, key: new Uint8Array(32) })
  );
  const block = (key: string) => ({ key, heldAt: Uint32Array.of(1, 1, 1, 1) });
  s.catalogue.versions.push(
    {
      id: "v1",
      label: "",
      createdMs: 0,
      status: "complete",
      manifest: null,
      files: [{ path: "a", size: 2, blocks: [block("b0"), block("b1")] }],
    } as unknown as CustomerState["catalogue"]["versions"][0],
  );
  return s;
}

function ctx(nowMs = 0): StepContext {
  return { nowMs, random: Random.stream(1, "r"), self: "u" } as unknown as StepContext;
}

const DAY_MS = 86_400_000;

Deno.test("status: fragments on offline suppliers do not count as held", () => {
  const s = world();
  let [h] = catalogueHealth(s);
  if (
    !h.restorableNow || h.blocksRestorableNow !== 2 || healthWord(h) !== "complete, restorable now"
  ) {
    throw new Error(`healthy: ${JSON.stringify(h)}`);
  }
  s.family.positions[1].online = false;
  s.family.positions[3].online = false;
  [h] = catalogueHealth(s);
  // Still K = 2 online: restorable, with the two offline named.
  if (!h.restorableNow || h.offline.join() !== "s1,s3" || h.suppliersOnline !== 2) {
    throw new Error(`two offline: ${JSON.stringify(h)}`);
  }
  s.family.positions[2].online = false;
  [h] = catalogueHealth(s);
  if (h.restorableNow || h.blocksNotRestorableNow !== 2 || h.suppliersOnline !== 1) {
    throw new Error(`three offline: ${JSON.stringify(h)}`);
  }
  const line = notRestorableLine(h);
  if (!line.startsWith("version v1: NOT restorable now: 1 of 4 suppliers online, 2 needed")) {
    throw new Error(line);
  }
  if (!line.includes("s1, s2, s3")) throw new Error(`offline not named: ${line}`);
});

Deno.test("status: a block with K fragments online and one without are counted apart", () => {
  const s = world();
  const b1 = s.catalogue.versions[0].files[0].blocks[1];
  b1.heldAt = Uint32Array.of(1, 0, 0, 1);
  s.family.positions[3].online = false;
  const [h] = catalogueHealth(s);
  if (h.blocksRestorableNow !== 1 || h.blocksNotRestorableNow !== 1 || h.restorableNow) {
    throw new Error(JSON.stringify(h));
  }
});

Deno.test("restore: fails at once, sending nothing, when fewer than K are online", () => {
  const s = world();
  // Fresh evidence: s0 and s1 let a probe time out a moment ago, s2's has been pending a while.
  for (const p of [0, 1]) {
    Object.assign(s.family.positions[p], {
      online: false,
      probedMs: DAY_MS - 1000,
      missedMs: DAY_MS - 40_000,
    });
  }
  Object.assign(s.family.positions[2], {
    online: false,
    probePending: true,
    probedMs: DAY_MS - 700_000,
  });
  const out: E[] = [];
  queueRestore(s, out, 7, "v1", []);
  pumpRestore(s, ctx(DAY_MS), out);
  if (out.some((e) => e.kind === "send")) throw new Error("a fetch went to an offline supplier");
  const failed = out.find((e) => e.kind === "notice" && e.notice.type === "restore_failed");
  const reason = failed?.kind === "notice" && failed.notice.type === "restore_failed"
    ? failed.notice.reason
    : "";
  if (!reason.includes("NOT restorable now: 1 of 4 suppliers online, 2 needed")) {
    throw new Error(`reason: ${reason}`);
  }
  if (!reason.includes("s0, s1, s2") || s.restores.length !== 0) throw new Error(reason);
});

Deno.test("restore: suppliers offline on old evidence are probed before it fails", () => {
  const s = world();
  // Last probed a day ago (probes are rare with repair off): they may be back by now.
  for (const p of [0, 1, 2]) s.family.positions[p].online = false;
  const out: E[] = [];
  queueRestore(s, out, 7, "v1", []);
  pumpRestore(s, ctx(DAY_MS), out);
  const sent = out.flatMap((e) => e.kind === "send" ? [`${e.message.type} ${e.to}`] : []);
  if (sent.join() !== "probe s0,probe s1,probe s2") throw new Error(`sent ${sent}`);
  if (out.some((e) => e.kind === "notice")) throw new Error("it failed without waiting");
  // s1 answers (marked online): K are online, so it starts at once, from s1 and s3.
  Object.assign(s.family.positions[1], { online: true, probePending: false });
  const later: E[] = [];
  pumpRestore(s, ctx(DAY_MS + 1000), later);
  const fetches = later.flatMap((e) => e.kind === "send" ? [`${e.message.type} ${e.to}`] : []);
  if (fetches.join() !== "fetch s1,fetch s3,fetch s1,fetch s3") throw new Error(`${fetches}`);
  if (later.some((e) => e.kind === "notice" && e.notice.type === "restore_failed")) {
    throw new Error("failed with K online");
  }
});

Deno.test("restore: probed suppliers that stay silent fail it with one line", () => {
  const s = world();
  for (const p of [0, 1, 2]) s.family.positions[p].online = false;
  const out: E[] = [];
  queueRestore(s, out, 7, "v1", []);
  pumpRestore(s, ctx(DAY_MS), out);
  for (const p of [0, 1, 2]) s.family.positions[p].probePending = false; // all three timed out
  const later: E[] = [];
  pumpRestore(s, ctx(DAY_MS + 30_000), later);
  if (later.some((e) => e.kind === "send")) throw new Error("asked again");
  const failed = later.find((e) => e.kind === "notice" && e.notice.type === "restore_failed");
  if (failed === undefined || s.restores.length !== 0) throw new Error("it did not fail");
});

Deno.test("restore: with K suppliers online it asks them and does not fail", () => {
  const s = world();
  s.family.positions[0].online = false;
  s.family.positions[1].online = false;
  const out: E[] = [];
  queueRestore(s, out, 7, "v1", []);
  pumpRestore(s, ctx(), out);
  if (out.some((e) => e.kind === "notice" && e.notice.type === "restore_failed")) {
    throw new Error(JSON.stringify(out));
  }
  if (s.restores.length !== 1) throw new Error("the restore is not running");
  if (!out.some((e) => e.kind === "send")) throw new Error("no fetch was sent");
});

Deno.test("restore: a fetch timing out, with only offline suppliers left, fails at once", () => {
  const s = world();
  const out: E[] = [];
  queueRestore(s, out, 7, "v1", []);
  pumpRestore(s, ctx(10_000_000), out);
  const g = s.restores[0].active[0];
  if (g.inFlight !== 2) throw new Error(`asked ${g.inFlight}`);
  // s2 and s3 went offline meanwhile (their probes went unanswered: fresh evidence, so they
  // are not probed again), and the fetch from s0 times out.
  for (const i of [2, 3]) {
    s.family.positions[i].online = false;
    s.family.positions[i].missedMs = ctx(10_000_000).nowMs;
  }
  onFetchTimeout(s, ctx(10_000_000), g, 0);
  const later: E[] = [];
  pumpRestore(s, ctx(10_000_000), later);
  if (later.some((e) => e.kind === "send")) throw new Error("a fetch went to an offline supplier");
  const failed = later.find((e) => e.kind === "notice" && e.notice.type === "restore_failed");
  const reason = failed?.kind === "notice" && failed.notice.type === "restore_failed"
    ? failed.notice.reason
    : "";
  if (!reason.includes("NOT restorable now: 1 of 4 suppliers online, 2 needed (offline: s0, s2")) {
    throw new Error(`reason: ${reason}`);
  }
});

Deno.test("restore: a fetch failing with members offline on old evidence probes them first", () => {
  const s = world();
  const out: E[] = [];
  const t = ctx(10_000_000);
  queueRestore(s, out, 7, "v1", []);
  pumpRestore(s, t, out);
  const g = s.restores[0].active[0];
  // s2 and s3 are believed offline, but nobody asked them lately; the fetch from s0 times out.
  for (const i of [2, 3]) s.family.positions[i].online = false;
  onFetchTimeout(s, t, g, 0);
  const later: E[] = [];
  pumpRestore(s, t, later);
  const probed = later.flatMap((e) =>
    e.kind === "send" && e.message.type === "probe" ? [e.to] : []
  );
  if (probed.join() !== "s2,s3") throw new Error(`probed ${probed.join()}`);
  if (later.some((e) => e.kind === "notice" && e.notice.type === "restore_failed")) {
    throw new Error("failed before the probes were answered");
  }
  // They answer, and are still no use (no contract with us, say): fail, do not probe again.
  for (const i of [2, 3]) s.family.positions[i].probePending = false;
  const last: E[] = [];
  pumpRestore(s, t, last);
  if (last.some((e) => e.kind === "send")) throw new Error("probed again: this would loop");
  if (!last.some((e) => e.kind === "notice" && e.notice.type === "restore_failed")) {
    throw new Error("the restore neither went on nor failed");
  }
});

Deno.test("restore: a cancelled restore stops its gathers (late fetch answers are dropped)", () => {
  const s = world();
  const out: E[] = [];
  queueRestore(s, out, 7, "v1", []);
  pumpRestore(s, ctx(10_000_000), out);
  const g = s.restores[0].active[0];
  if (!g.working || g.inFlight === 0) throw new Error("no gather under way");
  cancelRestore(s, out, 7);
  if (s.restores.length !== 0) throw new Error("the restore is still queued");
  if (g.working) throw new Error("its gather still takes fetch answers (and would decrypt them)");
});

Deno.test("status: a complete version whose record is not kept yet says its backup runs", () => {
  const s = world();
  s.publisher.waiting.set("v1", []);
  const [h] = catalogueHealth(s);
  if (!h.recording || !healthWord(h).includes("recording (its backup is still running)")) {
    throw new Error(healthWord(h));
  }
});
