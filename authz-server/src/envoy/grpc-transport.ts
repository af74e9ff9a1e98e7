/**
 * The gRPC listener, served on node:http2 directly: gRPC over HTTP/2 as grpc/grpc
 * doc/PROTOCOL-HTTP2.md lays it out, for the few methods registered here (Authorization/Check,
 * grpc.health.v1 Check and Watch). grpc-js served them before; its generic server (interceptors,
 * metadata objects, per-call timers, channelz hooks) cost 20–35 µs of CPU per call on top of
 * node:http2 (docs/performance.md, "Where a check's CPU goes"), more than a shed check's whole budget.
 *
 * What the HEADERS decide, before any message is read:
 * - `:method` other than POST: HTTP 405; `content-type` not `application/grpc`, `application/grpc+proto`
 *   or `application/grpc;…`: HTTP 415 (the spec's SHOULD, so that no HTTP client takes the answer
 *   for a success). Neither is a gRPC answer: there is no gRPC call to answer.
 * - an unregistered `:path`: Trailers-Only UNIMPLEMENTED.
 * - `grpc-timeout` (1–8 digits and one of H M S m u n, nothing else): the call's deadline; the request
 *   itself must end within RECEIVE_LIMIT_MS (grpc-wire.ts) whatever the deadline. A value
 *   that breaks that grammar is INTERNAL, as grpc-js answered it (grpc-js also took a value with
 *   junk around a match; this reads the spec's grammar exactly).
 * The messages and the answer: grpc-call.ts.
 *
 * grpc-js's server options (GRPC_SERVER_OPTIONS before) map as: max receive 16 MiB and max send
 * 1 MiB → grpc-wire.ts's limits; channelz off → nothing to turn off; node's session memory limit
 * and header block limit lifted as grpc-js lifted them. grpc-js set no keepalive pings, idle or
 * connection-age limits by default, and neither does this; unlike grpc-js, a connection has at most
 * MAX_CONCURRENT_STREAMS streams open.
 */
import { constants, createSecureServer, createServer, type Http2Server, type Http2Session, type IncomingHttpHeaders, type SecureServerOptions, type ServerHttp2Stream } from 'node:http2';
import { GrpcStatus, RECEIVE_LIMIT_MS, StreamCall, failStream, ignore, type Admission, type Handler } from './grpc-call.js';

export { GrpcStatus, type Admission, type GrpcCall, type Handler } from './grpc-call.js';

/** TLS for the listener: the server's chain and key; with `ca`, client certificates are asked for and, when required, verified. */
export interface GrpcTls {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca?: Buffer;
  readonly requireClientCert: boolean;
}

/**
 * Streams open at once on one connection (SETTINGS_MAX_CONCURRENT_STREAMS, RFC 9113 §6.5.2). node's
 * default is 2^32 − 1, which grpc-js kept: a client could open streams that never send DATA or
 * END_STREAM without any bound but the heap (each one a node stream and a call). A compliant client,
 * Envoy among them, queues or opens another connection at the limit; 1000 is about four times the
 * overload gate's default in flight (overload.ts), past which checks are shed anyway.
 */
export const MAX_CONCURRENT_STREAMS = 1000;

/**
 * grpc-js lifted node's session memory limit (its source: "Node's behavior degrades badly when this
 * limit is reached", new streams refused with ENHANCE_YOUR_CALM) and the header block limit; this
 * keeps both lifted, because what that memory holds is now bounded otherwise: the streams by
 * MAX_CONCURRENT_STREAMS, received bytes by grpc-wire.ts's MAX_HELD_REQUEST_BYTES, sent messages by
 * MAX_SEND_MESSAGE_BYTES.
 */
const SESSION_OPTIONS = Object.freeze({
  maxSessionMemory: Number.MAX_SAFE_INTEGER,
  maxSendHeaderBlockLength: Number.MAX_SAFE_INTEGER,
  settings: { maxConcurrentStreams: MAX_CONCURRENT_STREAMS },
});

const TIMEOUT_UNIT_MS: Readonly<Record<string, number>> = Object.freeze({ H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 });

/**
 * `grpc-timeout` → milliseconds; undefined when it breaks the grammar
 * (PROTOCOL-HTTP2.md: Timeout → TimeoutValue TimeoutUnit, TimeoutValue → {positive integer as ASCII string of at most 8 digits}).
 */
export function parseGrpcTimeout(value: string): number | undefined {
  const n = value.length;
  if (n < 2 || n > 9) return undefined;
  const unit = TIMEOUT_UNIT_MS[value[n - 1]!];
  if (unit === undefined) return undefined;
  let v = 0;
  for (let i = 0; i < n - 1; i++) {
    const d = value.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return undefined;
    v = v * 10 + d;
  }
  return v * unit;
}

/** `application/grpc`, `application/grpc+proto` or `application/grpc;…` (case-insensitive, as media types are). */
export function isGrpcContentType(value: string | undefined): boolean {
  if (value === undefined) return false;
  const v = value.toLowerCase();
  if (!v.startsWith('application/grpc')) return false;
  const rest = v.slice(16);
  return rest === '' || rest.startsWith(';') || rest === '+proto' || rest.startsWith('+proto;');
}

