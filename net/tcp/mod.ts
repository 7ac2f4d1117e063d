/**
 * The TCP transport: length-prefixed frames, an authenticated handshake whose verdict comes
 * sealed after both sides proved their keys, an AEAD session per connection, admission by
 * name->key binding, budgets per address block, per key and in total, a shared pool for frame
 * buffers, bounded queues, backoff. See `transport.ts` for how the parts fit.
 *
 * @example
 * ```ts ignore
 * import { TcpTransport } from "./mod.ts";
 * const listener = Deno.listen({ hostname: "0.0.0.0", port: 7000 });
 * const transport = new TcpTransport({ identity, signingPrivateKey, resolver, listener });
 * transport.onMessage((from, bytes) => console.log(from, bytes.length));
 * transport.send("bob", new TextEncoder().encode("hello"));
 * ```
 *
 * @module
 */

export { addressBlock } from "../../core/address.ts";
export { BACKOFF_BASE_MS, BACKOFF_MAX_MS, backoffDelayMs } from "./backoff.ts";
export { FrameBufferPool, POOL_GRANULE_BYTES } from "./budget.ts";
export { LENGTH_PREFIX_BYTES } from "./frames.ts";
export {
  BOOT_ID_BYTES,
  HANDSHAKE_FAILURES,
  HANDSHAKE_VERSION,
  type HandshakeFailure,
  REFUSE_REASONS,
  type RefuseReason,
} from "./handshake.ts";
export { SEAL_OVERHEAD_BYTES, SESSION_CIPHER } from "./session.ts";
export {
  HANDSHAKE_TIMEOUT_MS,
  IDLE_TIMEOUT_MS,
  TcpTransport,
  type TcpTransportOptions,
} from "./transport.ts";
