/**
 * The machine half of tidy: one parse of the whole tree, and the rules that read it.
 *
 * `readTree` parses every `.ts` file outside `dist/`, `node_modules/` and hidden folders with
 * the TypeScript compiler (syntax only, no type checking), once, and reads `deno.json`.
 * `makeTree` builds the same thing from sources in memory, which is how the tests show that
 * every rule fires. Each file's references (`Edge`: static imports, `export ... from`, type-only
 * ones included, `import()` with a literal, `new URL("./x.ts", import.meta.url)`) and exports
 * (`Export`) are taken from its syntax tree as it is parsed; every rule reads those and nothing
 * else, and returns its problems as lines of text:
 *
 * - `cycleProblems`: no import cycles (Tarjan's components, one shortest cycle printed each).
 * - `lengthProblems`: no function over the limit unless listed; a listed one that grew, shrank or
 *   vanished fails too, so the list only shrinks.
 * - `unusedExportProblems`: no exported value (function, const, class, enum, default) that no
 *   other module imports. Types are left out (a type with no importer is still part of an
 *   exported value's signature). Entry points are every `.ts` file a `deno.json` task runs and
 *   every module loaded by `new URL(..., import.meta.url)` (workers); `mod.ts` re-exports count
 *   as callers of what they re-export.
 * - `layeringProblems`: the import layers of STYLE.md, and sim/ and net/ apart.
 * - `bannedProblems`: no clock, entropy, timers, promises or `Deno.*` in sans-IO code.
 * - `nameProblems`: snake_case names, no `index.ts`, lines of at most 100 columns.
 * - `headerProblems`: every `mod.ts` opens with a `@module` comment.
 *
 * Every exception list a rule takes must match something: an entry that no longer does fails,
 * asking to delete it.
 *
 * @module
 */

import ts from "typescript";

/** One reference from a file to a module. */
export interface Edge {
  /** Project-relative path of the module, or the specifier itself when it is not relative. */
  target: string;
  /** The specifier as written. */
  spec: string;
  /** The names taken; `*` for all of them (namespace, `export *`, side effect, `import()`). */
  names: string[];
  /** `url`: `new URL("./x.ts", import.meta.url)`, a module loaded by name (a worker). */
  kind: "static" | "dynamic" | "url";
  /** 1-based line of the specifier. */
  line: number;
}

/** What an export is: a value, a type, or a name taken from another module. */
export type ExportKind = "value" | "type" | { target: string; name: string };

/** One name a module exports. */
export interface Export {
  name: string;
  line: number;
  what: ExportKind;
}

/** One parsed file: its project-relative path, syntax tree, references and exports. */
export interface Parsed {
  file: string;
  sf: ts.SourceFile;
  edges: Edge[];
  exports: Export[];
}

/** The parts of `deno.json` the rules read. */
export interface Config {
  tasks: Record<string, string>;
  imports: Record<string, string>;
}

/** The whole tree, parsed once and shared by every rule. */
export interface Tree {
  /** Sorted by path. */
  files: Parsed[];
  byPath: Map<string, Parsed>;
  config: Config;
}

/** Whether `file` is a test (its exports and imports are its own business). */
const isTest = (file: string): boolean => file.endsWith("_test.ts");

const lineOf = (sf: ts.SourceFile, node: ts.Node) =>
  sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;

/** Resolves a relative specifier against `file` (both project-relative); others unchanged. */
function resolveSpec(file: string, spec: string): string {
  if (!spec.startsWith(".")) return spec;
  const parts = file.split("/").slice(0, -1);
  for (const p of spec.split("/")) {
    if (p === "..") parts.pop();
    else if (p !== ".") parts.push(p);
  }
  return parts.join("/");
}

/** Parses `text` as the file `file` (syntax only) and reads its references and exports. */
function parse(file: string, text: string): Parsed {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  return { file, sf, edges: edgesOf(sf, file), exports: exportsOf(sf, file) };
}