/** A plain HTTP refusal; a client still sending is asked to stop without error, as after a gRPC error (grpc-wire.ts, failStream). */
function refuse(stream: ServerHttp2Stream, headers: Record<string, string | number>): void {
  stream.respond(headers, { endStream: true });
  if (!stream.readableEnded) stream.close(constants.NGHTTP2_NO_ERROR);
}

interface Method {
  readonly handler: Handler;
  readonly streaming: boolean;
  readonly admission?: Admission;
}

export class GrpcServer {
  readonly #methods = new Map<string, Method>();
  readonly #sessions = new Set<Http2Session>();
  readonly #server: Http2Server;

  readonly #receiveLimitMs: number;

  /** `receiveLimitMs`: grpc-wire.ts's RECEIVE_LIMIT_MS unless a test needs it shorter. */
  constructor(tls?: GrpcTls, limits: { receiveLimitMs?: number } = {}) {
    this.#receiveLimitMs = limits.receiveLimitMs ?? RECEIVE_LIMIT_MS;
    const options: SecureServerOptions = { ...SESSION_OPTIONS };
    this.#server = tls
      ? createSecureServer({
          ...options,
          cert: tls.cert,
          key: tls.key,
          ...(tls.ca ? { ca: tls.ca } : {}),
          // As grpc-js's createSsl(ca, pairs, checkClientCertificate): a certificate is asked for only when required.
          requestCert: tls.requireClientCert,
          rejectUnauthorized: tls.requireClientCert,
          ALPNProtocols: ['h2'],
          allowHTTP1: false,
        })
      : createServer(options);
    this.#server.on('session', (session: Http2Session) => {
      this.#sessions.add(session);
      session.on('error', ignore);
      session.once('close', () => this.#sessions.delete(session));
    });
    this.#server.on('sessionError', ignore);
    this.#server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => this.#stream(stream, headers));
  }

  /** node:http2's server underneath (bench/overload-diag.ts sets each session's window on it). */
  get http2(): Http2Server {
    return this.#server;
  }

  /**
   * A unary method: the handler answers with call.reply or call.fail. With `admission`, each call is
   * first shown to it at its HEADERS, which may answer it there (grpc-call.ts, Admission).
   */
  unary(path: string, handler: Handler, admission?: Admission): void {
    this.#methods.set(path, admission === undefined ? { handler, streaming: false } : { handler, streaming: false, admission });
  }

  /** A server-streaming method: call.write, then call.end or call.fail. */
  serverStream(path: string, handler: Handler): void {
    this.#methods.set(path, { handler, streaming: true });
  }

  #stream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    stream.on('error', ignore);
    if (headers[':method'] !== 'POST') return refuse(stream, { ':status': 405, allow: 'POST' });
    if (!isGrpcContentType(headers['content-type'])) return refuse(stream, { ':status': 415 });
    const method = this.#methods.get(headers[':path'] ?? '');
    if (method === undefined) return failStream(stream, GrpcStatus.UNIMPLEMENTED, `method not found: ${headers[':path']}`);
    const timeout = headers['grpc-timeout'];
    let timeoutMs: number | undefined;
    if (timeout !== undefined) {
      timeoutMs = parseGrpcTimeout(String(timeout));
      if (timeoutMs === undefined) return failStream(stream, GrpcStatus.INTERNAL, `invalid grpc-timeout value "${timeout}"`);
    }
    new StreamCall(stream, headers, timeoutMs, method.handler, method.streaming, this.#receiveLimitMs, method.admission);
  }

  /** Binds `host:port` (port 0: any free one), `[v6]:port` or `unix:/path`; resolves with the port (0 for a socket). */
  listen(address: string): Promise<number> {
    const server = this.#server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      const done = (): void => {
        server.off('error', reject);
        const a = server.address();
        resolve(a !== null && typeof a === 'object' ? a.port : 0);
      };
      if (address.startsWith('unix:')) server.listen(address.slice(5), done);
      else {
        const i = address.lastIndexOf(':');
        const port = Number(address.slice(i + 1));
        if (i < 0 || !Number.isInteger(port) || port < 0 || port > 65535) return reject(new Error(`not host:port or unix:path: ${address}`));
        server.listen(port, address.slice(0, i).replace(/^\[|\]$/g, ''), done);
      }
    });
  }

  /**
   * Graceful stop: accept no more connections, send every session GOAWAY (session.close) and let
   * its calls finish; what is still open after `graceMs` is destroyed. Resolves when all are closed.
   */
  shutdown(graceMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.forceShutdown(), graceMs);
      this.#server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      for (const s of this.#sessions) s.close();
    });
  }

  /** Stop now: every session destroyed, in-flight calls with it. */
  forceShutdown(): void {
    if (this.#server.listening) this.#server.close();
    for (const s of this.#sessions) s.destroy();
    this.#sessions.clear();
  }
}
