/**
 * The operations HTTP port: `/metrics` (Prometheus text), `/healthz` (the process answers) and
 * `/readyz` (it can decide correctly). Served by a single-process server, or by the cluster primary
 * on behalf of its workers; only where the answers come from differs.
 */
import { createServer, type Server } from 'node:http';

export interface OpsSource {
  readonly metrics: { readonly contentType: string; render(): Promise<string> };
  /** Readiness and a small JSON detail for `/readyz`. */
  readiness(): { readonly ready: boolean; readonly detail: Record<string, unknown> };
}

export function createOpsServer(source: OpsSource): Server {
  return createServer((req, res) => {
    const send = (status: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    if (req.url === '/metrics') {
      source.metrics.render().then(
        (text) => send(200, text, source.metrics.contentType),
        (error: unknown) => send(500, `metrics unavailable: ${error instanceof Error ? error.message : String(error)}\n`),
      );
    } else if (req.url === '/healthz') send(200, 'ok\n');
    else if (req.url === '/readyz') {
      const r = source.readiness();
      send(r.ready ? 200 : 503, `${JSON.stringify({ ready: r.ready, ...r.detail })}\n`, 'application/json');
    } else send(404, 'not found\n');
  });
}
