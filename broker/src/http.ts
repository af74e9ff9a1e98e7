/**
 * The broker's HTTP/1.1 surface. One catch per request: whatever a handler throws becomes a logged,
 * counted `internal_error` answer, and a request the parser cannot read gets a 400 on the raw socket,
 * so no input can take the process down. Every answer is JSON; every refusal is
 * `{ "error": <code>, "message": <one line> }` with the status from the registry.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseJsonObject } from '../../core/src/index.js';
import type { Logger } from '../../service/src/log.js';
import { sendJson as send, serveOps } from '../../service/src/ops-http.js';
import { BROKER_ERRORS, refuse, type Refusal } from './errors.js';
import { issueFor, type IssueContext } from './issue.js';
import type { BrokerMetrics } from './metrics.js';
import { parsePassportRequest } from './request.js';

/** Events carry `jti`, `sub` and codes; never a passport, key or proof. */
export interface HandlerContext extends IssueContext {
  readonly metrics: BrokerMetrics;
  readonly log: Logger;
  readonly jwks: () => unknown;
  readonly trustEntry: () => unknown;
}

type Route = { readonly method: string; readonly handle: (req: IncomingMessage, res: ServerResponse) => Promise<void> };

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function sendRefusal(res: ServerResponse, r: Refusal, headers: Record<string, string> = {}): void {
  const body: Record<string, unknown> = { error: r.code, message: r.message };
  if (r.problems) body.problems = r.problems;
  send(res, BROKER_ERRORS[r.code].status, body, headers);
}

type BodyResult = { ok: true; body: Buffer } | { ok: false; tooLarge: true };

/** Reads at most `max` bytes; past that it stops buffering and lets the rest drain unread. */
function readBody(req: IncomingMessage, max: number): Promise<BodyResult> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > max) {
    req.resume();
    return Promise.resolve({ ok: false, tooLarge: true });
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > max) {
        over = true;
        chunks.length = 0;
        resolve({ ok: false, tooLarge: true });
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!over) resolve({ ok: true, body: Buffer.concat(chunks) });
    });
    req.on('error', reject);
  });
}

/** The Unix socket's handler: the passport endpoints, and the operations paths (service/src/ops-http.ts). */
export function createPassportHandler(ctx: HandlerContext) {
  const ops = { metrics: ctx.metrics };
  const routes = new Map<string, Route>([
    ['/v1/jwks', { method: 'GET', handle: async (_q, res) => send(res, 200, ctx.jwks()) }],
    ['/v1/trust-entry', { method: 'GET', handle: async (_q, res) => send(res, 200, ctx.trustEntry()) }],
    ['/v1/passports', { method: 'POST', handle: (req, res) => passports(ctx, req, res) }],
  ]);

  return (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '').split('?')[0]!;
    const route = routes.get(path);
    const run = async (): Promise<void> => {
      if (serveOps(ops, req, res)) return;
      if (!route) return sendRefusal(res, refuse('not_found', `no endpoint ${path.slice(0, 64)}`));
      if (req.method !== route.method && !(route.method === 'GET' && req.method === 'HEAD')) {
        return sendRefusal(res, refuse('method_not_allowed', `${path} accepts ${route.method} only`), { allow: route.method });
      }
      await route.handle(req, res);
    };
    run().catch((err: unknown) => {
      ctx.log.error('broker_handler_failed', { path, error: err instanceof Error ? `${err.name}: ${err.message}` : 'non-error thrown' });
      if (path === '/v1/passports') ctx.metrics.refused('internal_error');
      if (!res.headersSent) sendRefusal(res, refuse('internal_error', 'unexpected error; nothing was issued'));
      else res.destroy();
    });
  };
}

async function passports(ctx: HandlerContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const fail = (r: Refusal, headers: Record<string, string> = {}): void => {
    ctx.metrics.refused(r.code);
    ctx.log.info('passport_refused', { reason: r.code, detail: r.message });
    sendRefusal(res, r, headers);
  };
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    req.resume();
    return fail(refuse('unsupported_media_type', 'send the body as application/json'), { connection: 'close' });
  }
  const read = await readBody(req, ctx.config.maxBodyBytes);
  if (!read.ok) {
    // The unread rest of the body would otherwise be parsed as the next request on this connection.
    return fail(refuse('request_too_large', `the body is larger than ${ctx.config.maxBodyBytes} bytes`), { connection: 'close' });
  }
  let text: string;
  try {
    text = UTF8.decode(read.body);
  } catch {
    return fail(refuse('request_invalid', 'the body is not UTF-8', ['body: not UTF-8']));
  }
  const body = parseJsonObject(text);
  if (!body) return fail(refuse('request_invalid', 'the body is not a JSON object', ['body: not a JSON object']));

  const parsed = parsePassportRequest(body, ctx.config);
  if ('ok' in parsed) return fail(parsed);
  const result = await issueFor(parsed, ctx);
  if (!result.ok) return fail(result);

  ctx.metrics.issued(result.keyBinding);
  ctx.log.info('passport_issued', {
    jti: result.jti,
    sub: result.subject,
    aud: parsed.audience,
    route: parsed.route ?? null,
    key_binding: result.keyBinding,
    exp: result.expiresAt,
  });
  send(res, 200, {
    passport: result.passport,
    expires_at: result.expiresAt,
    jti: result.jti,
    subject: result.subject,
    key_binding: result.keyBinding,
    kid: ctx.key.kid,
  });
}
