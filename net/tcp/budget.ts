/**
 * The shared memory budget of a transport's frame buffers, and the buffers themselves.
 *
 * Every connection reads small frames into a staging buffer of its own
 * (`TCP_CONNECTION_READ_SHARE_BYTES`); a frame larger than that is read into a buffer taken from
 * this pool. The pool hands out at most `totalBytes` of buffers at once. A request that does not
 * fit waits, and so do all behind it (a large frame is never starved by a stream of smaller
 * ones). A waiting reader reads nothing from its socket, so its peer feels TCP back-pressure;
 * a request that waits past its deadline is refused and the caller closes the connection. What
 * all connections hold together thus stays within the budget, whoever connects.
 *
 * Why a frame takes all of its length when its length prefix arrives, not piece by piece as its
 * bytes do: piecewise reservations deadlock under honest load. Eight peers sending 16 MiB at
 * once into a 64 MiB budget would each get 8 MiB, all wait for more, and none would ever
 * finish. Taking whole frames lets every frame that starts reading finish. What a peer gains by
 * announcing a large frame and sending it slowly is a delay of other large frames (small ones
 * never wait), bounded by the per-block and per-key connection caps and the idle timeout.
 *
 * Why the pool keeps the buffers it handed out, instead of leaving them to the garbage
 * collector: a large frame's buffer lives for many turns of the event loop while its bytes
 * arrive, long enough to be promoted to V8's old generation, whose garbage is collected only by
 * full collections, which V8 runs late (measured: with fresh buffers per frame a receiver under
 * a flood of 16 MiB frames sat at about 700 MiB resident for a 64 MiB budget). Reused buffers
 * are never garbage. Buffers come in sizes rounded up to {@link POOL_GRANULE_BYTES}, and a
 * request is charged that size, so the budget counts what is really allocated; free buffers of
 * other sizes are dropped when their room is needed.
 *
 * @module
 */

/** Buffers are allocated in multiples of this size. */
export const POOL_GRANULE_BYTES = 256 * 1024;

interface Waiter {
  bytes: number;
  resolve: (buffer: Uint8Array<ArrayBuffer> | null) => void;
  timer: ReturnType<typeof setTimeout>;
  onAbort?: () => void;
  signal?: AbortSignal;
}

/** The capacity a buffer for `bytes` gets. */
function capacityFor(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / POOL_GRANULE_BYTES)) * POOL_GRANULE_BYTES;
}

/** Frame buffers shared by every connection of one transport; see the module notes. */
export class FrameBufferPool {
  /** Bytes of buffers the pool may hold, handed out or free. */
  readonly totalBytes: number;
  #used = 0;
  #peak = 0;
  #freeBytes = 0;
  /** Free buffers by capacity, the most recently freed capacity last. */
  readonly #free = new Map<number, ArrayBuffer[]>();
  readonly #waiters: Waiter[] = [];
  /** Requests that had to wait, and those refused at their deadline. */
  waits = 0;
  timeouts = 0;

  constructor(totalBytes: number) {
    if (!(totalBytes >= 0)) throw new RangeError("a pool holds zero or more bytes");
    this.totalBytes = totalBytes;
  }

  /** Bytes of buffers handed out now (their full capacities). */
  get usedBytes(): number {
    return this.#used;
  }

  /** Most bytes handed out at once so far. */
  get peakBytes(): number {
    return this.#peak;
  }

  /** Bytes of free buffers kept for reuse. */
  get freeBytes(): number {
    return this.#freeBytes;
  }

  /** Requests waiting now. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** A buffer of `bytes` if there is room now and nobody waits before us; else `null`. */
  tryTake(bytes: number): Uint8Array<ArrayBuffer> | null {
    if (this.#waiters.length > 0) return null;
    return this.#take(bytes);
  }

  /**
   * A buffer of `bytes`, waiting in line for at most `waitMs`; `null` when the deadline passes,
   * `signal` aborts, or the request can never fit.
   */
  take(
    bytes: number,
    waitMs: number,
    signal?: AbortSignal,
  ): Promise<Uint8Array<ArrayBuffer> | null> {
    const now = this.tryTake(bytes);
    if (now !== null) return Promise.resolve(now);
    if (capacityFor(bytes) > this.totalBytes || signal?.aborted) return Promise.resolve(null);
    this.waits++;
    return new Promise((resolve) => {
      const w: Waiter = {
        bytes,
        resolve,
        signal,
        timer: setTimeout(() => {
          this.timeouts++;
          this.#leave(w, null);
        }, waitMs),
      };
      if (signal !== undefined) {
        w.onAbort = () => this.#leave(w, null);
        signal.addEventListener("abort", w.onAbort, { once: true });
      }
      this.#waiters.push(w);
    });
  }

  /** Gives back a buffer from {@link take}; serves waiters in order while they fit. */
  give(buffer: Uint8Array<ArrayBuffer>): void {
    const whole = buffer.buffer;
    const capacity = whole.byteLength;
    if (capacity > this.#used) throw new RangeError("gave back more than was taken");
    this.#used -= capacity;
    const list = this.#free.get(capacity) ?? [];
    this.#free.delete(capacity);
    list.push(whole);
    this.#free.set(capacity, list);
    this.#freeBytes += capacity;
    this.#serve();
  }

  #take(bytes: number): Uint8Array<ArrayBuffer> | null {
    const capacity = capacityFor(bytes);
    if (this.#used + capacity > this.totalBytes) return null;
    const list = this.#free.get(capacity);
    let whole = list?.pop();
    if (whole !== undefined) {
      this.#freeBytes -= capacity;
      if (list!.length === 0) this.#free.delete(capacity);
    } else {
      // Make room by dropping free buffers of other sizes, least recently freed first.
      while (this.#used + this.#freeBytes + capacity > this.totalBytes) {
        const [size, buffers] = this.#free.entries().next().value!;
        buffers.pop();
        this.#freeBytes -= size;
        if (buffers.length === 0) this.#free.delete(size);
      }
      whole = new ArrayBuffer(capacity);
    }
    this.#used += capacity;
    if (this.#used > this.#peak) this.#peak = this.#used;
    return new Uint8Array(whole, 0, bytes);
  }

  #serve(): void {
    while (this.#waiters.length > 0) {
      const w = this.#waiters[0];
      const buffer = this.#take(w.bytes);
      if (buffer === null) return;
      this.#leave(w, buffer);
    }
  }

  #leave(w: Waiter, buffer: Uint8Array<ArrayBuffer> | null): void {
    const at = this.#waiters.indexOf(w);
    if (at < 0) return;
    this.#waiters.splice(at, 1);
    clearTimeout(w.timer);
    if (w.onAbort !== undefined) w.signal?.removeEventListener("abort", w.onAbort);
    w.resolve(buffer);
    if (buffer === null && at === 0) this.#serve(); // the head left: those behind may fit now
  }
}
