import type { StepContext } from "../../core/actor.ts";
import { Random } from "../../core/prng.ts";
import { eccScheme } from "../../core/storage.ts";
import { BACKUP_STALL_MS, BACKUP_STORE_TRIES_MAX } from "../../core/limits.ts";
import type { MessageOf } from "../../core/protocol/mod.ts";
import type { StorageJobResult } from "../../core/storage.ts";
import {
  cancelBackup,
  durableFloor,
  onSealed,
  onStoreReply,
  onStoreTimeout,
  pumpBackup,
  sendStores,
  startBackup,
} from "./backup.ts";
import { reachable } from "./family.ts";
import type { E } from "./protocol.ts";
import { customerState } from "./state.ts";
import { customerActor } from "./step.ts";

/** The version id and file salts a backup starts with, under these two streams. */
function drawn(random: Random, secret: Random): string {
  const s = customerState({
    name: "u",
    idServers: ["ids"],
    scheme: eccScheme("rs:2+1")!,
    fileKey: new Uint8Array(32),
  });
  for (const p of s.family.positions) {
    Object.assign(p, { state: "active", supplier: "x", online: true });
  }
  s.backups.queue.push({ label: "", files: [{ path: "a", size: 1, mode: 0, mtimeMs: 0 }] });
  const ctx = { nowMs: 0, random, secret, self: "u" } as unknown as StepContext;
  const out: E[] = [];
  startBackup(s, ctx, out);
  const v = s.catalogue.versions[0];
  return `${v.id}:${v.files[0].salt.join(",")}`;
}

Deno.test("backup: version ids and salts come from the secret source, never from random", () => {
  const a = drawn(Random.stream(1, "random"), Random.stream(1, "secret"));
  // Another random stream, the same secrets: the same id and salts.
  if (drawn(Random.stream(2, "random"), Random.stream(1, "secret")) !== a) {
    throw new Error("the version id or a salt depends on the predictable random stream");
  }
  if (drawn(Random.stream(1, "random"), Random.stream(2, "secret")) === a) {
    throw new Error("the version id and salts do not come from the secret source");
  }
});

function assertEquals(actual: unknown, expected: unknown, what = "") {
  const a = JSON.stringify(actual);
  const b = JSON.stringify(expected);
  if (a !== b) throw new Error(`${what ? `${what}: ` : ""}got ${a}, expected ${b}`);
}

// ---- re-planning around a supplier that stops answering (issue 11, case 2)

/** A customer with a complete rs:4+4 family, one backup of a one-block file, sealed. */
function sealedBackup() {
  const s = customerState({
    name: "u",
    idServers: ["ids"],
    scheme: eccScheme("rs:4+4")!,
    fileKey: new Uint8Array(32),
  });
  s.phase = "ready";
  s.family.positions.forEach((p, i) =>
    Object.assign(p, { state: "active", supplier: `s${i}`, online: true, key: new Uint8Array(32) })
  );
  s.backups.queue.push({ label: "l", files: [{ path: "a", size: 10, mode: 0, mtimeMs: 0 }] });
  const ctx = {
    nowMs: 0,
    random: Random.stream(1, "random"),
    secret: Random.stream(1, "secret"),
    self: "u",
  } as unknown as StepContext;
  const out: E[] = [];
  startBackup(s, ctx, out);
  pumpBackup(s, ctx, out); // reads the one block
  const block = s.backups.run!.version.files[0].blocks[0];
  const n = 8;
  onSealed(s, ctx, out, block.key, {
    type: "sealed",
    cipherSize: 40,
    fragmentSize: 10,
    fragmentHashes: Array.from({ length: n }, () => new Uint8Array(32)),
    merkleRoots: Array.from({ length: n }, () => new Uint8Array(32)),
    fragments: Array.from({ length: n }, () => new Uint8Array(10)),
  } as unknown as StorageJobResult);
  return { s, ctx, out, block };
}

const stored = { type: "store_reply", requestId: 0, outcome: "stored" } as unknown as MessageOf<
  "store_reply"
>;

function notices(out: E[], type: string) {
  return out.flatMap((e) => e.kind === "notice" && e.notice.type === type ? [e.notice] : []);
}

Deno.test("durableFloor keeps K plus half the redundancy", () => {
  assertEquals(durableFloor(4, 8), 6);
  assertEquals(durableFloor(2, 3), 3); // one spare fragment: nothing may be given up
  assertEquals(durableFloor(6, 10), 8);
  assertEquals(durableFloor(1, 1), 1);
});

Deno.test("backup: a silent position is tried again at once, then given up", () => {
  const { s, ctx, out, block } = sealedBackup();
  const run = s.backups.run!;
  assertEquals(block.storing.every((x) => x === 1), true); // all eight stores sent
  for (let t = 1; t < BACKUP_STORE_TRIES_MAX; t++) {
    onStoreTimeout(s, ctx, out, 0, block.key);
    assertEquals(run.skipped[0], 0);
    assertEquals(reachable(s, 0, ctx.nowMs), true, "tried again now, not after a probe round");
    sendStores(s, ctx, out, block, null);
    assertEquals(block.storing[0], 1);
  }
  onStoreTimeout(s, ctx, out, 0, block.key);
  assertEquals(run.skipped[0], 1, "given up after the last try");
  assertEquals(block.pending![0], undefined, "its fragment is left to repair");
  for (let p = 1; p < 8; p++) onStoreReply(s, ctx, out, p, block.key, stored, `s${p}`);
  assertEquals(run.uploading.length, 0, "the block no longer waits for position 0");
  assertEquals(run.fragmentsDone, 7);
  assertEquals(s.family.positions[0].state, "active", "the family logic, not the backup, fires");
});

