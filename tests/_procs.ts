/**
 * Test helpers for end-to-end tests: real `bitdust` processes on 127.0.0.1, their output, and
 * clean shutdown (every process is killed and reaped when the test ends).
 *
 * @module
 */

const ROOT = new URL("../", import.meta.url);

/** How to start bitdust: from the sources or from a bundle. */
export type Entry = string[];

/** `deno run -A main.ts` from the sources. */
export const SOURCES: Entry = ["run", "-A", new URL("main.ts", ROOT).pathname];

/** Builds the bundle into `dir` and returns how to run it. */
export async function bundle(dir: string): Promise<Entry> {
  const out = `${dir}/bitdust.js`;
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", "--output", out, new URL("main.ts", ROOT).pathname],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (r.code !== 0) throw new Error(`bundle failed: ${new TextDecoder().decode(r.stderr)}`);
  return ["run", "-A", out];
}

/** A running bitdust process and what it printed. */
export class Proc {
  readonly lines: string[] = [];
  readonly errors: string[] = [];
  readonly #child: Deno.ChildProcess;
  readonly #readers: Promise<void>[];
  readonly name: string;

  constructor(name: string, entry: Entry, args: string[], env: Record<string, string> = {}) {
    this.name = name;
    this.#child = new Deno.Command(Deno.execPath(), {
      args: [...entry, ...args],
      cwd: ROOT,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#readers = [
      collect(this.#child.stdout, this.lines),
      collect(this.#child.stderr, this.errors),
    ];
  }

  get pid(): number {
    return this.#child.pid;
  }

  /** Waits until a printed line matches `re`; returns the match. */
  async waitFor(re: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      for (const line of this.lines) {
        const m = re.exec(line);
        if (m !== null) return m;
      }
      await sleep(50);
    }
    throw new Error(
      `${this.name} printed no ${re} in ${timeoutMs} ms; stderr:\n` +
        this.errors.join("\n"),
    );
  }

  /** Sends `signal` and waits for the exit; returns the exit code. */
  async stop(signal: Deno.Signal = "SIGKILL"): Promise<number> {
    try {
      this.#child.kill(signal);
    } catch {
      // already gone
    }
    const status = await this.#child.status;
    await Promise.all(this.#readers);
    return status.code;
  }
}

async function collect(stream: ReadableStream<Uint8Array>, into: string[]): Promise<void> {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop()!;
    into.push(...parts);
  }
  if (rest !== "") into.push(rest);
}

/** Runs a short bitdust command to its end. */
export async function cli(
  entry: Entry,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: [...entry, ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: r.code, stdout: decode(r.stdout), stderr: decode(r.stderr) };
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` until it returns a value or `timeoutMs` passes (then throws `what`). */
export async function until<T>(
  what: string | (() => string),
  check: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await sleep(300);
  }
  const text = typeof what === "string" ? what : what();
  throw new Error(`timed out waiting for ${text}${last ? `: ${last}` : ""}`);
}

/** Every process of a test, stopped together at its end. */
export class Procs {
  readonly all: Proc[] = [];

  start(name: string, entry: Entry, args: string[]): Proc {
    const p = new Proc(name, entry, args);
    this.all.push(p);
    return p;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.all.map((p) => p.stop("SIGKILL")));
  }
}
