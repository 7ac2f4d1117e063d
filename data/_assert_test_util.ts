/**
 * The few assertions the data tests need (no `@std/assert` here: JSR is out of reach).
 *
 * @module
 */

import { AssertionError } from "../core/assert.ts";

function show(v: unknown): string {
  if (v instanceof Uint8Array) {
    const head = Array.from(v.subarray(0, 24), (b) => b.toString(16).padStart(2, "0")).join("");
    return `Uint8Array(${v.length})[${head}${v.length > 24 ? "…" : ""}]`;
  }
  try {
    return JSON.stringify(v, (_k, x) => (x instanceof Uint8Array ? show(x) : x));
  } catch {
    return String(v);
  }
}

function equal(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (a instanceof Uint8Array && b instanceof Uint8Array) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => equal(x, b[i]));
  }
  if (a !== null && b !== null && typeof a === "object" && typeof b === "object") {
    const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
    const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
    if (ka.length !== kb.length) return false;
    return ka.every((k) =>
      equal((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])
    );
  }
  return false;
}

/** Deep equality with byte arrays compared by content. */
export function assertEquals(actual: unknown, expected: unknown, message = ""): void {
  if (!equal(actual, expected)) {
    throw new AssertionError(
      `${message}${message ? ": " : ""}${show(actual)} !== ${show(expected)}`,
    );
  }
}

/** Truthiness. */
export function assert(condition: unknown, message = "assertion failed"): asserts condition {
  if (!condition) throw new AssertionError(message);
}

/** `fn` throws, optionally an instance of `type` whose message includes `includes`. */
export function assertThrows(
  fn: () => unknown,
  // deno-lint-ignore no-explicit-any
  type?: new (...args: any[]) => Error,
  includes?: string,
): Error {
  try {
    fn();
  } catch (e) {
    if (type !== undefined && !(e instanceof type)) {
      throw new AssertionError(`expected ${type.name}, got ${String(e)}`);
    }
    if (includes !== undefined && !String((e as Error).message).includes(includes)) {
      throw new AssertionError(`expected message with '${includes}', got '${String(e)}'`);
    }
    return e as Error;
  }
  throw new AssertionError("expected an exception, none was thrown");
}

/** Async variant of {@link assertThrows}. */
export async function assertRejects(
  fn: () => Promise<unknown>,
  // deno-lint-ignore no-explicit-any
  type?: new (...args: any[]) => Error,
): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    if (type !== undefined && !(e instanceof type)) {
      throw new AssertionError(`expected ${type.name}, got ${String(e)}`);
    }
    return e as Error;
  }
  throw new AssertionError("expected a rejection, none happened");
}
