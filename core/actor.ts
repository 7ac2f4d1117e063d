/**
 * The actor contract: every role is a deterministic, sans-IO state machine.
 *
 * Theory of operation. A host (the simulator in `sim/`, the real node in `net/`) owns one actor's
 * state and feeds it {@link Input}s one at a time through `step`. The actor changes its state and
 * returns {@link Effect}s: messages to send, blob reads and writes, CPU jobs (encryption, erasure
 * coding), notices for its local user, trace events. It never waits: the completion of a blob
 * operation or a job comes back later as an `io_done` or `job_done` input carrying the id the
 * actor chose. Time and randomness enter only through {@link StepContext}; cryptographic checks
 * that must be synchronous enter through its `crypto`.
 *
 * Timers are state, not effects: an actor records its deadlines in its own state and the host's
 * node shell (`core/shell.ts`) asks `nextDeadlineMs(state)` after every step, keeping one timer
 * armed for the earliest. When it fires the host delivers `{ kind: "timeout", nowMs }`; the actor
 * handles every deadline that has passed. A timeout with nothing due is a no-op, so hosts may
 * deliver spurious ones.
 *
 * After every step the shell calls `invariants(state)` (on every host; the simulator can turn it
 * off for speed runs), which asserts the actor's own rules (limits respected, tables consistent).
 * A violated invariant is our bug and stops the run.
 *
 * Lifecycle: a host delivers `{ kind: "start" }` when the node boots and each time it comes back
 * online after a pause; actors use it to re-arm timers and re-announce themselves.
 *
 * @module
 */

import type { Random } from "./prng.ts";

/** Name of a node on the network: its identity name (real) or a simulator-assigned name. */
export type NodeId = string;

/** Type parameters of one protocol: what flows between actors and their hosts. */
export interface Protocol {
  /** Messages between nodes (one codec for all roles). */
  message: unknown;
  /** CPU jobs an actor asks its host to run. */
  job: unknown;
  /** Results of those jobs. */
  jobResult: unknown;
  /** Requests from the node's own user (CLI, API, simulation workload). */
  command: unknown;
  /** What the actor tells its own user (progress, completion, failure). */
  notice: unknown;
}

/** Synchronous, deterministic cryptographic primitives a host lends to its actors. */
export interface StepCrypto {
  /** SHA-256 digest. */
  sha256(data: Uint8Array): Uint8Array;
  /** Ed25519 signature of `data` with this node's own signing key. */
  sign(data: Uint8Array): Uint8Array;
  /** Whether `signature` is a valid Ed25519 signature of `data` under raw `publicKey`. */
  verify(publicKey: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean;
}

/**
 * Entropy for what an adversary must not predict: version ids, salts, audit challenges, nonces.
 * A real host fills it from the platform CSPRNG (`crypto.getRandomValues`); the simulator from
 * the run seed (a stream of its own), so runs stay reproducible. {@link Random} fits it.
 */
export interface SecretSource {
  /** `n` fresh secret bytes. */
  bytes(n: number): Uint8Array<ArrayBuffer>;
  /** A secret uniform integer in [0, n), unbiased; `n` a positive safe integer. */
  int(n: number): number;
}

/** What an actor may observe besides its inputs: the clock, its entropy, its name, its crypto. */
export interface StepContext {
  /** Current time in milliseconds (virtual in the simulator, wall clock in the real node). */
  readonly nowMs: number;
  /**
   * This node's own random stream, for what may be predictable (jitter, shuffles, timers). On a
   * real host it is seeded with few bits: never draw anything secret from it.
   */
  readonly random: Random;
  /** Entropy for secrets (see {@link SecretSource}). */
  readonly secret: SecretSource;
  /** This node's name. */
  readonly self: NodeId;
  /** Crypto primitives; deterministic, so simulated runs stay reproducible. */
  readonly crypto: StepCrypto;
}

/**
 * A blob operation on the node's local store (fragments, manifests, metadata). A read may ask
 * for a byte range (`offset`, `length`); it returns fewer bytes at the end of the blob. Keys under
 * `src:` name the user's own files, read-only, for backups.
 */
export type BlobOp =
  | { op: "write"; key: string; data: Uint8Array }
  | { op: "read"; key: string; offset?: number; length?: number }
  | { op: "delete"; key: string }
  | { op: "list"; prefix: string };

/**
 * Completion of a {@link BlobOp}: read data, or listed keys (sorted) with their sizes in bytes,
 * or an error the actor must handle.
 */
export type BlobResult =
  | { ok: true; data?: Uint8Array; keys?: string[]; sizes?: number[] }
  | { ok: false; error: "not_found" | "no_space" | "io_error"; detail?: string };

/** Everything a host can hand to `step`. */
export type Input<P extends Protocol> =
  | { kind: "start" }
  | {
    kind: "message";
    /** The sender's name, as authenticated by the link (or the ID server the host asked). */
    from: NodeId;
    /**
     * The raw Ed25519 key that authenticated the link the message came on (the TCP handshake,
     * the simulated link); `null` for an answer the host fetched from one of the node's own
     * configured ID servers over HTTP (then `from` is that server's id). Actors that pin keys
     * (contracts, families) compare it with the pinned one.
     */
    fromKey: Uint8Array | null;
    message: P["message"];
  }
  | { kind: "timeout"; nowMs: number }
  | { kind: "io_done"; id: number; result: BlobResult }
  | { kind: "job_done"; id: number; result: P["jobResult"] }
  | { kind: "command"; command: P["command"] };

/** Everything `step` can ask of its host. */
export type Effect<P extends Protocol> =
  | {
    kind: "send";
    to: NodeId;
    message: P["message"];
    /**
     * Open a new connection to `to`'s advertised address instead of using a session that is
     * already open (a reachability dial-back: only a node that accepts connections gets it).
     */
    dial?: true;
  }
  | { kind: "io"; id: number; op: BlobOp }
  | { kind: "job"; id: number; job: P["job"] }
  | { kind: "notice"; notice: P["notice"] }
  | { kind: "trace"; event: string; detail?: Record<string, string | number | boolean> };

/** One role's transition function and its companions. */
export interface Actor<S, P extends Protocol> {
  /** Applies one input; returns the effects for the host to run, in order. */
  step(state: S, input: Input<P>, ctx: StepContext): readonly Effect<P>[];
  /** Earliest armed deadline, or `null` when no timer is armed. */
  nextDeadlineMs(state: S): number | null;
  /** Asserts the actor's own invariants; throws `AssertionError` on a bug. */
  invariants(state: S): void;
}

/** Shared empty effect list, so steps that do nothing allocate nothing. */
export const NO_EFFECTS: readonly never[] = Object.freeze([]);
