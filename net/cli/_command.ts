/**
 * What every `bitdust` subcommand shares: flag parsing and the one-line error rules.
 *
 * - A bad command line is a {@link UsageError}: `bitdust <cmd>: <what is wrong>`, exit 2.
 * - A condition the user can act on is a {@link CliError}: `bitdust <cmd>: <sentence>`, exit 1
 *   (or the error's own code).
 * - Anything else is a bug of ours: the stack is printed, exit 70.
 *
 * @module
 */

/** A bad command line. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** A failure the user can understand and act on; `message` is the one line to print. */
export class CliError extends Error {
  override name = "CliError";
  constructor(message: string, readonly code = 1) {
    super(message);
  }
}

/** How one flag is parsed. */
export interface FlagSpec {
  /** `string` takes a value; `boolean` takes none. */
  kind: "string" | "boolean";
  /** Shown in usage lines. */
  help: string;
}

/** Parsed flags and the positional arguments. */
export interface Parsed {
  flags: Record<string, string | boolean | undefined>;
  positional: string[];
}

/** Parses `--flag value`, `--flag=value` and boolean `--flag`; refuses unknown flags. */
export function parseArgs(args: readonly string[], spec: Record<string, FlagSpec>): Parsed {
  const flags: Parsed["flags"] = {};
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      positional.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith("--") || arg === "--") {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const s = spec[name];
    if (s === undefined) throw new UsageError(`unknown flag --${name}`);
    if (s.kind === "boolean") {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      flags[name] = true;
      continue;
    }
    const value = eq >= 0 ? arg.slice(eq + 1) : args[++i];
    if (value === undefined || value === "") throw new UsageError(`--${name} needs a value`);
    flags[name] = value;
  }
  return { flags, positional };
}

/** A port number flag: 0–65535. */
export function portFlag(value: string | boolean | undefined, name: string, fallback: number) {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== "string" || !/^\d+$/.test(value) || n > 65535) {
    throw new UsageError(`--${name} must be a whole number from 0 to 65535, got '${value}'`);
  }
  return n;
}

/** A size flag: bytes, or with a suffix K/M/G/T (binary) or KiB/MiB/GiB/TiB. */
export function sizeFlag(value: string, name: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(k|kib|kb|m|mib|mb|g|gib|gb|t|tib|tb)?$/i.exec(value.trim());
  if (m === null) throw new UsageError(`--${name} must be a size like 10GiB, got '${value}'`);
  const unit = (m[2] ?? "").toLowerCase()[0] ?? "";
  const scale = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[unit] ?? 1;
  const n = Math.floor(Number(m[1]) * scale);
  if (!Number.isSafeInteger(n) || n <= 0) throw new UsageError(`--${name} is out of range`);
  return n;
}

/** A duration flag: `500ms`, `30s`, `10m`, `24h`, `7d` (a bare number is seconds). */
export function durationFlag(value: string | boolean | undefined, name: string, fallback: number) {
  if (value === undefined) return fallback;
  const m = typeof value === "string" ? /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(value.trim()) : null;
  if (m === null) throw new UsageError(`--${name} must be a duration like 30s, 10m or 24h`);
  const scale = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? "s"]!;
  const ms = Math.round(Number(m[1]) * scale);
  if (!(ms >= 1 && ms <= 365 * 86_400_000)) throw new UsageError(`--${name} is out of range`);
  return ms;
}

/** Runs a subcommand body with the error rules above; returns the exit code. */
export async function runCommand(name: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`bitdust ${name}: ${e.message}; see 'bitdust ${name} --help'`);
      return 2;
    }
    if (e instanceof CliError) {
      console.error(`bitdust ${name}: ${e.message}`);
      return e.code;
    }
    console.error(`bitdust ${name}: internal error (a bug; please report it):`);
    console.error(e instanceof Error ? e.stack ?? e.message : String(e));
    return 70;
  }
}

/** Resolves when the process gets SIGINT or SIGTERM. */
export function stopSignal(): { done: Promise<string>; remove(): void } {
  let resolve: (s: string) => void = () => {};
  const done = new Promise<string>((r) => resolve = r);
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  const handlers = signals.map((s) => [s, () => resolve(s)] as const);
  for (const [s, h] of handlers) Deno.addSignalListener(s, h);
  return { done, remove: () => handlers.forEach(([s, h]) => Deno.removeSignalListener(s, h)) };
}
