/**
 * Tidy: the rules of STYLE.md that a machine can check, over one parse of the whole tree
 * (`_tidy.ts` has the rules; this file has their exception lists, and shows each rule firing on
 * a small tree in memory so that none can silently stop working).
 *
 * - `core/`, `parts/` and `actors/` are deterministic and sans-IO: no `await`/`async`, no `Date`,
 *   no `Math.random`, no timers, no `Deno.*`, no `performance`, no `fetch`, no promises, no
 *   platform entropy, no `globalThis` or `process` (the ways around the rest).
 * - Imports point one way: `core/` imports only `core/`; `parts/` only `core/` and `parts/`;
 *   `actors/<role>/` only `core/`, `parts/` and its own folder; `data/` only `core/`, `data/`
 *   and packages; none of them `sim/` or `net/`; `sim/` and `net/` never import each other
 *   (tests may; {@link SIM_NET_CROSSINGS} names any exception).
 * - No import cycles (type-only imports included).
 * - No function over 70 lines unless {@link LONG_FUNCTIONS} lists it, and the list only shrinks.
 * - No exported value that no other module imports, except the root `mod.ts` (the public API),
 *   entry points (every `.ts` file a `deno.json` task runs, and workers loaded by URL), tests,
 *   and {@link UNSEEN_IMPORTERS}.
 * - snake_case names, `mod.ts` never `index.ts`, every `mod.ts` with a `@module` header, lines
 *   of at most 100 columns.
 *
 * - The customer's sub-states ({@link CUSTOMER_OWNERS}) are written only by their owners.
 *
 * An exception-list entry that no longer matches anything fails, asking to delete or lower it.
 *
 * @module
 */

import {
  bannedProblems,
  bannedUses,
  cycleProblems,
  entryPoints,
  headerProblems,
  layeringProblems,
  lengthProblems,
  makeTree,
  nameProblems,
  ownershipProblems,
  readTree,
  type Tree,
  unusedExportProblems,
} from "./_tidy.ts";

const ROOT = new URL("../", import.meta.url);

/** Functions longer than this many lines fail unless listed in {@link LONG_FUNCTIONS}. */
const FUNCTION_LINES_MAX = 70;

/**
 * Functions allowed over {@link FUNCTION_LINES_MAX}, with their length when listed. The list only
 * shrinks: a listed function that grew, shrank or vanished fails too (lower or delete its entry).
 */
const LONG_FUNCTIONS: Record<string, number> = {
  // Contract suites: one list of cases each, run against every implementation.
  "net/_transport_contract.ts:transportContract": 76,
  // Daemon entry points: flags, set-up and shut-down in the order a reader follows.
  "net/cli/daemon.ts:run": 133,
  "net/cli/daemon.ts:run/anonymous#1": 131,
  "net/cli/supplier.ts:run": 88,
  "net/cli/supplier.ts:run/anonymous#1": 86,
};

/** Exports imported where the import graph cannot see it (`file:name`, `*` globs), with where. */
const UNSEEN_IMPORTERS: Record<string, string> = {
  "net/job_pool.ts:JobWorkerCrashError": "imported by the child script net/job_pool_test.ts runs",
  "bench/*_bench.ts:run": "bench/main.ts imports every bench/*_bench.ts by name and calls run()",
};

/**
 * Who writes each of the customer's sub-states (`actors/customer/state.ts`): every other file
 * reads it and changes it only by calling one of these (or by an internal event, step.ts).
 */
const CUSTOMER_OWNERS: Record<string, string[]> = {
  family: ["family.ts", "auth.ts"],
  catalogue: ["catalogue.ts"],
  backups: ["backup.ts"],
  restores: ["restore.ts"],
  repairs: ["repair.ts"],
  journal: ["journal.ts", "persist.ts"],
  publisher: ["publisher.ts"],
  recovery: ["recovery.ts"],
  sweep: ["sweep.ts"],
};

/** Imports between `sim/` and `net/` outside tests (`from -> to`), each with why. */
const SIM_NET_CROSSINGS: Record<string, string> = {};

let cached: Promise<Tree> | undefined;
/** The project's tree, read and parsed once for every test below. */
const projectTree = () => cached ??= readTree(ROOT);

function expectNone(problems: string[], what: string) {
  if (problems.length > 0) throw new Error(`${what}:\n${problems.join("\n")}`);
}

/** Fails unless `problems` has exactly one entry per `want`, each containing it, in order. */
function expectExactly(problems: string[], want: string[]) {
  const ok = problems.length === want.length && want.every((w, i) => problems[i].includes(w));
  if (!ok) throw new Error(`wanted ${JSON.stringify(want)}, got:\n${problems.join("\n")}`);
}

