/**
 * Messages of the kernel's demonstration actors (heartbeat ping/pong), tags 1–15.
 *
 * @module
 */

import { f64, string, struct, uint } from "../codec.ts";
import { NODE_ID_BYTES_MAX } from "../limits.ts";

/** Wire table of the demonstration messages. */
export const demoMessages = {
  ping: [1, struct({ seq: uint, sentMs: f64 })],
  pong: [2, struct({ seq: uint, sentMs: f64 })],
  gossip: [3, struct({ about: string(NODE_ID_BYTES_MAX), hops: uint })],
} as const;
