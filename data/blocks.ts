/**
 * Files as blocks: cutting a byte stream into fixed-size blocks in constant memory, and back.
 *
 * Every block but the last has exactly `blockBytes` bytes (default 4 MiB); the last has the rest,
 * and an empty file has no block at all. Reading holds at most one block in memory plus the
 * chunk the source is delivering.
 *
 * @module
 */

/** Default block size: 4 MiB. */
export const BLOCK_BYTES_DEFAULT = 4 * 1024 * 1024;
/** Largest block size accepted (a fragment must fit one message). */
export const BLOCK_BYTES_MAX = 16 * 1024 * 1024;

/** Throws `RangeError` unless `blockBytes` is an integer in [1, {@link BLOCK_BYTES_MAX}]. */
function checkBlockBytes(blockBytes: number): void {
  if (!Number.isInteger(blockBytes) || blockBytes < 1 || blockBytes > BLOCK_BYTES_MAX) {
    throw new RangeError(`block size must be 1..${BLOCK_BYTES_MAX} bytes, got ${blockBytes}`);
  }
}

/** Number of blocks of a file of `size` bytes. */
export function blockCount(size: number, blockBytes: number = BLOCK_BYTES_DEFAULT): number {
  checkBlockBytes(blockBytes);
  return Math.ceil(size / blockBytes);
}

/** The blocks of an in-memory file, as views into it (no copy). */
export function splitBlocks(
  bytes: Uint8Array,
  blockBytes: number = BLOCK_BYTES_DEFAULT,
): Uint8Array[] {
  const n = blockCount(bytes.length, blockBytes);
  return Array.from({ length: n }, (_, i) => bytes.subarray(i * blockBytes, (i + 1) * blockBytes));
}

/** What yields byte chunks: a `ReadableStream` (e.g. `Deno.FsFile.readable`) or a generator. */
export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/**
 * Reads `source` and yields its blocks; each yielded block is a new array the consumer owns.
 *
 * @example
 * ```ts
 * import { readBlocks } from "./blocks.ts";
 * const chunks = [new Uint8Array(5), new Uint8Array(7)];
 * const sizes: number[] = [];
 * for await (const block of readBlocks(chunks, 4)) sizes.push(block.length);
 * console.assert(sizes.join() === "4,4,4");
 * ```
 */
export async function* readBlocks(
  source: ByteSource,
  blockBytes: number = BLOCK_BYTES_DEFAULT,
): AsyncGenerator<Uint8Array<ArrayBuffer>> {
  checkBlockBytes(blockBytes);
  let block = new Uint8Array(blockBytes);
  let filled = 0;
  for await (const chunk of source) {
    let at = 0;
    while (at < chunk.length) {
      const n = Math.min(blockBytes - filled, chunk.length - at);
      block.set(chunk.subarray(at, at + n), filled);
      filled += n;
      at += n;
      if (filled === blockBytes) {
        yield block;
        block = new Uint8Array(blockBytes);
        filled = 0;
      }
    }
  }
  if (filled > 0) yield block.slice(0, filled);
}

/**
 * A stream of the bytes of `blocks`, in order: the way back from blocks to a file. Pulls one
 * block at a time, so memory stays at one block.
 */
export function blocksToStream(
  blocks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): ReadableStream<Uint8Array> {
  const iterator = (Symbol.asyncIterator in blocks)
    ? (blocks as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]()
    : (blocks as Iterable<Uint8Array>)[Symbol.iterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await iterator.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    async cancel() {
      await iterator.return?.();
    },
  });
}
