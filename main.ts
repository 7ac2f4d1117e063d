/**
 * The `bitdust` command line: one binary, a subcommand per role and per user action.
 *
 * Each subcommand lives in its own module under `net/cli/` and exports
 * `run(args: string[]): Promise<number>` returning the exit code. User errors print one line on
 * stderr and exit non-zero, without a stack trace.
 *
 * @module
 */

type Command = { summary: string; load: () => Promise<{ run(args: string[]): Promise<number> }> };

/** Every subcommand, in the order `bitdust help` lists them. */
const commands: Record<string, Command> = {
  idserver: {
    summary: "host identity documents and the supplier directory over HTTP",
    load: () => import("./net/cli/idserver.ts"),
  },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`);
  return ["usage: bitdust <command> [flags]", "", "commands:", ...lines].join("\n");
}

async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (command === undefined) {
    console.error(`bitdust: unknown command '${name}'; run 'bitdust help' for the list`);
    return 2;
  }
  const module = await command.load();
  return await module.run(rest);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
