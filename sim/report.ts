/**
 * Rendering a run's report: an aligned table for people, JSON for scripts.
 *
 * @module
 */

/** A report is a flat or nested record of numbers, strings and booleans. */
export type ReportValue = number | string | boolean | null | Report;
/** See {@link ReportValue}. */
export interface Report {
  [key: string]: ReportValue;
}

function formatValue(v: ReportValue): string {
  if (typeof v === "number") {
    if (Number.isInteger(v)) return v.toLocaleString("en-US");
    return Math.abs(v) >= 100
      ? v.toFixed(1)
      : v.toPrecision(6).replace(/0+$/, "").replace(/\.$/, "");
  }
  return String(v);
}

/** Flattens nested keys with dots (`files.lost`). */
function flatten(report: Report, prefix = ""): [string, ReportValue][] {
  const out: [string, ReportValue][] = [];
  for (const [key, value] of Object.entries(report)) {
    const name = prefix === "" ? key : `${prefix}.${key}`;
    if (value !== null && typeof value === "object") out.push(...flatten(value, name));
    else out.push([name, value]);
  }
  return out;
}

/** The report as a two-column table. */
export function formatTable(report: Report): string {
  const rows = flatten(report);
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${formatValue(v)}`).join("\n");
}
