/**
 * A small metrics registry: named counters and gauges, reported sorted by name.
 *
 * Hot paths in the simulator keep plain numeric fields and publish them here at report time;
 * everything else increments counters by name.
 *
 * @module
 */

/** Named counters (monotonic) and gauges (set to a value). */
export class Metrics {
  #values = new Map<string, number>();

  /** Adds `by` to counter `name`. */
  inc(name: string, by = 1): void {
    this.#values.set(name, (this.#values.get(name) ?? 0) + by);
  }

  /** Sets gauge `name` to `value`. */
  set(name: string, value: number): void {
    this.#values.set(name, value);
  }

  /** Current value of `name` (0 when never touched). */
  get(name: string): number {
    return this.#values.get(name) ?? 0;
  }

  /** Every value, keys sorted, for reports and tests. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const key of [...this.#values.keys()].sort()) out[key] = this.#values.get(key)!;
    return out;
  }
}
