/**
 * `bitdust suppliers [--json] [--data DIR]`: the family of suppliers.
 *
 * @module
 */

import { statusCommand } from "./status.ts";

/** Runs `bitdust suppliers`. */
export function run(args: string[]): Promise<number> {
  return statusCommand("suppliers", args);
}
