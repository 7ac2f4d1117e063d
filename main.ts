/**
 * The `bitdust` command line: one binary, a subcommand per role and per user action.
 *
 * @module
 */

if (import.meta.main) {
  console.error("bitdust: no subcommands yet");
  Deno.exit(2);
}