/** A tree from sources in memory (path -> text). */
export function makeTree(
  sources: Record<string, string>,
  config: Partial<Config> = {},
): Tree {
  const files = Object.keys(sources).sort().map((f) => parse(f, sources[f]));
  return {
    files,
    byPath: new Map(files.map((p) => [p.file, p])),
    config: { tasks: config.tasks ?? {}, imports: config.imports ?? {} },
  };
}

/** Reads and parses every `.ts` file under `root` outside `dist/`, `node_modules/`, `.*`. */
export async function readTree(root: URL): Promise<Tree> {
  const sources: Record<string, string> = {};
  const walk = async (rel: string) => {
    for await (const entry of Deno.readDir(new URL(rel === "" ? "." : rel, root))) {
      const path = `${rel}${entry.name}`;
      const skipped = entry.name.startsWith(".") || path === "dist" ||
        entry.name === "node_modules";
      if (skipped) continue;
      if (entry.isDirectory) await walk(`${path}/`);
      else if (entry.isFile && entry.name.endsWith(".ts")) {
        sources[path] = await Deno.readTextFile(new URL(path, root));
      }
    }
  };
  await walk("");
  const json = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
  return makeTree(sources, { tasks: json.tasks ?? {}, imports: json.imports ?? {} });
}

// -----------------------------------------------------------------------------------------------
// Reading one file.

const isImportCall = (node: ts.Node): node is ts.CallExpression =>
  ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword &&
  node.arguments.length === 1;

/** `new URL("./x.ts", import.meta.url)`: a module loaded by name. */
function moduleUrl(node: ts.Node, sf: ts.SourceFile): ts.StringLiteralLike | null {
  if (!ts.isNewExpression(node) || node.arguments?.length !== 2) return null;
  if (!ts.isIdentifier(node.expression) || node.expression.text !== "URL") return null;
  const [spec, base] = node.arguments;
  if (!ts.isStringLiteralLike(spec) || !spec.text.startsWith(".")) return null;
  if (!spec.text.endsWith(".ts") || base.getText(sf) !== "import.meta.url") return null;
  return spec;
}

function importNames(clause: ts.ImportClause | undefined): string[] {
  if (clause === undefined) return ["*"]; // a side-effect import
  const names = clause.name !== undefined ? ["default"] : [];
  const bindings = clause.namedBindings;
  if (bindings !== undefined && ts.isNamespaceImport(bindings)) names.push("*");
  else if (bindings !== undefined) {
    for (const e of bindings.elements) names.push((e.propertyName ?? e.name).text);
  }
  return names;
}

