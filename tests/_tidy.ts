/**
 * The syntax-aware half of tidy: parses every source file with the TypeScript compiler (parse
 * only, no type checking) and answers three questions about the tree.
 *
 * - `importGraph`: which file imports which (static imports, `export ... from`, dynamic
 *   `import("...")`, type-only imports included: STYLE.md forbids circular imports, and a type
 *   cycle is the same tangle of modules to a reader); `cycles` finds its strongly connected
 *   components (Tarjan) and prints one cycle through each.
 * - `functionLengths`: every function with a body (declarations, methods, accessors,
 *   constructors, function expressions and arrows with a block body) and its length in lines,
 *   from the line of its first token to the line of its closing brace. Named as `fn`,
 *   `Class.method`, `object.method` or `outer/anonymous#n` for unnamed ones.
 * - `exportedValues` and `importedNames`: the values (functions, consts, classes, enums) a
 *   module exports, and the names every module takes from every other. Types are left out: a
 *   type with no importer is still part of the signature of an exported value.
 *
 * @module
 */

import ts from "typescript";

/** One parsed file: its project-relative path and syntax tree. */
export interface Parsed {
  file: string;
  sf: ts.SourceFile;
}

/** Parses `text` as the file `file` (syntax only). */
export function parse(file: string, text: string): Parsed {
  return { file, sf: ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true) };
}

/** Resolves a relative specifier against `file` (both project-relative); others unchanged. */
export function resolveSpec(file: string, spec: string): string {
  if (!spec.startsWith(".")) return spec;
  const parts = file.split("/").slice(0, -1);
  for (const p of spec.split("/")) {
    if (p === "..") parts.pop();
    else if (p !== ".") parts.push(p);
  }
  return parts.join("/");
}

/** Every module specifier `p` imports or re-exports from, resolved. */
export function importsOf(p: Parsed): string[] {
  const out: string[] = [];
  const visit = (node: ts.Node) => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier !== undefined && ts.isStringLiteral(node.moduleSpecifier)
    ) {
      out.push(resolveSpec(p.file, node.moduleSpecifier.text));
    } else if (
      ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments.length === 1 && ts.isStringLiteral(node.arguments[0])
    ) {
      out.push(resolveSpec(p.file, node.arguments[0].text));
    }
    ts.forEachChild(node, visit);
  };
  visit(p.sf);
  return out;
}

/** The import graph of `files`: edges only between files of the set. */
export function importGraph(files: Parsed[]): Map<string, string[]> {
  const known = new Set(files.map((p) => p.file));
  const graph = new Map<string, string[]>();
  for (const p of files) graph.set(p.file, [...new Set(importsOf(p))].filter((t) => known.has(t)));
  return graph;
}

/** One cycle (`a -> b -> a`) through every strongly connected component of `graph`. */
export function cycles(graph: Map<string, string[]>): string[] {
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

/** Every function with a body in `p` and its length in lines. */
export function functionLengths(p: Parsed): { name: string; lines: number }[] {
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

const hasExport = (node: ts.Node) =>
  ts.canHaveModifiers(node) &&
  (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);

/** The values `p` exports by declaration (not re-exports): functions, consts, classes, enums. */
export function exportedValues(p: Parsed): string[] {
  const out: string[] = [];
  for (const st of p.sf.statements) {
    if (!hasExport(st)) continue;
    if (ts.isFunctionDeclaration(st) || ts.isClassDeclaration(st) || ts.isEnumDeclaration(st)) {
      if (st.name !== undefined) out.push(st.name.text);
    } else if (ts.isVariableStatement(st)) {
      for (const d of st.declarationList.declarations) {
        if (ts.isIdentifier(d.name)) out.push(d.name.text);
      }
    }
  }
  return out;
}

/**
 * The names `p` takes from each module (resolved path -> names); `*` when it takes everything
 * (a namespace import or `export * from`).
 */
export function importedNames(p: Parsed): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const add = (target: string, name: string) => {
    let names = out.get(target);
    if (names === undefined) out.set(target, names = new Set());
    names.add(name);
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const target = resolveSpec(p.file, node.moduleSpecifier.text);
      const clause = node.importClause;
      if (clause?.name !== undefined) add(target, "default");
      const bindings = clause?.namedBindings;
      if (bindings !== undefined && ts.isNamespaceImport(bindings)) add(target, "*");
      else if (bindings !== undefined) {
        for (const e of bindings.elements) add(target, (e.propertyName ?? e.name).text);
      }
      if (clause === undefined) add(target, "*"); // a side-effect import
    } else if (
      ts.isExportDeclaration(node) && node.moduleSpecifier !== undefined &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      const target = resolveSpec(p.file, node.moduleSpecifier.text);
      const clause = node.exportClause;
      if (clause === undefined || ts.isNamespaceExport(clause)) add(target, "*");
      else for (const e of clause.elements) add(target, (e.propertyName ?? e.name).text);
    } else if (
      ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments.length === 1 && ts.isStringLiteral(node.arguments[0])
    ) {
      add(resolveSpec(p.file, node.arguments[0].text), "*");
    }
    ts.forEachChild(node, visit);
  };
  visit(p.sf);
  return out;
}
