/**
 * Where a passphrase comes from, how it is typed, and when it is strong enough.
 *
 * Sources, first found wins: `--passphrase-file F` (its first line), `$BITDUST_PASSPHRASE`, else
 * the terminal. On a terminal the passphrase is read with echo off (raw mode: nothing typed is
 * shown, not even as stars, so neither the screen nor a terminal log holds it or its length);
 * Backspace edits, Ctrl-C and Ctrl-D give up. A new passphrase (one that will protect a key
 * backup) is typed twice and must pass {@link passphraseProblem}; typed on a terminal, a weak one
 * can still be kept after an explicit "yes", while from a file or the environment it is refused,
 * since nobody is there to confirm. A passphrase that opens an existing backup is never judged:
 * it is whatever it was when the backup was made.
 *
 * @module
 */

import { CliError } from "./_command.ts";

/** Characters a new passphrase needs at least. */
const PASSPHRASE_CHARS_MIN = 12;
/** Different characters a new passphrase needs at least (rules out `aaaaaaaaaaaa`). */
const PASSPHRASE_DISTINCT_MIN = 6;
/** Longest passphrase read from a terminal, in bytes (a runaway paste stops here). */
const TYPED_BYTES_MAX = 4096;

/** Why `p` is too weak to protect a key backup, or `null` when it is strong enough. */
function passphraseProblem(p: string): string | null {
  const chars = [...p.normalize("NFC")];
  if (chars.length < PASSPHRASE_CHARS_MIN) {
    return `it has ${chars.length} characters; use at least ${PASSPHRASE_CHARS_MIN} ` +
      `(a few unrelated words are easy to remember)`;
  }
  if (new Set(chars).size < PASSPHRASE_DISTINCT_MIN) {
    return `it repeats too few characters; use at least ${PASSPHRASE_DISTINCT_MIN} different ones`;
  }
  return null;
}

/** What a passphrase is for: opening an existing backup, or protecting a new one. */
export type PassphrasePurpose = "existing" | "new";

/** Reads the passphrase from the sources in the module comment; throws `CliError` on refusal. */
export async function readPassphrase(
  file: string | undefined,
  purpose: PassphrasePurpose,
): Promise<string> {
  const given = await fromFileOrEnv(file);
  if (given !== null) {
    const problem = purpose === "new" ? passphraseProblem(given.value) : null;
    if (problem !== null) {
      throw new CliError(`the passphrase from ${given.from} is too weak: ${problem}`);
    }
    return given.value;
  }
  if (!Deno.stdin.isTerminal()) {
    throw new CliError(
      "no passphrase: run this on a terminal, or use --passphrase-file F or set BITDUST_PASSPHRASE",
    );
  }
  const first = await readHidden(purpose === "new" ? "new passphrase: " : "passphrase: ");
  if (first === "") throw new CliError("the passphrase must not be empty");
  if (purpose === "existing") return first;
  const problem = passphraseProblem(first);
  if (problem !== null) {
    const keep = await askYesNo(`this passphrase is weak: ${problem}. Use it anyway?`);
    if (!keep) throw new CliError("no key backup written; choose a stronger passphrase");
  }
  if ((await readHidden("type it again: ")) !== first) {
    throw new CliError("the two passphrases differ; nothing was written");
  }
  return first;
}

async function fromFileOrEnv(file: string | undefined) {
  if (file !== undefined) {
    const text = await Deno.readTextFile(file).catch((e) => {
      throw new CliError(`cannot read the passphrase file ${file}: ${(e as Error).message}`);
    });
    const value = text.split(/\r?\n/)[0];
    if (value === "") throw new CliError(`the passphrase file ${file} is empty`);
    return { value, from: file };
  }
  const env = Deno.env.get("BITDUST_PASSPHRASE");
  if (env !== undefined && env !== "") return { value: env, from: "BITDUST_PASSPHRASE" };
  return null;
}

const utf8 = new TextEncoder();

/**
 * Reads one line from the terminal with echo off. The prompt goes to stderr, so stdout stays
 * what the command prints. Throws `CliError` (exit 130) on Ctrl-C or Ctrl-D.
 */
async function readHidden(prompt: string): Promise<string> {
  // Echo goes off before the prompt shows, so nothing typed after it can ever be echoed.
  Deno.stdin.setRaw(true);
  const bytes: number[] = [];
  const one = new Uint8Array(1);
  try {
    await Deno.stderr.write(utf8.encode(prompt));
    for (;;) {
      const n = await Deno.stdin.read(one);
      if (n === null || one[0] === 0x03 || one[0] === 0x04) {
        throw new CliError("cancelled; nothing was written", 130);
      }
      const b = one[0];
      if (b === 0x0d || b === 0x0a) break;
      if (b === 0x7f || b === 0x08) {
        // Drop the last whole UTF-8 character: continuation bytes are 10xxxxxx.
        while (bytes.length > 0 && (bytes.pop()! & 0xc0) === 0x80);
        continue;
      }
      if (bytes.length >= TYPED_BYTES_MAX) throw new CliError("the passphrase is too long");
      bytes.push(b);
    }
  } finally {
    Deno.stdin.setRaw(false);
    await Deno.stderr.write(utf8.encode("\n"));
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/** Asks a yes/no question on the terminal; anything but `y`/`yes` is no. */
export async function askYesNo(question: string): Promise<boolean> {
  await Deno.stderr.write(utf8.encode(`${question} [y/N] `));
  const buf = new Uint8Array(256);
  const n = await Deno.stdin.read(buf);
  if (n === null) return false;
  const answer = new TextDecoder().decode(buf.subarray(0, n)).trim().toLowerCase();
  return answer === "y" || answer === "yes";
}
