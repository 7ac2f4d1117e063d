/**
 * Deterministic, schema-driven binary codec with pooled output buffers.
 *
 * Every message that crosses a link, simulated or real, is described by a schema built from the
 * combinators below and encoded to bytes. The encoding is canonical: one value has exactly one
 * encoding (fixed field order, minimal varints, no optional padding), so bytes can be hashed and
 * signed. Every variable-size part has a hard maximum that is checked on both sides: writing too
 * much is our bug (`RangeError`), reading too much is the peer's fault ({@link DecodeError}).
 *
 * Why not a generic codec: `@msgpack/msgpack` manages about 0.3M small messages per second here
 * and `cbor-x`/`msgpackr` do not resolve under Deno; a schema knows every field's type in advance,
 * writes no field names, and reuses one slab of memory for many messages.
 *
 * Wire format: little-endian fixed-width integers, LEB128 varints for lengths, tags and `uint`,
 * zig-zag for `int`, IEEE-754 doubles, UTF-8 strings prefixed by their byte length.
 *
 * Ownership: {@link encode} returns a view into a shared slab for small messages; the bytes stay
 * valid (slabs are never reused while referenced) but share an `ArrayBuffer` with other messages.
 * Messages over 16 KiB get an `ArrayBuffer` of their own. Decoded `bytes` fields are views into
 * the input. Copy with `.slice()` to own a buffer outright.
 *
 * @module
 */

/** A peer sent bytes that do not decode under the schema. Never a bug of ours. */
export class DecodeError extends Error {
  override name = "DecodeError";
}

/** Reads and writes one type. Build codecs with the combinators of this module. */
export interface Codec<T> {
  /** Short description for error messages, e.g. `bytes(65536)`. */
  readonly name: string;
  write(w: Writer, value: T): void;
  read(r: Reader): T;
}

/** The value type a codec reads and writes. */
export type Infer<C> = C extends Codec<infer T> ? T : never;

// deno-lint-ignore no-explicit-any
type AnyCodec = Codec<any>;

const SLAB_BYTES = 64 * 1024;
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

/** Appends encoded values to a slab of memory, growing it when a value does not fit. */
export class Writer {
  buf: Uint8Array<ArrayBuffer>;
  view: DataView;
  pos = 0;
  /** Where the value being written started. */
  start = 0;

  constructor(capacity = SLAB_BYTES) {
    this.buf = new Uint8Array(capacity);
    this.view = new DataView(this.buf.buffer);
  }

  /** Makes room for `n` more bytes, moving the current value to a new slab if needed. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const used = this.pos - this.start;
    const next = new Uint8Array(Math.max(SLAB_BYTES, (used + n) * 2));
    next.set(this.buf.subarray(this.start, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
    this.start = 0;
    this.pos = used;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  u16(v: number): void {
    this.ensure(2);
    this.view.setUint16(this.pos, v, true);
    this.pos += 2;
  }

  u32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.pos, v, true);
    this.pos += 4;
  }

  f64(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  /** Unsigned LEB128 of a safe integer. */
  varuint(v: number): void {
    this.ensure(8);
    const buf = this.buf;
    while (v >= 0x80) {
      buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    buf[this.pos++] = v;
  }

  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }
}

const scratch = new Float64Array(1);
const scratchBytes = new Uint8Array(scratch.buffer);
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error("bitdust's codec assumes a little-endian machine");
}

/** Reads values from one encoded buffer; every read is bounds-checked. */
export class Reader {
  buf: Uint8Array;
  pos: number;
  end: number;

  constructor(buf: Uint8Array) {
    this.buf = buf;
    this.pos = 0;
    this.end = buf.length;
  }

  /** Points this reader at a new buffer (lets {@link decode} reuse one reader). */
  reset(buf: Uint8Array): void {
    this.buf = buf;
    this.pos = 0;
    this.end = buf.length;
  }

