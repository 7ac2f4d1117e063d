/**
 * The direct driver: one actor stepped by hand in a unit test, through the same node shell as
 * the simulator and the real host (`core/shell.ts`).
 *
 * Theory of operation. The test owns the clock (`nowMs`, {@link DirectDriver.advance},
 * {@link DirectDriver.runUntil}) and delivers inputs; inputs that arise while a step runs (a
 * blob operation's completion, a job's result) wait in a queue, so the actor never re-enters,
 * as on a real host. Sends are recorded after a round trip through the protocol codec (every
 * message must survive the wire), notices and trace events are recorded, blob operations run at
 * once on the driver's blob runner (a {@link SimDisk} unless the test gives its own) or, with
 * `holdIo`, wait for {@link DirectDriver.release}, which may run them in any order and with a
 * failure probability. Jobs run inline through the test's runner.
 *
 * @module
 */

import type {
  Actor,
  BlobOp,
  BlobResult,
  Input,
  NodeId,
  Protocol,
  StepContext,
  StepCrypto,
} from "../core/actor.ts";
import type { Codec } from "../core/codec.ts";
import { decode } from "../core/codec.ts";
import { Random } from "../core/prng.ts";
import { type EffectPort, NodeShell } from "../core/shell.ts";
import { DEFAULT_DISK, SimDisk } from "./disk.ts";

/** How a {@link DirectDriver} is built. */
export interface DriverOptions<S, P extends Protocol> {
  actor: Actor<S, P>;
  state: S;
  codec: Codec<P["message"]>;
  self: NodeId;
  crypto: StepCrypto;
  /** Seed of the driver's random and secret streams (default 7). */
  seed?: number;
  /** Starting clock (default 1,000,000 ms). */
  nowMs?: number;
  /** The disk blob operations run on (default: a fresh {@link SimDisk}). */
  disk?: SimDisk;
  /** Runs blob operations instead of the disk, when given. */
  blobs?: (op: BlobOp) => BlobResult;
  /** Runs a CPU job inline. Required if the actor emits jobs. */
  runJob?: (job: P["job"]) => P["jobResult"];
}

/** Drives one actor directly; see the module header. */
export class DirectDriver<S, P extends Protocol> {
  readonly shell: NodeShell<S, P>;
  nowMs: number;
  random: Random;
  secret: Random;
  crypto: StepCrypto;
  disk: SimDisk;
  sent: { to: NodeId; message: P["message"] }[] = [];
  notices: P["notice"][] = [];
  traces: string[] = [];
  held: { id: number; op: BlobOp }[] = [];
  holdIo = false;
  /** Probability that a blob operation fails with `io_error`. */
  failure = 0;
  readonly #o: DriverOptions<S, P>;
  readonly #port: EffectPort<P>;
  #queue: Input<P>[] = [];
  #running = false;

  constructor(options: DriverOptions<S, P>) {
    this.#o = options;
    const { actor, state, codec } = options;
    this.shell = new NodeShell({ actor, state, codec });
    this.nowMs = options.nowMs ?? 1_000_000;
    this.random = Random.stream(options.seed ?? 7);
    this.secret = Random.stream(options.seed ?? 7, "secret");
    this.crypto = options.crypto;
    this.disk = options.disk ?? new SimDisk({ ...DEFAULT_DISK });
    this.#port = {
      send: (to, message) => {
        const wire = this.shell.encode(message).slice();
        this.sent.push({ to, message: decode(options.codec, wire) });
      },
      io: (id, op) => {
        if (this.holdIo) this.held.push({ id, op });
        else this.#queue.push({ kind: "io_done", id, result: this.runIo(op) });
      },
      job: (id, job) => {
        const run = options.runJob;
        if (run === undefined) throw new Error("the actor emitted a job but the driver has none");
        this.#queue.push({ kind: "job_done", id, result: run(job) });
      },
      notice: (notice) => this.notices.push(notice),
      trace: (event) => this.traces.push(event),
    };
  }

  /** The actor's state. */
  get state(): S {
    return this.shell.state;
  }

  set state(value: S) {
    this.shell.reset(value);
  }

  /** The context of the next step. */
  ctx(): StepContext {
    return {
      nowMs: this.nowMs,
      random: this.random,
      secret: this.secret,
      self: this.#o.self,
      crypto: this.crypto,
    };
  }

  /** Queues `input` and steps until the queue is empty. */
  deliver(input: Input<P>): void {
    this.#queue.push(input);
    if (this.#running) return;
    this.#running = true;
    try {
      for (let next = this.#queue.shift(); next !== undefined; next = this.#queue.shift()) {
        this.shell.step(next, this.ctx(), this.#port);
      }
    } finally {
      this.#running = false;
      this.#queue = [];
    }
  }

  /** Runs one blob operation now: the failure probability, then the test's runner or disk. */
  runIo(op: BlobOp): BlobResult {
    if (this.failure > 0 && this.random.float() < this.failure) {
      return { ok: false, error: "io_error" };
    }
    const run = this.#o.blobs;
    if (run !== undefined) return run(op);
    const { result, token } = this.disk.apply(op, this.random);
    this.disk.synced(token); // completed at once: durable
    return result;
  }

  /** Runs `n` held operations (all by default), picked in random order with `pick`. */
  release(n = Infinity, pick?: Random): void {
    for (let i = 0; i < n && this.held.length > 0; i++) {
      const at = pick === undefined ? 0 : pick.int(this.held.length);
      const [{ id, op }] = this.held.splice(at, 1);
      this.deliver({ kind: "io_done", id, result: this.runIo(op) });
    }
  }

  /** The actor's next deadline, or `null`. */
  deadline(): number | null {
    return this.shell.actor.nextDeadlineMs(this.shell.state);
  }

  /** Moves the clock on by `ms` and fires the timer if it is due. */
  advance(ms: number): void {
    this.nowMs += ms;
    const due = this.deadline();
    if (due !== null && due <= this.nowMs) this.deliver({ kind: "timeout", nowMs: this.nowMs });
  }

  /** Moves the clock to `untilMs`, firing every timer on the way at its own time. */
  runUntil(untilMs: number): void {
    for (;;) {
      const due = this.deadline();
      if (due === null || due > untilMs) break;
      this.nowMs = Math.max(this.nowMs, due);
      this.deliver({ kind: "timeout", nowMs: this.nowMs });
    }
    this.nowMs = untilMs;
  }
}
