/**
 * Command-line flags of `deno task sim`, parsed and validated into {@link SimFlags}.
 *
 * Every flag is optional. Values may be given as `--flag value` or `--flag=value`. A bad value
 * produces a {@link FlagError} whose message is one line naming the flag, what it takes, and what
 * was given; `sim/main.ts` prints it and exits with code 2.
 *
 * @module
 */

import { SIM_NODES_MAX } from "../core/limits.ts";

/** Everything a simulation run is configured with from the command line. */
export interface SimFlags {
  nodes: number;
  churn: number;
  downtimeHours: number;
  permanent: number;
  days: number;
  ecc: string;
  customers: number;
  files: number;
  fileSize: number;
  seed: number | string;
  repair: boolean;
  probeMinutes: number;
  fireAfterHours: number;
  auditHours: number;
  /** Impostor messages per simulated hour across the network (0: none). */
  impostors: number;
  /** Share of users and suppliers behind NAT: they can dial out but cannot be dialed. */
  nat: number;
  /** Share of nodes that are routers (at least one when `nat` > 0). */
  routers: number;
  /**
   * Each node's invariants run after every `checkEvery`-th of its steps, and on every node at
   * the end of the run (1: after every step, the default here and in every test; the
   * `deno task sim` command line samples, see `CLI_CHECK_EVERY` in sim/main.ts).
   */
  checkEvery: number;
  workload: "storage" | "demo";
  json: string | null;
  quiet: boolean;
  help: boolean;
}

/** The defaults of DESIGN.md ("The simulator"). */
export const DEFAULT_FLAGS: SimFlags = {
  nodes: 500,
  churn: 0.2,
  downtimeHours: 12,
  permanent: 0.1,
  days: 30,
  ecc: "rs:4+4",
  customers: 0.2,
  files: 4,
  fileSize: 262_144,
  seed: 1,
  repair: true,
  probeMinutes: 10,
  fireAfterHours: 24,
  auditHours: 24,
  impostors: 0,
  nat: 0.5,
  routers: 0.02,
  checkEvery: 1,
  workload: "storage",
  json: null,
  quiet: false,
  help: false,
};

/** A bad command line: the message is the one line to show the user. */
export class FlagError extends Error {
  override name = "FlagError";
}

type Setter = (flags: SimFlags, value: string, name: string) => void;
interface FlagSpec {
  takesValue: boolean;
  help: string;
  set: Setter;
}

function number(
  key:
    | "churn"
    | "downtimeHours"
    | "permanent"
    | "days"
    | "customers"
    | "probeMinutes"
    | "fireAfterHours"
    | "auditHours"
    | "impostors"
    | "nat"
    | "routers",
  min: number,
  max: number,
  minExclusive = false,
): Setter {
  return (flags, value, name) => {
    const n = value.trim() === "" ? NaN : Number(value);
    const low = minExclusive ? n > min : n >= min;
    if (!Number.isFinite(n) || !low || n > max) {
      const range = max === Infinity
        ? `${minExclusive ? ">" : ">="} ${min}`
        : `between ${min} and ${max}`;
      throw new FlagError(`--${name} must be a number ${range}, got '${value}'`);
    }
    flags[key] = n;
  };
}

function integer(key: "nodes" | "files" | "fileSize", min: number, max: number): Setter {
  return (flags, value, name) => {
    const n = parseSize(value);
    if (n === null || n < min || n > max) {
      throw new FlagError(`--${name} must be a whole number from ${min} to ${max}, got '${value}'`);
    }
    flags[key] = n;
  };
}

/** A whole number, optionally with a binary suffix (`4KiB`, `1MiB`, `2GiB`, or `K`/`M`/`G`). */
export function parseSize(value: string): number | null {
  const m = /^(\d+)\s*(k|kib|m|mib|g|gib)?$/i.exec(value.trim());
  if (m === null) return null;
  const unit = (m[2] ?? "").toLowerCase()[0];
  const scale = unit === "k" ? 1024 : unit === "m" ? 1024 ** 2 : unit === "g" ? 1024 ** 3 : 1;
  const n = Number(m[1]) * scale;
  return Number.isSafeInteger(n) ? n : null;
}

/** Checks an ECC scheme string: `rs:K+M` (K ≥ 1, M ≥ 0, K+M ≤ 256) or `mirror:N` (1..256). */
export function checkEcc(value: string): string | null {
  const rs = /^rs:(\d{1,3})\+(\d{1,3})$/.exec(value);
  if (rs !== null) {
    const k = Number(rs[1]);
    const m = Number(rs[2]);
    return k >= 1 && k + m <= 256 ? null : "rs:K+M needs K >= 1 and K+M <= 256";
  }
  const mirror = /^mirror:(\d{1,3})$/.exec(value);
  if (mirror !== null) {
    const n = Number(mirror[1]);
    return n >= 1 && n <= 256 ? null : "mirror:N needs 1 <= N <= 256";
  }
  return "expected rs:K+M or mirror:N";
}