  need(n: number): void {
    if (this.pos + n > this.end) throw new DecodeError(`truncated: need ${n} more bytes`);
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++];
  }

  u16(): number {
    this.need(2);
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 2;
    return b[p] | (b[p + 1] << 8);
  }

  u32(): number {
    this.need(4);
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 4;
    return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
  }

  f64(): number {
    this.need(8);
    const b = this.buf;
    const p = this.pos;
    for (let i = 0; i < 8; i++) scratchBytes[i] = b[p + i];
    this.pos = p + 8;
    return scratch[0];
  }

  /** Unsigned LEB128, at most 2^53 - 1, minimal encoding only (canonical form). */
  varuint(): number {
    const buf = this.buf;
    if (this.pos < this.end && buf[this.pos] < 0x80) return buf[this.pos++];
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      if (this.pos >= this.end) throw new DecodeError("truncated varint");
      const b = buf[this.pos++];
      result += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (b === 0 && i > 0) throw new DecodeError("non-minimal varint");
        if (result > Number.MAX_SAFE_INTEGER) throw new DecodeError("varint too large");
        return result;
      }
      scale *= 0x80;
    }
    throw new DecodeError("varint too long");
  }

  raw(n: number): Uint8Array {
    this.need(n);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Scalars

/** Unsigned 8-bit integer. */
export const u8: Codec<number> = {
  name: "u8",
  write(w, v) {
    if (!(v >= 0 && v <= 0xff && Number.isInteger(v))) {
      throw new RangeError(`u8 out of range: ${v}`);
    }
    w.u8(v);
  },
  read: (r) => r.u8(),
};

/** Unsigned 16-bit integer, little-endian. */
export const u16: Codec<number> = {
  name: "u16",
  write(w, v) {
    if (!(v >= 0 && v <= 0xffff && Number.isInteger(v))) {
      throw new RangeError(`u16 out of range: ${v}`);
    }
    w.u16(v);
  },
  read: (r) => r.u16(),
};

/** Unsigned 32-bit integer, little-endian. */
export const u32: Codec<number> = {
  name: "u32",
  write(w, v) {
    if (!(v >= 0 && v <= 0xffffffff && Number.isInteger(v))) {
      throw new RangeError(`u32 out of range: ${v}`);
    }
    w.u32(v);
  },
  read: (r) => r.u32(),
};

/** Non-negative safe integer as a varint (1 byte below 128). */
export const uint: Codec<number> = {
  name: "uint",
  write(w, v) {
    if (!(v >= 0 && Number.isSafeInteger(v))) throw new RangeError(`uint out of range: ${v}`);
    w.varuint(v);
  },
  read: (r) => r.varuint(),
};

const INT_MAX = 2 ** 52 - 1;

/** Signed integer of magnitude below 2^52 (so its zig-zag form stays exact), as a varint. */
export const int: Codec<number> = {
  name: "int",
  write(w, v) {
    if (!(Number.isInteger(v) && Math.abs(v) <= INT_MAX)) {
      throw new RangeError(`int out of range: ${v}`);
    }
    w.varuint(v >= 0 ? v * 2 : -v * 2 - 1);
  },
  read(r) {
    const z = r.varuint();
    if (z > 2 * INT_MAX + 1) throw new DecodeError("int out of range");
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  },
};

/** IEEE-754 double. NaN is written in its canonical form so encodings stay unique. */
export const f64: Codec<number> = {
  name: "f64",
  write: (w, v) => w.f64(Number.isNaN(v) ? NaN : v),
  read: (r) => r.f64(),
};

/** Boolean as one byte, 0 or 1; any other byte is rejected. */
export const bool: Codec<boolean> = {
  name: "bool",
  write: (w, v) => w.u8(v ? 1 : 0),
  read(r) {
    const b = r.u8();
    if (b > 1) throw new DecodeError(`bad bool byte ${b}`);
    return b === 1;
  },
};

// ---------------------------------------------------------------------------------------------
// Variable-size values

/** Byte string of at most `maxBytes`, length-prefixed. Decodes to a view into the input. */
export function bytes(maxBytes: number): Codec<Uint8Array> {
  return {
    name: `bytes(${maxBytes})`,
    write(w, v) {
      if (v.length > maxBytes) throw new RangeError(`bytes over ${maxBytes}: ${v.length}`);
      w.varuint(v.length);
      w.raw(v);
    },
    read(r) {
      const n = r.varuint();
      if (n > maxBytes) throw new DecodeError(`bytes over ${maxBytes}: ${n}`);
      return r.raw(n);
    },
  };
}

/** Byte string of exactly `size` bytes (keys, hashes, signatures), no prefix. */
export function fixedBytes(size: number): Codec<Uint8Array> {
  return {
    name: `fixedBytes(${size})`,
    write(w, v) {
      if (v.length !== size) throw new RangeError(`expected ${size} bytes, got ${v.length}`);
      w.raw(v);
    },
    read: (r) => r.raw(size),
  };
}

/** UTF-8 string of at most `maxBytes` encoded bytes. Invalid UTF-8 is rejected. */
export function string(maxBytes: number): Codec<string> {
  return {
    name: `string(${maxBytes})`,
    write(w, v) {
      const n = v.length;
      let ascii = n <= maxBytes;
      for (let i = 0; ascii && i < n; i++) ascii = v.charCodeAt(i) < 0x80;
      if (ascii) {
        w.varuint(n);
        w.ensure(n);
        const buf = w.buf;
        let p = w.pos;
        for (let i = 0; i < n; i++) buf[p++] = v.charCodeAt(i);
        w.pos = p;
        return;
      }
      const encoded = utf8Encoder.encode(v);
      if (encoded.length > maxBytes) {
        throw new RangeError(`string over ${maxBytes} bytes: ${encoded.length}`);
      }
      w.varuint(encoded.length);
      w.raw(encoded);
    },
    read(r) {
      const n = r.varuint();
      if (n > maxBytes) throw new DecodeError(`string over ${maxBytes} bytes: ${n}`);
      const raw = r.raw(n);
      if (n <= 64) {
        let s = "";
        for (let i = 0; i < n; i++) {
          const c = raw[i];
          if (c >= 0x80) return decodeUtf8(raw);
          s += String.fromCharCode(c);
        }
        return s;
      }
      return decodeUtf8(raw);
    },
  };
}

function decodeUtf8(raw: Uint8Array): string {
  try {
    return utf8Decoder.decode(raw);
  } catch {
    throw new DecodeError("invalid UTF-8");
  }
}

/** Array of at most `maxItems` values of one codec. */
export function array<T>(item: Codec<T>, maxItems: number): Codec<T[]> {
  return {
    name: `array(${item.name}, ${maxItems})`,
    write(w, v) {
      if (v.length > maxItems) throw new RangeError(`array over ${maxItems}: ${v.length}`);
      w.varuint(v.length);
      for (let i = 0; i < v.length; i++) item.write(w, v[i]);
    },
    read(r) {
      const n = r.varuint();
      if (n > maxItems) throw new DecodeError(`array over ${maxItems}: ${n}`);
      // Every item takes at least one byte: refuse counts the input cannot hold before allocating.
      if (n > r.end - r.pos) throw new DecodeError(`array count ${n} exceeds remaining bytes`);
      const out = new Array<T>(n);
      for (let i = 0; i < n; i++) out[i] = item.read(r);
      return out;
    },
  };
}

/** A value or `undefined`, behind a presence byte. */
export function optional<T>(item: Codec<T>): Codec<T | undefined> {
  return {
    name: `optional(${item.name})`,
    write(w, v) {
      if (v === undefined) {
        w.u8(0);
      } else {
        w.u8(1);
        item.write(w, v);
      }
    },
    read(r) {
      const b = r.u8();
      if (b === 0) return undefined;
      if (b !== 1) throw new DecodeError(`bad presence byte ${b}`);
      return item.read(r);
    },
  };
}

/** One of a fixed list of strings, written as its index. */
export function oneOf<const S extends readonly string[]>(values: S): Codec<S[number]> {
  const index = new Map<string, number>(values.map((v, i) => [v, i]));
  return {
    name: `oneOf(${values.join("|")})`,
    write(w, v) {
      const i = index.get(v);
      if (i === undefined) throw new RangeError(`not one of ${values.join("|")}: ${v}`);
      w.varuint(i);
    },
    read(r) {
      const i = r.varuint();
      if (i >= values.length) throw new DecodeError(`enum index ${i} out of range`);
      return values[i];
    },
  };
}

/** Fields of a struct schema, in wire order. */
export type Fields = Record<string, AnyCodec>;
/** The object type a struct schema describes. */
export type StructOf<F extends Fields> = { [K in keyof F]: Infer<F[K]> };

/** A codec for objects whose fields are written in declaration order. */
export interface StructCodec<F extends Fields> extends Codec<StructOf<F>> {
  readonly fields: F;
}

/** Object with named fields, written in declaration order without names. */
export function struct<F extends Fields>(fields: F): StructCodec<F> {
  const keys = Object.keys(fields);
  const codecs = keys.map((k) => fields[k]);
  const n = keys.length;
  return {
    name: `struct(${keys.join(",")})`,
    fields,
    write(w, v) {
      const o = v as Record<string, unknown>;
      for (let i = 0; i < n; i++) codecs[i].write(w, o[keys[i]]);
    },
    read(r) {
      const o: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) o[keys[i]] = codecs[i].read(r);
      return o as StructOf<F>;
    },
  };
}

