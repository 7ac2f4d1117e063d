/**
 * Tidy: the rules of STYLE.md that a machine can check.
 *
 * - `core/`, `parts/` and `actors/` are deterministic and sans-IO: no `await`/`async`, no `Date`,
 *   no `Math.random`, no timers, no `Deno.*`, no `performance`, no `fetch`, no platform entropy.
 * - Imports point one way: `core/` imports only `core/`; `parts/` only `core/` and `parts/`;
 *   `actors/<role>/` imports only `core/`, `parts/` and its own folder; nothing in `core/`,
 *   `parts/`, `data/` or `actors/` imports `sim/` or `net/`.
 * - `sim/` and `net/` never import each other (tests may).
 * - File names are snake_case, folders use `mod.ts` (never `index.ts`), lines are at most 100
 *   columns.
 * - From the syntax tree (`_tidy.ts`): no import cycles (type-only imports included); no function
 *   over 70 lines unless listed, and the list only shrinks; no exported value (function, const,
 *   class, enum) that no other module imports, except the public API (`mod.ts` files), entry
 *   points, benchmarks loaded by name, and tests.
 *
 * @module
 */

import {
  cycles,
  exportedValues,
  functionLengths,
  importedNames,
  importGraph,
  parse,
  type Parsed,
} from "./_tidy.ts";

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
  for (const dir of ["core", "parts", "data", "actors", "sim", "net", "bench", "tests"]) {
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

// -----------------------------------------------------------------------------------------------
// Rules that read the syntax tree (tests/_tidy.ts).

/** Functions longer than this many lines fail unless listed in {@link LONG_FUNCTIONS}. */
const FUNCTION_LINES_MAX = 70;

/**
 * Functions allowed over {@link FUNCTION_LINES_MAX}, with their length when listed. The list only
 * shrinks: a listed function that grew, shrank under the limit or vanished fails too (update or
 * drop its entry).
 */
const LONG_FUNCTIONS: Record<string, number> = {
  // Contract suites: one list of cases each, run against every implementation.
  "net/_blob_store_contract.ts:blobStoreContract": 97,
  "net/_transport_contract.ts:transportContract": 76,
  // Daemon entry points: flags, set-up and shut-down in the order a reader follows.
  "net/cli/daemon.ts:run": 133,
  "net/cli/daemon.ts:run/anonymous#1": 131,
  "net/cli/supplier.ts:run": 88,
  "net/cli/supplier.ts:run/anonymous#1": 86,
};

/** Modules whose exports are called from outside the import graph. */
const ENTRY_POINTS = [
  "main.ts",
  "sim/main.ts",
  "bench/main.ts",
  "net/build.ts",
  "net/job_worker.ts",
];

/** Exports imported where the import graph cannot see it, each with where. */
const UNSEEN_IMPORTERS = new Set([
  // Imported by the child script net/job_pool_test.ts writes and runs.
  "net/job_pool.ts:JobWorkerCrashError",
]);

/** Whether `file`'s value exports need no importer: public API, entry points, tests. */
function exportsNeedNoImporter(file: string): boolean {
  return file === "mod.ts" || file.endsWith("/mod.ts") || ENTRY_POINTS.includes(file) ||
    /^bench\/[a-z_]+_bench\.ts$/.test(file) || // loaded by bench/main.ts by name
    isTest(file) || file.startsWith("tests/");
}

async function parsedTree(): Promise<Parsed[]> {
  const out: Parsed[] = [];
  for (const dir of ["core", "parts", "data", "actors", "sim", "net", "bench", "tests"]) {
    for (const file of await sourceFiles(dir)) {
      out.push(parse(file, await Deno.readTextFile(new URL(file, ROOT))));
    }
  }
  for (const file of ["mod.ts", "main.ts"]) {
    out.push(parse(file, await Deno.readTextFile(new URL(file, ROOT))));
  }
  return out;
}

function cycleProblems(files: Parsed[]): string[] {
  return cycles(importGraph(files));
}

function lengthProblems(files: Parsed[], allowed: Record<string, number>): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const p of files) {
    if (isTest(p.file)) continue;
    for (const f of functionLengths(p)) {
      const key = `${p.file}:${f.name}`;
      const listed = allowed[key];
      if (listed !== undefined) seen.add(key);
      if (listed === undefined && f.lines > FUNCTION_LINES_MAX) {
        problems.push(`${key}: ${f.lines} lines (at most ${FUNCTION_LINES_MAX}; split it)`);
      } else if (listed !== undefined && f.lines > listed) {
        problems.push(`${key}: grew to ${f.lines} lines (listed at ${listed})`);
      } else if (listed !== undefined && f.lines <= FUNCTION_LINES_MAX) {
        problems.push(`${key}: ${f.lines} lines now; drop it from the exception list`);
      } else if (listed !== undefined && f.lines < listed) {
        problems.push(`${key}: ${f.lines} lines now; lower its entry (listed at ${listed})`);
      }
    }
  }
  for (const key of Object.keys(allowed)) {
    if (!seen.has(key)) problems.push(`${key}: listed but gone; drop it from the list`);
  }
  return problems;
}

