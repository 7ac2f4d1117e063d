/**
 * Address blocks: the unit every per-source cap counts by (TCP transport, HTTP servers, the ID
 * server's registration budget).
 *
 * One host usually owns more than one address: an IPv6 host gets a whole /64 to pick from, and
 * an IPv4 attacker with a small network a /24. A cap keyed on the full address lets such a host
 * walk past it by changing addresses; a cap keyed on the block does not. The price is that
 * honest nodes behind one block (one office, one NAT pool, all nodes of a test on 127.0.0.1)
 * share the block's allowance, so block caps are set well above what such a group needs.
 *
 * @module
 */

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function ipv4(address: string): number[] | undefined {
  const m = IPV4.exec(address);
  if (m === null) return undefined;
  const parts = m.slice(1).map(Number);
  return parts.every((p, i) => p <= 255 && String(p) === m[i + 1]) ? parts : undefined;
}

/** The eight 16-bit groups of an IPv6 address (an IPv4 tail allowed); `undefined` if not one. */
function ipv6(address: string): number[] | undefined {
  let text = address.toLowerCase();
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".")) {
    const v4 = ipv4(text.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    tail.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
    text = text.slice(0, lastColon + 1) + "0"; // placeholder group, removed below
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const parse = (s: string) => (s === "" ? [] : s.split(":"));
  const head = parse(halves[0]);
  const rest = halves.length === 2 ? parse(halves[1]) : [];
  if (tail.length > 0) (halves.length === 2 ? rest : head).pop();
  const groups = [...head, ...rest].map((g) => /^[0-9a-f]{1,4}$/.test(g) ? parseInt(g, 16) : NaN);
  if (groups.some(Number.isNaN)) return undefined;
  const width = 8 - tail.length;
  const missing = width - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const h = groups.slice(0, head.length);
  const r = groups.slice(head.length);
  return [...h, ...new Array(halves.length === 2 ? missing : 0).fill(0), ...r, ...tail];
}

/**
 * The block a remote address belongs to: `a.b.c.0/24` for IPv4 (IPv4-mapped IPv6 addresses
 * included), the first four groups and `::/64` for IPv6. Brackets and a zone (`%eth0`) are
 * ignored. Anything else (a host name, a simulated node's name, garbage) is a block of its own
 * (its first 256 characters).
 *
 * @example
 * ```ts
 * import { addressBlock } from "./address.ts";
 * console.assert(addressBlock("10.1.2.3") === "10.1.2.0/24");
 * console.assert(addressBlock("2001:db8:0:1::5") === addressBlock("2001:DB8:0:1:ffff::9"));
 * console.assert(addressBlock("::ffff:10.1.2.3") === "10.1.2.0/24");
 * ```
 */
export function addressBlock(address: string): string {
  const bare = address.replace(/^\[(.*)\]$/, "$1").replace(/%.*$/, "");
  const v4 = ipv4(bare);
  if (v4 !== undefined) return `${v4[0]}.${v4[1]}.${v4[2]}.0/24`;
  const v6 = ipv6(bare);
  if (v6 === undefined) return address.slice(0, 256);
  const mapped = v6.slice(0, 5).every((g) => g === 0) && v6[5] === 0xffff;
  if (mapped) return `${v6[6] >> 8}.${v6[6] & 0xff}.${v6[7] >> 8}.0/24`;
  return `${v6.slice(0, 4).map((g) => g.toString(16)).join(":")}::/64`;
}
