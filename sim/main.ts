/**
 * `deno task sim [flags]`: runs a whole network in one process and reports what happened.
 *
 * Flags are in `sim/flags.ts` (and `--help`). Progress goes to stderr only when stderr is a
 * terminal; the report table goes to stdout, and with `--json PATH` to a file as well. Bad flags
 * print one line and exit 2; a failure of the simulation itself prints the seed and exits 1.
 * With `--impostors R`, `check.impostorsAccepted` counts impostor messages a node acted on; it
 * is a finding (the report says which kinds in `impostors.acceptedKinds`), not a crash.
 *
 * @module
 */

import { FlagError, flagsHelp, parseFlags, type SimFlags } from "./flags.ts";
import { runDemo } from "./demo_workload.ts";
import { runStorage } from "./storage/run.ts";
import { formatTable, type Report } from "./report.ts";
import { SimulationError } from "./simulator.ts";

/**
 * The command line checks each node's invariants after every 8th of its steps (and every node
 * in full at the end of the run); `--check-every 1` checks after every step, as every test and
 * the swarm do. The checks after every step cost about a tenth of the default run.
 */
const CLI_CHECK_EVERY = 8;

function progressPrinter(quiet: boolean): ((done: number, events: number) => void) | undefined {
  if (quiet || !Deno.stderr.isTerminal()) return undefined;
  const encoder = new TextEncoder();
  let last = 0;
  return (done, events) => {
    const now = performance.now();
    if (now - last < 200 && done < 1) return;
    last = now;
    const line = `\r${(done * 100).toFixed(0).padStart(3)}%  ${
      events.toLocaleString("en-US")
    } events`;
    Deno.stderr.writeSync(encoder.encode(done >= 1 ? `${line}\n` : line));
  };
}

function parameters(flags: SimFlags): Report {
  return {
    seed: flags.seed,
    nodes: flags.nodes,
    churn: flags.churn,
    downtimeHours: flags.downtimeHours,
    permanent: flags.permanent,
    days: flags.days,
    ecc: flags.ecc,
    customers: flags.customers,
    filesPerUser: flags.files,
    fileSize: flags.fileSize,
    noRepair: !flags.repair,
    probeMinutes: flags.probeMinutes,
    fireAfterHours: flags.fireAfterHours,
    auditHours: flags.auditHours,
    impostorsPerHour: flags.impostors,
    nat: flags.nat,
    routerShare: flags.routers,
    checkEvery: flags.checkEvery,
  };
}

async function main(args: string[]): Promise<number> {
  let flags: SimFlags;
  try {
    flags = parseFlags([`--check-every=${CLI_CHECK_EVERY}`, ...args]);
  } catch (e) {
    if (e instanceof FlagError) {
      console.error(`sim: ${e.message}`);
      return 2;
    }
    throw e;
  }
  if (flags.help) {
    console.log(flagsHelp());
    return 0;
  }
  if (flags.workload === "demo" && flags.impostors > 0) {
    console.error("sim: --impostors attacks the storage workload; drop it or --workload demo");
    return 2;
  }
  const started = performance.now();
  let body: Report;
  try {
    const progress = progressPrinter(flags.quiet);
    body = flags.workload === "demo"
      ? runDemo(flags, progress)
      : runStorage(flags, flags, progress);
  } catch (e) {
    if (e instanceof FlagError) {
      console.error(`sim: ${e.message}`);
      return 2;
    }
    if (e instanceof SimulationError) {
      console.error(`sim: simulation failed; reproduce with --seed ${JSON.stringify(e.seed)}`);
      console.error(`sim: ${e.message}`);
      if (e.cause instanceof Error && e.cause.stack) console.error(e.cause.stack);
      return 1;
    }
    throw e;
  }
  const report: Report = {
    workload: flags.workload,
    ...parameters(flags),
    ...body,
    wallMs: Math.round(performance.now() - started),
  };
  console.log(formatTable(report));
  if (flags.json !== null) {
    try {
      await Deno.writeTextFile(flags.json, JSON.stringify(report, null, 2) + "\n");
    } catch (e) {
      console.error(`sim: cannot write the report to ${flags.json}: ${(e as Error).message}`);
      return 1;
    }
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
