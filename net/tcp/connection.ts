/**
 * One authenticated TCP connection: the socket, its frame reader and its AEAD session.
 *
 * The transport owns the policy (which connection a peer uses, when to close one); this file
 * only moves bytes: {@link Connection.write} seals and writes one message and resolves when the
 * socket took all of it (so a writer that awaits it never has more than one frame in flight),
 * {@link Connection.read} reads and opens the next frame.
 *
 * @module
 */

import type { NodeId } from "../../core/actor.ts";
import { type FrameReader, writeAll } from "./frames.ts";
import type { OpenFailure, Session } from "./session.ts";

/** Outcome of {@link Connection.read}. `end`: the stream ended or failed without a violation. */
export type ReadResult =
  | { ok: true; message: Uint8Array }
  | { ok: false; reason: OpenFailure | "oversized" | "truncated" | "end"; detail?: string };

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
  /** Last completed read or write (ms). */
  lastActiveMs: number;
  /** When the write in progress started, or `null` when none is. */
  writeStartedMs: number | null = null;
  /** Set once the transport has let go of this connection. */
  ended = false;
  idleTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  constructor(
    conn: Deno.Conn,
    reader: FrameReader,
    session: Session,
    ids: { peer: NodeId; peerKey: Uint8Array; dialer: NodeId; peerBoot: string },
    nowMs: number,
  ) {
    this.conn = conn;
    this.reader = reader;
    this.session = session;
    this.peer = ids.peer;
    this.peerKey = ids.peerKey;
    this.dialer = ids.dialer;
    this.peerBoot = ids.peerBoot;
    this.lastActiveMs = nowMs;
  }

  /** Whether the socket was closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Seals and writes `message`; `false` when the socket failed or was closed. */
  async write(message: Uint8Array, nowMs: () => number): Promise<boolean> {
    if (this.#closed) return false;
    const frame = this.session.seal(message);
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

  /** Reads and opens the next frame of at most `maxBytes` (body, after the length prefix). */
  async read(maxBytes: number): Promise<ReadResult> {
    const r = await this.reader.next(maxBytes);
    if (!r.ok) {
      if (r.reason === "oversized" || r.reason === "truncated") return r as ReadResult;
      return { ok: false, reason: "end", detail: r.detail };
    }
    const opened = this.session.open(r.body);
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
