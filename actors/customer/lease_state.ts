/**
 * The writer lease's own state (`lease.ts` runs it): what a customer knows of the lease it holds
 * or claims, and the configuration it is made from. Apart from `lease.ts` so that `state.ts`
 * can hold one without importing the lease's logic (which works on the whole customer state).
 *
 * @module
 */

import { WRITER_LEASE_MARGIN_MS } from "../../core/limits.ts";
import type { SignedLease } from "../../core/protocol/identity.ts";

/** The lease as a customer sees it; `null` in `CustomerState.lease` when it runs without one. */
export interface LeaseState {
  instance: string;
  machine: string;
  /** Asked to take the lease from another instance (`bitdust daemon --take-over`). */
  takeOver: boolean;
  leaseMs: number;
  /** Highest epoch seen (ours or another instance's). */
  epoch: number;
  /** Our lease, granted by a majority, or null. */
  held: { epoch: number; expiresMs: number } | null;
  /** After a take-over: when the replaced holder has surely stopped writing. */
  writableFromMs: number;
  /** The other instance's lease seen last, while it holds it (for the user: who and until when). */
  holder: SignedLease | null;
  round: LeaseRound | null;
  nextClaimAtMs: number;
  /**
   * Another instance held the lease since this one started. With a catalogue of our own (phase
   * `ready`) that means it may be out of date (the other one may have backed up, deleted,
   * replaced suppliers): we never write with it (see the module comment).
   */
  otherSeen: boolean;
  /**
   * Suppliers that said they have seen this identity at a writer epoch above the one we hold
   * (a `superseded` answer, or a probe answer's epoch), with that epoch; at most
   * `SUPERSEDED_SUPPLIERS_MAX`. More than the scheme's parity of them make us stop writing.
   */
  newer: Map<string, number>;
  /** The report that made us stop writing (see {@link onNewerEpoch}); `null` while none did. */
  superseded: { supplier: string; epoch: number; suppliers: number } | null;
  /** The epoch the local family record holds (written again when {@link epoch} rises). */
  kept: number;
  /**
   * One more claim round is due although we will not write again: after the suppliers told us
   * of a newer writer, it asks the ID servers who holds the lease now (for the user's line).
   */
  askHolder: boolean;
  /** Refused claims, and times a lease we held was lost to another instance. */
  refused: number;
  lost: number;
}

interface LeaseRound {
  epoch: number;
  takeOver: boolean;
  expiresMs: number;
  answers: number;
  granted: number;
  transient: boolean;
  stale: boolean;
  /** End of the lease a granted take-over replaced (0: none). */
  replacedUntilMs: number;
}

/** A lease configuration: the instance id must stay the same across the host's restarts. */
export interface LeaseConfig {
  instance: string;
  machine: string;
  takeOver?: boolean;
  /** Default `WRITER_LEASE_MS`. */
  leaseMs: number;
}

/** A new lease state (no lease held yet). */
export function leaseState(c: LeaseConfig): LeaseState {
  return {
    instance: c.instance,
    machine: c.machine,
    takeOver: c.takeOver ?? false,
    leaseMs: c.leaseMs,
    epoch: 0,
    held: null,
    writableFromMs: 0,
    holder: null,
    otherSeen: false,
    newer: new Map(),
    superseded: null,
    kept: 0,
    askHolder: false,
    round: null,
    nextClaimAtMs: 0,
    refused: 0,
    lost: 0,
  };
}

/** Margin kept before our lease's end and after a replaced one's. */
export function leaseMarginMs(l: LeaseState): number {
  return Math.min(WRITER_LEASE_MARGIN_MS, Math.floor(l.leaseMs / 5));
}
