/**
 * The simulated users' files: deterministic bytes generated on demand from the seed, so a run of
 * thousands of users needs no memory for their originals, and restores can be checked byte for
 * byte. Every file carries a plaintext marker (a run-wide 12-byte prefix and the file's number)
 * and every path contains the prefix in hex, so the checkers can scan supplier disks for any
 * plaintext or path that escaped encryption.
 *
 * @module
 */

import { toHex } from "../../core/ids.ts";
import { Random, type Seed } from "../../core/prng.ts";

const CHUNK_BYTES = 64 * 1024;
/** Bytes of the run-wide marker prefix. */
const MARKER_PREFIX_BYTES = 12;

/** Identifies one file of one version of one user. */
export interface FileId {
  customer: string;
  version: number;
  file: number;
}

/** Generates and describes the users' file contents of one run. */
export class Contents {
  readonly seed: Seed;
  readonly markerPrefix: Uint8Array;
  readonly markerHex: string;
  #serial = new Map<string, number>();

  constructor(seed: Seed) {
    this.seed = seed;
    this.markerPrefix = Random.stream(seed, "marker").bytes(MARKER_PREFIX_BYTES);
    this.markerHex = toHex(this.markerPrefix);
  }

  /** The path of a file in the user's tree; it contains the marker in hex. */
  path(id: FileId): string {
    return `docs-${this.markerHex}/v${id.version}/file-${id.file}.bin`;
  }

  #serialOf(id: FileId): number {
    const key = `${id.customer}/${id.version}/${id.file}`;
    let n = this.#serial.get(key);
    if (n === undefined) {
      n = this.#serial.size + 1;
      this.#serial.set(key, n);
    }
    return n;
  }

  /** `length` bytes of file `id` (of `size` bytes in all) from `offset`. */
  read(id: FileId, size: number, offset: number, length: number): Uint8Array {
    const end = Math.min(size, offset + length);
    if (offset >= end) return new Uint8Array(0);
    const out = new Uint8Array(end - offset);
    const first = Math.floor(offset / CHUNK_BYTES);
    const last = Math.floor((end - 1) / CHUNK_BYTES);
    for (let c = first; c <= last; c++) {
      const chunkStart = c * CHUNK_BYTES;
      const chunk = this.#chunk(id, c, Math.min(CHUNK_BYTES, size - chunkStart));
      const from = Math.max(offset, chunkStart);
      const to = Math.min(end, chunkStart + chunk.length);
      out.set(chunk.subarray(from - chunkStart, to - chunkStart), from - offset);
    }
    return out;
  }

  #chunk(id: FileId, index: number, bytes: number): Uint8Array {
    const random = Random.stream(
      this.seed,
      `content:${id.customer}:${id.version}:${id.file}:${index}`,
    );
    const chunk = random.bytes(bytes);
    if (index === 0 && bytes >= MARKER_PREFIX_BYTES + 4) {
      chunk.set(this.markerPrefix, 0);
      new DataView(chunk.buffer).setUint32(MARKER_PREFIX_BYTES, this.#serialOf(id), true);
    }
    return chunk;
  }
}