/** Every reference `file` makes to a module, in source order. */
function edgesOf(sf: ts.SourceFile, file: string): Edge[] {
  const out: Edge[] = [];
  const add = (spec: ts.StringLiteralLike, names: string[], kind: Edge["kind"]) =>
    out.push({
      target: resolveSpec(file, spec.text),
      spec: spec.text,
      names,
      kind,
      line: lineOf(sf, spec),
    });
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      add(node.moduleSpecifier, importNames(node.importClause), "static");
    } else if (
      ts.isExportDeclaration(node) && node.moduleSpecifier !== undefined &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      const clause = node.exportClause;
      const names = clause === undefined || ts.isNamespaceExport(clause)
        ? ["*"]
        : clause.elements.map((e) => (e.propertyName ?? e.name).text);
      add(node.moduleSpecifier, names, "static");
    } else if (isImportCall(node) && ts.isStringLiteralLike(node.arguments[0])) {
      add(node.arguments[0], ["*"], "dynamic");
    } else {
      const url = moduleUrl(node, sf);
      if (url !== null) add(url, [], "url");
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

const modifiers = (node: ts.Node) => ts.canHaveModifiers(node) ? ts.getModifiers(node) ?? [] : [];
const hasModifier = (node: ts.Node, kind: ts.SyntaxKind) =>
  modifiers(node).some((m) => m.kind === kind);

function bindingNames(name: ts.BindingName, out: string[] = []): string[] {
  if (ts.isIdentifier(name)) out.push(name.text);
  else {
    for (const e of name.elements) if (!ts.isOmittedExpression(e)) bindingNames(e.name, out);
  }
  return out;
}

/** The names a top-level statement declares, and whether each is a value or a type. */
function declared(st: ts.Statement): [string, "value" | "type"][] {
  if (ts.isVariableStatement(st)) {
    return st.declarationList.declarations.flatMap((d) =>
      bindingNames(d.name).map((n): [string, "value"] => [n, "value"])
    );
  }
  const named = ts.isFunctionDeclaration(st) || ts.isClassDeclaration(st) ||
    ts.isEnumDeclaration(st) || ts.isModuleDeclaration(st);
  if (named || ts.isInterfaceDeclaration(st) || ts.isTypeAliasDeclaration(st)) {
    const kind = named ? "value" : "type";
    const name = st.name !== undefined && ts.isIdentifier(st.name) ? st.name.text : "default";
    return [[name, kind]];
  }
  return [];
}

/** What every top-level name of `sf` is: declared here, or imported (and from where). */
function localNames(sf: ts.SourceFile, file: string): Map<string, ExportKind> {
  const out = new Map<string, ExportKind>();
  for (const st of sf.statements) {
    for (const [name, kind] of declared(st)) out.set(name, kind);
    if (!ts.isImportDeclaration(st) || !ts.isStringLiteral(st.moduleSpecifier)) continue;
    const target = resolveSpec(file, st.moduleSpecifier.text);
    const clause = st.importClause;
    if (clause === undefined) continue;
    const from = (name: string, typeOnly: boolean): ExportKind =>
      typeOnly || clause.isTypeOnly ? "type" : { target, name };
    if (clause.name !== undefined) out.set(clause.name.text, from("default", false));
    const bindings = clause.namedBindings;
    if (bindings !== undefined && ts.isNamespaceImport(bindings)) {
      out.set(bindings.name.text, from("*", false));
    } else if (bindings !== undefined) {
      for (const e of bindings.elements) {
        out.set(e.name.text, from((e.propertyName ?? e.name).text, e.isTypeOnly));
      }
    }
  }
  return out;
}

/** The names `export { ... }` (with or without `from`) and `export * as n from` export. */
function clauseExports(
  st: ts.ExportDeclaration,
  local: Map<string, ExportKind>,
  file: string,
  line: number,
): Export[] {
  const clause = st.exportClause;
  const from = st.moduleSpecifier !== undefined && ts.isStringLiteral(st.moduleSpecifier)
    ? resolveSpec(file, st.moduleSpecifier.text)
    : null;
  if (clause === undefined) return []; // `export * from`: names of its own, counted there
  if (ts.isNamespaceExport(clause)) return [{ name: clause.name.text, line, what: "value" }];
  return clause.elements.map((e) => {
    const inner = (e.propertyName ?? e.name).text;
    const what: ExportKind = st.isTypeOnly || e.isTypeOnly
      ? "type"
      : from !== null
      ? { target: from, name: inner }
      : local.get(inner) ?? "value";
    return { name: e.name.text, line, what };
  });
}

/** Every name `sf` exports: declarations, `export default`, `export { ... }`. */
function exportsOf(sf: ts.SourceFile, file: string): Export[] {
  const local = localNames(sf, file);
  const out: Export[] = [];
  for (const st of sf.statements) {
    const line = lineOf(sf, st);
    if (ts.isExportAssignment(st)) {
      if (!st.isExportEquals) out.push({ name: "default", line, what: "value" });
    } else if (ts.isExportDeclaration(st)) out.push(...clauseExports(st, local, file, line));
    else if (hasModifier(st, ts.SyntaxKind.ExportKeyword)) {
      const isDefault = hasModifier(st, ts.SyntaxKind.DefaultKeyword);
      for (const [name, what] of declared(st)) {
        out.push({ name: isDefault ? "default" : name, line, what });
      }
    }
  }
  return out;
}

// -----------------------------------------------------------------------------------------------
// Import cycles.

/** The import graph of the tree: edges (all but `url`) only between files of the tree. */
function importGraph(tree: Tree): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const p of tree.files) {
    const targets = p.edges.filter((e) => e.kind !== "url" && tree.byPath.has(e.target));
    graph.set(p.file, [...new Set(targets.map((e) => e.target))]);
  }
  return graph;
}

