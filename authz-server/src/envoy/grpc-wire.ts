/**
 * The gRPC over HTTP/2 wire pieces the transport writes (grpc/grpc doc/PROTOCOL-HTTP2.md): status
 * codes, the message limits, response headers, a framed message, trailers and the Trailers-Only
 * error answer. grpc-call.ts reads and answers a call with them; grpc-transport.ts answers HEADERS
 * that are no call.
 */
import { constants, type ServerHttp2Stream } from 'node:http2';

/** gRPC status codes (grpc/grpc doc/statuscodes.md) this transport sends. */
export const GrpcStatus = Object.freeze({
  OK: 0,
  UNKNOWN: 2,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
} as const);
export type GrpcStatus = (typeof GrpcStatus)[keyof typeof GrpcStatus];

/** As GRPC_SERVER_OPTIONS had it for grpc-js: a CheckRequest may carry a buffered body (Envoy's max_request_bytes). */
export const MAX_RECEIVE_MESSAGE_BYTES = 16 * 1024 * 1024;
export const MAX_SEND_MESSAGE_BYTES = 1024 * 1024;

/**
 * The bytes of unfinished request messages all calls together may hold, process-wide (a message
 * split across DATA frames is copied into a buffer of its own, so what is held is what is counted).
 * Without it a client announcing 16 MiB and trickling it on many streams, never ending them, held
 * 16 MiB a stream with no bound but the heap. Four maximal messages at once; a call that would pass
 * it is RESOURCE_EXHAUSTED. A message whole in one DATA frame is not copied and not counted here.
 */
export const MAX_HELD_REQUEST_BYTES = 4 * MAX_RECEIVE_MESSAGE_BYTES;

/**
 * How long a call may take to send its request (HEADERS to END_STREAM) when its grpc-timeout is
 * longer or absent: else a client that never half-closes holds its stream, call and bytes at will.
 * Envoy sends a check whole and half-closes; a Watch half-closes after its one message. Past it:
 * DEADLINE_EXCEEDED. A call whose grpc-timeout is shorter has only its deadline timer.
 */
export const RECEIVE_LIMIT_MS = 30_000;

const { NGHTTP2_NO_ERROR } = constants;

/**
 * Response headers; `grpc-accept-encoding` says we take no compressed messages (doc/compression.md).
 * One frozen object for every call: node:http2's respond() and sendTrailers() copy what they are
 * given (lib/internal/http2/core.js), so nothing per call is built for them.
 */
export const RESPONSE_HEADERS: Readonly<Record<string, string | number>> = Object.freeze({ ':status': 200, 'content-type': 'application/grpc+proto', 'grpc-accept-encoding': 'identity' });
const OK_TRAILERS = Object.freeze({ 'grpc-status': '0' });

/** 'wantTrailers' listener; node calls it with the stream as `this`, so one function serves every call; added with on(), not once(): node emits it once per stream, and once() would wrap it anew per call. */
export function sendOkTrailers(this: ServerHttp2Stream): void {
  this.sendTrailers(OK_TRAILERS);
}

/** A stream error after a reset is expected and answered by nobody; without a listener it would be thrown. */
export function ignore(): void {}

/**
 * Percent-encoding of `grpc-message` (PROTOCOL-HTTP2.md, "Responses"): UTF-8, every byte outside
 * 0x20–0x7E, and '%' itself, as %XX. grpc-js's client decodes it with decodeURIComponent.
 */
export function percentEncode(message: string): string {
  const bytes = Buffer.from(message, 'utf8');
  let out = '';
  for (const b of bytes) out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b < 16 ? '0' : ''}${b.toString(16).toUpperCase()}`;
  return out;
}

/**
 * A Trailers-Only error response: one HEADERS frame with END_STREAM. If the client is still
 * sending, RST_STREAM(NO_ERROR) after it asks it to stop without error (RFC 9113 §8.1); node sends
 * the reset once the response is written.
 */
export function failStream(stream: ServerHttp2Stream, code: GrpcStatus, message: string): void {
  if (stream.destroyed || stream.closed) return;
  if (stream.headersSent) {
    // Headers went out with waitForTrailers (a server stream): the status follows its messages.
    const trailers = { 'grpc-status': String(code), 'grpc-message': percentEncode(message) };
    stream.once('wantTrailers', () => stream.sendTrailers(trailers));
    stream.end();
  } else {
    stream.respond({ ...RESPONSE_HEADERS, 'grpc-status': String(code), 'grpc-message': percentEncode(message) }, { endStream: true });
  }
  if (!stream.readableEnded) stream.close(NGHTTP2_NO_ERROR);
}

/** A message with its 5-byte prefix. */
export function frame(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(message.length + 5);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}
