/**
 * A sliding replay window over sequence numbers, for links that may duplicate and reorder
 * (the simulator's links; a datagram transport later): each number is accepted once; one more
 * than {@link REPLAY_WINDOW_SPAN} behind the highest seen is refused, since the window no longer
 * remembers it. A TCP session needs none: its frames arrive in order, so its counter is strict.
 *
 * The state is two numbers kept by the caller (no allocation per link beyond its own record).
 *
 * @module
 */

/** How many sequence numbers below the highest one a window still tells apart. */
export const REPLAY_WINDOW_SPAN = 32;

/** The receiving side of one link: the highest accepted number and a bitmap of those below. */
export interface ReplayWindow {
  /** Highest sequence number accepted so far (-1 before the first). */
  recvHighest: number;
  /** Bit i set: `recvHighest - i` was accepted. */
  recvMask: number;
}

/** A window that has seen nothing. */
export function replayWindow(): ReplayWindow {
  return { recvHighest: -1, recvMask: 0 };
}

/** Whether `seq` is new to `w` (and records it); false for a replay or one too far behind. */
export function acceptSequence(w: ReplayWindow, seq: number): boolean {
  const highest = w.recvHighest;
  if (seq > highest) {
    const shift = seq - highest;
    w.recvMask = shift >= REPLAY_WINDOW_SPAN ? 1 : ((w.recvMask << shift) | 1);
    w.recvHighest = seq;
    return true;
  }
  const behind = highest - seq;
  if (behind >= REPLAY_WINDOW_SPAN) return false;
  const bit = 1 << behind;
  if ((w.recvMask & bit) !== 0) return false;
  w.recvMask |= bit;
  return true;
}
