/**
 * Named maxima. Every queue, table and message field in bitdust is bounded by one of these, checked
 * on insert, with a defined reject path. Raise a limit here, never inline.
 *
 * @module
 */

/** Largest encoded message accepted from a peer, envelope included (a fragment plus headers). */
export const MESSAGE_BYTES_MAX = 16 * 1024 * 1024 + 64 * 1024;
/** Largest node name, in bytes of UTF-8. */
export const NODE_ID_BYTES_MAX = 256;
/** Largest blob key, in bytes of UTF-8. */
export const BLOB_KEY_BYTES_MAX = 512;
/** Largest free-text reason in a refusal or error message. */
export const REASON_BYTES_MAX = 256;
/** Largest number of nodes a simulation may hold at once. */
export const SIM_NODES_MAX = 1_000_000;
/** Largest number of pending events in the simulator's queue. */
export const SIM_EVENTS_PENDING_MAX = 50_000_000;
/** Largest number of effects a single step may return (a runaway loop is a bug). */
export const STEP_EFFECTS_MAX = 100_000;
/** How many packet sequence numbers behind the highest one a receiver still accepts. */
export const REPLAY_WINDOW = 1024;
/** How far a packet's creation time may be from the receiver's clock, either way. */
export const PACKET_TIME_SKEW_MS_MAX = 5 * 60 * 1000;
