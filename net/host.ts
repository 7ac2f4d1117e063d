/**
 * The real host: drives one actor with the wall clock, a blob store and injected parts.
 *
 * Theory of operation. The host wraps the actor in the node shell (`core/shell.ts`, the same one
 * the simulator uses: effect limit, invariants, timer re-arming) and feeds it one input at a
 * time. Inputs that arrive while a step runs (a notice subscriber that answers synchronously,
 * say) wait in a queue, so `step` never re-enters. The shell hands the effects, in order, to
 * this host's effect port:
 * - `io`: the {@link BlobOp} runs against the {@link BlobStore}; its {@link BlobResult} comes back
 *   later as `io_done` with the actor's id;
 * - `job`: the injected `runJob` (inline or on a worker; an actor that emits jobs needs one); its
 *   result comes back as `job_done`;
 * - `send`: the injected transport callback (none for an HTTP-only ID server; a send without one
 *   is a wiring bug);
 * - `notice`: every subscriber is called with it;
 * - `trace`: the injected logger.
 * It keeps exactly one `setTimeout` armed, moved only earlier (the shell says when); when it
 * fires the actor gets `{ kind: "timeout", nowMs }`, or the timer is armed again if the actor
 * pushed its deadline back meanwhile.
 *
 * An exception out of `step` or `invariants` is a bug of ours: the host stops taking inputs and
 * reports it through `onFatal` (by default `reportError`, which ends the process).
 *
 * @module
 */

import type {
  Actor,
  BlobOp,
  Input,
  NodeId,
  Protocol,
  SecretSource,
  StepContext,
  StepCrypto,
} from "../core/actor.ts";
import type { Random } from "../core/prng.ts";
import { DISARM, type EffectPort, NodeShell } from "../core/shell.ts";
import type { BlobStore } from "./blob_store.ts";
import { runRangedBlobOp } from "./routed_store.ts";
import { CsprngSource } from "./secret.ts";

/** Longest delay `setTimeout` takes; later deadlines are re-checked when it fires. */
const TIMER_DELAY_MS_MAX = 2 ** 31 - 1;

/** What a {@link Host} is made of. */
export interface HostOptions<S, P extends Protocol> {
  actor: Actor<S, P>;
  state: S;
  /** This node's name. */
  self: NodeId;
  crypto: StepCrypto;
  /** Predictable entropy (jitter, shuffles); see `StepContext.random`. */
  random: Random;
  /** Entropy for secrets (default: the platform CSPRNG). */
  secret?: SecretSource;
  store: BlobStore;
  /** Wall clock in ms (default `Date.now`). */
  clock?: () => number;
  /** Runs a CPU job (on a worker, or inline). Required if the actor emits jobs. */
  runJob?: (job: P["job"]) => P["jobResult"] | Promise<P["jobResult"]>;
  /** Sends a message to another node. Required if the actor emits sends. */
  send?: (to: NodeId, message: P["message"]) => void;
  /** Receives trace events (default: dropped). */
  trace?: (event: string, detail?: Record<string, string | number | boolean>) => void;
  /** Receives a bug of ours (an exception from the actor); default `reportError`. */
  onFatal?: (error: unknown) => void;
}

/** Drives one actor for real. Create it, `subscribe`, then `start`. */
export class Host<S, P extends Protocol> {
  readonly #o: HostOptions<S, P>;
  readonly #shell: NodeShell<S, P>;
  readonly #port: EffectPort<P>;
  readonly #clock: () => number;
  readonly #secret: SecretSource;
  readonly #queue: Input<P>[] = [];
  readonly #subscribers = new Set<(notice: P["notice"]) => void>();
  readonly #inFlight = new Set<Promise<void>>();
  #draining = false;
  #stopped = false;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: HostOptions<S, P>) {
    this.#o = options;
    this.#shell = new NodeShell({ actor: options.actor, state: options.state });
    this.#clock = options.clock ?? Date.now;
    this.#secret = options.secret ?? new CsprngSource();
    this.#port = {
      send: (to, message) => {
        if (options.send === undefined) {
          throw new Error("actor sent a message but the host has no link");
        }
        options.send(to, message);
      },
      io: (id, op) => this.#io(id, op),
      job: (id, job) => this.#job(id, job),
      notice: (notice) => {
        for (const fn of this.#subscribers) fn(notice);
      },
      trace: (event, detail) => options.trace?.(event, detail),
    };
  }

  /** The actor's state (read it, never change it from outside). */
  get state(): S {
    return this.#shell.state;
  }

  /** Calls `fn` with every notice; returns the function that unsubscribes. */
  subscribe(fn: (notice: P["notice"]) => void): () => void {
    this.#subscribers.add(fn);
    return () => this.#subscribers.delete(fn);
  }

  /** Delivers `{ kind: "start" }`. */
  start(): void {
    this.deliver({ kind: "start" });
  }

  /** Queues one input and runs the actor until the queue is empty. Ignored once stopped. */
  deliver(input: Input<P>): void {
    if (this.#stopped) return;
    this.#queue.push(input);
    if (this.#draining) return;
    this.#draining = true;
    try {
      for (let next = this.#queue.shift(); next !== undefined; next = this.#queue.shift()) {
        this.#stepOnce(next);
        if (this.#stopped) break;
      }
    } catch (e) {
      this.#fail(e);
    } finally {
      this.#draining = false;
    }
    this.#armTimer();
  }

  #stepOnce(input: Input<P>): void {
    const o = this.#o;
    const ctx: StepContext = {
      nowMs: this.#clock(),
      random: o.random,
      secret: this.#secret,
      self: o.self,
      crypto: o.crypto,
    };
    this.#shell.step(input, ctx, this.#port);
  }

  #io(id: number, op: BlobOp): void {
    this.#track(
      runRangedBlobOp(this.#o.store, op).then(
        (result) => this.deliver({ kind: "io_done", id, result }),
        (e) => this.#fail(e), // runBlobOp turns store failures into values: this is a bug
      ),
    );
  }

  #job(id: number, job: P["job"]): void {
    const runJob = this.#o.runJob;
    if (runJob === undefined) throw new Error("actor emitted a job but the host has no runner");
    this.#track(
      Promise.resolve().then(() => runJob(job)).then(
        (result) => this.deliver({ kind: "job_done", id, result }),
        (e) => this.#fail(e),
      ),
    );
  }

  #track(p: Promise<void>): void {
    const tracked = p.catch((e) => this.#fail(e)).finally(() => this.#inFlight.delete(tracked));
    this.#inFlight.add(tracked);
  }

  #armTimer(): void {
    if (this.#stopped) return;
    const at = this.#shell.rearm(this.#clock());
    if (at === null) return;
    this.#clearTimer();
    if (at !== DISARM) this.#setTimer(at);
  }

  #setTimer(atMs: number): void {
    const delay = Math.min(Math.max(0, atMs - this.#clock()), TIMER_DELAY_MS_MAX);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#stopped) return;
      const fired = this.#shell.fired(this.#clock());
      if (fired === true) this.deliver({ kind: "timeout", nowMs: this.#clock() });
      else if (fired !== null) this.#setTimer(fired);
    }, delay);
  }

  #fail(e: unknown): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#clearTimer();
    (this.#o.onFatal ?? reportError)(e);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Resolves when no blob operation or job is in flight. */
  async settled(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
  }

  /** Stops taking inputs, disarms the timer and waits for blob operations in flight. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#clearTimer();
    await this.settled();
  }
}
