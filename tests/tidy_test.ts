/**
 * Tidy: the rules of STYLE.md that a machine can check.
 *
 * - `core/`, `parts/` and `actors/` are deterministic and sans-IO: no `await`/`async`, no `Date`,
 *   no `Math.random`, no timers, no `Deno.*`, no `performance`, no `fetch`, no platform entropy.
 * - Imports point one way: `core/` imports only `core/`; `parts/` only `core/` and `parts/`;
 *   `actors/<role>/` imports only `core/`, `parts/` and its own folder; nothing in `core/`,
 *   `parts/`, `data/` or `actors/` imports `sim/` or `net/`.
 * - File names are snake_case, folders use `mod.ts` (never `index.ts`), lines are at most 100
 *   columns.
 *
 * @module
 */

const ROOT = new URL("../", import.meta.url);

const BANNED: [RegExp, string][] = [
  [/\bawait\b/, "await"],
  [/\basync\b/, "async"],
  [/\bDate\b/, "Date"],
  [/\bMath\.random\b/, "Math.random"],
  [/\bset(Timeout|Interval|Immediate)\b/, "timers"],
  [/\bqueueMicrotask\b/, "queueMicrotask"],
  [/\bDeno\./, "Deno.*"],
  [/\bperformance\b/, "performance"],
  [/\bfetch\s*\(/, "fetch"],
  [/\bgetRandomValues\b|\brandomUUID\b|\brandomBytes\b/, "platform entropy"],
  [/\bnew Promise\b|\.then\s*\(/, "promises"],
];

/** Replaces comments and string contents with spaces, keeping line structure. */
export function stripCommentsAndStrings(src: string): string {
  let out = "";
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    const next = src[i + 1];
    if (c === "/" && next === "/") {
      while (i < src.length && src[i] !== "\n") i++;
    } else if (c === "/" && next === "*") {
      const end = src.indexOf("*/", i + 2);
      const stop = end < 0 ? src.length : end + 2;
      out += src.slice(i, stop).replace(/[^\n]/g, " ");
      i = stop;
    } else if (c === '"' || c === "'" || c === "`") {
      out += c;
      i++;
      while (i < src.length && src[i] !== c) {
        if (src[i] === "\\") i++;
        else if (src[i] !== "\n") out += " ";
        else out += "\n";
        i++;
      }
      out += c;
      i++;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** Banned uses in one file's source: `line: what`. */
export function bannedUses(src: string): string[] {
  const found: string[] = [];
  stripCommentsAndStrings(src).split("\n").forEach((line, n) => {
    for (const [pattern, what] of BANNED) if (pattern.test(line)) found.push(`${n + 1}: ${what}`);
  });
  return found;
}

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string) => {
    for await (const entry of Deno.readDir(new URL(rel, ROOT))) {
      const path = `${rel}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (entry.name.endsWith(".ts")) out.push(path);
    }
  };
  try {
    await walk(dir);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort();
}

function imports(src: string): string[] {
  const found: string[] = [];
  const re = /(?:^|\n)\s*(?:import|export)[^;]*?from\s+["']([^"']+)["']/g;
  for (let m = re.exec(src); m !== null; m = re.exec(src)) found.push(m[1]);
  const dynamic = /import\(\s*["']([^"']+)["']\s*\)/g;
  for (let m = dynamic.exec(src); m !== null; m = dynamic.exec(src)) found.push(m[1]);
  return found;
}

function resolve(file: string, spec: string): string {
  if (!spec.startsWith(".")) return spec;
  const parts = file.split("/").slice(0, -1);
  for (const p of spec.split("/")) {
    if (p === "..") parts.pop();
    else if (p !== ".") parts.push(p);
  }
  return parts.join("/");
}

const isTest = (f: string) => f.endsWith("_test.ts");

Deno.test("tidy: the scanner itself finds banned APIs and ignores comments and strings", () => {
  const bad = "const t = Date.now();\nawait x;\nconst r = Math.random();\nDeno.exit(1);";
  if (bannedUses(bad).length !== 4) throw new Error(bannedUses(bad).join(", "));
  const fine =
    '// await Date.now()\nconst s = "Math.random()";\n/* setTimeout */ const updated = 1;';
  if (bannedUses(fine).length !== 0) throw new Error(bannedUses(fine).join(", "));
});

Deno.test("tidy: core/ and actors/ use no banned APIs", async () => {
  const problems: string[] = [];
  for (const dir of ["core", "parts", "actors"]) {
    for (const file of await sourceFiles(dir)) {
      if (isTest(file)) continue;
      const src = await Deno.readTextFile(new URL(file, ROOT));
      for (const use of bannedUses(src)) problems.push(`${file}:${use}`);
    }
  }
  if (problems.length > 0) throw new Error(`banned APIs:\n${problems.join("\n")}`);
});

Deno.test("tidy: imports point one way (core <- actors <- sim, net)", async () => {
  const problems: string[] = [];
  for (const dir of ["core", "parts", "actors", "data"]) {
    for (const file of await sourceFiles(dir)) {
      if (isTest(file)) continue;
      const src = await Deno.readTextFile(new URL(file, ROOT));
      for (const spec of imports(src)) {
        const target = resolve(file, spec);
        const role = file.split("/").slice(0, 2).join("/");
        const ok = dir === "core"
          ? target.startsWith("core/")
          : dir === "parts"
          ? target.startsWith("core/") || target.startsWith("parts/")
          : dir === "actors"
          ? target.startsWith("core/") || target.startsWith("parts/") ||
            target.startsWith(`${role}/`)
          : !target.startsWith("sim/") && !target.startsWith("net/") &&
            !target.startsWith("actors/");
        if (!ok) problems.push(`${file} imports ${spec}`);
      }
    }
  }
  if (problems.length > 0) throw new Error(`imports against the layering:\n${problems.join("\n")}`);
});

Deno.test("tidy: snake_case file names, no index.ts, lines of at most 100 columns", async () => {
  const problems: string[] = [];
  for (const dir of ["core", "data", "actors", "sim", "net", "bench", "tests"]) {
    for (const file of await sourceFiles(dir)) {
      const name = file.split("/").pop()!;
      if (!/^_?[a-z0-9]+(_[a-z0-9]+)*\.ts$/.test(name)) problems.push(`${file}: not snake_case`);
      if (name === "index.ts") problems.push(`${file}: use mod.ts`);
      const text = await Deno.readTextFile(new URL(file, ROOT));
      if (text.includes("@generated")) continue; // embedded binaries and the like
      const lines = text.split("\n");
      lines.forEach((line, n) => {
        if (line.length > 100) problems.push(`${file}:${n + 1}: ${line.length} columns`);
      });
    }
  }
  if (problems.length > 0) throw new Error(problems.join("\n"));
});
