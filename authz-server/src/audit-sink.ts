/**
 * Audit sink: one JSON line per decision (AUDIT_SCHEMA of core/src/types.ts, docs/audit-event.md),
 * to stdout or appended to a file.
 *
 * Rules this file keeps:
 * - Every event becomes one line through authz-server/src/audit-sink/line.ts, which passes it
 *   through `redactForLog` (core/src/redact.ts, the one redaction list) before it is serialised.
 * - `write` never throws and never waits: a decision must not fail or stall because auditing is slow.
 *   When more than `maxBufferedBytes` are queued (lines waiting here plus what the stream holds: the
 *   disk or the log reader is not keeping up), further events are dropped and counted in `dropped`
 *   rather than growing memory without bound. After a stream error the sink stops writing and counts
 *   drops too; `onError` hears about the error once.
 * - Lines are coalesced, because a stream write per decision (a Writable entry, a callback, a libuv
 *   request and a syscall each) cost more than building the line. `write` appends the line to a
 *   batch; the batch goes to the stream `flushIntervalMs` after its first line (at the end of the
 *   event-loop turn when that is 0). Lines that arrive while a write is in flight go in the next
 *   write, started `flushIntervalMs` after the one in flight started (or when it completes, if
 *   later), and at once when a whole batch (`maxBatchBytes`) is waiting. So a busy server makes at
 *   most one write per interval unless it fills batches faster: starting the next write as each one
 *   completed made one write per event-loop turn under load, and an overloaded server turns every
 *   2 ms (authz-server/src/overload.ts); those writes took 5–12% of its event loop
 *   (docs/performance.md, "The audit file under load"). At a moderate rate (a few hundred decisions
 *   a second) each turn holds one decision, and the interval is what keeps it from costing a
 *   thread-pool write (about 40 µs of CPU here) per decision. A hard crash loses at most the lines
 *   of one interval and the write in flight; a graceful shutdown loses none (`close()`).
 *   One write at a time: a Writable asked for several merges them into one writev, which a pipe
 *   may split anywhere. A batch holds whole lines only, at most `maxBatchBytes`, which for stdout is
 *   PIPE_BUF (4096 bytes), so on a pipe shared by several workers each write lands whole.
 * - `written` and `dropped` count lines, whatever batch they travelled in.
 * - A file is written through its descriptor (fs.write), not a WriteStream: with one write in
 *   flight the stream's buffering has nothing to do, and its machinery cost about a quarter of a
 *   batch's CPU (67 against 49 µs for an 11 KB append here).
 * - `flush()` starts a write without waiting for the turn and resolves when every line accepted so
 *   far has been handed to the OS; `close()` flushes, then closes the file (stdout is flushed but
 *   never closed). Graceful shutdown awaits `close()`.
 */
import { close as closeFd, open as openFd, write as writeFd } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Writable } from 'node:stream';
import type { AuditEvent } from '../../core/src/server-api.js';
import { auditLine } from './audit-sink/line.js';

export interface AuditSinkOptions {
  /** Queued bytes above which events are dropped (counted). Default 8 MiB. */
  readonly maxBufferedBytes?: number;
  /**
   * Largest batch handed to the stream in one write (a single longer line goes alone). Default
   * 64 KiB for a file, PIPE_BUF (4096) for stdout.
   */
  readonly maxBatchBytes?: number;
  /** How long a batch collects lines before it is written; 0 = the end of the event-loop turn. Default 0. */
  readonly flushIntervalMs?: number;
  /** Hears stream errors (the server logs them). Must not throw. */
  readonly onError?: (error: Error) => void;
}

export type AuditSinkConfig =
  | { readonly sink: 'stdout' }
  | { readonly sink: 'none' }
  | { readonly sink: 'file'; readonly file: string };

interface Batch {
  readonly text: string;
  readonly lines: number;
  readonly bytes: number;
}

const DEFAULT_MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
const DEFAULT_MAX_BATCH_BYTES = 64 * 1024;
/** POSIX: a pipe write of at most PIPE_BUF bytes is atomic; Linux's PIPE_BUF is 4096. */
const PIPE_BUF = 4096;

