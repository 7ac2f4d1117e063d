/**
 * The node shell: what every host does around an actor's `step`, written once.
 *
 * Theory of operation. A host (the simulator's node, the real `net/host.ts`, a test driver) owns
 * one {@link NodeShell}, which owns the actor's state. For each input the host builds the
 * {@link StepContext} (its clock, its entropy) and calls {@link NodeShell.step} with an
 * {@link EffectPort}: the shell runs the actor, checks the effect limit (`STEP_EFFECTS_MAX`) and
 * the actor's invariants, hands every effect, in order, to the port (the only part a host
 * writes: how to send, store, compute), and then works out what the host's single timer must do.
 *
 * Frames: a host that receives bytes hands them to {@link NodeShell.decode}; a frame that does
 * not decode is counted (`malformed`) and never reaches the actor. Sequence numbers and replay
 * belong to the link the frame came on (`core/replay_window.ts` for datagram-like links, the
 * session counter for TCP), so they are checked before the shell sees the bytes.
 *
 * Timers: the actor keeps its deadlines in its state; the host keeps one timer armed. After
 * every step {@link NodeShell.rearm} says `null` (nothing to do), a time to arm at (an earlier
 * deadline appeared), or {@link DISARM} (no deadline is left). A later deadline does not re-arm:
 * the armed timer fires early and {@link NodeShell.fired} says to arm again at the real deadline
 * instead of stepping. So the host's timer is only ever moved earlier, and a deadline the actor
 * pushes back costs one early wake-up, not a cancel per step. Deadlines are in the actor's own
 * clock (`ctx.nowMs`); a host with a skewed clock converts when it arms.
 *
 * Companion: a host may give the shell a second, smaller state machine that runs beside the
 * actor on the same inputs and the same port (`parts/route_client.ts`: a node behind NAT keeps
 * its route to a router). It sees every input first: the messages it claims never reach the
 * actor; `start` and `timeout` go to both (the companion first); its deadline joins the
 * actor's for the host's one timer, and its invariants are checked with the actor's. Its
 * state is its own, so the actor's state and type stay as they are.
 *
 * An exception out of the actor is a bug of ours; the shell lets it through for the host to
 * report (the simulator names the seed, the real host stops).
 *
 * @module
 */

import type { Actor, BlobOp, Effect, Input, NodeId, Protocol, StepContext } from "./actor.ts";
import { assert, AssertionError } from "./assert.ts";
import { type Codec, encode, tryDecode } from "./codec.ts";
import { STEP_EFFECTS_MAX } from "./limits.ts";

/** Where a shell's effects go: the part of a host that differs between hosts. */
export interface EffectPort<P extends Protocol> {
  /**
   * Sends `message` to `to` (encode it with {@link NodeShell.encode} to cross a wire); with
   * `dial`, over a new connection to `to`'s advertised address (see the `send` effect).
   */
  send(to: NodeId, message: P["message"], dial?: true): void;
  /** Starts blob operation `id`; its result comes back later as `io_done`. */
  io(id: number, op: BlobOp): void;
  /** Starts CPU job `id`; its result comes back later as `job_done`. */
  job(id: number, job: P["job"]): void;
  /** Tells the node's own user. */
  notice(notice: P["notice"]): void;
  /** Records a trace event. */
  trace(event: string, detail: Record<string, string | number | boolean> | undefined): void;
}

/** A state machine that runs beside the actor (see the module comment). */
export interface Companion<P extends Protocol> {
  /**
   * Handles `input`: its effects, or `null` when the input is not its own. A `message` it
   * handles does not reach the actor; `start` and `timeout` always do.
   */
  step(input: Input<P>, ctx: StepContext): readonly Effect<P>[] | null;
  /** Its earliest deadline, or `null`. */
  nextDeadlineMs(): number | null;
  /** Asserts its own rules. */
  invariants(): void;
  /** The process restarted: forget what lived in memory. */
  reset(): void;
}

/** {@link NodeShell.rearm}'s answer when no deadline is left: cancel the armed timer. */
export const DISARM = -Infinity;

/** How a shell is built. */
export interface ShellOptions<S, P extends Protocol> {
  actor: Actor<S, P>;
  state: S;
  /** The protocol's codec, for {@link NodeShell.decode} and {@link NodeShell.encode}. */
  codec?: Codec<P["message"]>;
  /** Run `invariants` after steps at all (default true). */
  checkInvariants?: boolean;
  /**
   * With `checkInvariants`, run them after every `checkEvery`-th step of this node (default 1:
   * after every step). A host that samples checks the whole state at the end with
   * {@link NodeShell.check}; a violation is then found up to `checkEvery - 1` steps late.
   */
  checkEvery?: number;
  /** A companion state machine (see the module comment). */
  companion?: Companion<P>;
}

