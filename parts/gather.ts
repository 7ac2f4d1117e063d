/**
 * Gathering K of the N fragments of one block, without any key: which positions to ask, in
 * what order, and what an answer means. The customer's restores and repairs run on it, and a
 * keyless rebuilder (issue 14) will: coding runs over ciphertext, and each fragment is checked
 * against its recorded SHA-256 (from the signed fragment index) before it counts.
 *
 * Theory of operation. A gather keeps, per position, whether it was asked, answered with the
 * fragment, or failed (no answer, no fragment, or bytes that fail their hash). The caller says
 * what it knows of each position through a {@link GatherView}: whether the position holds the
 * fragment, may be asked at all (an active member whose answers can be checked), and is believed
 * online. Candidates are the askable holders not asked yet, online ones first and lower
 * positions first within each (with a systematic Reed–Solomon code the data fragments decode
 * for free). The part sends nothing: the caller asks the positions {@link gatherNext} names,
 * and reports each outcome back.
 *
 * @example
 * ```ts
 * const g = newGatherProgress(4);
 * const view = { holds: () => true, askable: () => true, online: (p: number) => p !== 0 };
 * console.assert(gatherNext(g, view, 2)?.join() === "1,2");
 * ```
 *
 * @module
 */

/** Per position: not asked yet. */
const NOT_ASKED = 0;
/** Asked, no answer yet. */
const ASKED = 1;
/** Answered with a fragment that passed its hash. */
const GOT = 2;
/** No answer, no fragment, or a fragment that failed its hash. */
const FAILED = 3;

/** Where one block's gather stands. */
export interface GatherProgress {
  /** The fragments in hand, by position. */
  fragments: (Uint8Array | undefined)[];
  /** Per position: 0 not asked, 1 asked, 2 answered with the fragment, 3 failed. */
  asked: Uint8Array;
  inFlight: number;
  got: number;
  /** Positions that did not answer or did not have it, for the error message. */
  failed: number;
  /** False once the gather's owner gave up on it: late answers are dropped. */
  working: boolean;
}

/** What the gatherer knows of each position. */
export interface GatherView {
  /** Whether position `p` acknowledged holding the fragment. */
  holds(p: number): boolean;
  /** Whether `p` may be asked: an active member whose answer can be checked. */
  askable(p: number): boolean;
  /** Whether `p` is believed online now. */
  online(p: number): boolean;
}

/** A fresh gather over `n` positions. */
export function newGatherProgress(n: number): GatherProgress {
  return {
    fragments: new Array(n).fill(undefined),
    asked: new Uint8Array(n),
    inFlight: 0,
    got: 0,
    failed: 0,
    working: true,
  };
}

/** Holders not asked yet, in the order to ask them: online first, lower positions first. */
export function gatherCandidates(g: GatherProgress, view: GatherView): number[] {
  const online: number[] = [];
  const offline: number[] = [];
  for (let p = 0; p < g.asked.length; p++) {
    if (g.asked[p] !== NOT_ASKED || !view.holds(p) || !view.askable(p)) continue;
    (view.online(p) ? online : offline).push(p);
  }
  return online.concat(offline);
}

/**
 * How many fragments the gather could still have without asking a position believed offline:
 * below K, asking offline ones means waiting a request timeout on each.
 */
export function possibleOnline(g: GatherProgress, view: GatherView): number {
  const online = gatherCandidates(g, view).filter((p) => view.online(p)).length;
  return g.got + g.inFlight + online;
}

/**
 * The positions to ask next so that K fragments are in hand or in flight, or `null` when even
 * every candidate would not make K (the gather cannot succeed). The caller marks each position
 * it did ask with {@link gatherAsked}.
 */
export function gatherNext(g: GatherProgress, view: GatherView, k: number): number[] | null {
  const list = gatherCandidates(g, view);
  if (g.got + g.inFlight + list.length < k) return null;
  return list.slice(0, Math.max(0, k - g.got - g.inFlight));
}

/** Position `p` was asked. */
export function gatherAsked(g: GatherProgress, p: number): void {
  g.asked[p] = ASKED;
  g.inFlight++;
}

/**
 * Position `p` answered with `data` (or failed: `data` null). The fragment counts only when its
 * SHA-256 (`sha256(data)`) is `expectedHash` and its size `fragmentSize`. Returns `"got"`,
 * `"corrupt"` (bytes that fail their hash) or `"failed"`.
 */
export function gatherAnswered(
  g: GatherProgress,
  p: number,
  data: Uint8Array | null,
  check: { fragmentSize: number; expectedHash: Uint8Array; sha256(d: Uint8Array): Uint8Array },
): "got" | "corrupt" | "failed" {
  if (data === null) {
    gatherMissed(g, p);
    return "failed";
  }
  g.inFlight--;
  if (data.length === check.fragmentSize && same(check.sha256(data), check.expectedHash)) {
    g.asked[p] = GOT;
    g.fragments[p] = data;
    g.got++;
    return "got";
  }
  g.asked[p] = FAILED;
  g.failed++;
  return "corrupt";
}

/** Position `p` did not answer in time. */
export function gatherMissed(g: GatherProgress, p: number): void {
  g.inFlight--;
  g.asked[p] = FAILED;
  g.failed++;
}

/** Whether the gather has its K fragments. */
export function gatherComplete(g: GatherProgress, k: number): boolean {
  return g.got >= k;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
