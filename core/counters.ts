/**
 * Counters: how every actor counts what happened to it, for `status`, reports and tests.
 *
 * A counter is a name, `area.event` (`publish.stored`, `auth.refused`, `contract.lapsed`), and a
 * number that only grows; an actor keeps them in `state.counters` and bumps them with
 * {@link count}. Names are open-ended on purpose: a refusal counted under its outcome
 * (`publish.${outcome}`) needs no list kept in step with the outcomes. The customer's counters
 * are a fixed, typed set instead, because its report reads each one by name.
 *
 * @example
 * ```ts
 * const state = { counters: {} as Record<string, number> };
 * count(state, "publish.stored");
 * count(state, "bytes.in", 512);
 * console.assert(state.counters["publish.stored"] === 1);
 * ```
 *
 * @module
 */

/** Something that keeps open-ended counters. */
export interface Counted {
  counters: Record<string, number>;
}

/** Adds one (or `n`) to counter `name` of `state`. */
export function count(state: Counted, name: string, n = 1): void {
  state.counters[name] = (state.counters[name] ?? 0) + n;
}