function unusedExportProblems(files: Parsed[]): string[] {
  const used = new Map<string, Set<string>>();
  for (const p of files) {
    for (const [target, names] of importedNames(p)) {
      if (target === p.file) continue;
      const set = used.get(target) ?? new Set<string>();
      for (const n of names) set.add(n);
      used.set(target, set);
    }
  }
  const problems: string[] = [];
  for (const p of files) {
    if (exportsNeedNoImporter(p.file)) continue;
    const names = used.get(p.file) ?? new Set<string>();
    if (names.has("*")) continue;
    for (const name of exportedValues(p)) {
      if (names.has(name) || UNSEEN_IMPORTERS.has(`${p.file}:${name}`)) continue;
      problems.push(`${p.file}: ${name} is exported but nobody imports it`);
    }
  }
  return problems;
}

Deno.test("tidy: the syntax rules themselves find cycles, long functions and unused exports", () => {
  const files = [
    parse("a/x.ts", 'import { y } from "./y.ts";\nexport const x = y;\nexport function lone() {}'),
    parse("a/y.ts", 'import type { x } from "./x.ts";\nexport const y = 1;'),
    parse("a/z.ts", `export function big() {\n${"  f();\n".repeat(75)}}`),
  ];
  const found = cycleProblems(files);
  if (found.length !== 1 || !found[0].includes("a/x.ts -> a/y.ts")) throw new Error(`${found}`);
  const long = lengthProblems(files, {});
  if (long.length !== 1 || !long[0].startsWith("a/z.ts:big: 77 lines")) throw new Error(`${long}`);
  const stale = lengthProblems(files, { "a/z.ts:big": 77, "a/x.ts:gone": 80 });
  if (stale.length !== 1 || !stale[0].includes("gone")) throw new Error(`${stale}`);
  const unused = unusedExportProblems(files);
  const want = ["a/x.ts: lone is exported", "a/z.ts: big is exported"]; // y imports x
  if (unused.length !== 2 || !want.every((w, i) => unused[i].startsWith(w))) {
    throw new Error(`${unused}`);
  }
});

Deno.test("tidy: no import cycles, no function over 70 lines unlisted, no unused export", async () => {
  const files = await parsedTree();
  const problems = [
    ...cycleProblems(files).map((c) => `import cycle: ${c}`),
    ...lengthProblems(files, LONG_FUNCTIONS),
    ...unusedExportProblems(files),
  ];
  if (problems.length > 0) throw new Error(problems.join("\n"));
});

Deno.test("tidy: sim/ and net/ do not import each other (tests may)", async () => {
  const problems: string[] = [];
  for (const [dir, other] of [["sim", "net/"], ["net", "sim/"]]) {
    for (const file of await sourceFiles(dir)) {
      if (isTest(file)) continue;
      const src = await Deno.readTextFile(new URL(file, ROOT));
      for (const spec of imports(src)) {
        if (resolve(file, spec).startsWith(other)) problems.push(`${file} imports ${spec}`);
      }
    }
  }
  if (problems.length > 0) throw new Error(problems.join("\n"));
});
