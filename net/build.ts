/**
 * `deno task install` and `deno task compile`: turning the checkout into a `bitdust` command.
 *
 * install: bundles `main.ts` into one file (`deno bundle` needs no network once the npm packages
 * are cached, which `deno task test` or any earlier run has done) and installs it under the
 * install root: `$DENO_INSTALL_ROOT` (or `--root DIR`, else `~/.deno`, Deno's own default) gets
 * `lib/bitdust/bitdust.js` and `bin/bitdust`, a shell script that runs it with this very Deno
 * (falling back to `deno` on PATH if that one is gone) with every permission and KV on, exactly
 * as `deno task bitdust` runs the sources. The checkout can then move or go: the installed copy
 * stands alone. Both files are written next to their place and renamed into it, so a failed
 * install leaves the previous one working. Relative paths given to the installed command mean
 * the caller's directory, as for any program.
 *
 * compile: `deno compile` into `dist/bitdust`. It needs Deno's runtime for the target, which
 * Deno downloads the first time; offline that fails with a page of output, so it is turned into
 * one line that says why and what works instead.
 *
 * @module
 */

const ROOT = new URL("../", import.meta.url);
const MAIN = new URL("main.ts", ROOT).pathname;

async function deno(args: string[]): Promise<{ code: number; stderr: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdout: "inherit",
    stderr: "piped",
  }).output();
  return { code: r.code, stderr: new TextDecoder().decode(r.stderr) };
}

function fail(line: string): number {
  console.error(line);
  return 1;
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** The launcher `bin/bitdust`: this Deno, else `deno` on PATH, running the installed bundle. */
export function launcher(denoPath: string, bundlePath: string): string {
  return [
    "#!/bin/sh",
    "# bitdust, installed by 'deno task install'; run it again to update.",
    `DENO=${shellQuote(denoPath)}`,
    `[ -x "$DENO" ] || DENO=deno`,
    `exec "$DENO" run --allow-all --unstable-kv --no-config --quiet ${shellQuote(bundlePath)} "$@"`,
    "",
  ].join("\n");
}

async function writeAtomically(path: string, data: string | Uint8Array, mode: number) {
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  try {
    if (typeof data === "string") await Deno.writeTextFile(tmp, data, { mode });
    else await Deno.writeFile(tmp, data, { mode });
    await Deno.chmod(tmp, mode);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

async function install(args: string[]): Promise<number> {
  const flag = args.indexOf("--root");
  const home = Deno.env.get("HOME") ?? "";
  const root = flag >= 0 ? args[flag + 1] : Deno.env.get("DENO_INSTALL_ROOT") || `${home}/.deno`;
  if (root === undefined || root === "" || root === "/.deno") {
    return fail("bitdust install: no install root: set DENO_INSTALL_ROOT or give --root DIR");
  }
  const bin = `${root}/bin`;
  const lib = `${root}/lib/bitdust`;
  try {
    await Deno.mkdir(bin, { recursive: true });
    await Deno.mkdir(lib, { recursive: true });
  } catch (e) {
    return fail(`bitdust install: cannot create ${root}: ${(e as Error).message}`);
  }
  const built = `${lib}/bitdust.js.new-${crypto.randomUUID()}`;
  const r = await deno(["bundle", "--quiet", "--output", built, MAIN]);
  if (r.code !== 0) {
    await Deno.remove(built).catch(() => {});
    const why = r.stderr.trim().split("\n").find((l) => l.trim() !== "") ?? `exit ${r.code}`;
    return fail(`bitdust install: bundling failed: ${why}`);
  }
  try {
    await Deno.rename(built, `${lib}/bitdust.js`);
    await writeAtomically(`${bin}/bitdust`, launcher(Deno.execPath(), `${lib}/bitdust.js`), 0o755);
  } catch (e) {
    await Deno.remove(built).catch(() => {});
    return fail(`bitdust install: cannot write into ${root}: ${(e as Error).message}`);
  }
  console.log(`installed ${bin}/bitdust`);
  const onPath = (Deno.env.get("PATH") ?? "").split(":").includes(bin);
  if (!onPath) console.log(`add it to your PATH: export PATH="${bin}:$PATH"`);
  return 0;
}

async function compile(): Promise<number> {
  const out = new URL("dist/bitdust", ROOT).pathname;
  const r = await deno(["compile", "--quiet", "--allow-all", "--output", out, MAIN]);
  if (r.code === 0) {
    console.log(`compiled ${out}`);
    return 0;
  }
  const offline = /download|dns|connect|network|fetch|tcp|os error/i.test(r.stderr);
  if (offline) {
    return fail(
      "bitdust compile: deno compile needs to download Deno's runtime and cannot reach it " +
        "(offline?); use 'deno task install' (a bitdust command on PATH) or 'deno task bundle' " +
        "(dist/bitdust.js, run with deno run -A) instead",
    );
  }
  const why = r.stderr.trim().split("\n").find((l) => l.trim() !== "") ?? `exit ${r.code}`;
  return fail(`bitdust compile: ${why}`);
}

if (import.meta.main) {
  const [what, ...rest] = Deno.args;
  const code = what === "install"
    ? await install(rest)
    : what === "compile"
    ? await compile()
    : fail("usage: deno run -A net/build.ts install [--root DIR] | compile");
  Deno.exit(code);
}
