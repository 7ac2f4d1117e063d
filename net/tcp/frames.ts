/**
 * Length-prefixed frames on a byte stream, with a hard maximum checked before allocating, and
 * large frames read into buffers from a shared {@link FrameBufferPool}.
 *
 * Wire form: a 4-byte big-endian length, then that many bytes of body. The reader refuses a
 * length over the caller's maximum as soon as it has read the prefix, so a peer cannot make us
 * allocate or wait for more than the maximum. Frames up to {@link STAGING_BYTES} (the
 * connection's own share, `TCP_CONNECTION_READ_SHARE_BYTES`) are parsed out of one reusable
 * staging buffer, without allocating. A larger frame first takes a buffer for its length from
 * the pool (waiting, and so reading nothing more from the socket, while the pool has no room;
 * refused as `memory_full` past the wait deadline), filled by reading straight into it. The
 * buffer is the reader's until the next call to {@link FrameReader.next} or
 * {@link FrameReader.release}, which give it back: the caller copies out what it keeps. Without
 * a pool, a large frame gets a buffer of its own, which the caller keeps.
 *
 * @module
 */

import { TCP_CONNECTION_READ_SHARE_BYTES, TCP_READ_BUFFER_WAIT_MS_MAX } from "../../core/limits.ts";
import type { FrameBufferPool } from "./budget.ts";

/** Bytes of the length prefix. */
export const LENGTH_PREFIX_BYTES = 4;
/** Size of the reusable staging buffer: frames up to this size are parsed without allocating. */
export const STAGING_BYTES = TCP_CONNECTION_READ_SHARE_BYTES;

/**
 * Why no frame could be read. `eof`: the stream ended cleanly between frames; `memory_full`: the
 * budget had no room for a large frame within the wait deadline.
 */
export type FrameReadFailure = "eof" | "oversized" | "truncated" | "io_error" | "memory_full";

/**
 * Outcome of {@link FrameReader.next}. `owned`: the body is a buffer of its own, the caller's to
 * keep; otherwise it is the reader's (the staging buffer, or the pool's) until the next call.
 */
export type FrameRead =
  | { ok: true; body: Uint8Array<ArrayBuffer>; owned: boolean }
  | { ok: false; reason: FrameReadFailure; detail?: string };

/** The part of `Deno.Conn` a reader needs. */
export interface ByteSource {
  read(p: Uint8Array): Promise<number | null>;
}

/** The part of `Deno.Conn` a writer needs. */
export interface ByteSink {
  write(p: Uint8Array): Promise<number>;
}

/** Where a reader gets memory for large frames. Without a pool, it allocates freely. */
export interface FrameReaderOptions {
  pool?: FrameBufferPool;
  /** Longest wait for room in the pool (default {@link TCP_READ_BUFFER_WAIT_MS_MAX}). */
  waitMs?: number;
}

/** Reads frames from one stream. Not re-entrant: await each `next` before the following one. */
export class FrameReader {
  readonly #src: ByteSource;
  readonly #buf = new Uint8Array(STAGING_BYTES);
  readonly #view = new DataView(this.#buf.buffer);
  readonly #pool: FrameBufferPool | undefined;
  readonly #waitMs: number;
  readonly #abort = new AbortController();
  #start = 0;
  #end = 0;
  #held: Uint8Array<ArrayBuffer> | null = null;
  #reading = false;
  /** Bytes read from the stream so far (progress, for idle checks). */
  bytesRead = 0;

  constructor(src: ByteSource, options: FrameReaderOptions = {}) {
    this.#src = src;
    this.#pool = options.pool;
    this.#waitMs = options.waitMs ?? TCP_READ_BUFFER_WAIT_MS_MAX;
  }

  /** Bytes read from the stream but not yet returned as frames. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /** Bytes of the pool this reader holds (the last large frame, until released). */
  get heldBytes(): number {
    return this.#held?.length ?? 0;
  }

