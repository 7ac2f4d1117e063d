/**
 * Length-prefixed frames on a byte stream, with a hard maximum checked before allocating.
 *
 * Wire form: a 4-byte big-endian length, then that many bytes of body. The reader refuses a
 * length over the caller's maximum as soon as it has read the prefix, so a peer cannot make us
 * allocate or wait for more than the maximum. Small frames are parsed out of one reusable
 * staging buffer (no allocation); a frame larger than the staging buffer gets a buffer of its
 * own, filled by reading straight into it. That buffer starts at {@link LARGE_INITIAL_BYTES} and
 * doubles as bytes arrive, so what a peer makes us hold follows what it sent, not what it
 * announced.
 *
 * @module
 */

/** Bytes of the length prefix. */
export const LENGTH_PREFIX_BYTES = 4;
/** Size of the reusable staging buffer: frames up to this size are parsed without allocating. */
export const STAGING_BYTES = 64 * 1024;
/** First allocation for a larger frame; it doubles as the bytes arrive, up to the frame. */
export const LARGE_INITIAL_BYTES = 2 * 1024 * 1024;

/** Why no frame could be read. `eof`: the stream ended cleanly between frames. */
export type FrameReadFailure = "eof" | "oversized" | "truncated" | "io_error";

/** Outcome of {@link FrameReader.next}. */
export type FrameRead =
  | { ok: true; body: Uint8Array }
  | { ok: false; reason: FrameReadFailure; detail?: string };

/** The part of `Deno.Conn` a reader needs. */
export interface ByteSource {
  read(p: Uint8Array): Promise<number | null>;
}

/** The part of `Deno.Conn` a writer needs. */
export interface ByteSink {
  write(p: Uint8Array): Promise<number>;
}

/** Reads frames from one stream. Not re-entrant: await each `next` before the following one. */
export class FrameReader {
  readonly #src: ByteSource;
  readonly #buf = new Uint8Array(STAGING_BYTES);
  readonly #view = new DataView(this.#buf.buffer);
  #start = 0;
  #end = 0;

  constructor(src: ByteSource) {
    this.#src = src;
  }

  /** Bytes read from the stream but not yet returned as frames. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /**
   * The next frame's body, at most `maxBytes` long. A small body is a view into the staging
   * buffer, valid until the next call; copy it to keep it.
   */
  async next(maxBytes: number): Promise<FrameRead> {
    try {
      if (!(await this.#fill(LENGTH_PREFIX_BYTES))) {
        return { ok: false, reason: this.buffered === 0 ? "eof" : "truncated" };
      }
      const length = this.#view.getUint32(this.#start);
      if (length > maxBytes) {
        return { ok: false, reason: "oversized", detail: `${length} > ${maxBytes}` };
      }
      this.#start += LENGTH_PREFIX_BYTES;
      if (length <= STAGING_BYTES) {
        if (!(await this.#fill(length))) return { ok: false, reason: "truncated" };
        const body = this.#buf.subarray(this.#start, this.#start + length);
        this.#start += length;
        return { ok: true, body };
      }
      return await this.#readLarge(length);
    } catch (e) {
      return { ok: false, reason: "io_error", detail: e instanceof Error ? e.message : String(e) };
    }
  }

  async #readLarge(length: number): Promise<FrameRead> {
    // Grow with what actually arrives: a peer that announces a large frame and sends nothing
    // holds at most LARGE_INITIAL_BYTES of our memory, not its announced length.
    let body = new Uint8Array(Math.min(length, Math.max(LARGE_INITIAL_BYTES, this.buffered)));
    let filled = Math.min(length, this.buffered);
    body.set(this.#buf.subarray(this.#start, this.#start + filled));
    this.#start += filled;
    while (filled < length) {
      if (filled === body.length) {
        const grown = new Uint8Array(Math.min(length, body.length * 2));
        grown.set(body);
        body = grown;
      }
      const n = await this.#src.read(body.subarray(filled));
      if (n === null) return { ok: false, reason: "truncated" };
      filled += n;
    }
    return { ok: true, body };
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