/** One actor and its state, stepped the same way on every host. */
export class NodeShell<S, P extends Protocol> {
  readonly actor: Actor<S, P>;
  state: S;
  /** Steps run. */
  steps = 0;
  /** Frames that did not decode (see {@link decode}). */
  malformed = 0;
  /** The companion, or `null`. */
  companion: Companion<P> | null;
  readonly #codec: Codec<P["message"]> | undefined;
  /** Invariants after every `#every`-th step; 0: never. */
  readonly #every: number;
  /** The deadline the host's timer is armed for, in the actor's clock, or Infinity. */
  #armedAt = Infinity;

  constructor(options: ShellOptions<S, P>) {
    this.actor = options.actor;
    this.state = options.state;
    this.#codec = options.codec;
    this.companion = options.companion ?? null;
    const every = options.checkEvery ?? 1;
    assert(Number.isInteger(every) && every >= 1, `checkEvery must be a positive integer`);
    this.#every = options.checkInvariants === false ? 0 : every;
  }

  /** Runs the actor's invariants now (a host's final check when it samples them). */
  check(): void {
    this.actor.invariants(this.state);
    this.companion?.invariants();
  }

  /** The deadline the host's timer should be armed for (Infinity when none). */
  get armedAt(): number {
    return this.#armedAt;
  }

  /** The process restarts from `state`: whatever the old one had armed is forgotten. */
  reset(state: S): void {
    this.state = state;
    this.companion?.reset();
    this.#armedAt = Infinity;
  }

  /** Forgets the armed timer (the host's timer is gone: the node went offline, say). */
  forgetTimer(): void {
    this.#armedAt = Infinity;
  }

  /**
   * Runs one input: the actor's step, the effect limit, the invariants, then every effect in
   * order through `port`. Call {@link rearm} afterwards.
   */
  step(input: Input<P>, ctx: StepContext, port: EffectPort<P>): void {
    this.steps++;
    const companion = this.companion;
    if (companion !== null) {
      const its = companion.step(input, ctx);
      if (its !== null) {
        for (let i = 0; i < its.length; i++) apply(its[i], port);
        if (input.kind === "message") {
          if (this.#every !== 0 && this.steps % this.#every === 0) companion.invariants();
          return;
        }
      }
    }
    const effects = this.actor.step(this.state, input, ctx);
    assert(effects.length <= STEP_EFFECTS_MAX, `step returned ${effects.length} effects`);
    if (this.#every !== 0 && this.steps % this.#every === 0) {
      this.actor.invariants(this.state);
      companion?.invariants();
    }
    for (let i = 0; i < effects.length; i++) apply(effects[i], port);
  }

  /** The earliest deadline of the actor and its companion. */
  #due(): number | null {
    const due = this.actor.nextDeadlineMs(this.state);
    const companion = this.companion;
    if (companion === null) return due;
    const its = companion.nextDeadlineMs();
    if (its === null) return due;
    return due === null || its < due ? its : due;
  }

  /**
   * What the host's timer must do after a step at `nowMs` (actor clock): `null` nothing,
   * {@link DISARM} cancel it, or a time to arm it at: the new earliest deadline, or `nowMs` when
   * that deadline has passed already.
   */
  rearm(nowMs: number): number | null {
    const due = this.#due();
    if (due === null) {
      if (this.#armedAt === Infinity) return null;
      this.#armedAt = Infinity;
      return DISARM;
    }
    if (due >= this.#armedAt) return null;
    this.#armedAt = Math.max(due, nowMs);
    return this.#armedAt;
  }

  /**
   * The host's timer fired at `nowMs` (actor clock): `true` to deliver a timeout now, a
   * deadline to arm again at (the actor pushed it back), or `null` (nothing is due any more).
   */
  fired(nowMs: number): true | number | null {
    this.#armedAt = Infinity;
    const due = this.#due();
    if (due === null) return null;
    if (due > nowMs) {
      this.#armedAt = due;
      return due;
    }
    return true;
  }

  /** Decodes a received frame; `undefined` (counted as malformed) when it does not decode. */
  decode(frame: Uint8Array): P["message"] | undefined {
    const r = tryDecode(this.#codec!, frame);
    if (r.ok) return r.value;
    this.malformed++;
    return undefined;
  }

  /** Encodes one of the actor's messages; one that does not encode is a bug of the actor. */
  encode(message: P["message"]): Uint8Array {
    return encodeMessage(this.#codec!, message);
  }
}

/** Hands one effect to the port. */
function apply<P extends Protocol>(effect: Effect<P>, port: EffectPort<P>): void {
  switch (effect.kind) {
    case "send":
      return effect.dial === undefined
        ? port.send(effect.to, effect.message)
        : port.send(effect.to, effect.message, true);
    case "io":
      return port.io(effect.id, effect.op);
    case "job":
      return port.job(effect.id, effect.job);
    case "notice":
      return port.notice(effect.notice);
    case "trace":
      return port.trace(effect.event, effect.detail);
  }
}

/** Encodes our own message; a failure is a bug in an actor, reported as an assertion. */
export function encodeMessage<M>(codec: Codec<M>, message: M): Uint8Array {
  try {
    return encode(codec, message);
  } catch (e) {
    if (e instanceof RangeError) throw new AssertionError(`unencodable message: ${e.message}`);
    throw e;
  }
}
