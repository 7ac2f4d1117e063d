/**
 * Reading an HTTP body with a cap: the reader stops (and cancels the stream) as soon as more
 * than the cap has arrived, so a peer that sends 16 MiB where 4 KiB is expected costs at most
 * the cap. Used for answers from ID servers and for requests to one.
 *
 * @module
 */

/** The bytes of `stream` (none when it is null), or `null` when more than `maxBytes` arrive. */
export async function readStreamCapped(
  stream: ReadableStream<Uint8Array> | null | undefined,
  maxBytes: number,
): Promise<Uint8Array<ArrayBuffer> | null> {
  const reader = stream?.getReader();
  if (reader === undefined) return new Uint8Array(0);
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > maxBytes) {
      await reader.cancel();
      return null;
    }
    parts.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
