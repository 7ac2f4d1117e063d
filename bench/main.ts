/**
 * `deno task bench [name...]`: runs every `bench/*_bench.ts` (or the named ones) in turn.
 *
 * Each benchmark module exports `run(): Promise<void>` and prints its figures next to a baseline
 * measured in the same run, as a ratio, so numbers from a noisy shared machine stay comparable.
 *
 * @module
 */

const dir = new URL(".", import.meta.url);
const wanted = new Set(Deno.args);
const names: string[] = [];
for await (const entry of Deno.readDir(dir)) {
  if (entry.isFile && entry.name.endsWith("_bench.ts")) names.push(entry.name);
}
names.sort();
for (const name of names) {
  const short = name.replace(/_bench\.ts$/, "");
  if (wanted.size > 0 && !wanted.has(short)) continue;
  console.log(`\n## ${short}`);
  const module = await import(new URL(name, dir).href);
  await module.run();
}
