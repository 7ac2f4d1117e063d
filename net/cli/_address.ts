/**
 * The address a supporter listens on, kept across restarts in `DIR/server.json`.
 *
 * Others hold a supporter's address: every user's and supplier's config names the ID server's
 * URL, and a supplier's contact is in its published identity. So the first start records where
 * it listened (with `--port 0`, the port the system picked), and later starts listen there
 * again when `--port` is 0 or absent and `--host` is absent. Only an explicit `--port N` or
 * `--host H` moves it, and {@link chooseAddress} says so in one line.
 *
 * @module
 */

import { readJson, writeJson } from "../home.ts";

/** Where a supporter listened, as kept in `DIR/server.json`. */
export interface SavedAddress {
  host: string;
  port: number;
}

/** What the flags ask for: `hostGiven`/`portGiven` say whether they were typed (port not 0). */
export interface AddressFlags {
  host: string;
  port: number;
  hostGiven: boolean;
  portGiven: boolean;
}

/** The file that keeps the address in data directory `dir`. */
function addressFile(dir: string): string {
  return `${dir}/server.json`;
}

/** The address kept in `dir`, or `null` when there is none (or it does not parse). */
export async function savedAddress(dir: string): Promise<SavedAddress | null> {
  const v = await readJson(addressFile(dir)).catch(() => null) as Partial<SavedAddress> | null;
  if (v === null || typeof v.host !== "string" || !Number.isInteger(v.port)) return null;
  if ((v.port as number) < 1 || (v.port as number) > 65535) return null;
  return { host: v.host, port: v.port as number };
}

/** Records where the supporter now listens (atomically: temp file, fsync, rename). */
export async function recordAddress(dir: string, address: SavedAddress): Promise<void> {
  await writeJson(addressFile(dir), address);
}

/**
 * Where to listen: what the flags typed, else the address kept from the last start, else the
 * flags' defaults. `note` is the one line to print when this moves the supporter.
 */
export function chooseAddress(
  flags: AddressFlags,
  saved: SavedAddress | null,
): { host: string; port: number; note: string | null; kept: boolean } {
  const host = flags.hostGiven || saved === null ? flags.host : saved.host;
  const port = flags.portGiven || saved === null ? flags.port : saved.port;
  const moved = saved !== null && (host !== saved.host || port !== saved.port);
  const note = moved
    ? `moving from ${saved.host}:${saved.port} to ${host}:${port === 0 ? "(any port)" : port}: ` +
      `configs that name the old address must be updated`
    : null;
  return { host, port, note, kept: saved !== null && !moved };
}

/** The hint to add to a failed listen on an address that was kept rather than asked for. */
export function keptHint(dir: string): string {
  return ` (the address this server used before, kept in ${addressFile(dir)}; ` +
    `stop what uses it, or give --port N to move)`;
}
