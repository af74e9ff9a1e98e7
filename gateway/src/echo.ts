/**
 * An upstream echo service for the demo, the lab and tests: answers every request with a JSON
 * description of what reached it (method, path, headers, body size and SHA-256), so a test can see
 * exactly which headers the gateway or Envoy forwarded.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { listen as listenOn } from '../../service/src/ops-http.js';

export interface EchoReply {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string | string[]>;
  readonly body_bytes: number;
  readonly body_sha256: string;
}

export async function startEcho(listen = '127.0.0.1:0'): Promise<{ address: string; url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const hash = createHash('sha256');
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      hash.update(c);
    });
    req.on('end', () => {
      const headers: Record<string, string | string[]> = {};
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const k = req.rawHeaders[i]!.toLowerCase();
        const prev = headers[k];
        headers[k] = prev === undefined ? req.rawHeaders[i + 1]! : [...(Array.isArray(prev) ? prev : [prev]), req.rawHeaders[i + 1]!];
      }
      const body: EchoReply = { method: req.method ?? '', path: req.url ?? '', headers, body_bytes: n, body_sha256: hash.digest('base64url') };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify(body)}\n`);
    });
  });
  const address = await listenOn(server, listen);
  return { address, url: `http://${address}`, close: () => new Promise((r) => server.close(() => r())) };
}