/** One cycle (`a -> b -> a`) through every strongly connected component of `graph`. */
function cycles(graph: Map<string, string[]>): string[] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[] = [];
  let next = 0;
  const connect = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component = new Set<string>();
    for (let w = stack.pop()!;; w = stack.pop()!) {
      onStack.delete(w);
      component.add(w);
      if (w === v) break;
    }
    const selfLoop = (graph.get(v) ?? []).includes(v);
    if (component.size > 1 || selfLoop) found.push(cycleThrough(v, component, graph));
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) connect(v);
  return found;
}

/** A shortest cycle from `start` back to itself inside `component` (breadth first). */
function cycleThrough(start: string, component: Set<string>, graph: Map<string, string[]>) {
  const parent = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of graph.get(v) ?? []) {
      if (!component.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let u = v; u !== start; u = parent.get(u)!) path.unshift(u);
        path.unshift(start);
        return path.join(" -> ");
      }
      if (!parent.has(w)) {
        parent.set(w, v);
        queue.push(w);
      }
    }
  }
  return start;
}

/** Rule: no import cycles (type-only imports included: the same tangle to a reader). */
export function cycleProblems(tree: Tree): string[] {
  return cycles(importGraph(tree)).map((c) => `import cycle: ${c}`);
}

// -----------------------------------------------------------------------------------------------
// Long functions.

/** Name of a function-like node for the exception list. */
function nameOf(node: ts.Node, outer: string): string | null {
  const n = (node as { name?: ts.Node }).name;
  const own = n !== undefined && (ts.isIdentifier(n) || ts.isPrivateIdentifier(n))
    ? n.text
    : ts.isConstructorDeclaration(node)
    ? "constructor"
    : null;
  if (own !== null) return outer === "" ? own : `${outer}.${own}`;
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name)) return parent.name.text;
  if (ts.isPropertyAssignment(parent) && ts.isIdentifier(parent.name)) {
    return outer === "" ? parent.name.text : `${outer}.${parent.name.text}`;
  }
  return null;
}

/**
 * Every function with a body (declarations, methods, accessors, constructors, function
 * expressions and arrows with a block body) in `p` and its length in lines, from its first
 * token to its closing brace. Named `fn`, `Class.method`, `object.method`, or
 * `outer/anonymous#n` for unnamed ones.
 */
function functionLengths(p: Parsed): { name: string; lines: number }[] {
  const out: { name: string; lines: number }[] = [];
  const anonymous = new Map<string, number>();
  const line = (pos: number) => p.sf.getLineAndCharacterOfPosition(pos).line;
  const visit = (node: ts.Node, outer: string) => {
    let inner = outer;
    if (ts.isClassDeclaration(node) && node.name !== undefined) inner = node.name.text;
    else if (
      ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) &&
      node.initializer !== undefined && ts.isObjectLiteralExpression(node.initializer)
    ) inner = node.name.text;
    else if (ts.isFunctionLike(node) && (node as { body?: ts.Node }).body !== undefined) {
      const body = (node as { body?: ts.Node }).body!;
      if (ts.isBlock(body)) {
        let name = nameOf(node, outer);
        if (name === null) {
          const base = `${outer === "" ? "(top)" : outer}/anonymous`;
          const k = (anonymous.get(base) ?? 0) + 1;
          anonymous.set(base, k);
          name = `${base}#${k}`;
        }
        out.push({ name, lines: line(node.getEnd()) - line(node.getStart(p.sf)) + 1 });
        inner = name;
      }
    }
    ts.forEachChild(node, (child) => visit(child, inner));
  };
  visit(p.sf, "");
  return out;
}

/**
 * Rule: no function outside tests over `max` lines unless `allowed` lists it (`file:name` ->
 * its length when listed). A listed function that grew, shrank or vanished fails too.
 */