// -----------------------------------------------------------------------------------------------
// Each rule fires on a small tree in memory.

Deno.test("tidy rule: banned APIs are found by syntax, not in comments, strings or members", () => {
  const tree = makeTree({
    "core/bad.ts": [
      "const t = Date.now();",
      "async function f() { await x; }",
      "const r = Math.random();",
      "Deno.exit(1);",
      "setTimeout(f, 1); fetch(u); p.then(g); new Promise(h); crypto.getRandomValues(b);",
      "let d: Date;",
      "globalThis.setTimeout(f); process.hrtime();",
    ].join("\n"),
    "core/fine.ts": [
      '// await Date.now()\nconst s = "Math.random()";\n/* setTimeout */ const updated = 1;',
      "const o = { Date: 1, fetch: 2 }; o.Date; x.performance; const fetch = { then: 1 };",
      "fetch.then; const { Deno: d } = o; interface I { Promise: number; setTimeout(): void }",
    ].join("\n"),
    "core/bad_test.ts": "await Date.now();",
    "sim/free.ts": "await Date.now();",
  });
  const uses = bannedProblems(tree);
  expectExactly(uses, [
    "core/bad.ts:1: Date",
    "core/bad.ts:2: async",
    "core/bad.ts:2: await",
    "core/bad.ts:3: Math.random",
    "core/bad.ts:4: Deno.*",
    "core/bad.ts:5: timers",
    "core/bad.ts:5: fetch",
    "core/bad.ts:5: promises",
    "core/bad.ts:5: promises",
    "core/bad.ts:5: platform entropy",
    "core/bad.ts:6: Date",
    "core/bad.ts:7: globalThis",
    "core/bad.ts:7: process",
  ]);
  expectExactly(bannedUses(tree.byPath.get("core/fine.ts")!), []);
});

Deno.test("tidy rule: layering follows the syntax tree, and sim/net crossings are listed", () => {
  const tree = makeTree({
    "core/a.ts": 'import "../data/x.ts";\nimport type { T } from "../parts/p.ts";',
    "core/b.ts": 'export const b = () => import("../sim/s.ts");\nimport "node:crypto";',
    "parts/p.ts": 'import { a } from "../core/a.ts";\nexport { x } from "../data/x.ts";',
    "actors/one/s.ts": 'import "../../core/a.ts";\nimport "../../parts/p.ts";\nimport "./t.ts";',
    "actors/one/t.ts": 'import "../two/u.ts";\nimport "../../net/n.ts";',
    "actors/two/u.ts": '// `import x from "../../sim/s.ts"` in a comment is not an import',
    "data/x.ts": 'import "../core/a.ts";\nimport "node:buffer";\nimport "wabt";\nimport "zzz";',
    "data/y.ts": 'import "../actors/one/s.ts";',
    "data/y_test.ts": 'import "../sim/s.ts";',
    "sim/s.ts": 'import "../net/n.ts";\nimport "../net/listed.ts";',
    "net/n.ts": 'import "../sim/s.ts";',
    "net/n_test.ts": 'import "../sim/s.ts";',
  }, { imports: { wabt: "npm:wabt@1" } });
  const crossings = { "sim/s.ts -> net/listed.ts": "why", "net/gone.ts -> sim/s.ts": "why" };
  expectExactly(layeringProblems(tree, crossings), [
    "actors/one/t.ts:1: imports ../two/u.ts; actors/one/ imports only core/, parts/ and",
    "actors/one/t.ts:2: imports ../../net/n.ts; actors/one/ imports only core/, parts/",
    "core/a.ts:1: imports ../data/x.ts; core/ imports only core/",
    "core/a.ts:2: imports ../parts/p.ts; core/ imports only core/",
    "core/b.ts:1: imports ../sim/s.ts; core/ imports only core/ (never sim/ or net/)",
    "core/b.ts:2: imports node:crypto; core/",
    "data/x.ts:4: imports zzz; data/ imports only",
    "data/y.ts:1: imports ../actors/one/s.ts; data/",
    "net/n.ts:1: imports ../sim/s.ts; sim/ and net/ stay apart",
    "parts/p.ts:2: imports ../data/x.ts; parts/ imports only core/ and parts/",
    "sim/s.ts:1: imports ../net/n.ts; sim/ and net/ stay apart",
    "net/gone.ts -> sim/s.ts: no such import; delete its SIM_NET_CROSSINGS entry",
  ]);
});