export class AuditSink {
  readonly destination: 'stdout' | 'file' | 'none';
  /** stdout; null for a file (written by descriptor) or for sink none. */
  readonly #stream: Writable | null;
  /** The audit file, opened for append; null for stdout or none. */
  readonly #fd: number | null;
  readonly #maxBuffered: number;
  readonly #maxBatch: number;
  readonly #flushIntervalMs: number;
  readonly #onError: (error: Error) => void;
  /** Lines accepted and not yet written or dropped: queued here or in the stream. */
  #pending = 0;
  /** The batch being filled: accepted lines not yet handed to the stream, their count and size. */
  #open = '';
  #openLines = 0;
  #openBytes = 0;
  /** Batches filled up to `maxBatchBytes` while a write was in flight, oldest first. */
  #full: Batch[] = [];
  /** UTF-8 bytes in `#open` and `#full`. */
  #queuedBytes = 0;
  #inFlight = false;
  /** UTF-8 bytes of the write in flight. */
  #inFlightBytes = 0;
  #turnScheduled = false;
  /** When the last write was handed to the stream (performance.now()). */
  #lastWriteAt = -Infinity;
  #writes = 0;
  #waiters: Array<() => void> = [];
  #written = 0;
  #dropped = 0;
  #failed = false;
  #closed = false;

