/**
 * Timer tables: one deadline per kind, for a closed union of kinds an actor declares.
 *
 * Theory of operation. An actor is sans-IO: it never sleeps, it only says when it next wants a
 * `timeout` input (`nextDeadlineMs`). Before tables, each actor kept its deadlines in scattered
 * state fields and hand-wrote the minimum over them and the "is it due?" test in `onTimeout`;
 * a deadline someone forgot to list in either place fired late (only when another input came
 * along) or never. A table makes that impossible: every deadline lives in one array indexed by
 * kind, `next()` is the minimum over all of it, and `expired(nowMs)` lists every kind due.
 *
 * - The kinds are a closed string union, fixed when the table is made (`new TimerTable(KINDS)`
 *   with `KINDS` a `readonly [...] as const` tuple): the declaration order is the tie-break.
 * - Each kind has at most one deadline; `set` replaces it, `stop` clears it. Many deadlines of
 *   one kind (per-customer contract expiries) stay in the owner's keyed heap; the table holds
 *   that kind at the heap's earliest deadline, which the owner re-sets whenever the heap's top
 *   changes. A keyed variant here would duplicate the heap for no reader's gain.
 * - `expired(nowMs)` does not clear anything: the handler of each kind re-sets it (periodic
 *   work) or stops it (one-shot). A handler that does neither fires again at once, which a test
 *   catches; a silently cleared timer that should have been re-armed is the worse bug.
 * - Order of `expired` is deterministic (by deadline, ties by declaration order) so a run's
 *   trace does not depend on anything but the inputs.
 *
 * Kinds are few (under a dozen), so a linear scan of a fixed array beats any heap here and
 * allocates nothing on `next()`, which also keeps its answer until the next `set` or `stop` (hosts
 * ask it after every step, most of which arm nothing).
 *
 * @example
 * ```ts
 * const KINDS = ["sweep", "retry"] as const;
 * const t = new TimerTable<(typeof KINDS)[number]>(KINDS);
 * t.set("retry", 50);
 * t.set("sweep", 20);
 * console.assert(t.next() === 20);
 * console.assert(t.expired(60).join() === "sweep,retry");
 * ```
 *
 * @module
 */

import { assert, AssertionError } from "./assert.ts";

/** One deadline (ms, or null when stopped) per kind of a closed union of timer kinds. */
export class TimerTable<Kind extends string> {
  /** The kinds in declaration order (the tie-break of {@link TimerTable.expired}). */
  readonly kinds: readonly Kind[];
  readonly #index: Map<Kind, number>;
  readonly #at: (number | null)[];
  /** {@link TimerTable.next}'s answer, or `undefined` once a `set` or `stop` made it stale. */
  #next: number | null | undefined = null;

  /** A table with every kind stopped; `kinds` must be distinct. */
  constructor(kinds: readonly Kind[]) {
    this.kinds = kinds;
    this.#index = new Map(kinds.map((k, i) => [k, i]));
    assert(this.#index.size === kinds.length, "timer kinds must be distinct");
    this.#at = kinds.map(() => null);
  }

  // The checks below throw by hand rather than call `assert`: its message would be built on every
  // call, and these run several times per step of every node.
  #slot(kind: Kind): number {
    const i = this.#index.get(kind);
    if (i === undefined) throw new AssertionError(`unknown timer kind ${kind}`);
    return i;
  }

  /** Arms `kind` to fire at `atMs` (replacing any earlier deadline of that kind). */
  set(kind: Kind, atMs: number): void {
    if (!Number.isFinite(atMs)) throw new AssertionError(`timer ${kind}: deadline must be finite`);
    this.#at[this.#slot(kind)] = atMs;
    this.#next = undefined;
  }

  /** Disarms `kind` (no-op when already stopped). */
  stop(kind: Kind): void {
    this.#at[this.#slot(kind)] = null;
    this.#next = undefined;
  }

  /** The deadline of `kind` in ms, or null when stopped. */
  at(kind: Kind): number | null {
    return this.#at[this.#slot(kind)];
  }

  /** The earliest armed deadline in ms, or null when every kind is stopped. */
  next(): number | null {
    if (this.#next !== undefined) return this.#next;
    let due: number | null = null;
    for (const t of this.#at) if (t !== null && (due === null || t < due)) due = t;
    this.#next = due;
    return due;
  }

  /**
   * The kinds due at `nowMs` (deadline <= nowMs), by deadline then declaration order. Clears
   * nothing: each handler re-sets or stops its kind.
   */
  expired(nowMs: number): Kind[] {
    const next = this.next();
    if (next === null || next > nowMs) return [];
    const at = this.#at;
    const due: number[] = [];
    for (let i = 0; i < at.length; i++) {
      const t = at[i];
      if (t !== null && t <= nowMs) due.push(i);
    }
    if (due.length === 1) return [this.kinds[due[0]]]; // most timeouts: nothing to order
    // Stable sort keeps declaration order among equal deadlines.
    due.sort((a, b) => (at[a] as number) - (at[b] as number));
    return due.map((i) => this.kinds[i]);
  }
}