Deno.test("tidy rule: import cycles, type-only and dynamic imports included", () => {
  const tree = makeTree({
    "a/x.ts": 'import { y } from "./y.ts";\nexport const x = y;',
    "a/y.ts": 'import type { x } from "./x.ts";\nexport const y = 1;',
    "b/p.ts": 'export const p = () => import("./q.ts");',
    "b/q.ts": 'export { p } from "./p.ts";',
    "c/self.ts": 'import "./self.ts";',
    "c/fine.ts": 'import "../a/x.ts";\nconst w = new URL("./fine.ts", import.meta.url);',
  });
  expectExactly(cycleProblems(tree), [
    "import cycle: a/x.ts -> a/y.ts -> a/x.ts",
    "import cycle: b/p.ts -> b/q.ts -> b/p.ts",
    "import cycle: c/self.ts -> c/self.ts",
  ]);
});

Deno.test("tidy rule: long functions fail unless listed, and the list only shrinks", () => {
  const body = (n: number) => "  f();\n".repeat(n);
  const tree = makeTree({
    "a/z.ts": [
      `export function big() {\n${body(75)}}`,
      `function listed() {\n${body(80)}}`,
      `function shrank() {\n${body(78)}}`,
      `function small() {\n${body(10)}}`,
      `const o = { m() {\n${body(71)}} };`,
    ].join("\n"),
    "a/z_test.ts": `Deno.test("t", () => {\n${body(100)}});`,
  });
  const allowed = {
    "a/z.ts:listed": 82,
    "a/z.ts:shrank": 90,
    "a/z.ts:small": 75,
    "a/z.ts:gone": 80,
  };
  expectExactly(lengthProblems(tree, allowed, 70), [
    "a/z.ts:big: 77 lines (at most 70; split it)",
    "a/z.ts:shrank: 80 lines now; lower its LONG_FUNCTIONS entry",
    "a/z.ts:small: 12 lines now; delete its entry",
    "a/z.ts:o.m: 73 lines (at most 70",
    "a/z.ts:gone: no such function; delete its LONG_FUNCTIONS entry",
  ]);
  expectExactly(lengthProblems(tree, { "a/z.ts:listed": 80 }, 70), [
    "a/z.ts:big: 77",
    "a/z.ts:listed: grew to 82 lines (listed at 80",
    "a/z.ts:shrank: 80 lines (at most 70",
    "a/z.ts:o.m: 73",
  ]);
});

Deno.test("tidy rule: exports nobody imports, with entry points read from deno.json", () => {
  const tree = makeTree({
    "mod.ts": 'export { used } from "./a/mod.ts";\nexport const api = 1;',
    "a/mod.ts": '/** A. @module */\nexport { used, viaMod } from "./x.ts";\nexport const own = 1;',
    "a/x.ts": [
      'import type { Shape } from "./y.ts";',
      "export function used() {}",
      "export function viaMod() {}",
      "export function lone() {}",
      "export interface Alone { n: number }",
      "const local = 1;",
      "type Local = string;",
      "export { local as renamed, type Shape, Local };",
      "export default class {}",
      "export const [first, { second }] = [1, { second: 2 }];",
    ].join("\n"),
    "a/y.ts": 'export type Shape = 1;\nexport { viaMod as again } from "./x.ts";',
    "a/all.ts": "export const one = 1;\nexport function two() {}",
    "a/z.ts": 'import * as all from "./all.ts";\nimport d from "./x.ts";\nexport function z() {}',
    "a/worker.ts": "export function onWorker() {}",
    "a/pool.ts": 'const url = new URL("./worker.ts", import.meta.url);\nexport const seen = 1;',
    "tool/main.ts": 'import { seen } from "../a/pool.ts";\nexport const cli = 1;',
    "a/hidden.ts": "export const h = 1;",
    "a/x_test.ts": [
      'import { z } from "./z.ts";',
      "export const helper = 1;",
      'const child = new URL("./hidden.ts", import.meta.url);',
    ].join("\n"),
    "bench/k_bench.ts": "export function run() {}",
  }, { tasks: { go: "deno run -A --flag=x ./tool/main.ts arg", gone: "deno run missing.ts" } });
  const unseen = { "bench/*_bench.ts:run": "bench/main.ts", "a/x.ts:stale": "nowhere" };
  expectExactly(unusedExportProblems(tree, unseen), [
    "deno.json: task gone runs missing.ts, which does not exist",
    "a/hidden.ts:1: h is exported but nobody imports it",
    "a/x.ts:4: lone is exported",
    "a/x.ts:8: renamed is exported",
    "a/x.ts:10: first is exported",
    "a/x.ts:10: second is exported",
    "a/y.ts:2: again is exported",
    "a/x.ts:stale: no unimported export matches; delete its UNSEEN_IMPORTERS entry",
  ]);
});

