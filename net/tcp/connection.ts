/**
 * One authenticated TCP connection: the socket, its frame reader and its AEAD session.
 *
 * The transport owns the policy (which connection a peer uses, when to close one); this file
 * only moves bytes: {@link Connection.write} seals and writes one message and resolves when the
 * socket took all of it (so a writer that awaits it never has more than one frame in flight),
 * {@link Connection.read} reads and opens the next frame. A connection the responder admitted
 * starts with a *prelude*, the sealed accepting verdict of the handshake, which must be the
 * first frame it writes: the writer sends it with {@link Connection.writePrelude} before any
 * message.
 *
 * @module
 */

import type { NodeId } from "../../core/actor.ts";
import { type FrameReader, writeAll } from "./frames.ts";
import type { OpenFailure, Session } from "./session.ts";

/** Outcome of {@link Connection.read}. `end`: the stream ended or failed without a violation. */
export type ReadResult =
  | { ok: true; message: Uint8Array }
  | {
    ok: false;
    reason: OpenFailure | "oversized" | "truncated" | "memory_full" | "end";
    detail?: string;
  };

/** An authenticated connection to one peer. */
export class Connection {
  readonly conn: Deno.Conn;
  readonly reader: FrameReader;
  readonly session: Session;
  /** The authenticated peer. */
  readonly peer: NodeId;
  /** The Ed25519 key the peer proved in the handshake. */
  readonly peerKey: Uint8Array;
  /** Which side dialed (for the tie-break between simultaneous dials). */
  readonly dialer: NodeId;
  /** The peer transport's boot id, hex. */
  readonly peerBoot: string;
  /** The address block of an inbound connection's source (for per-block caps); else `null`. */
  readonly block: string | null;
  /** Hex of {@link peerKey} (for per-key caps). */
  readonly keyHex: string;
  /** Last completed read or write (ms). */
  lastActiveMs: number;
  /** When the write in progress started, or `null` when none is. */
  writeStartedMs: number | null = null;
  /** Set once the transport has let go of this connection. */
  ended = false;
  idleTimer: ReturnType<typeof setTimeout> | undefined;
  /** {@link FrameReader.bytesRead} when activity was last noted. */
  seenBytes = 0;
  #closed = false;
  #prelude: Uint8Array | null;

  constructor(
    conn: Deno.Conn,
    reader: FrameReader,
    session: Session,
    ids: {
      peer: NodeId;
      peerKey: Uint8Array;
      keyHex: string;
      dialer: NodeId;
      peerBoot: string;
      block: string | null;
    },
    nowMs: number,
    prelude: Uint8Array | null = null,
  ) {
    this.conn = conn;
    this.reader = reader;
    this.session = session;
    this.peer = ids.peer;
    this.peerKey = ids.peerKey;
    this.keyHex = ids.keyHex;
    this.dialer = ids.dialer;
    this.peerBoot = ids.peerBoot;
    this.block = ids.block;
    this.lastActiveMs = nowMs;
    this.seenBytes = reader.bytesRead;
    this.#prelude = prelude;
  }

  /** Whether the prelude is still to be written. */
  get hasPrelude(): boolean {
    return this.#prelude !== null;
  }

  /** Writes the prelude (a whole frame, already sealed); `false` when the socket failed. */
  async writePrelude(nowMs: () => number): Promise<boolean> {
    const prelude = this.#prelude;
    if (prelude === null) return true;
    this.#prelude = null;
    return await this.#writeFrame(prelude, nowMs);
  }

  /** Whether the socket was closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Seals and writes `message`; `false` when the socket failed or was closed. */
  async write(message: Uint8Array, nowMs: () => number): Promise<boolean> {
    if (this.#closed) return false;
    if (this.#prelude !== null) throw new Error("a message before the verdict"); // our bug
    return await this.#writeFrame(this.session.seal(message), nowMs);
  }

  async #writeFrame(frame: Uint8Array, nowMs: () => number): Promise<boolean> {
    if (this.#closed) return false;
    this.writeStartedMs = nowMs();
    try {
      await writeAll(this.conn, frame);
      this.lastActiveMs = nowMs();
      return true;
    } catch {
      return false;
    } finally {
      this.writeStartedMs = null;
    }
  }

  /**
   * Reads and opens the next frame of at most `maxBytes` (body, after the length prefix). The
   * message is a buffer of its own; a large frame's pool buffer goes back at once.
   */
  async read(maxBytes: number): Promise<ReadResult> {
    const r = await this.reader.next(maxBytes);
    if (!r.ok) {
      const { reason } = r;
      if (reason === "oversized" || reason === "truncated" || reason === "memory_full") {
        return { ok: false, reason, detail: r.detail };
      }
      return { ok: false, reason: "end", detail: r.detail };
    }
    const opened = this.session.open(r.body);
    this.reader.release();
    return opened.ok ? opened : { ok: false, reason: opened.reason };
  }

  /** Closes the socket (idempotent); a read or write in progress fails. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.idleTimer);
    try {
      this.conn.close();
    } catch {
      // already closed by the runtime
    }
    this.reader.dispose();
  }
}

/** Closes `conn`, ignoring a second close. */
export function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}
