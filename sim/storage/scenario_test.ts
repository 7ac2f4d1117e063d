import { Random } from "../../core/prng.ts";
import { Scenario } from "./scenario.ts";
import { holds, uncredit } from "../../actors/customer/catalogue.ts";

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

function bytes(seed: number, n: number): Uint8Array {
  return Random.stream(seed, "file").bytes(n);
}

const FILES = {
  "empty.txt": new Uint8Array(0),
  "one.bin": Uint8Array.of(42),
  "docs/report with spaces.pdf": bytes(1, 300_000),
  "docs/ünïcödé.txt": bytes(2, 5000),
};

function assertIdentical(files: Map<string, Uint8Array>, label: string): void {
  for (const [path, want] of Object.entries(FILES)) {
    const got = files.get(path);
    if (got === undefined) throw new Error(`${label}: ${path} missing`);
    if (got.length !== want.length || got.some((b, i) => b !== want[i])) {
      throw new Error(`${label}: ${path} differs`);
    }
  }
}

Deno.test("scenario: a user survives offline suppliers, departures and repairs (rs:4+4)", () => {
  // Fire after 6 h of silence so the story fits in a few simulated days.
  const net = new Scenario({
    seed: 1,
    ecc: "rs:4+4",
    suppliers: 16,
    customer: { fireAfterMs: 6 * HOUR_MS },
  });
  const v = net.backup(FILES);
  if (net.fullMembers() !== 8) throw new Error(`family after backup: ${net.fullMembers()}`);

  // Five of eight suppliers go offline: four fragments are needed, only three answer.
  const first = net.family();
  net.offline(first.slice(0, 5));
  const failed = net.restore(v);
  if (failed.ok) throw new Error("restore succeeded with five suppliers offline");
  // The customer knows who is offline, so it fails before asking anyone, naming them.
  if (!/NOT restorable now: 3 of 8 suppliers online, 4 needed \(offline: /.test(failed.reason)) {
    throw new Error(`unclear error: ${failed.reason} (missing ${failed.missing})`);
  }

  // They come back: once the customer's probes have seen them (within the hour), the restore
  // is byte-identical.
  net.online(first.slice(0, 5));
  net.runFor(HOUR_MS);
  assertIdentical(net.restore(v).files, "after return");

  // Four depart for good: the other four still restore everything.
  net.depart(first.slice(0, 4));
  assertIdentical(net.restore(v).files, "after four departures");

  // Fire, hire, rebuild: the family is eight full members again.
  net.runFor(DAY_MS);
  if (net.fullMembers() !== 8) throw new Error(`family after repair: ${net.fullMembers()}`);
  if (net.state.counters.fired !== 4 || net.state.counters.replaced !== 4) {
    throw new Error(`fired ${net.state.counters.fired}, replaced ${net.state.counters.replaced}`);
  }
  const second = net.family();
  if (second.filter((s) => first.slice(4).includes(s)).length !== 4) {
    throw new Error("the surviving members were replaced too");
  }

  // The four original survivors depart as well: the rebuilt fragments carry the data.
  net.depart(first.slice(4));
  assertIdentical(net.restore(v).files, "after the other four departed");
  net.runFor(DAY_MS);
  if (net.fullMembers() !== 8) throw new Error(`family at the end: ${net.fullMembers()}`);
  if (net.state.counters.repairFragments === 0) throw new Error("nothing was rebuilt");
});

Deno.test("scenario: a supplier that alters stored bytes is caught by audits and replaced", () => {
  const net = new Scenario({
    seed: 2,
    ecc: "rs:4+4",
    suppliers: 12,
    customer: { auditIntervalMs: 8 * HOUR_MS },
  });
  const v = net.backup(FILES);
  const liar = net.sim.node(net.family()[2]!)!;
  // The liar flips a bit in every fragment it holds, behind its own index.
  for (const [key, data] of liar.disk!.blobs) {
    if (key.startsWith("frag/")) data[data.length >> 1] ^= 0x10;
  }
  // A restore now never returns the altered bytes: they fail their hash and are skipped.
  assertIdentical(net.restore(v).files, "with a liar in the family");
  net.runFor(2 * DAY_MS);
  if (net.family().includes(liar.id)) throw new Error("the liar is still in the family");
  const c = net.state.counters;
  if (c.auditsFailed + c.corruptFragments === 0) throw new Error("the lie was never noticed");
  if (net.fullMembers() !== 8) throw new Error(`family after replacing: ${net.fullMembers()}`);
  assertIdentical(net.restore(v).files, "after replacing the liar");
});

Deno.test("scenario: one rotten fragment is a strike, not a firing; repair rewrites it", () => {
  const net = new Scenario({ seed: 4, ecc: "rs:4+4", suppliers: 12 });
  const v = net.backup(FILES);
  const family = net.family();
  // Bit rot: one bit of one fragment on each of the first four members (a restore asks them).
  const rotten = new Map<string, Uint8Array>();
  for (const id of family.slice(0, 4)) {
    const disk = net.sim.node(id!)!.disk!;
    const key = [...disk.blobs.keys()].filter((k) => k.startsWith("frag/")).sort()[0];
    rotten.set(`${id} ${key}`, disk.blobs.get(key)!.slice());
    disk.blobs.get(key)![0] ^= 0x01;
  }
  assertIdentical(net.restore(v).files, "with rotten fragments");
  const c = net.state.counters;
  if (c.strikes === 0) throw new Error("no rotten fragment was noticed");
  if (c.fired !== 0) throw new Error(`${c.fired} members fired for one rotten fragment each`);
  net.runFor(DAY_MS);
  if (net.family().join() !== family.join()) throw new Error("the family changed");
  for (const [where, original] of rotten) {
    const [id, key] = where.split(" ");
    const now = net.sim.node(id)!.disk!.blobs.get(key)!;
    if (now.some((b, i) => b !== original[i])) throw new Error(`${where} was not rewritten`);
  }
  assertIdentical(net.restore(v).files, "after repair");
});

Deno.test("scenario: an identity publish lost at start is sent again, not a day later", () => {
  let dropped = 0;
  const net = new Scenario({
    seed: 5,
    ecc: "rs:2+2",
    suppliers: 6,
    // A writer lease, which the ID server grants only to a name whose identity it hosts.
    lease: { instance: "laptop", machine: "laptop", leaseMs: 10 * 60_000 },
    // The user's first identity publish is lost on the way (the network ate it).
    wrapUser: (actor) => ({
      ...actor,
      step(state, input, ctx) {
        return actor.step(state, input, ctx).filter((e) => {
          const lost = dropped === 0 && e.kind === "send" && e.message.type === "identity_publish";
          if (lost) dropped++;
          return !lost;
        });
      },
    }),
  });
  if (dropped !== 1) throw new Error("no publish was dropped");
  // The constructor ran an hour: the lease came (after publishing again) and a family with it.
  if (net.state.phase !== "ready") throw new Error(`phase ${net.state.phase} after an hour`);
  if (net.fullMembers() !== 4) throw new Error(`${net.fullMembers()} members after an hour`);
});

Deno.test("scenario: a supplier that drops fragments is caught by audits and replaced", () => {
  const net = new Scenario({
    seed: 3,
    ecc: "rs:4+4",
    suppliers: 12,
    customer: { auditIntervalMs: 8 * HOUR_MS },
  });
  const v = net.backup(FILES);
  const dropper = net.sim.node(net.family()[5]!)!;
  for (const key of [...dropper.disk!.blobs.keys()]) {
    if (key.startsWith("frag/")) dropper.disk!.blobs.delete(key);
  }
  net.runFor(2 * DAY_MS);
  if (net.family().includes(dropper.id)) throw new Error("the dropper is still in the family");
  if (net.state.counters.auditsFailed === 0) throw new Error("no audit failed");
  if (net.fullMembers() !== 8) throw new Error(`family after replacing: ${net.fullMembers()}`);
  assertIdentical(net.restore(v).files, "after replacing the dropper");
});

Deno.test("scenario: mirror:2 keeps two full copies and survives one departure", () => {
  const net = new Scenario({
    seed: 4,
    ecc: "mirror:2",
    suppliers: 4,
    customer: { fireAfterMs: 6 * HOUR_MS },
  });
  const v = net.backup(FILES);
  net.depart([net.family()[0]]);
  assertIdentical(net.restore(v).files, "mirror after one departure");
  net.runFor(DAY_MS);
  if (net.fullMembers() !== 2) throw new Error(`mirror family: ${net.fullMembers()}`);
});

Deno.test("scenario: deleting a version removes its fragments from the suppliers", () => {
  const net = new Scenario({ seed: 5, ecc: "rs:2+1", suppliers: 3 });
  const v = net.backup(FILES);
  const stored = () =>
    net.suppliers.reduce(
      (n, s) => n + [...(s.disk?.blobs.keys() ?? [])].filter((k) => k.startsWith("frag/")).length,
      0,
    );
  if (stored() === 0) throw new Error("nothing stored");
  net.sim.command(net.user, { type: "delete", versionId: v });
  net.runFor(HOUR_MS);
  if (stored() !== 0) throw new Error(`${stored()} fragments left after delete`);
  const r = net.restore(v);
  if (r.ok || !r.reason.includes("no version")) throw new Error(`restore of deleted: ${r.reason}`);
});

Deno.test("scenario: a restarted user keeps family and versions; interrupted is incomplete", () => {
  const net = new Scenario({ seed: 6, ecc: "rs:4+4", suppliers: 10 });
  const v = net.backup(FILES);
  const family = net.family();
  net.restartUser();
  net.runFor(60_000);
  if (net.family().join() !== family.join()) throw new Error("the family changed on restart");
  assertIdentical(net.restore(v).files, "after a restart");
  // Kill it in the middle of a second backup.
  net.startBackup({ "big.bin": bytes(7, 3_000_000) });
  net.runFor(300);
  net.restartUser();
  net.runFor(60_000);
  const versions = net.state.catalogue.versions.map((x) =>
    `${x.id === v ? "first" : "second"}:${x.status}`
  );
  if (versions.join() !== "first:complete,second:incomplete") throw new Error(versions.join());
  assertIdentical(net.restore(v).files, "after an interrupted backup");
});

Deno.test("scenario: queued backups and restores finish without timers (no repair)", () => {
  const net = new Scenario({ seed: 7, ecc: "rs:2+1", suppliers: 3, customer: { repair: false } });
  net.startBackup({ "a.bin": bytes(8, 1000) });
  net.startBackup({ "b.bin": bytes(9, 2000) });
  net.runFor(HOUR_MS);
  const versions = net.state.catalogue.versions.filter((v) => v.status === "complete");
  if (versions.length !== 2) throw new Error(`${versions.length} of 2 backups completed`);
  // Three restores queued at once: each starts as soon as the one before it ends.
  for (let i = 0; i < 3; i++) {
    net.sim.command(net.user, {
      type: "restore",
      restoreId: 100 + i,
      versionId: versions[i % 2].id,
      files: [],
    });
  }
  net.runFor(HOUR_MS);
  const done = net.notices.filter((n) => n.type === "restore_done").length;
  if (done !== 3) throw new Error(`${done} of 3 restores finished`);
});

Deno.test("scenario: a user who loses the machine gets family and versions back by key", () => {
  const net = new Scenario({
    seed: 11,
    ecc: "rs:4+4",
    suppliers: 14,
    customer: { fireAfterMs: 6 * HOUR_MS },
  });
  const v1 = net.backup(FILES);
  const v2 = net.backup({ "later.bin": bytes(3, 70_000) });
  const family = net.family();
  const before = net.notices.length;
  net.loseMachine();
  if (net.state.catalogue.versions.length !== 0) {
    throw new Error("the wiped machine still knows versions");
  }
  net.runFor(HOUR_MS);
  const recovered = net.notices.slice(before).find((n) => n.type === "recovered");
  if (recovered === undefined || recovered.type !== "recovered") {
    throw new Error("no recovery notice");
  }
  if (recovered.suppliers !== 8 || recovered.versions !== 2) {
    throw new Error(`recovered ${JSON.stringify(recovered)}`);
  }
  if (net.family().join() !== family.join()) throw new Error("another family after recovery");
  if (net.state.counters.hired !== 0) throw new Error("suppliers were hired while recovering");
  assertIdentical(net.restore(v1).files, "after recovery");
  const later = net.restore(v2).files.get("later.bin")!;
  if (later.length !== 70_000 || later.some((b, i) => b !== bytes(3, 70_000)[i])) {
    throw new Error("the second version differs");
  }
  // The recovered catalogue drives repair like the original one did.
  net.depart(family.slice(0, 4));
  net.runFor(DAY_MS);
  if (net.fullMembers() !== 8) throw new Error(`family after repair: ${net.fullMembers()}`);
  net.depart(family.slice(4));
  assertIdentical(net.restore(v1).files, "after the whole old family departed");
});

Deno.test("scenario: a lost machine hires nobody while the ID server is silent", () => {
  const net = new Scenario({ seed: 12, ecc: "rs:2+2", suppliers: 8 });
  const v = net.backup(FILES);
  const family = net.family();
  const ids = net.sim.node("n0")!;
  net.sim.setOffline(ids);
  net.loseMachine();
  net.runFor(6 * HOUR_MS);
  if (net.state.phase !== "recovering" || net.family().some((x) => x !== null)) {
    throw new Error(`phase ${net.state.phase}, family ${net.family()}`);
  }
  net.sim.setOnline(ids);
  net.runFor(2 * HOUR_MS);
  if (net.family().join() !== family.join()) throw new Error("not the old family");
  assertIdentical(net.restore(v).files, "after the ID server came back");
});

Deno.test("scenario: a record for another scheme stops recovery with a clear notice", () => {
  const net = new Scenario({ seed: 13, ecc: "rs:2+2", suppliers: 8 });
  net.backup(FILES);
  net.loseMachine("rs:4+4");
  net.runFor(HOUR_MS);
  const failed = net.notices.find((n) => n.type === "recovery_failed");
  if (
    failed?.type !== "recovery_failed" ||
    !/stored with rs:2\+2 but .* set up for rs:4\+4.*--ecc rs:2\+2/.test(failed.reason)
  ) {
    throw new Error(`no clear notice: ${JSON.stringify(failed)}`);
  }
  if (net.state.counters.hired !== 0) throw new Error("a new family was hired over the old one");
});

Deno.test("scenario: after a recovery, fragments of a half-done backup are removed", () => {
  const net = new Scenario({ seed: 14, ecc: "rs:4+4", suppliers: 10 });
  const v1 = net.backup(FILES);
  net.startBackup({ "big.bin": bytes(4, 12 * 1024 * 1024) });
  let interrupted = "";
  for (let i = 0; i < 10_000 && interrupted === ""; i++) {
    net.runFor(200);
    const run = net.state.backups.run;
    const held = run?.version.files.some((f) =>
      f.blocks.some((b) => b.heldAt.some((h) => h !== 0))
    );
    if (run !== null && held) interrupted = run.version.id;
  }
  if (interrupted === "") throw new Error("the second backup never got going");
  const onDisks = () =>
    net.suppliers.reduce(
      (n, node) =>
        n + [...net.sim.diskOf(node).blobs.keys()].filter((k) => k.includes(interrupted)).length,
      0,
    );
  if (onDisks() === 0) throw new Error("no fragment of the interrupted backup was stored");
  net.loseMachine();
  net.runFor(2 * HOUR_MS);
  if (net.state.catalogue.versions.map((v) => v.id).join() !== v1) {
    throw new Error(`catalogue after recovery: ${net.state.catalogue.versions.map((v) => v.id)}`);
  }
  if (onDisks() !== 0) throw new Error(`${onDisks()} orphaned fragments left on the suppliers`);
  if (net.state.counters.orphansRemoved === 0) throw new Error("nothing counted as removed");
  assertIdentical(net.restore(v1).files, "after the sweep");
});

Deno.test("scenario: a backup is done only once a record naming it is on an ID server", () => {
  const net = new Scenario({ seed: 15, ecc: "rs:2+2", suppliers: 6 });
  const ids = net.sim.node("n0")!;
  net.sim.setOffline(ids);
  net.startBackup(FILES);
  net.runFor(2 * HOUR_MS);
  const v = net.state.catalogue.versions[0];
  if (v?.status !== "complete") throw new Error(`the version is ${v?.status}`);
  if (net.notices.some((n) => n.type === "backup_done")) {
    throw new Error("done before any ID server holds a record that lists it");
  }
  if (!net.notices.some((n) => n.type === "backup_recording" && n.versionId === v.id)) {
    throw new Error("the user was not told what the backup waits for");
  }
  net.sim.setOnline(ids);
  net.runFor(HOUR_MS);
  if (!net.notices.some((n) => n.type === "backup_done" && n.versionId === v.id)) {
    throw new Error("not done after the ID server came back");
  }
});

function keysOf(net: Scenario, supplier: string | null, match = ""): number {
  const node = net.sim.node(supplier!)!;
  return [...(node.disk?.blobs.keys() ?? [])].filter((k) =>
    k.startsWith(`frag/${net.user.id}/`) && k.includes(match)
  ).length;
}

Deno.test("scenario: a supplier fired while offline drops our fragments once it is back", () => {
  const net = new Scenario({
    seed: 16,
    ecc: "rs:4+4",
    suppliers: 12,
    customer: { fireAfterMs: 6 * HOUR_MS },
  });
  net.backup(FILES);
  const gone = net.family()[0];
  net.offline([gone]);
  net.runFor(DAY_MS);
  if (net.family().includes(gone)) throw new Error("the silent supplier was not fired");
  if (keysOf(net, gone) === 0) throw new Error("the offline supplier lost its disk");
  net.online([gone]);
  net.runFor(2 * HOUR_MS);
  if (keysOf(net, gone) !== 0) throw new Error(`${keysOf(net, gone)} fragments left on it`);
  if (net.state.counters.cancelsConfirmed !== 1) throw new Error("the cancel was not confirmed");
});

Deno.test("scenario: a deletion a member missed while offline is swept later", () => {
  const net = new Scenario({
    seed: 17,
    ecc: "rs:2+2",
    suppliers: 6,
    customer: { sweepIntervalMs: 3 * HOUR_MS },
  });
  const v1 = net.backup(FILES);
  const v2 = net.backup({ "b.bin": bytes(5, 9000) });
  const away = net.family()[1];
  net.offline([away]);
  net.sim.command(net.user, { type: "delete", versionId: v1 });
  net.runFor(HOUR_MS);
  net.online([away]);
  if (keysOf(net, away, v1) === 0) throw new Error("the offline member lost its disk");
  net.runFor(4 * HOUR_MS);
  if (keysOf(net, away, v1) !== 0) throw new Error(`${keysOf(net, away, v1)} keys of v1 left`);
  if (keysOf(net, away, v2) === 0) throw new Error("the sweep removed the live version too");
  if (net.state.counters.orphansRemoved === 0) throw new Error("nothing counted as swept");
});

Deno.test("scenario: a fragment held but not counted is audited and counted again", () => {
  const net = new Scenario({
    seed: 23,
    ecc: "rs:2+2",
    suppliers: 6,
    customer: { sweepIntervalMs: 3 * HOUR_MS, repair: false },
  });
  const v = net.backup(FILES);
  const version = net.state.catalogue.versions.find((x) => x.id === v)!;
  const blocks = [...version.files.flatMap((f) => f.blocks), version.manifest!];
  // As when store answers are lost after the backup has moved on: the member holds the
  // fragments, the customer does not count them. Position 1 keeps its bytes; position 2's rot.
  for (const b of blocks) uncredit(b, 1), uncredit(b, 2);
  const rotten = net.sim.node(net.family()[2]!)!;
  for (const [key, data] of rotten.disk!.blobs) {
    if (key.startsWith("frag/")) data[data.length >> 1] ^= 0x10;
  }
  net.runFor(4 * HOUR_MS);
  const counted = (p: number) => blocks.filter((b) => holds(net.state, b, p)).length;
  if (counted(1) !== blocks.length) throw new Error(`${counted(1)} of ${blocks.length} counted`);
  if (counted(2) !== 0) throw new Error(`${counted(2)} rotten fragments counted`);
  if (net.state.counters.fragmentsRecredited !== blocks.length) {
    throw new Error(`recredited ${net.state.counters.fragmentsRecredited}`);
  }
  if (net.family()[2] !== rotten.id) throw new Error("a recheck cost the rotten member its place");
  assertIdentical(net.restore(v).files, "after the recheck");
});