  private constructor(destination: 'stdout' | 'file' | 'none', stream: Writable | null, fd: number | null, options: AuditSinkOptions) {
    this.destination = destination;
    this.#stream = stream;
    this.#fd = fd;
    this.#maxBuffered = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    this.#maxBatch = options.maxBatchBytes ?? (destination === 'stdout' ? PIPE_BUF : DEFAULT_MAX_BATCH_BYTES);
    this.#flushIntervalMs = options.flushIntervalMs ?? 0;
    this.#onError = options.onError ?? (() => {});
    stream?.on('error', this.#onStreamError);
  }

  readonly #onStreamError = (error: Error): void => this.#fail(error);

  /**
   * Opens the configured sink. A file sink resolves only once the file is open for append, so a
   * server with an unwritable audit path refuses to start instead of dropping every event.
   */
  static async open(config: AuditSinkConfig, options: AuditSinkOptions = {}): Promise<AuditSink> {
    if (config.sink === 'none') return new AuditSink('none', null, null, options);
    if (config.sink === 'stdout') return new AuditSink('stdout', process.stdout, null, options);
    const fd = await new Promise<number>((resolve, reject) => openFd(config.file, 'a', 0o640, (error, fd) => (error ? reject(error) : resolve(fd))));
    return new AuditSink('file', null, fd, options);
  }

  /** Events accepted and fully written. */
  get written(): number {
    return this.#written;
  }

  /** Events not written: backlog over the limit, a failed stream, or written after close. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Writes handed to the OS (or to stdout), a batch of whole lines each. */
  get writes(): number {
    return this.#writes;
  }

  /** The exact line (with its newline) that `write` emits for `event`. */
  static line(event: AuditEvent): string {
    return auditLine(event);
  }

  write(event: AuditEvent): void {
    if (this.destination === 'none') return;
    // stdout may hold other writers' output too; a file holds only the write in flight.
    const held = this.#stream === null ? this.#inFlightBytes : this.#stream.writableLength;
    if (this.#closed || this.#failed || held + this.#queuedBytes > this.#maxBuffered) {
      this.#dropped++;
      return;
    }
    let line: string;
    try {
      line = AuditSink.line(event);
    } catch (error) {
      // Unserialisable input is a bug upstream; it must not become a failed decision.
      this.#dropped++;
      this.#report(error);
      return;
    }
    const bytes = Buffer.byteLength(line, 'utf8');
    if (this.#openLines > 0 && this.#openBytes + bytes > this.#maxBatch) this.#closeOpenBatch();
    this.#open += line;
    this.#openLines++;
    this.#openBytes += bytes;
    this.#queuedBytes += bytes;
    this.#pending++;
    // While a write is in flight, its completion sends or schedules what queued meanwhile.
    if (this.#inFlight) return;
    // A whole batch goes at once; a part-filled one when the interval has passed.
    if (this.#full.length > 0) this.#next();
    else this.#schedule(this.#flushIntervalMs);
  }

  /** Sends the open batch `ms` from now (at the end of this turn for 0), unless a send is already due. */
  #schedule(ms: number): void {
    if (this.#turnScheduled) return;
    this.#turnScheduled = true;
    if (ms > 0) setTimeout(this.#endOfTurn, ms);
    else setImmediate(this.#endOfTurn);
  }

  flush(): Promise<void> {
    this.#next();
    if (this.#pending === 0 || this.#failed) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  readonly #endOfTurn = (): void => {
    this.#turnScheduled = false;
    this.#next();
  };

  #closeOpenBatch(): void {
    this.#full.push({ text: this.#open, lines: this.#openLines, bytes: this.#openBytes });
    this.#open = '';
    this.#openLines = 0;
    this.#openBytes = 0;
  }

  /** Hands the oldest batch to the stream, unless a write is in flight (see the file header). */
  #next(): void {
    if (this.#inFlight || this.#failed) return;
    if (this.#full.length === 0) {
      if (this.#openLines === 0) return;
      this.#closeOpenBatch();
    }
    const batch = this.#full.shift()!;
    this.#queuedBytes -= batch.bytes;
    this.#inFlight = true;
    this.#inFlightBytes = batch.bytes;
    this.#writes++;
    this.#lastWriteAt = performance.now();
    const done = (error: Error | null | undefined): void => {
      this.#inFlight = false;
      this.#inFlightBytes = 0;
      // After a failure the lines still queued were already counted as dropped.
      if (this.#failed) return;
      this.#pending -= batch.lines;
      if (error) {
        this.#dropped += batch.lines;
        // Stop at the first failed write (a stream's 'error' event may come only later).
        this.#fail(error);
        return;
      }
      this.#written += batch.lines;
      if (this.#pending === 0) this.#wake();
      // A whole batch waiting goes now (the disk must keep up); a part-filled one waits out the
      // interval from this write's start (see the file header).
      else if (this.#full.length > 0 || this.#waiters.length > 0) this.#next();
      else this.#schedule(Math.max(0, this.#lastWriteAt + this.#flushIntervalMs - performance.now()));
    };
    if (this.#fd !== null) writeFully(this.#fd, batch.text, batch.bytes, done);
    else this.#stream!.write(batch.text, done);
  }

  async close(): Promise<void> {
    if (this.#closed) return this.flush();
    this.#closed = true;
    await this.flush();
    // stdout outlives the sink; leave no listener behind on it.
    this.#stream?.off('error', this.#onStreamError);
    const fd = this.#fd;
    if (fd !== null) await new Promise<void>((resolve) => closeFd(fd, () => resolve()));
  }

  #fail(error: Error): void {
    if (!this.#failed) this.#report(error);
    this.#failed = true;
    // Lines still batched or queued will never be written; count them and release anyone flushing.
    this.#dropped += this.#pending;
    this.#pending = 0;
    this.#open = '';
    this.#openLines = 0;
    this.#openBytes = 0;
    this.#full = [];
    this.#queuedBytes = 0;
    this.#wake();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiters) resolve();
  }

  #report(error: unknown): void {
    try {
      this.#onError(error instanceof Error ? error : new Error(String(error)));
    } catch {
      // A failing hook must not break auditing further.
    }
  }
}

/**
 * Appends `text` (`bytes` long in UTF-8) to a file opened for append. A write to a regular file
 * takes everything unless the disk fills part-way; then the rest is tried, and fails with the error.
 */
function writeFully(fd: number, text: string, bytes: number, done: (error: Error | null) => void): void {
  writeFd(fd, text, null, 'utf8', (error, written) => {
    if (error) done(error);
    else if (written >= bytes) done(null);
    else writeRest(fd, Buffer.from(text, 'utf8').subarray(written), done);
  });
}

function writeRest(fd: number, rest: Buffer, done: (error: Error | null) => void): void {
  writeFd(fd, rest, 0, rest.length, null, (error, written) => {
    if (error) done(error);
    else if (written >= rest.length) done(null);
    else if (written === 0) done(new Error('audit file write made no progress'));
    else writeRest(fd, rest.subarray(written), done);
  });
}
