import assert from "node:assert/strict";
import {
  exportKeyBackup,
  generateNodeKeys,
  importKeyBackup,
  KeyBackupError,
  KeyFileError,
  loadKeyFile,
  saveKeyFile,
} from "./keys.ts";

const posix = Deno.build.os !== "windows";

Deno.test("key files are written 0600 and read back", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitdust-keys-" });
  try {
    const keys = generateNodeKeys("alice");
    const path = `${dir}/keys.json`;
    await saveKeyFile(path, keys);
    if (posix) assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.deepEqual(await loadKeyFile(path), keys);
    await saveKeyFile(path, generateNodeKeys("alice")); // replaces atomically
    assert.equal([...Deno.readDirSync(dir)].length, 1, "no temporary file left behind");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a key file others can read is refused, or repaired on request", async () => {
  if (!posix) return;
  const dir = await Deno.makeTempDir({ prefix: "bitdust-keys-" });
  try {
    const path = `${dir}/keys.json`;
    await saveKeyFile(path, generateNodeKeys("bob"));
    await Deno.chmod(path, 0o644);
    await assert.rejects(() => loadKeyFile(path), (e: Error) => {
      assert.ok(e instanceof KeyFileError);
      assert.match(e.message, /mode 0644.*chmod 600/);
      return true;
    });
    await loadKeyFile(path, { repairMode: true });
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    await Deno.writeTextFile(path, "{}", { mode: 0o600 });
    await assert.rejects(() => loadKeyFile(path), KeyFileError);
    await assert.rejects(() => loadKeyFile(`${dir}/missing.json`), KeyFileError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("key backups open with the passphrase and only with it", () => {
  const keys = generateNodeKeys("carol");
  const backup = exportKeyBackup(keys, "correct horse battery staple", { costLog2: 10 });
  assert.deepEqual(importKeyBackup(backup, "correct horse battery staple"), keys);
  assert.throws(
    () => importKeyBackup(backup, "wrong"),
    (e: Error) => e instanceof KeyBackupError && /wrong passphrase/.test(e.message),
  );
  const damaged = backup.slice();
  damaged[damaged.length - 1] ^= 1;
  assert.throws(() => importKeyBackup(damaged, "correct horse battery staple"), KeyBackupError);
  const costly = backup.slice();
  costly[6] = 30; // a crafted backup asking for 2^30 scrypt rounds
  assert.throws(() => importKeyBackup(costly, "x"), KeyBackupError);
  assert.throws(() => importKeyBackup(new Uint8Array(100), "x"), KeyBackupError);
  assert.throws(() => exportKeyBackup(keys, ""), RangeError);
});
