/**
 * One gRPC call on one HTTP/2 stream, as the gRPC over HTTP/2 protocol lays it out
 * (grpc/grpc doc/PROTOCOL-HTTP2.md): Length-Prefixed-Messages in (a 1-byte Compressed-Flag, a
 * 4-byte big-endian length, the message), reassembled across DATA frames; out, response headers,
 * framed messages and trailers with `grpc-status`, or a Trailers-Only response for an error.
 *
 * grpc-transport.ts reads the call's HEADERS and hands the stream here; this file knows nothing of
 * which method it serves beyond "unary" or "server streaming". The handler gets the call once the
 * client has half-closed after exactly one message, as a unary or server-streaming handler in
 * grpc-js did, and with the same status codes for a call that breaks that (UNIMPLEMENTED).
 */
import { constants, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { GrpcStatus, MAX_HELD_REQUEST_BYTES, MAX_RECEIVE_MESSAGE_BYTES, MAX_SEND_MESSAGE_BYTES, RECEIVE_LIMIT_MS, failStream, frame, ignore, RESPONSE_HEADERS, sendOkTrailers } from './grpc-wire.js';

export { GrpcStatus, MAX_HELD_REQUEST_BYTES, MAX_RECEIVE_MESSAGE_BYTES, MAX_SEND_MESSAGE_BYTES, RECEIVE_LIMIT_MS, failStream, ignore, percentEncode } from './grpc-wire.js';

const CALL = Symbol('grpc call'); // the call a stream carries, for StreamCall's shared listeners
type CallStream = ServerHttp2Stream & { [CALL]: StreamCall };

/** What MAX_HELD_REQUEST_BYTES bounds: bytes in the buffers of messages split across DATA frames, all calls. */
let heldRequestBytes = 0;

/** What MAX_HELD_REQUEST_BYTES bounds, now (tests). */
export function heldRequestByteCount(): number {
  return heldRequestBytes;
}

/** What a method's handler sees of a call. */
export interface GrpcCall {
  /** The one request message. */
  readonly request: Buffer;
  /** From `grpc-timeout`: Unix milliseconds, Infinity when the client sent none. */
  readonly deadline: number;
  /** The call's HEADERS (custom metadata among them), as node:http2 read them. */
  readonly headers: IncomingHttpHeaders;
  /** The client reset the stream, or the answer is already sent. */
  readonly done: boolean;
  /** Unary: the one response message, then `grpc-status: 0`. Dropped after the deadline, which has ended the call DEADLINE_EXCEEDED. */
  reply(message: Buffer): void;
  /** Server streaming: one more response message. */
  write(message: Buffer): void;
  /** Server streaming: the end of the stream, `grpc-status: 0`. */
  end(): void;
  /** An error status (Trailers-Only when nothing was sent yet). */
  fail(code: GrpcStatus, message: string): void;
  /**
   * Called once if the call ends other than by the handler's own end/reply/fail: the client reset,
   * the connection was lost, or the deadline ended it. A handler that keeps state for the call
   * (health.ts's Watch) drops it here.
   */
  onCancel(listener: () => void): void;
}

export type Handler = (call: GrpcCall) => void;

/**
 * A unary method's look at a call when its HEADERS are read, before any of its message
 * (check-service.ts sheds load here: overload.ts, rules 1–3). It may answer the call there, and the
 * handler is then not called: after call.reply the rest of the message is read and dropped
 * (#answeredEarly); after call.fail the stream is reset with NO_ERROR as after any error
 * (grpc-wire.ts, failStream).
 */
export interface Admission {
  admit(call: GrpcCall): void;
}

/**
 * The call: reads the request messages as the DATA arrives, runs the handler at half-close, and
 * sends what the handler answers. The deadline is a timer per call, armed when the HEADERS are
 * read, as grpc-js's was: when it fires before the answer, the call ends DEADLINE_EXCEEDED and a
 * later answer is dropped. A timer fires only in the event loop's timer phase, so an answer made in
 * the same turn as the deadline passes still goes out (a shed check answered at once, with a
 * grpc-timeout inside the answer margin, is answered, not timed out); a check at answer time
 * against the clock would turn those into errors. Its cost is in docs/performance.md.
 */
export class StreamCall implements GrpcCall {
  request: Buffer = EMPTY;
  #messages = 0;
  #halfClosed = false;
  #watchingClose = false;
  /** The length of the message being read (-1: its prefix); a prefix split across frames, its bytes so far. */
  #need = -1;
  #prefix: Buffer | undefined;
  #prefixLength = 0;
  /** A message split across frames: its bytes so far, copied, and the bytes counted for this call. */
  #buffer: Buffer | undefined;
  #length = 0;
  #held = 0;
  #ended = false;
  #cancel: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Answered before the client finished sending (an early answer): the rest of the request is read and dropped. */
  #early = false;

  constructor(
    private readonly stream: ServerHttp2Stream,
    readonly headers: IncomingHttpHeaders,
    /** From grpc-timeout, milliseconds; undefined without one. */
    timeoutMs: number | undefined,
    private readonly handler: Handler,
    private readonly streaming: boolean,
    private readonly receiveLimitMs: number = RECEIVE_LIMIT_MS,
    admission?: Admission,
  ) {
    this.deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    (stream as CallStream)[CALL] = this;
    stream.on('data', StreamCall.#onData);
    stream.once('end', StreamCall.#onEnd);
    admission?.admit(this);
    // Answered by the admission: #answeredEarly has set the only timer such a call needs.
    if (this.#ended) return;
    if (timeoutMs !== undefined && timeoutMs <= receiveLimitMs) this.#timer = setTimeout(deadlineExceeded, timeoutMs, this);
    // A reset clears it too: node ends the readable side of a reset stream ('end' before 'close').
    else this.#timer = setTimeout(receiveLimit, receiveLimitMs, this, receiveLimitMs);
  }

  /** The stream's listeners, one function each for every call: node calls them with the stream as `this`, and the stream carries its call. */
  static readonly #onData = function (this: CallStream, chunk: Buffer): void { this[CALL].#data(chunk); };
  static readonly #onEnd = function (this: CallStream): void { this[CALL].#halfClose(); };
  static readonly #onClose = function (this: CallStream): void { this[CALL].#closed(); };

  readonly deadline: number;

  get done(): boolean {
    return this.#ended || this.stream.destroyed || this.stream.closed;
  }

  #data(chunk: Buffer): void {
    if (this.#ended) return;
    const n = chunk.length;
    let off = 0;
    while (off < n) {
      if (this.#need < 0) {
        let prefix: Buffer;
        let at: number;
        if (this.#prefixLength === 0 && n - off >= 5) {
          prefix = chunk;
          at = off;
          off += 5;
        } else {
          // A prefix split across DATA frames: its bytes are copied, never a frame held for them.
          const k = Math.min(5 - this.#prefixLength, n - off);
          this.#prefix ??= Buffer.allocUnsafe(5);
          chunk.copy(this.#prefix, this.#prefixLength, off, off + k);
          this.#prefixLength += k;
          off += k;
          if (this.#prefixLength < 5) return;
          this.#prefixLength = 0;
          prefix = this.#prefix;
          at = 0;
        }
        const flag = prefix[at]!;
        const length = prefix.readUInt32BE(at + 1);
        if (flag === 1) return this.fail(GrpcStatus.UNIMPLEMENTED, 'compressed message received; this server accepts grpc-accept-encoding identity only');
        if (flag !== 0) return this.fail(GrpcStatus.INTERNAL, `invalid Compressed-Flag ${flag}`);
        // Refused from the prefix, before any of it is held.
        if (length > MAX_RECEIVE_MESSAGE_BYTES) return this.fail(GrpcStatus.RESOURCE_EXHAUSTED, `received message larger than max (${length} vs. ${MAX_RECEIVE_MESSAGE_BYTES})`);
        // A second message is refused from its prefix too: none of it is held only to be refused.
        if (this.#messages > 0) return this.fail(GrpcStatus.UNIMPLEMENTED, `received a second request message for ${this.streaming ? 'server streaming' : 'unary'} call`);
        this.#need = length;
      }
      const need = this.#need;
      if (need > 0 && off === n) return;
      if (this.#length === 0 && n - off >= need) {
        // The usual case: the whole message in one DATA frame, read without a copy.
        this.#message(need === 0 ? EMPTY : chunk.subarray(off, off + need));
        off += need;
        continue;
      }
      const k = Math.min(need - this.#length, n - off);
      if (!this.#room(this.#length + k)) return this.fail(GrpcStatus.RESOURCE_EXHAUSTED, `server is holding ${MAX_HELD_REQUEST_BYTES} bytes of unfinished request messages`);
      chunk.copy(this.#buffer!, this.#length, off, off + k);
      this.#length += k;
      off += k;
      if (this.#length < need) return;
      const message = this.#buffer!;
      this.#buffer = undefined;
      this.#length = 0;
      this.#message(message);
    }
  }

  #message(message: Buffer): void {
    this.#messages++;
    this.#need = -1;
    this.request = message;
  }

  /** Room for `size` bytes of the message, grown by doubling up to its announced length (a 5-byte prefix never buys 16 MiB), counted against MAX_HELD_REQUEST_BYTES; false past it. */
  #room(size: number): boolean {
    const have = this.#buffer?.length ?? 0;
    if (size <= have) return true;
    const next = Math.min(this.#need, Math.max(size, have * 2, 16 * 1024));
    if (heldRequestBytes + next - this.#held > MAX_HELD_REQUEST_BYTES) return false;
    this.#watchClose();
    heldRequestBytes += next - this.#held;
    this.#held = next;
    const grown = Buffer.allocUnsafe(next);
    this.#buffer?.copy(grown, 0, 0, this.#length);
    this.#buffer = grown;
    return true;
  }

  /** The call's buffer leaves the count: handed to the handler, or the call over. */
  #release(): void {
    heldRequestBytes -= this.#held;
    this.#held = 0;
  }

  #halfClose(): void {
    if (this.#early) return this.stopReading();
    if (this.#ended) return;
    this.#halfClosed = true;
    if (this.#prefixLength > 0 || this.#need >= 0) return this.fail(GrpcStatus.INTERNAL, 'stream ended inside a message');
    if (this.#messages === 0) return this.fail(GrpcStatus.UNIMPLEMENTED, `received no request message for ${this.streaming ? 'server streaming' : 'unary'} call`);
    this.#release();
    try {
      this.handler(this);
    } catch (error) {
      // grpc-js's answer to a handler that throws.
      this.fail(GrpcStatus.UNKNOWN, `server method handler threw error ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  reply(message: Buffer): void {
    if (this.done) return;
    this.#finish();
    if (message.length > MAX_SEND_MESSAGE_BYTES) return failStream(this.stream, GrpcStatus.RESOURCE_EXHAUSTED, `sent message larger than max (${message.length} vs. ${MAX_SEND_MESSAGE_BYTES})`);
    const stream = this.stream;
    stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
    stream.on('wantTrailers', sendOkTrailers);
    stream.end(frame(message));
    if (!this.#halfClosed) this.#answeredEarly();
  }

  /**
   * The answer went out before the client finished sending (an Admission answered at the HEADERS).
   * No RST_STREAM follows it, though RFC 9113 §8.1 allows RST_STREAM(NO_ERROR) here: Envoy before
   * envoyproxy/envoy#44749 (2026) discarded an upstream response that such a reset followed and
   * answered an error instead, which ext_authz turns into `status_on_error` or, with
   * failure_mode_allow, an allow (docs/envoy-integration.md). The rest of the request is read and
   * dropped, as node's readable side keeps flowing; a client that never finishes it is reset when
   * the receive limit passes, so the stream does not stay open for ever.
   */
  #answeredEarly(): void {
    this.#early = true;
    this.#buffer = undefined;
    this.#release();
    this.#timer = setTimeout(stopReading, this.receiveLimitMs, this);
    this.#watchClose();
  }

  /** After an early answer: the client finished sending, the stream closed, or the receive limit passed. */
  stopReading(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.stream.closed && !this.stream.destroyed && !this.stream.readableEnded) this.stream.close(constants.NGHTTP2_NO_ERROR);
  }

  write(message: Buffer): void {
    if (this.done) return;
    if (message.length > MAX_SEND_MESSAGE_BYTES) return this.fail(GrpcStatus.RESOURCE_EXHAUSTED, `sent message larger than max (${message.length} vs. ${MAX_SEND_MESSAGE_BYTES})`);
    if (!this.stream.headersSent) this.stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
    this.stream.write(frame(message));
  }

  end(): void {
    if (this.done) return;
    this.#finish();
    if (!this.stream.headersSent) return failStream(this.stream, GrpcStatus.OK, '');
    this.stream.on('wantTrailers', sendOkTrailers);
    this.stream.end();
  }

  fail(code: GrpcStatus, message: string): void {
    if (this.done) return;
    this.#finish();
    this.#buffer = undefined;
    this.#release();
    failStream(this.stream, code, message);
  }

  onCancel(listener: () => void): void {
    const first = this.#cancel === undefined;
    this.#cancel = listener;
    if (!first) return;
    // Reset before the handler got here (the RST_STREAM came in the same read as END_STREAM): at once.
    if (this.stream.destroyed || this.stream.closed) return this.#closed();
    if (!this.#ended) this.#watchClose();
  }

  /** The receive limit passed: refused if the request is still coming, else the deadline timer (if any) for the rest. */
  receiveLimit(limitMs: number): void {
    if (this.done) return;
    if (!this.#halfClosed) return this.fail(GrpcStatus.DEADLINE_EXCEEDED, `request not finished within ${limitMs} ms`);
    const left = this.deadline - Date.now();
    // Past 2^31 − 1 ms (24.8 days) node would fire the timer at once; such a deadline never comes.
    if (left <= MAX_TIMER_MS) this.#timer = setTimeout(deadlineExceeded, Math.max(0, left), this);
  }

  /** Once per call: when the stream closes before the call ended, the call ends (timer cleared, bytes released, handler told). */
  #watchClose(): void {
    if (this.#watchingClose) return;
    this.#watchingClose = true;
    this.stream.once('close', StreamCall.#onClose);
  }

  /** The deadline passed before the answer: DEADLINE_EXCEEDED, and the handler is told as on a reset. */
  expire(): void {
    if (this.done) return;
    this.fail(GrpcStatus.DEADLINE_EXCEEDED, 'deadline exceeded');
    this.#cancelled();
  }

  #finish(): void {
    this.#ended = true;
    if (this.#timer) clearTimeout(this.#timer);
  }

  #closed(): void {
    if (this.#early) return this.stopReading();
    if (this.#ended) return;
    this.#finish();
    this.#buffer = undefined;
    this.#release();
    this.#cancelled();
  }

  #cancelled(): void {
    const listener = this.#cancel;
    this.#cancel = ignore;
    listener?.();
  }
}

const EMPTY = Buffer.alloc(0);
const MAX_TIMER_MS = 0x7fffffff;

/** The deadline timer's callback; the call comes as its argument, so no closure per call. */
function deadlineExceeded(call: StreamCall): void { call.expire(); }

function receiveLimit(call: StreamCall, limitMs: number): void { call.receiveLimit(limitMs); }

/** The receive-limit timer after an early answer. */
function stopReading(call: StreamCall): void { call.stopReading(); }
