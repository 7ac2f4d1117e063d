import type { StepContext } from "../../core/actor.ts";
import { Random } from "../../core/prng.ts";
import { eccScheme } from "../../core/storage.ts";
import { startBackup } from "./backup.ts";
import type { E } from "./protocol.ts";
import { customerState } from "./state.ts";

/** The version id and file salts a backup starts with, under these two streams. */
function drawn(random: Random, secret: Random): string {
  const s = customerState({
    name: "u",
    idServers: ["ids"],
    scheme: eccScheme("rs:2+1")!,
    fileKey: new Uint8Array(32),
  });
  for (const p of s.positions) Object.assign(p, { state: "active", supplier: "x", online: true });
  s.backupQueue.push({ label: "", files: [{ path: "a", size: 1, mode: 0, mtimeMs: 0 }] });
  const ctx = { nowMs: 0, random, secret, self: "u" } as unknown as StepContext;
  const out: E[] = [];
  startBackup(s, ctx, out);
  const v = s.versions[0];
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