Deno.test("tidy rule: a sub-state is written only by its owners", () => {
  const tree = makeTree({
    "a/own.ts": "export function f(s: S) { s.box.n = 1; s.box.list.push(2); s.other.n++; }",
    "a/thief.ts": [
      "export function g(s: S, t: S) {",
      "  s.box.n = 1;", // a write
      "  s.box.list[0] = 3;", // through an element
      "  s.box.map.delete(1);", // a mutating method
      "  s.box.n += 2;", // a compound assignment
      "  const n = s.box.n + s.box.list.length;", // reads are fine
      "  t.box.n = 1;", // not the state variable
      "  s.box.list.forEach((x) => x);", // not a mutator
      "  return n;",
      "}",
    ].join("\n"),
    "a/thief_test.ts": "s.box.n = 1;",
  });
  expectExactly(ownershipProblems(tree, "a/", { box: ["own.ts"] }), [
    "a/thief.ts:2: writes s.box",
    "a/thief.ts:3: writes s.box",
    "a/thief.ts:4: writes s.box",
    "a/thief.ts:5: writes s.box",
  ]);
});

Deno.test("tidy rule: names, lines and mod.ts headers", () => {
  const tree = makeTree({
    "core/BadName.ts": "",
    "core/index.ts": "",
    "Core2/x.ts": "",
    "core/long.ts": `const s = "${"x".repeat(100)}";`,
    "core/gen.ts": `// @generated\nconst s = "${"x".repeat(100)}";`,
    "core/mentions.ts": `const m = "@generated";\nconst s = "${"x".repeat(100)}";`,
    "parts/mod.ts": "// A plain comment, not a module header.\nexport {};",
    "data/mod.ts": "/**\n * Data.\n *\n * @module\n */\nexport {};",
    "mod.ts": 'export * from "./data/mod.ts";',
  });
  expectExactly(nameProblems(tree), [
    "Core2/x.ts: folder Core2",
    "core/BadName.ts: not snake_case",
    "core/index.ts: use mod.ts",
    "core/long.ts:1: 113 columns",
    "core/mentions.ts:2: 113 columns",
  ]);
  expectExactly(headerProblems(tree), ["mod.ts: no module header", "parts/mod.ts: no module"]);
});

// -----------------------------------------------------------------------------------------------
// The project's tree obeys every rule.

Deno.test("tidy: the whole tree is read, with its entry points from deno.json", async () => {
  const tree = await projectTree();
  const files = ["mod.ts", "main.ts", "core/assert.ts", "tests/_tidy.ts", "tests/tidy_test.ts"];
  const missing = files.filter((f) => !tree.byPath.has(f));
  const outside = tree.files.filter((p) => /^(dist|node_modules|\.)/.test(p.file));
  expectNone([...missing.map((f) => `${f} not read`), ...outside.map((p) => p.file)], "tree");
  const entries = entryPoints(tree);
  const want = ["main.ts", "sim/main.ts", "bench/main.ts", "net/build.ts", "net/job_worker.ts"];
  want.push("data/erasure/build_wasm.ts");
  expectNone([
    ...entries.problems,
    ...want.filter((f) => !entries.files.has(f)).map((f) => `${f}: not an entry point`),
  ], "entry points");
});

Deno.test("tidy: core/, parts/ and actors/ use no banned APIs", async () => {
  expectNone(bannedProblems(await projectTree()), "banned APIs");
});

Deno.test("tidy: imports follow the layers of STYLE.md; sim/ and net/ stay apart", async () => {
  expectNone(layeringProblems(await projectTree(), SIM_NET_CROSSINGS), "against the layering");
});

Deno.test("tidy: no import cycles", async () => {
  expectNone(cycleProblems(await projectTree()), "import cycles");
});

Deno.test("tidy: no function over 70 lines unless listed", async () => {
  const problems = lengthProblems(await projectTree(), LONG_FUNCTIONS, FUNCTION_LINES_MAX);
  expectNone(problems, "long functions");
});

Deno.test("tidy: no exported value that nobody imports", async () => {
  expectNone(unusedExportProblems(await projectTree(), UNSEEN_IMPORTERS), "unused exports");
});

Deno.test("tidy: the customer's sub-states are written only by their owners", async () => {
  const tree = await projectTree();
  expectNone(ownershipProblems(tree, "actors/customer/", CUSTOMER_OWNERS), "sub-state writes");
});

Deno.test("tidy: snake_case names, no index.ts, short lines, mod.ts headers", async () => {
  const tree = await projectTree();
  expectNone([...nameProblems(tree), ...headerProblems(tree)], "names and headers");
});
