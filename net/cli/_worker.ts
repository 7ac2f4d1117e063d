/**
 * Where the CLI's job workers load their code from.
 *
 * `main.ts` doubles as the worker's module: run inside a worker it starts the job loop instead
 * of the command line. So the pool points workers at the program's own entry (`Deno.mainModule`:
 * `main.ts` from sources, `dist/bitdust.js` from the bundle), which works the same way from a
 * source checkout, a bundle or a compiled binary.
 *
 * @module
 */

/** The module job workers should load. */
export function workerUrl(): string {
  return Deno.mainModule;
}
