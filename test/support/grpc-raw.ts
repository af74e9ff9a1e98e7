/**
 * gRPC over raw HTTP/2 for tests that must send what no gRPC client sends (a forged
 * Compressed-Flag or length, a message split at any byte, a request that never ends): a
 * Length-Prefixed-Message (grpc/grpc doc/PROTOCOL-HTTP2.md), what the server answered on a stream,
 * and an in-process server with one raw session for a describe block.
 */
import { connect, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { startInProcess, type InProcessServer } from './server-harness.js';
import { makeTrust, type TrustSetup } from './trust-setup.js';

/** `message` with its 5-byte prefix: `flag` (1 marks it compressed) and `declaredLength`, which may lie. */
export function grpcFrame(message: Buffer, flag = 0, declaredLength = message.length): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out[0] = flag;
  out.writeUInt32BE(declaredLength, 1);
  message.copy(out, 5);
  return out;
}

/** What the server sent on one stream: response headers, trailers and body, as sent. */
export interface RawAnswer {
  headers: IncomingHttpHeaders;
  trailers: IncomingHttpHeaders;
  data: Buffer;
  /** The stream's RST_STREAM code when it closed (0, NO_ERROR, also for a stream that simply ended). */
  rstCode?: number;
}

/** grpc-status of an answer: in the trailers, or in the headers of a Trailers-Only response. */
export const rawStatus = (a: RawAnswer): number => Number(a.trailers['grpc-status'] ?? a.headers['grpc-status']);

/** Collects what the server answers on `req`; resolves when the stream closes (errors are the answer's absence, not a throw). */
export function collectAnswer(req: ClientHttp2Stream): Promise<RawAnswer> {
  const out: RawAnswer = { headers: {}, trailers: {}, data: Buffer.alloc(0) };
  req.on('response', (h) => (out.headers = h));
  req.on('trailers', (t) => (out.trailers = t));
  req.on('data', (c: Buffer) => (out.data = Buffer.concat([out.data, c])));
  req.on('error', () => {});
  return new Promise((resolve) =>
    req.on('close', () => {
      out.rstCode = req.rstCode;
      resolve(out);
    }),
  );
}

/** The real server in process with bundle serial 1, and one raw HTTP/2 session to it, for the enclosing describe block. */
export function useRawServer(prefix: string): { readonly trust: TrustSetup; readonly srv: InProcessServer; readonly session: ClientHttp2Session } {
  const held = {} as { trust: TrustSetup; srv: InProcessServer; session: ClientHttp2Session };
  before(async () => {
    held.trust = makeTrust(prefix);
    held.trust.writeBundle(held.trust.bundle({ serial: 1 }));
    held.srv = await startInProcess(held.trust);
    held.session = connect(`http://${held.srv.grpcAddress}`);
    held.session.on('error', () => {});
  });
  after(async () => {
    held.session?.close();
    await held.srv?.server.close();
    held.trust?.dispose();
  });
  return held;
}