export function lengthProblems(tree: Tree, allowed: Record<string, number>, max: number) {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const p of tree.files) {
    if (isTest(p.file)) continue;
    for (const f of functionLengths(p)) {
      const key = `${p.file}:${f.name}`;
      const listed = allowed[key];
      if (listed !== undefined) seen.add(key);
      if (listed === undefined && f.lines > max) {
        problems.push(`${key}: ${f.lines} lines (at most ${max}; split it)`);
      } else if (listed !== undefined && f.lines > listed) {
        problems.push(`${key}: grew to ${f.lines} lines (listed at ${listed}; split it)`);
      } else if (listed !== undefined && f.lines <= max) {
        problems.push(`${key}: ${f.lines} lines now; delete its entry in LONG_FUNCTIONS`);
      } else if (listed !== undefined && f.lines < listed) {
        problems.push(`${key}: ${f.lines} lines now; lower its LONG_FUNCTIONS entry to that`);
      }
    }
  }
  for (const key of Object.keys(allowed)) {
    if (!seen.has(key)) problems.push(`${key}: no such function; delete its LONG_FUNCTIONS entry`);
  }
  return problems;
}

// -----------------------------------------------------------------------------------------------
// Exports nobody imports.

/**
 * Entry points: every `.ts` file a `deno.json` task runs, and every module that code outside
 * tests loads by URL (a worker's module).
 */