Deno.test("backup: an answer resets the tries of a position", () => {
  const { s, ctx, out, block } = sealedBackup();
  const run = s.backups.run!;
  onStoreTimeout(s, ctx, out, 3, block.key);
  onStoreTimeout(s, ctx, out, 3, block.key);
  assertEquals(run.misses[3], 2);
  onStoreReply(s, ctx, out, 3, block.key, stored, "s3");
  assertEquals(run.misses[3], 0);
  assertEquals(run.skipped[3], 0);
});

Deno.test("backup: below the durability floor it fails in one line naming the supplier", () => {
  const { s, ctx, out, block } = sealedBackup();
  const id = s.backups.run!.version.id;
  for (const p of [0, 1, 2]) {
    for (let t = 0; t < BACKUP_STORE_TRIES_MAX; t++) onStoreTimeout(s, ctx, out, p, block.key);
  }
  assertEquals(s.backups.run, null);
  assertEquals(s.catalogue.versions.length, 0, "no version left uploading");
  const [failed] = notices(out, "backup_failed") as { versionId: string; reason: string }[];
  assertEquals(failed.versionId, id);
  assertEquals(failed.reason.includes("s2 did not answer 3 stores"), true, failed.reason);
  assertEquals(failed.reason.includes("s0, s1"), true, failed.reason);
  assertEquals(failed.reason.includes("\n"), false);
});

Deno.test("backup: no progress for BACKUP_STALL_MS gives up the stuck positions, or fails", () => {
  const { s, ctx, out, block } = sealedBackup();
  const run = s.backups.run!;
  for (let p = 2; p < 8; p++) onStoreReply(s, ctx, out, p, block.key, stored, `s${p}`);
  // Positions 0 and 1 neither answer nor time out (a stuck link): the stall deadline is armed.
  assertEquals(s.deadlines.at("backup_stall"), BACKUP_STALL_MS);
  // Before it fires, the pipeline waits.
  const early = { ...ctx, nowMs: BACKUP_STALL_MS - 1 } as StepContext;
  pumpBackup(s, early, out);
  assertEquals([run.skipped[0], run.skipped[1]], [0, 0]);
  const later = { ...ctx, nowMs: BACKUP_STALL_MS } as StepContext;
  s.deadlines.stop("backup_stall"); // what its handler does when it fires
  pumpBackup(s, later, out);
  assertEquals([run.skipped[0], run.skipped[1]], [1, 1]);
  assertEquals(s.deadlines.at("backup_stall"), 2 * BACKUP_STALL_MS, "re-armed from the give-up");
  // Nothing more can move (the manifest is never sealed here): the next stall fails it.
  const muchLater = { ...ctx, nowMs: 3 * BACKUP_STALL_MS } as StepContext;
  s.deadlines.stop("backup_stall");
  pumpBackup(s, muchLater, out);
  assertEquals(s.backups.run, null);
  assertEquals(s.deadlines.at("backup_stall"), null, "no backup, no stall timer");
  assertEquals(notices(out, "backup_failed").length, 1);
});

Deno.test("cancel_backup drops the running version; without one it says so", () => {
  const { s, out } = sealedBackup();
  cancelBackup(s, out);
  assertEquals(s.backups.run, null);
  assertEquals(s.catalogue.versions.length, 0);
  const [failed] = notices(out, "backup_failed") as { reason: string }[];
  assertEquals(failed.reason, "cancelled by the user");
  cancelBackup(s, out);
  assertEquals(notices(out, "command_failed").length, 1);
});

Deno.test("backup: a stall's give-up seals the manifest at once, not on a later input", () => {
  const { s, ctx, out, block } = sealedBackup();
  for (let p = 2; p < 8; p++) onStoreReply(s, ctx, out, p, block.key, stored, `s${p}`);
  const later = { ...ctx, nowMs: BACKUP_STALL_MS } as StepContext;
  const effects = customerActor.step(s, { kind: "timeout", nowMs: BACKUP_STALL_MS }, later);
  assertEquals(s.backups.run?.phase, "finishing", "the backup moved on to its manifest");
  const sealing = effects.some((e) => e.kind === "job" && e.job.type === "seal_manifest");
  assertEquals(sealing, true, "the manifest is being sealed");
  customerActor.invariants(s);
});

Deno.test("backup: a timeout with nothing due does nothing", () => {
  const { s, ctx } = sealedBackup();
  const at = (nowMs: number) => ({ ...ctx, nowMs }) as StepContext;
  customerActor.step(s, { kind: "timeout", nowMs: 1 }, at(1)); // whatever was left to send
  const armed = s.deadlines.kinds.map((k) => s.deadlines.at(k));
  const effects = customerActor.step(s, { kind: "timeout", nowMs: 2 }, at(2));
  assertEquals(effects, [], "no effects");
  assertEquals(s.deadlines.kinds.map((k) => s.deadlines.at(k)), armed, "timers unchanged");
  customerActor.invariants(s);
});
