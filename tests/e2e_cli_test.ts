/**
 * The command line as a new user meets it (issue 11, cases 6, 7 and 9), on real processes: an
 * ID server on 127.0.0.1, `bitdust` from the sources, from `deno task` and installed by
 * `deno task install`, and a real terminal (a pty from util-linux `script`) where one is needed.
 *
 * @module
 */

import assert from "node:assert/strict";
import { cli, Procs, SOURCES } from "./_procs.ts";
import { fileKeyOf } from "../net/home.ts";
import { loadKeyFile } from "../net/keys.ts";
import { publishFamilyRecord } from "../net/identity_client.ts";
import { sealRecovery } from "../data/recovery.ts";
import { stepCryptoFor } from "../data/signing.ts";
import { signFamilyRecord } from "../core/protocol/identity.ts";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const STRONG = "correct horse battery staple";

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

/** Runs `deno <args>` in `cwd` with the caller's environment minus `INIT_CWD`, plus `env`. */
async function denoIn(cwd: string, args: string[], env: Record<string, string> = {}) {
  const base = Deno.env.toObject();
  delete base.INIT_CWD;
  const r = await new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    clearEnv: true,
    env: { ...base, ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: r.code, stdout: text(r.stdout), stderr: text(r.stderr) };
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * Runs a bitdust command on a real terminal (a pty made by `script`) and types `answers`, each
 * after the prompt matching it appears. Returns everything the terminal showed.
 */
async function onTerminal(args: string[], answers: [RegExp, string][]) {
  const command = [Deno.execPath(), ...SOURCES, ...args].map(shellQuote).join(" ");
  const env = Deno.env.toObject();
  delete env.BITDUST_PASSPHRASE;
  const child = new Deno.Command("script", {
    args: ["-qefc", command, "/dev/null"],
    cwd: ROOT,
    clearEnv: true,
    env: { ...env, TERM: "dumb" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let shown = "";
  const reader = (async () => {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) shown += chunk;
  })();
  const stderr = new Response(child.stderr).text();
  const writer = child.stdin.getWriter();
  for (const [prompt, answer] of answers) {
    const deadline = Date.now() + 60_000;
    while (!prompt.test(shown)) {
      if (Date.now() > deadline) {
        throw new Error(`no prompt ${prompt}; the terminal showed:\n${shown}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    shown = shown.replace(prompt, "<answered>"); // the next prompt may say the same words
    await writer.write(new TextEncoder().encode(answer));
  }
  const status = await child.status;
  await writer.close().catch(() => {});
  await reader;
  return { code: status.code, shown, stderr: await stderr };
}

Deno.test({
  name: "e2e cli: key import, passphrases and paths do what a new user expects",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const procs = new Procs();
    const dir = await Deno.makeTempDir({ prefix: "bitdust-e2e-cli-" });
    try {
      const ids = procs.start("idserver", SOURCES, ["idserver", "--data", `${dir}/ids`]);
      const url = (await ids.waitFor(/^listening (http:\/\/\S+)$/))[1];
      const home = `${dir}/bob`;
      const init = await cli(SOURCES, ["init", "--name", "bob", "--idserver", url, "--data", home]);
      assert.equal(init.code, 0, init.stderr);
      const pass = `${dir}/pass`;
      await Deno.writeTextFile(pass, `${STRONG}\n`);

      const backupFile = `${dir}/bob.bak`;
      const made = await cli(SOURCES, [
        "key",
        "export",
        "--to",
        backupFile,
        "--passphrase-file",
        pass,
        "--data",
        home,
      ]);
      assert.equal(made.code, 0, made.stderr);

      // Case 7: a weak passphrase from a file is refused and nothing is written.
      await t.step("a weak passphrase from a file is refused", async () => {
        const weak = `${dir}/weak`;
        await Deno.writeTextFile(weak, "abc12\n");
        const refused = await cli(SOURCES, [
          "key",
          "export",
          "--to",
          `${dir}/weak.bak`,
          "--passphrase-file",
          weak,
          "--data",
          home,
        ]);
        assert.equal(refused.code, 1, refused.stderr);
        assert.match(refused.stderr.trim(), /^bitdust key: .*too weak: it has 5 characters/);
        assert.equal(refused.stderr.trim().split("\n").length, 1, refused.stderr);
        assert.equal(await exists(`${dir}/weak.bak`), false);
      });

      // Case 7: on a terminal the passphrase is not echoed, and it is asked twice.
      await t.step("on a terminal the passphrase is not echoed", async () => {
        const typed = await onTerminal(
          ["key", "export", "--to", `${dir}/typed.bak`, "--data", home],
          [[/new passphrase: /, `${STRONG}\r`], [/type it again: /, `${STRONG}\r`]],
        );
        assert.equal(typed.code, 0, typed.shown + typed.stderr);
        assert.ok(!typed.shown.includes("horse"), `the passphrase was echoed:\n${typed.shown}`);
        assert.ok(await exists(`${dir}/typed.bak`));
        // A weak one typed on a terminal needs an explicit yes; "no" writes nothing.
        const declined = await onTerminal(
          ["key", "export", "--to", `${dir}/declined.bak`, "--data", home],
          [[/new passphrase: /, "abc12\r"], [/Use it anyway\? \[y\/N\] /, "n\r"]],
        );
        assert.equal(declined.code, 1, declined.shown);
        assert.match(declined.shown, /choose a stronger passphrase/);
        assert.equal(await exists(`${dir}/declined.bak`), false);
      });

      // Case 6: an import missing --idserver writes nothing, so the retry with it works.
      const importArgs = ["key", "import", "--from", backupFile, "--passphrase-file", pass];
      await t.step("an import refused for a missing flag can be retried", async () => {
        const fresh = `${dir}/new-machine`;
        const noIds = await cli(SOURCES, [...importArgs, "--data", fresh]);
        assert.equal(noIds.code, 2, noIds.stderr);
        assert.match(noIds.stderr, /--idserver URL is required/);
        assert.equal(await exists(`${fresh}/keys.json`), false);
        assert.equal(await exists(`${fresh}/config.json`), false);
        const retried = await cli(SOURCES, [...importArgs, "--data", fresh, "--idserver", url]);
        assert.equal(retried.code, 0, retried.stderr);
        assert.match(retried.stdout, /no data of bob on the ID servers yet/);
      });

      await t.step("an import with the wrong --ecc writes nothing; its fix works", async () => {
        // Case 6: once the ID server holds bob's family record (rs:6+3), an import that says
        // another scheme is refused before writing anything, and the fix it names works.
        const keys = await loadKeyFile(`${home}/keys.json`);
        const sealed = sealRecovery(
          {
            scheme: "rs:6+3",
            positions: Array(9).fill(undefined),
            keys: Array(9).fill(undefined),
            versions: [],
            allVersions: true,
          },
          fileKeyOf(keys),
          crypto.getRandomValues(new Uint8Array(32)),
        );
        const signer = stepCryptoFor(keys.signingPrivateKey);
        const record = signFamilyRecord(
          { owner: "bob", revision: 1, issuedMs: Date.now(), sealed },
          (d) => signer.sign(d),
        );
        const published = await publishFamilyRecord(url, record);
        assert.ok(published.ok, JSON.stringify(published));
        const other = `${dir}/third-machine`;
        const wrong = await cli(SOURCES, [
          ...importArgs,
          "--data",
          other,
          "--idserver",
          url,
          "--ecc",
          "rs:4+4",
        ]);
        assert.equal(wrong.code, 1, wrong.stderr);
        assert.match(wrong.stderr, /stored with rs:6\+3, not rs:4\+4; nothing was written/);
        assert.equal(await exists(`${other}/keys.json`), false);
        const fixed = await cli(SOURCES, [
          ...importArgs,
          "--data",
          other,
          "--idserver",
          url,
          "--ecc",
          "rs:6+3",
        ]);
        assert.equal(fixed.code, 0, fixed.stderr);
        const config = JSON.parse(await Deno.readTextFile(`${other}/config.json`));
        assert.equal(config.ecc, "rs:6+3");
      });

      // Case 9: under `deno task`, relative paths mean the directory the command was typed in.
      const sub = `${dir}/work/sub`;
      await Deno.mkdir(sub, { recursive: true });
      await t.step("relative paths mean the caller's directory", async () => {
        const viaTask = await denoIn(sub, [
          "task",
          "--config",
          `${ROOT}/deno.json`,
          "bitdust",
          "key",
          "export",
          "--to",
          "relative.bak",
          "--passphrase-file",
          "../../pass",
          "--data",
          "../../bob",
        ]);
        assert.equal(viaTask.code, 0, viaTask.stderr);
        assert.ok(await exists(`${sub}/relative.bak`), "not written where the command was typed");
        assert.equal(await exists(`${ROOT}/relative.bak`), false);
      });

      // Case 9: `deno task install` gives a standalone `bitdust` on PATH.
      await t.step("deno task install puts a working bitdust on PATH", async () => {
        const root = `${dir}/install-root`;
        const installed = await denoIn(
          sub,
          ["task", "--config", `${ROOT}/deno.json`, "install"],
          { DENO_INSTALL_ROOT: root },
        );
        assert.equal(installed.code, 0, installed.stderr);
        assert.match(installed.stdout, new RegExp(`installed ${root}/bin/bitdust`));
        const elsewhere = `${dir}/elsewhere`;
        await Deno.mkdir(elsewhere);
        const r = await new Deno.Command("sh", {
          args: ["-c", `bitdust key export --to mine.bak --passphrase-file ../pass --data ../bob`],
          cwd: elsewhere,
          env: { PATH: `${root}/bin:/usr/bin:/bin` },
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
        assert.ok(await exists(`${elsewhere}/mine.bak`));
      });
    } finally {
      await procs.stopAll();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "e2e cli: deno task compile either builds the binary or says in one line what to use",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const out = `${ROOT}/dist/bitdust`;
    const before = await exists(out);
    const r = await denoIn(ROOT, ["task", "compile"]);
    if (r.code === 0) {
      assert.ok(await exists(out), "compile said yes but wrote no binary");
      if (!before) await Deno.remove(out);
      return;
    }
    const lines = r.stderr.split("\n").filter((l) => l.trim() !== "" && !/^\S*Task\b/.test(l));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /^bitdust compile: .*deno task install.*deno task bundle/);
  },
});