export function entryPoints(tree: Tree): { files: Set<string>; problems: string[] } {
  const files = new Set<string>();
  const problems: string[] = [];
  for (const [task, command] of Object.entries(tree.config.tasks)) {
    for (const word of command.split(/\s+/)) {
      if (word.startsWith("-") || !word.endsWith(".ts")) continue;
      const file = word.replace(/^\.\//, "");
      if (tree.byPath.has(file)) files.add(file);
      else problems.push(`deno.json: task ${task} runs ${word}, which does not exist`);
    }
  }
  for (const p of tree.files) {
    if (isTest(p.file)) continue; // a test's child scripts import by name: UNSEEN_IMPORTERS
    for (const e of p.edges) if (e.kind === "url" && tree.byPath.has(e.target)) files.add(e.target);
  }
  return { files, problems };
}

/** Whether an export is a value, following re-exports through the tree. */
function isValue(tree: Tree, what: ExportKind, depth = 0): boolean {
  if (typeof what === "string") return what === "value";
  const from = tree.byPath.get(what.target);
  if (from === undefined || what.name === "*" || depth > 20) return true;
  const e = from.exports.find((x) => x.name === what.name);
  return e === undefined || isValue(tree, e.what, depth + 1);
}

/** Names every file takes from every other (path -> names; `*` for all). */
function usedNames(tree: Tree): Map<string, Set<string>> {
  const used = new Map<string, Set<string>>();
  for (const p of tree.files) {
    for (const e of p.edges) {
      if (e.target === p.file) continue;
      const set = used.get(e.target) ?? new Set<string>();
      for (const n of e.names) set.add(n);
      used.set(e.target, set);
    }
  }
  return used;
}

/** `a/*_b.ts:run` as a pattern: `*` stands for any run of characters but `/`. */
const globMatch = (glob: string, text: string) =>
  new RegExp(`^${glob.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replaceAll("*", "[^/]*")}$`)
    .test(text);

/**
 * Rule: every exported value has an importer, except in `mod.ts` files (the public API of the
 * library and of each folder; what they re-export counts as imported), entry points and tests.
 * `unseen` lists `file:name` entries (globs allowed) imported where the tree cannot see it,
 * each with where; an entry that matches nothing fails.
 */
export function unusedExportProblems(tree: Tree, unseen: Record<string, string>): string[] {
  const entries = entryPoints(tree);
  const used = usedNames(tree);
  const problems = [...entries.problems];
  const matched = new Set<string>();
  for (const p of tree.files) {
    const api = p.file === "mod.ts" || p.file.endsWith("/mod.ts");
    if (api || entries.files.has(p.file) || isTest(p.file)) continue;
    const names = used.get(p.file) ?? new Set<string>();
    if (names.has("*")) continue;
    for (const e of p.exports) {
      if (names.has(e.name) || !isValue(tree, e.what)) continue;
      const key = Object.keys(unseen).find((k) => globMatch(k, `${p.file}:${e.name}`));
      if (key !== undefined) matched.add(key);
      else problems.push(`${p.file}:${e.line}: ${e.name} is exported but nobody imports it`);
    }
  }
  for (const key of Object.keys(unseen)) {
    if (!matched.has(key)) {
      problems.push(`${key}: no unimported export matches; delete its UNSEEN_IMPORTERS entry`);
    }
  }
  return problems;
}

// -----------------------------------------------------------------------------------------------
// Layering.

/** The layer `file` belongs to: its rule and what it may import. `null`: no limits. */
function layerOf(file: string, config: Config) {
  const under = (...dirs: string[]) => (t: string) => dirs.some((d) => t.startsWith(d));
  const [top, second] = file.split("/");
  if (top === "core") return { rule: "core/ imports only core/", allows: under("core/") };
  if (top === "parts") {
    return { rule: "parts/ imports only core/ and parts/", allows: under("core/", "parts/") };
  }
  if (top === "actors") {
    const role = file.split("/").length > 2 ? `actors/${second}/` : "actors/<role>/";
    const rule = `${role} imports only core/, parts/ and ${role}`;
    return { rule, allows: under("core/", "parts/", role) };
  }
  if (top === "data") {
    const names = Object.keys(config.imports);
    const external = (t: string) =>
      t.startsWith("node:") || names.some((n) => n.endsWith("/") ? t.startsWith(n) : t === n);
    const own = under("core/", "data/");
    return {
      rule: "data/ imports only core/, data/, node: built-ins and deno.json's imports",
      allows: (t: string) => own(t) || external(t),
    };
  }
  return null;
}

/** `sim/a.ts -> net/b.ts` when the edge crosses between the two hosts, else `null`. */
function hostCrossing(file: string, target: string): string | null {
  const from = file.split("/")[0];
  const to = target.split("/")[0];
  const hosts = ["sim", "net"];
  return hosts.includes(from) && hosts.includes(to) && from !== to && target.includes("/")
    ? `${file} -> ${target}`
    : null;
}

/**
 * Rule: outside tests, `core/` imports only `core/`; `parts/` only `core/` and `parts/`;
 * `actors/<role>/` only `core/`, `parts/` and its own folder; `data/` only `core/`, `data/` and
 * packages; none of them `sim/` or `net/`; and `sim/` and `net/` do not import each other except
 * for the `crossings` listed (`from -> to`, each with why; an entry that matches nothing fails).
 */
export function layeringProblems(tree: Tree, crossings: Record<string, string>): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const p of tree.files) {
    if (isTest(p.file)) continue;
    const layer = layerOf(p.file, tree.config);
    for (const e of p.edges) {
      if (e.kind === "url") continue;
      const crossing = hostCrossing(p.file, e.target);
      if (crossing !== null && Object.hasOwn(crossings, crossing)) seen.add(crossing);
      else if (crossing !== null) {
        problems.push(`${p.file}:${e.line}: imports ${e.spec}; sim/ and net/ stay apart`);
      } else if (layer !== null && !layer.allows(e.target)) {
        const host = /^(sim|net)\//.test(e.target) ? " (never sim/ or net/)" : "";
        problems.push(`${p.file}:${e.line}: imports ${e.spec}; ${layer.rule}${host}`);
      }
    }
  }
  for (const key of Object.keys(crossings)) {
    if (!seen.has(key)) problems.push(`${key}: no such import; delete its SIM_NET_CROSSINGS entry`);
  }
  return problems;
}

// -----------------------------------------------------------------------------------------------
// Banned APIs.

