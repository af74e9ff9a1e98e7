/**
 * Protobuf wire primitives (https://protobuf.dev/programming-guides/encoding/): a bounded reader for
 * CheckRequest bytes and a back-to-front writer for CheckResponse bytes. Only what the edge needs:
 * tags, 32-bit varints, length-delimited fields, and skipping any field it does not read.
 */

export const VARINT = 0;
export const I64 = 1;
export const LEN = 2;
export const I32 = 5;

/** Bytes that are not a message the reader accepts; `message` names the first problem. */
export class WireError extends Error {
  override readonly name = 'WireError';
}

// ---------------------------------------------------------------------------------------------
// Reading

/** Buffer#utf8Slice: what toString('utf8', start, end) calls after its argument checks, and what protobufjs uses. */
type Utf8Buffer = Buffer & { utf8Slice(start: number, end: number): string };

/**
 * A cursor over one request. Every read is bounded by the `end` of the message being read. Stricter
 * than protobufjs, which Envoy never needs: a field number 0, the group wire types 3 and 4 and the
 * undefined 6 and 7, a declared field with another wire type, a varint longer than 10 bytes, a tag,
 * length or uint32 over 32 bits, and a length past the end of its message are WireErrors.
 */
export class Reader {
  pos = 0;
  readonly buf: Utf8Buffer;
  constructor(bytes: Uint8Array) {
    this.buf = (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)) as Utf8Buffer;
  }

  /** A varint that must fit in 32 bits: at most 5 bytes, the fifth at most 0x0f. */
  uint32(end: number): number {
    const buf = this.buf;
    let pos = this.pos;
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (pos >= end) throw new WireError('truncated varint');
      const b = buf[pos++]!;
      if (shift === 28 && b > 0x0f) break;
      value |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        return value >>> 0;
      }
    }
    throw new WireError('varint over 32 bits');
  }

  /** The length of a length-delimited field; its bytes must lie within the message. */
  length(end: number): number {
    const n = this.uint32(end);
    if (n > end - this.pos) throw new WireError('length past the end of the message');
    return n;
  }

  /** The end of an embedded message whose length comes next. */
  messageEnd(end: number): number {
    const n = this.length(end);
    return this.pos + n;
  }

  /** A string as protobufjs reads it: invalid UTF-8 becomes U+FFFD. */
  string(end: number): string {
    const n = this.length(end);
    const start = this.pos;
    this.pos = start + n;
    return n === 0 ? '' : this.buf.utf8Slice(start, start + n);
  }

  /** A bytes field as a view of the request's buffer (no copy). */
  bytes(end: number): Buffer {
    const n = this.length(end);
    const start = this.pos;
    this.pos = start + n;
    return this.buf.subarray(start, start + n);
  }

  /**
   * The next tag. Rejects field number 0, wire types other than 0, 1, 2 and 5, and a field of
   * `fields` (see `declared`) arriving with a wire type other than its declared one, so no field is
   * ever read as something it is not.
   */
  tag(end: number, fields: Int8Array): number {
    const tag = this.uint32(end);
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 0) throw new WireError('field number 0');
    if (wire !== VARINT && wire !== LEN && wire !== I64 && wire !== I32) throw new WireError(`wire type ${wire}`);
    if (field < fields.length && fields[field] !== -1 && fields[field] !== wire) throw new WireError(`field ${field} with wire type ${wire}`);
    return tag;
  }

  /** Skips a field this reader does not read, by its wire type, without looking into it. */
  skip(wire: number, end: number): void {
    if (wire === LEN) {
      const n = this.length(end); // before reading pos: length() moves it past the length
      this.pos += n;
    } else if (wire === VARINT) {
      const buf = this.buf;
      for (let pos = this.pos, n = 0; n < 10; n++) {
        if (pos >= end) throw new WireError('truncated varint');
        if (buf[pos++]! < 0x80) {
          this.pos = pos;
          return;
        }
      }
      throw new WireError('varint longer than 10 bytes');
    } else {
      const size = wire === I64 ? 8 : 4; // tag() let no other wire type through
      if (end - this.pos < size) throw new WireError(size === 8 ? 'truncated fixed64' : 'truncated fixed32');
      this.pos += size;
    }
  }
}