const SPECS: Record<string, FlagSpec> = {
  nodes: {
    takesValue: true,
    help: "nodes in the network",
    set: integer("nodes", 2, SIM_NODES_MAX),
  },
  churn: {
    takesValue: true,
    help: "offline events per node per simulated day",
    set: number("churn", 0, 1000),
  },
  "downtime-hours": {
    takesValue: true,
    help: "mean offline spell, hours (exponential)",
    set: number("downtimeHours", 0, 1e6, true),
  },
  permanent: {
    takesValue: true,
    help: "share of offline spells that are departures for good",
    set: number("permanent", 0, 1),
  },
  days: { takesValue: true, help: "simulated duration, days", set: number("days", 0, 3650, true) },
  ecc: {
    takesValue: true,
    help: "erasure-coding scheme: rs:K+M or mirror:N",
    set: (flags, value, name) => {
      const problem = checkEcc(value);
      if (problem !== null) throw new FlagError(`--${name} ${problem}, got '${value}'`);
      flags.ecc = value;
    },
  },
  customers: {
    takesValue: true,
    help: "share of nodes that are users",
    set: number("customers", 0, 1, true),
  },
  files: { takesValue: true, help: "files per user", set: integer("files", 0, 100_000) },
  "file-size": {
    takesValue: true,
    help: "bytes per file (suffixes KiB, MiB, GiB)",
    set: integer("fileSize", 0, 1024 ** 3),
  },
  seed: {
    takesValue: true,
    help: "run seed (an integer or any string)",
    set: (flags, value, name) => {
      if (value === "") throw new FlagError(`--${name} needs a value`);
      flags.seed = /^\d{1,15}$/.test(value) ? Number(value) : value;
    },
  },
  "no-repair": {
    takesValue: false,
    help: "monitoring and rebuilding off (the baseline)",
    set: (flags) => void (flags.repair = false),
  },
  "probe-minutes": {
    takesValue: true,
    help: "minutes between a user's probes of each supplier",
    set: number("probeMinutes", 0, 1e6, true),
  },
  "fire-after-hours": {
    takesValue: true,
    help: "hours of silence after which a user fires a supplier",
    set: number("fireAfterHours", 0, 1e6, true),
  },
  "audit-hours": {
    takesValue: true,
    help: "hours between two audits of the same supplier",
    set: number("auditHours", 0, 1e6, true),
  },
  impostors: {
    takesValue: true,
    help: "impostor messages per simulated hour (names claimed under other keys)",
    set: number("impostors", 0, 1e6),
  },
  nat: {
    takesValue: true,
    help: "share of users and suppliers behind NAT (reached through routers)",
    set: number("nat", 0, 1),
  },
  routers: {
    takesValue: true,
    help: "share of nodes that are routers",
    set: number("routers", 0, 0.5),
  },
  "check-every": {
    takesValue: true,
    help: "run each node's invariants after every Nth of its steps, and all at the end",
    set: (flags, value, name) => {
      const n = Number(value);
      if (value.trim() === "" || !Number.isInteger(n) || n < 1 || n > 1_000_000) {
        throw new FlagError(`--${name} must be a whole number from 1 to 1000000, got '${value}'`);
      }
      flags.checkEvery = n;
    },
  },
  workload: {
    takesValue: true,
    help: "what to run: storage, or demo (the kernel's heartbeat actors)",
    set: (flags, value, name) => {
      if (value !== "storage" && value !== "demo") {
        throw new FlagError(`--${name} must be storage or demo, got '${value}'`);
      }
      flags.workload = value;
    },
  },
  json: {
    takesValue: true,
    help: "write the report as JSON to this path",
    set: (flags, value, name) => {
      if (value === "") throw new FlagError(`--${name} needs a file path`);
      flags.json = value;
    },
  },
  quiet: { takesValue: false, help: "print only the report", set: (f) => void (f.quiet = true) },
  help: { takesValue: false, help: "show this help", set: (f) => void (f.help = true) },
};

/** Parses `args`; throws {@link FlagError} with a one-line message on any problem. */
export function parseFlags(args: readonly string[]): SimFlags {
  const flags: SimFlags = { ...DEFAULT_FLAGS };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "-h") {
      flags.help = true;
      continue;
    }
    if (!arg.startsWith("--")) {
      throw new FlagError(`unexpected argument '${arg}'; flags start with --`);
    }
    const eq = arg.indexOf("=");
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    const spec = SPECS[name];
    if (spec === undefined) throw new FlagError(`unknown flag --${name}; see --help`);
    if (!spec.takesValue) {
      if (eq >= 0) throw new FlagError(`--${name} takes no value`);
      spec.set(flags, "", name);
      continue;
    }
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (i + 1 < args.length) value = args[++i];
    else throw new FlagError(`--${name} needs a value`);
    spec.set(flags, value, name);
  }
  return flags;
}

/** The `--help` text. */
export function flagsHelp(): string {
  const lines = Object.entries(SPECS).map(([name, spec]) => {
    const shown = spec.takesValue ? `--${name} V` : `--${name}`;
    const key = name.replace(/-(\w)/g, (_, c: string) => c.toUpperCase()) as keyof SimFlags;
    const value = DEFAULT_FLAGS[key];
    const def = spec.takesValue && value !== null ? ` (default ${value})` : "";
    return `  ${shown.padEnd(22)} ${spec.help}${def}`;
  });
  return ["usage: deno task sim [flags]", "", ...lines].join("\n");
}
