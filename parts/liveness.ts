/**
 * Liveness: what a node believes about a peer it watches (online, offline, dead), as a plain
 * record and pure functions over it, for any role that keeps peers under watch (the customer's
 * family today; the rebuilder and the family's own watch of itself later).
 *
 * Theory of operation. The watcher keeps one {@link PeerLiveness} per peer and runs its own probe
 * round, every `probeIntervalMs` on a timer of its own. Evidence comes in three kinds:
 * - an answer to anything: {@link seen} (online, and the time it was last heard of);
 * - a probe sent: {@link probeSent}; while it is pending no other is due ({@link probeDue});
 * - a request left unanswered, sent at `sentMs`: {@link missed} (offline, with that time kept
 *   as the evidence).
 *
 * On each round the watcher applies the offline rule ({@link offlineNow}: silent for longer than
 * `offlineAfterMs`) and probes whoever is due. What the evidence means at a given time is
 * {@link verdict}: dead once silent for longer than `fireAfterMs`, or `patienceFactor` times that
 * for a peer the caller says may hold copies nobody else can give back
 * ({@link LAST_COPY_PATIENCE}). A peer believed offline on old evidence
 * ({@link staleOffline}) may have come back since: worth a probe before giving up on it.
 *
 * The part sends nothing and keeps no timer: the caller sends the probes, handles their answers
 * and timeouts, and decides what to do about a verdict.
 *
 * @example
 * ```ts
 * import { missed, offlineNow, seen, verdict } from "./liveness.ts";
 * const o = { probeIntervalMs: 600_000, offlineAfterMs: 1_800_000, fireAfterMs: 86_400_000,
 *   requestTimeoutMs: 120_000 };
 * const peer = { online: false, lastSeenMs: 0, probedMs: 0, missedMs: 0, probePending: false };
 * seen(peer, 1_000);
 * console.assert(verdict(peer, 1_000, o) === "online" && !offlineNow(peer, 1_000, o));
 * missed(peer, 2_000);
 * console.assert(verdict(peer, 2_000, o) === "offline");
 * console.assert(verdict(peer, 1_000 + 86_400_001, o) === "dead");
 * ```
 *
 * @module
 */

/** What a watcher knows of one peer. */
export interface PeerLiveness {
  /** Whether it answered lately; cleared by a miss or by the offline rule. */
  online: boolean;
  /** Last time it answered anything. */
  lastSeenMs: number;
  /** When it was last probed (0: never). */
  probedMs: number;
  /**
   * When the last request it left unanswered (a probe, a fetch) was sent (0: none): our evidence
   * that it is offline.
   */
  missedMs: number;
  /** A probe of it awaits its answer. */
  probePending: boolean;
}

/** The watcher's timing (the customer's options carry these fields). */
export interface LivenessOptions {
  /** Time between two probe rounds. */
  readonly probeIntervalMs: number;
  /** Silence after which a peer counts as offline. */
  readonly offlineAfterMs: number;
  /** Silence after which a peer counts as dead (given up on, replaced). */
  readonly fireAfterMs: number;
  /** How long a request waits for its answer. */
  readonly requestTimeoutMs: number;
}

/** What the evidence about a peer means now (see {@link verdict}). */
export type Verdict = "online" | "offline" | "dead";

/**
 * How much longer than `fireAfterMs` a peer is awaited when it may hold copies that cannot be
 * rebuilt without it (the last readable ones): the `patienceFactor` of {@link verdict}.
 */
export const LAST_COPY_PATIENCE = 3;

/** The peer answered at `nowMs`: online, last heard of now. */
export function seen(l: PeerLiveness, nowMs: number): void {
  l.lastSeenMs = nowMs;
  l.online = true;
}

/** A request sent to the peer at `sentMs` went unanswered: offline, on evidence from then. */
export function missed(l: PeerLiveness, sentMs: number): void {
  l.missedMs = sentMs;
  l.online = false;
}

/** A probe of the peer was sent at `nowMs`. */
export function probeSent(l: PeerLiveness, nowMs: number): void {
  l.probePending = true;
  l.probedMs = nowMs;
}

/**
 * Whether the peer is to be probed in a round at `nowMs`: no probe of it is pending and, when the
 * caller holds it back until `notBeforeMs`, that time has come. When rounds run is the caller's.
 */
export function probeDue(l: PeerLiveness, nowMs: number, notBeforeMs = 0): boolean {
  return !l.probePending && nowMs >= notBeforeMs;
}

/** The offline rule: whether the peer has been silent for longer than `offlineAfterMs`. */
export function offlineNow(l: PeerLiveness, nowMs: number, o: LivenessOptions): boolean {
  return nowMs - l.lastSeenMs > o.offlineAfterMs;
}

/**
 * What the evidence about the peer means at `nowMs`: `dead` once it has been silent for longer
 * than `patienceFactor` × `fireAfterMs` (1 unless the caller says it may hold the last copies,
 * see {@link LAST_COPY_PATIENCE}); otherwise `online` while it is believed online and not silent
 * past the offline rule, else `offline`. A caller deciding to give a peer up does so on a probe it
 * just sent and that went unanswered, never on old silence alone: the peer may be back.
 */
export function verdict(
  l: PeerLiveness,
  nowMs: number,
  o: LivenessOptions,
  patienceFactor = 1,
): Verdict {
  if (nowMs - l.lastSeenMs > patienceFactor * o.fireAfterMs) return "dead";
  return l.online && !offlineNow(l, nowMs, o) ? "online" : "offline";
}

/**
 * Whether the peer is believed offline on old evidence, so that a probe is worth sending before
 * acting on it (it may have come back since it was last heard of). The evidence is fresh while a
 * probe has gone unanswered for a probe interval, or a request it missed was sent within two
 * intervals and a request timeout.
 */
export function staleOffline(l: PeerLiveness, nowMs: number, o: LivenessOptions): boolean {
  if (l.online) return false;
  const unanswered = l.probePending && nowMs - l.probedMs >= o.probeIntervalMs;
  const missedLately = nowMs - l.missedMs < 2 * o.probeIntervalMs + o.requestTimeoutMs;
  return !unanswered && !(l.missedMs > 0 && missedLately);
}
