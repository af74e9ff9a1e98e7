/**
 * The load generator's gRPC client: unary `Authorization/Check` over one HTTP/2 connection, spoken
 * directly on node:http2 the way Envoy's own (C++) gRPC client speaks it, instead of through
 * grpc-js's client stack.
 *
 * Why not grpc-js here: the bench measures the SERVER. The latency of a check is read in this
 * (separate) load process, so every microsecond its client spends framing, running interceptors
 * and decoding lands in the figure as if the server had spent it — and in the closed loop the
 * client's CPU competes with the server for the machine's two cores. Envoy's client costs a few
 * microseconds a call; grpc-js's costs over a hundred. This client keeps the wire identical (same
 * headers Envoy sends, a length-prefixed message, grpc-status in trailers) and does as little as
 * it can: requests are framed before the timed phase, a response is kept as bytes and decoded
 * (with Envoy's official definitions) only after the latency is stamped.
 *
 * A call resolves with the CheckResponse bytes on grpc-status 0; a gRPC error, an HTTP error, a
 * reset stream or a deadline rejects. It is a bench tool, not a general client: no compression, no
 * retries, one connection.
 */
import { connect, constants, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { connect as tcpConnect } from 'node:net';

export const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';

/** A CheckRequest with its 5-byte gRPC message prefix (uncompressed, big-endian length). */
export function frameGrpcMessage(message: Uint8Array): Buffer {
  const framed = Buffer.allocUnsafe(5 + message.length);
  framed[0] = 0;
  framed.writeUInt32BE(message.length, 1);
  framed.set(message, 5);
  return framed;
}

export class H2CheckClient {
  readonly #session: ClientHttp2Session;
  readonly #headers: Record<string, string>;

  /**
   * `address` is `host:port`; `timeoutMs` is sent as grpc-timeout, as Envoy sends its ext_authz
   * timeout (envoy/envoy.yaml: 0.5 s). TCP_NODELAY is set, as Envoy sets it on upstream connections.
   */
  readonly #stampSend: boolean;

  /**
   * `stampSend` (bench/overload-diag.ts only): each request also carries `x-bench-sent-ms`, the
   * wall-clock time of its send in milliseconds, so a diagnostic server can split the time a check
   * waited before its handler saw it from the time the handler took.
   */
  constructor(address: string, timeoutMs = 500, stampSend = false) {
    this.#stampSend = stampSend;
    const at = address.lastIndexOf(':');
    const host = address.slice(0, at);
    const port = Number(address.slice(at + 1));
    this.#session = connect(`http://${address}`, { createConnection: () => tcpConnect({ host, port, noDelay: true }) });
    this.#session.on('error', () => {});
    this.#headers = {
      [constants.HTTP2_HEADER_METHOD]: 'POST',
      [constants.HTTP2_HEADER_SCHEME]: 'http',
      [constants.HTTP2_HEADER_PATH]: CHECK_PATH,
      [constants.HTTP2_HEADER_AUTHORITY]: 'trustplane_authz',
      'content-type': 'application/grpc',
      te: 'trailers',
      'grpc-timeout': `${timeoutMs}m`,
    };
  }

  /** Sends one framed CheckRequest; resolves with the CheckResponse message bytes. */
  check(framed: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const headers = this.#stampSend ? { ...this.#headers, 'x-bench-sent-ms': (performance.timeOrigin + performance.now()).toFixed(3) } : this.#headers;
      const stream = this.#session.request(headers, { endStream: false });
      const chunks: Buffer[] = [];
      let status: string | undefined;
      let message: string | undefined;
      const grpcStatus = (h: IncomingHttpHeaders): void => {
        if (h['grpc-status'] !== undefined) {
          status = String(h['grpc-status']);
          message = h['grpc-message'] === undefined ? '' : String(h['grpc-message']);
        }
      };
      stream.on('response', (h) => {
        if (Number(h[constants.HTTP2_HEADER_STATUS]) !== 200) reject(new Error(`HTTP status ${String(h[constants.HTTP2_HEADER_STATUS])}`));
        grpcStatus(h); // a trailers-only response carries grpc-status in its headers
      });
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('trailers', grpcStatus);
      stream.on('error', reject);
      stream.on('close', () => {
        if (status !== '0') {
          reject(new Error(status === undefined ? `stream closed without grpc-status (code ${stream.rstCode})` : `grpc-status ${status}: ${message}`));
          return;
        }
        const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        if (body.length < 5 || body[0] !== 0 || body.readUInt32BE(1) !== body.length - 5) {
          reject(new Error(`malformed gRPC message (${body.length} bytes)`));
          return;
        }
        resolve(body.subarray(5));
      });
      stream.end(framed);
    });
  }

  close(): void {
    this.#session.close();
  }
}
