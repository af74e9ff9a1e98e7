/**
 * Envoy's per-stream decoding buffer: a chain of slices, like Buffer::OwnedImpl, so appending a
 * chunk never copies what is already buffered.
 */
export class ByteBuffer {
  private chunks: Uint8Array[] = [];
  length = 0;

  /** Appends `chunk` by reference: callers hand over chunks they no longer write to. */
  append(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** Copies `[start, end)` into `target` at `offset`. */
  copyRange(start: number, end: number, target: Uint8Array, offset: number): void {
    let chunkStart = 0;
    for (const chunk of this.chunks) {
      const chunkEnd = chunkStart + chunk.length;
      if (chunkEnd > start && chunkStart < end) {
        const from = Math.max(start, chunkStart) - chunkStart;
        const to = Math.min(end, chunkEnd) - chunkStart;
        target.set(chunk.subarray(from, to), offset);
        offset += to - from;
      }
      if (chunkEnd >= end) break;
      chunkStart = chunkEnd;
    }
  }

  view(): Uint8Array {
    if (this.chunks.length === 1) return this.chunks[0] ?? new Uint8Array(0);
    const joined = new Uint8Array(this.length);
    this.copyRange(0, this.length, joined, 0);
    this.chunks = this.length === 0 ? [] : [joined];
    return joined;
  }

  /** Replaces `[start, start + size)` with `data` (proxy_set_buffer_bytes). */
  splice(start: number, size: number, data: Uint8Array): void {
    const current = this.view();
    const next = new Uint8Array(this.length - size + data.length);
    next.set(current.subarray(0, start), 0);
    next.set(data, start);
    next.set(current.subarray(start + size), start + data.length);
    this.chunks = next.length === 0 ? [] : [next];
    this.length = next.length;
  }

  /** Moves the slices out: the buffer is empty afterwards. */
  take(): Uint8Array[] {
    const out = this.chunks;
    this.chunks = [];
    this.length = 0;
    return out;
  }

  /** Moves every slice of `other` to the end of this buffer. */
  absorb(other: ByteBuffer): void {
    this.chunks.push(...other.chunks);
    this.length += other.length;
    other.chunks = [];
    other.length = 0;
  }
}
