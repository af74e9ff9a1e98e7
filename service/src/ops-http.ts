/**
 * The operations HTTP port of the server and the broker: `GET /healthz` (the process answers),
 * `GET /readyz` (it can do its work, when the source can tell; the server's readiness is
 * authz-server/src/health.ts) and `GET /metrics` (Prometheus text). Every other answer is JSON
 * `{ "error": <code>, "message": <one line> }`. The broker also answers these paths on its Unix
 * socket, through `serveOps`. docs/deployment.md lists the ports.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { firstLine } from './config.js';

export interface OpsSource {
  readonly metrics: { readonly contentType: string; render(): Promise<string> };
  /** Readiness and a small JSON detail for `/readyz`; without it `/readyz` is not served. */
  readiness?(): { readonly ready: boolean; readonly detail: Record<string, unknown> };
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text)),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  res.end(text);
}

/** Answers `req` when its path is an operations path and returns true; otherwise sends nothing. */
export function serveOps(source: OpsSource, req: IncomingMessage, res: ServerResponse): boolean {
  const path = (req.url ?? '').split('?')[0]!;
  if (path !== '/healthz' && path !== '/metrics' && !(path === '/readyz' && source.readiness)) return false;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendJson(res, 405, { error: 'method_not_allowed', message: `${path} accepts GET only` }, { allow: 'GET' });
  } else if (path === '/healthz') sendJson(res, 200, { status: 'ok' });
  else if (path === '/readyz') {
    const r = source.readiness!();
    sendJson(res, r.ready ? 200 : 503, { ready: r.ready, ...r.detail });
  } else {
    source.metrics.render().then(
      (text) => {
        res.writeHead(200, { 'content-type': source.metrics.contentType, 'cache-control': 'no-store' });
        res.end(text);
      },
      (error: unknown) => sendJson(res, 500, { error: 'metrics_unavailable', message: firstLine(error) }),
    );
  }
  return true;
}

/** An HTTP/1.1 server with bounded requests: 16 KiB of headers, 10 s per request. */
export function createBoundedServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Server {
  const server = createServer({ maxHeaderSize: 16_384, requestTimeout: 10_000, headersTimeout: 5_000, keepAliveTimeout: 5_000 }, handler);
  server.on('clientError', answerUnparseable);
  return server;
}

/** The operations port: the paths above and nothing else. */
export function createOpsServer(source: OpsSource): Server {
  return createBoundedServer((req, res) => {
    if (!serveOps(source, req, res)) sendJson(res, 404, { error: 'not_found', message: `no endpoint ${(req.url ?? '').split('?')[0]!.slice(0, 64)}` });
  });
}

/** For `clientError`: requests the HTTP parser rejects never reach a handler; answer and close. */
export function answerUnparseable(err: NodeJS.ErrnoException, socket: Socket): void {
  if (!socket.writable || err.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
  const body = `${JSON.stringify({ error: 'request_invalid', message: 'the request is not valid HTTP/1.1' })}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
      `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/**
 * Listens on `host:port`, `[ipv6]:port` or `unix:/path` (service/src/config.ts checks the
 * spelling) and resolves with the bound address in the same spelling, the real port included.
 */
export function listen(server: Server, address: string): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const done = (): void => {
      server.off('error', reject);
      const a = server.address();
      resolve(typeof a === 'string' ? `unix:${a}` : a ? `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : address);
    };
    if (address.startsWith('unix:')) server.listen(address.slice(5), done);
    else {
      const i = address.lastIndexOf(':');
      server.listen(Number(address.slice(i + 1)), address.slice(0, i).replace(/^\[|\]$/g, ''), done);
    }
  });
}

/** Stops accepting and ends open connections (keep-alive ones too), then resolves. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