/** Globals sans-IO code never names (a property or member of that name is fine). */
const BANNED_GLOBALS: Record<string, string> = {
  Date: "Date",
  Deno: "Deno.*",
  performance: "performance",
  Promise: "promises",
  setTimeout: "timers",
  setInterval: "timers",
  setImmediate: "timers",
  clearTimeout: "timers",
  clearInterval: "timers",
  queueMicrotask: "queueMicrotask",
  globalThis: "globalThis", // the way around every other entry
  process: "process",
};

/** Names banned wherever they appear, members included. */
const BANNED_NAMES: Record<string, string> = {
  getRandomValues: "platform entropy",
  randomUUID: "platform entropy",
  randomBytes: "platform entropy",
};

/** Whether identifier `node` names a member or a property rather than a variable. */
function isMemberName(node: ts.Identifier): boolean {
  const parent = node.parent;
  if (ts.isPropertyAccessExpression(parent)) return parent.name === node;
  if (ts.isQualifiedName(parent)) return parent.right === node;
  if (ts.isBindingElement(parent)) return parent.propertyName === node;
  const member = ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent) ||
    ts.isPropertySignature(parent) || ts.isMethodDeclaration(parent) ||
    ts.isMethodSignature(parent) || ts.isGetAccessor(parent) || ts.isSetAccessor(parent) ||
    ts.isEnumMember(parent);
  return member && parent.name === node;
}

/** What a banned use at `node` is, or `null`. */
function bannedAt(node: ts.Node): string | null {
  if (ts.isAwaitExpression(node) || ts.isForOfStatement(node) && node.awaitModifier) {
    return "await";
  }
  if (hasModifier(node, ts.SyntaxKind.AsyncKeyword)) return "async";
  if (ts.isIdentifier(node)) {
    if (Object.hasOwn(BANNED_NAMES, node.text)) return BANNED_NAMES[node.text];
    if (!isMemberName(node) && Object.hasOwn(BANNED_GLOBALS, node.text)) {
      return BANNED_GLOBALS[node.text];
    }
  }
  if (ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.expression)) {
    if (node.expression.text === "Math" && node.name.text === "random") return "Math.random";
  }
  if (ts.isCallExpression(node)) {
    const callee = node.expression;
    if (ts.isIdentifier(callee) && callee.text === "fetch") return "fetch";
    if (ts.isPropertyAccessExpression(callee) && callee.name.text === "then") return "promises";
  }
  return null;
}

/** Banned uses in one file: `line: what`. */
export function bannedUses(p: Parsed): string[] {
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    const what = bannedAt(node);
    if (what !== null) found.push(`${lineOf(p.sf, node)}: ${what}`);
    ts.forEachChild(node, visit);
  };
  visit(p.sf);
  return found;
}

/**
 * Rule: `core/`, `parts/` and `actors/` (tests aside) are deterministic and sans-IO: no
 * `await`/`async`, `Date`, `Math.random`, timers, `Deno.*`, `performance`, `fetch`, promises,
 * platform entropy, `globalThis` or `process`. Found by syntax: comments, strings and members
 * of the same name (`o.Date`, `{ fetch: 1 }`) are not uses.
 */
export function bannedProblems(tree: Tree): string[] {
  const problems: string[] = [];
  for (const p of tree.files) {
    if (isTest(p.file) || !/^(core|parts|actors)\//.test(p.file)) continue;
    for (const use of bannedUses(p)) problems.push(`${p.file}:${use}`);
  }
  return problems;
}

// -----------------------------------------------------------------------------------------------
// Sub-state ownership.

/** Methods that change the collection they are called on. */
const MUTATORS = new Set([
  "push",
  "pop",
  "shift",
  "unshift",
  "splice",
  "sort",
  "reverse",
  "fill",
  "copyWithin",
  "set",
  "add",
  "delete",
  "clear",
]);

/** The expression a node writes to, if it is a write (assignment, `++`/`--`, a mutator call). */
function writtenBy(node: ts.Node): ts.Expression | null {
  if (ts.isBinaryExpression(node)) {
    const op = node.operatorToken.kind;
    const assigns = op >= ts.SyntaxKind.FirstAssignment && op <= ts.SyntaxKind.LastAssignment;
    return assigns ? node.left : null;
  }
  if (ts.isPrefixUnaryExpression(node) || ts.isPostfixUnaryExpression(node)) {
    const op = node.operator;
    const steps = op === ts.SyntaxKind.PlusPlusToken || op === ts.SyntaxKind.MinusMinusToken;
    return steps ? node.operand : null;
  }
  if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression)) {
    return MUTATORS.has(node.expression.name.text) ? node.expression.expression : null;
  }
  return null;
}