  /**
   * The next frame's body, at most `maxBytes` long. A small body is a view into the staging
   * buffer, valid until the next call; copy it to keep it.
   */
  async next(maxBytes: number): Promise<FrameRead> {
    this.release();
    this.#reading = true;
    try {
      return await this.#next(maxBytes);
    } finally {
      this.#reading = false;
      // Disposed while reading: only now that no read can still write into the buffer.
      if (this.#abort.signal.aborted) this.release();
    }
  }

  async #next(maxBytes: number): Promise<FrameRead> {
    try {
      if (!(await this.#fill(LENGTH_PREFIX_BYTES))) {
        return { ok: false, reason: this.buffered === 0 ? "eof" : "truncated" };
      }
      const length = this.#view.getUint32(this.#start);
      if (length > maxBytes) {
        return { ok: false, reason: "oversized", detail: `${length} > ${maxBytes}` };
      }
      if (length <= STAGING_BYTES) {
        this.#start += LENGTH_PREFIX_BYTES;
        if (!(await this.#fill(length))) return { ok: false, reason: "truncated" };
        const body = this.#buf.subarray(this.#start, this.#start + length);
        this.#start += length;
        return { ok: true, body, owned: false };
      }
      const body = await this.#buffer(length);
      if (body === null) return { ok: false, reason: "memory_full", detail: `${length} bytes` };
      this.#start += LENGTH_PREFIX_BYTES;
      const large = await this.#readLarge(body);
      if (!large.ok) this.release();
      return large;
    } catch (e) {
      this.release();
      return { ok: false, reason: "io_error", detail: e instanceof Error ? e.message : String(e) };
    }
  }

  /** Gives the buffer of the last large frame back to the pool (idempotent). */
  release(): void {
    const held = this.#held;
    if (held === null) return;
    this.#held = null;
    this.#pool?.give(held);
  }

  /**
   * Stops waiting for the pool and gives back what is held: the stream is done with. A read in
   * progress gives its buffer back when it ends (close the stream to end it).
   */
  dispose(): void {
    this.#abort.abort();
    if (!this.#reading) this.release();
  }

  /** A buffer for a large frame: from the pool (held), or of its own; `null`: no room. */
  async #buffer(length: number): Promise<Uint8Array<ArrayBuffer> | null> {
    const pool = this.#pool;
    if (pool === undefined) return new Uint8Array(length);
    const body = pool.tryTake(length) ?? await pool.take(length, this.#waitMs, this.#abort.signal);
    if (body === null) return null;
    if (this.#abort.signal.aborted) {
      pool.give(body);
      return null;
    }
    this.#held = body;
    return body;
  }

  async #readLarge(body: Uint8Array<ArrayBuffer>): Promise<FrameRead> {
    const length = body.length;
    let filled = Math.min(length, this.buffered);
    body.set(this.#buf.subarray(this.#start, this.#start + filled));
    this.#start += filled;
    while (filled < length) {
      const n = await this.#src.read(body.subarray(filled));
      if (n === null) return { ok: false, reason: "truncated" };
      this.bytesRead += n;
      filled += n;
    }
    return { ok: true, body, owned: this.#pool === undefined };
  }

  /** Makes sure `n` (at most {@link STAGING_BYTES}) bytes are buffered; `false` at the end. */
  async #fill(n: number): Promise<boolean> {
    while (this.#end - this.#start < n) {
      if (this.#start > 0 && STAGING_BYTES - this.#start < n) {
        this.#buf.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      } else if (this.#start === this.#end) {
        this.#start = this.#end = 0;
      }
      const read = await this.#src.read(this.#buf.subarray(this.#end));
      if (read === null) return false;
      this.bytesRead += read;
      this.#end += read;
    }
    return true;
  }
}

/** Writes all of `bytes`, however many calls the sink needs. */
export async function writeAll(sink: ByteSink, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await sink.write(bytes.subarray(at));
}

/** `body` with its length prefix, in a new buffer. */
export function frame(body: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(LENGTH_PREFIX_BYTES + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, LENGTH_PREFIX_BYTES);
  return out;
}