/** Table of a tagged union: type name to [wire tag, struct schema]. */
export type UnionTable = Record<string, readonly [number, StructCodec<Fields>]>;
/** The discriminated union a table describes; each member carries its `type`. */
export type UnionOf<T extends UnionTable> = {
  [K in keyof T & string]: { type: K } & Infer<T[K][1]>;
}[keyof T & string];

/**
 * Tagged union of structs: a varint tag, then the member's fields. Decoded values carry their
 * member name in `type`. Tags must be unique; unknown tags are rejected on read.
 */
export function union<T extends UnionTable>(table: T): Codec<UnionOf<T>> & { tags: Set<number> } {
  const byName = new Map<string, { tag: number; codec: StructCodec<Fields> }>();
  const byTag: ({ name: string; keys: string[]; codecs: AnyCodec[] } | undefined)[] = [];
  for (const name of Object.keys(table)) {
    const [tag, codec] = table[name];
    if (byTag[tag] !== undefined) throw new RangeError(`duplicate union tag ${tag}`);
    byName.set(name, { tag, codec });
    const keys = Object.keys(codec.fields);
    byTag[tag] = { name, keys, codecs: keys.map((k) => codec.fields[k]) };
  }
  return {
    name: `union(${Object.keys(table).join("|")})`,
    tags: new Set(byName.values().map((e) => e.tag)),
    write(w, v) {
      const entry = byName.get(v.type);
      if (entry === undefined) throw new RangeError(`unknown union member ${v.type}`);
      w.varuint(entry.tag);
      entry.codec.write(w, v as never);
    },
    read(r) {
      const tag = r.varuint();
      const entry = tag < byTag.length ? byTag[tag] : undefined;
      if (entry === undefined) throw new DecodeError(`unknown message tag ${tag}`);
      const o: Record<string, unknown> = { type: entry.name };
      const { keys, codecs } = entry;
      for (let i = 0; i < keys.length; i++) o[keys[i]] = codecs[i].read(r);
      return o as UnionOf<T>;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Top level

const pool = new Writer();
/** Messages above this size are copied out of the slab into a buffer of their own. */
const LARGE_MESSAGE_BYTES = 16 * 1024;

/**
 * Encodes `value` into the shared slab and returns a view of exactly its bytes.
 *
 * @example
 * ```ts
 * import { decode, encode, string, struct, uint } from "./codec.ts";
 * const Ping = struct({ seq: uint, note: string(32) });
 * const bytes = encode(Ping, { seq: 7, note: "hi" });
 * console.assert(decode(Ping, bytes).seq === 7);
 * ```
 */
export function encode<T>(codec: Codec<T>, value: T): Uint8Array<ArrayBuffer> {
  const w = pool;
  w.start = w.pos;
  try {
    codec.write(w, value);
  } catch (e) {
    w.pos = w.start;
    throw e;
  }
  if (w.pos - w.start > LARGE_MESSAGE_BYTES) {
    // A large message (a fragment) gets a buffer of its own, exactly its size, and the slab is
    // reused: a queued fragment never pins a slab twice its size.
    const own = w.buf.slice(w.start, w.pos);
    w.pos = w.start;
    if (w.buf.length > 4 * SLAB_BYTES) {
      // The slab grew for this message; do not keep megabytes around for small ones.
      w.buf = new Uint8Array(SLAB_BYTES);
      w.view = new DataView(w.buf.buffer);
      w.pos = w.start = 0;
    }
    return own;
  }
  const out = w.buf.subarray(w.start, w.pos);
  // Keep the next message 8-byte aligned; start a new slab when this one is nearly full.
  w.pos = (w.pos + 7) & ~7;
  if (w.pos > w.buf.length - 256) {
    w.buf = new Uint8Array(SLAB_BYTES);
    w.view = new DataView(w.buf.buffer);
    w.pos = 0;
  }
  w.start = w.pos;
  return out;
}

/** Decodes exactly one value from `bytes`; throws {@link DecodeError} on any malformed input. */
export function decode<T>(codec: Codec<T>, bytes: Uint8Array): T {
  // One shared reader: decoding never re-enters itself, and this saves an allocation per message.
  const r = sharedReader;
  r.reset(bytes);
  try {
    const value = codec.read(r);
    if (r.pos !== r.end) throw new DecodeError(`${r.end - r.pos} trailing bytes`);
    return value;
  } finally {
    r.reset(EMPTY);
  }
}

const EMPTY = new Uint8Array(0);
const sharedReader = new Reader(EMPTY);

/** Result of {@link tryDecode}: the value, or why the bytes were rejected. */
export type DecodeResult<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Like {@link decode} but returns the rejection as a value, for input from peers. */
export function tryDecode<T>(codec: Codec<T>, bytes: Uint8Array): DecodeResult<T> {
  try {
    return { ok: true, value: decode(codec, bytes) };
  } catch (e) {
    if (e instanceof DecodeError) return { ok: false, reason: e.message };
    throw e;
  }
}