/**
 * Rule: in `folder`, a sub-state of the actor's state (`s.<sub>...`, `s` the state's name in
 * every function) is written only by the files `owners` names for it: an assignment, `++`/`--`
 * or a mutating method call on a path through it anywhere else fails. Writes through a local
 * alias (`const p = s.family.positions[i]; p.online = true`) are not seen; the rule keeps the
 * visible ones honest. Tests aside.
 */
export function ownershipProblems(
  tree: Tree,
  folder: string,
  owners: Record<string, string[]>,
  state = "s",
): string[] {
  const problems: string[] = [];
  for (const p of tree.files) {
    if (isTest(p.file) || !p.file.startsWith(folder)) continue;
    const name = p.file.slice(folder.length);
    const visit = (node: ts.Node) => {
      const target = writtenBy(node);
      if (target !== null) {
        // The first member after the state variable names the sub-state.
        const path: string[] = [];
        let e: ts.Expression = target;
        while (ts.isPropertyAccessExpression(e) || ts.isElementAccessExpression(e)) {
          if (ts.isPropertyAccessExpression(e)) path.unshift(e.name.text);
          e = e.expression;
        }
        const sub = ts.isIdentifier(e) && e.text === state ? path[0] : undefined;
        if (sub !== undefined && sub in owners && !owners[sub].includes(name)) {
          problems.push(
            `${p.file}:${lineOf(p.sf, node)}: writes ${state}.${sub} (owned by ` +
              `${owners[sub].join(", ")})`,
          );
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(p.sf);
  }
  return problems;
}

// -----------------------------------------------------------------------------------------------
// Names, lines and headers.

/**
 * Rule: snake_case file and folder names (`_name.ts` for private helpers), `mod.ts` never
 * `index.ts`, lines of at most 100 columns (files that open with `// @generated` aside).
 */
export function nameProblems(tree: Tree): string[] {
  const problems: string[] = [];
  for (const p of tree.files) {
    const parts = p.file.split("/");
    const name = parts.pop()!;
    if (!/^_?[a-z0-9]+(_[a-z0-9]+)*\.ts$/.test(name)) problems.push(`${p.file}: not snake_case`);
    if (name === "index.ts") problems.push(`${p.file}: use mod.ts`);
    for (const dir of parts) {
      if (!/^[a-z0-9]+(_[a-z0-9]+)*$/.test(dir)) problems.push(`${p.file}: folder ${dir}`);
    }
    const text = p.sf.text;
    if (text.startsWith("// @generated")) continue; // embedded binaries and the like
    text.split("\n").forEach((line, n) => {
      if (line.length > 100) problems.push(`${p.file}:${n + 1}: ${line.length} columns`);
    });
  }
  return problems;
}

/** Rule: every `mod.ts` (the root's, `parts/mod.ts`, ...) opens with a `@module` doc comment. */
export function headerProblems(tree: Tree): string[] {
  const problems: string[] = [];
  for (const p of tree.files) {
    if (p.file !== "mod.ts" && !p.file.endsWith("/mod.ts")) continue;
    const text = p.sf.text;
    const comments = ts.getLeadingCommentRanges(text, 0) ?? [];
    const header = comments.some((c) =>
      text.startsWith("/**", c.pos) && /@module\b/.test(text.slice(c.pos, c.end))
    );
    if (!header) {
      problems.push(`${p.file}: no module header (open with a /** ... @module */ comment)`);
    }
  }
  return problems;
}
