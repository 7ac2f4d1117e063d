/**
 * The `bitdust` command line: one binary, a subcommand per role and per user action.
 *
 * Each subcommand lives in its own module under `net/cli/` and exports
 * `run(args: string[]): Promise<number>` returning the exit code. User errors print one line on
 * stderr and exit non-zero, without a stack trace.
 *
 * @module
 */

import { isJobWorker } from "./net/job_worker.ts";

type Command = { summary: string; load: () => Promise<{ run(args: string[]): Promise<number> }> };

/** Every subcommand, in the order `bitdust help` lists them. */
const commands: Record<string, Command> = {
  init: {
    summary: "create your identity and keys and publish them to ID servers",
    load: () => import("./net/cli/init.ts"),
  },
  daemon: {
    summary: "run your node (keeps your data alive; the other commands talk to it)",
    load: () => import("./net/cli/daemon.ts"),
  },
  backup: {
    summary: "back up a file or folder as a new version",
    load: () => import("./net/cli/backup.ts"),
  },
  ls: { summary: "list versions and their files", load: () => import("./net/cli/ls.ts") },
  restore: {
    summary: "restore a version or a file into a new folder",
    load: () => import("./net/cli/restore.ts"),
  },
  delete: { summary: "delete a version", load: () => import("./net/cli/delete.ts") },
  jobs: {
    summary: "running backups and restores, with progress",
    load: () => import("./net/cli/jobs.ts"),
  },
  cancel: {
    summary: "cancel a running backup or restore",
    load: () => import("./net/cli/cancel.ts"),
  },
  status: {
    summary: "your suppliers and the health of your data",
    load: () => import("./net/cli/status.ts"),
  },
  suppliers: { summary: "your suppliers", load: () => import("./net/cli/suppliers.ts") },
  key: {
    summary: "export or import your keys (passphrase-protected)",
    load: () => import("./net/cli/key.ts"),
  },
  supplier: { summary: "lend disk space to users", load: () => import("./net/cli/supplier.ts") },
  idserver: {
    summary: "host identity documents and the supplier directory over HTTP",
    load: () => import("./net/cli/idserver.ts"),
  },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`);
  return ["usage: bitdust <command> [flags]", "", "commands:", ...lines].join("\n");
}

/**
 * Makes relative paths mean the caller's directory. `deno task bitdust` runs this module with
 * the checkout as its working directory and says in `INIT_CWD` where the command was typed
 * (npm's `npx` sets it the same way); without this, `backup .` inside a subfolder would back
 * up the whole checkout. Only that exact case moves: started anywhere but the checkout's root,
 * the working directory is already the caller's, whatever a parent process left in `INIT_CWD`.
 */
function enterCallerDirectory(): void {
  const caller = Deno.env.get("INIT_CWD");
  if (caller === undefined || caller === "" || !import.meta.url.startsWith("file:")) return;
  const here = decodeURIComponent(new URL(".", import.meta.url).pathname).replace(/\/$/, "");
  if (Deno.cwd() !== here || caller === here) return;
  try {
    Deno.chdir(caller);
  } catch (e) {
    console.error(`bitdust: cannot enter ${caller}, where the command was typed: ${e}`);
    Deno.exit(1);
  }
}

async function main(args: string[]): Promise<number> {
  enterCallerDirectory();
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

// Inside a job worker (the pool starts workers on this very module) `net/job_worker.ts` has
// already installed the job loop on import; the command line runs only in the main thread.
if (import.meta.main && !isJobWorker()) {
  Deno.exit(await main(Deno.args));
}