/** Wire types of the fields a .proto declares in one message, by field number (-1: not declared). */
export function declared(fields: Readonly<Record<number, number>>): Int8Array {
  const numbers = Object.keys(fields).map(Number);
  const table = new Int8Array(Math.max(...numbers) + 1).fill(-1);
  for (const n of numbers) table[n] = fields[n]!;
  return table;
}

// ---------------------------------------------------------------------------------------------
// Writing
//
// Back to front into one reused scratch buffer: a length-delimited field is its content first, then
// the content's length and its tag in front of it, so every nested length is known when it is
// written and nothing is measured twice. A writer therefore visits fields in reverse, and the bytes
// come out in field order. `finish` copies the message out, so it stays valid whatever is written
// next. Strings go through Buffer's native UTF-8 writer: once any loaded module subclasses `String`
// (ioredis does), V8 runs `charCodeAt` loops several times slower.

/** Buffer's own UTF-8 writer, without `write`'s argument juggling. */
type NativeWriteBuffer = Buffer & { utf8Write(value: string, offset: number, length: number): number };

const INITIAL_SCRATCH_BYTES = 16 * 1024;
/** A scratch buffer grown past this for one large response is not kept for the next ones. */
const MAX_KEPT_SCRATCH_BYTES = 256 * 1024;

let scratch: Buffer = Buffer.allocUnsafe(INITIAL_SCRATCH_BYTES);
/** Start of what has been written; the message grows towards 0 and ends at `scratch.length`. */
let pos = 0;

/** Starts a message. */
export function begin(): void {
  pos = scratch.length;
}

/** The message written since `begin`, as a Buffer of its own. */
export function finish(): Buffer {
  const out = Buffer.allocUnsafe(scratch.length - pos);
  scratch.copy(out, 0, pos);
  if (scratch.length > MAX_KEPT_SCRATCH_BYTES) scratch = Buffer.allocUnsafe(INITIAL_SCRATCH_BYTES);
  return out;
}

/** Makes room for `bytes` more in front of `pos`, keeping what is written at the end. */
function reserve(bytes: number): void {
  if (pos >= bytes) return;
  const used = scratch.length - pos;
  let size = scratch.length * 2;
  while (size - used < bytes) size *= 2;
  const grown = Buffer.allocUnsafe(size);
  scratch.copy(grown, size - used, pos);
  scratch = grown;
  pos = size - used;
}

/**
 * Bytes written so far: the mark to pass to `delimit` once a message's content is written. A count,
 * not an index into `scratch`: growing the buffer moves what is written, not how much there is.
 */
export function written(): number {
  return scratch.length - pos;
}

/** An unsigned 32-bit varint in front of what is written. */
function varint(v: number): void {
  v >>>= 0;
  const n = v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
  reserve(n);
  pos -= n;
  let at = pos;
  while (v >= 0x80) {
    scratch[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  scratch[at] = v;
}

/** Length prefix and tag in front of the content written since `written()` was `mark`. */
export function delimit(field: number, mark: number): void {
  varint(written() - mark);
  varint((field << 3) | LEN);
}

/** A non-negative varint field (an enum, a bool, a gRPC code), written even when 0. */
export function uintField(field: number, v: number): void {
  varint(v);
  varint((field << 3) | VARINT);
}

export function stringField(field: number, v: string): void {
  const n = Buffer.byteLength(v, 'utf8');
  reserve(n);
  pos -= n;
  (scratch as NativeWriteBuffer).utf8Write(v, pos, n);
  varint(n);
  varint((field << 3) | LEN);
}

/** Pre-encoded bytes: a constant field made once with `constantField`. */
export function raw(bytes: Uint8Array): void {
  const n = bytes.length;
  reserve(n);
  pos -= n;
  scratch.set(bytes, pos);
}

/** Tag, length and UTF-8 of a string field whose value never changes, for `raw`. */
export function constantField(field: number, v: string): Buffer {
  const body = Buffer.from(v, 'utf8');
  const head: number[] = [];
  pushVarint(head, (field << 3) | LEN);
  pushVarint(head, body.length);
  return Buffer.concat([Buffer.from(head), body]);
}

/** An unsigned 32-bit varint appended to `out` (the tag too: a field number of 16 or more takes two bytes). */
function pushVarint(out: number[], v: number): void {
  for (v >>>= 0; v >= 0x80; v >>>= 7) out.push((v & 0x7f) | 0x80);
  out.push(v);
}
