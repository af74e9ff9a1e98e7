/**
 * The broker's HTTP/1.1 surface. One catch per request: whatever a handler throws becomes a logged,
 * counted `internal_error` answer, and a request the parser cannot read gets a 400 on the raw socket,
 * so no input can take the process down. Every answer is JSON; every refusal is
 * `{ "error": <code>, "message": <one line> }` with the status from the registry.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { parseJsonObject } from '../../core/src/encoding.js';
import { BROKER_ERRORS, refuse, type Refusal } from './errors.js';
import { issueFor, type IssueContext } from './issue.js';
import type { BrokerMetrics } from './metrics.js';
import { parsePassportRequest } from './request.js';

/** Structured log sink. Events carry `jti`, `sub` and codes; never a passport, key or proof. */
export type BrokerLogger = (event: Readonly<Record<string, unknown>>) => void;

export interface HandlerContext extends IssueContext {
  readonly metrics: BrokerMetrics;
  readonly log: BrokerLogger;
  readonly jwks: () => unknown;
  readonly trustEntry: () => unknown;
}

type Route = { readonly method: string; readonly handle: (req: IncomingMessage, res: ServerResponse) => Promise<void> };

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
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

export function createPassportHandler(ctx: HandlerContext, options: { readonly issuance: boolean }) {
  const metricsText = async (_req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const text = await ctx.metrics.registry.metrics();
    res.writeHead(200, { 'content-type': ctx.metrics.registry.contentType, 'cache-control': 'no-store' });
    res.end(text);
  };
  const routes = new Map<string, Route>([
    ['/healthz', { method: 'GET', handle: async (_q, res) => send(res, 200, { status: 'ok' }) }],
    ['/metrics', { method: 'GET', handle: metricsText }],
  ]);
  if (options.issuance) {
    routes.set('/v1/jwks', { method: 'GET', handle: async (_q, res) => send(res, 200, ctx.jwks()) });
    routes.set('/v1/trust-entry', { method: 'GET', handle: async (_q, res) => send(res, 200, ctx.trustEntry()) });
    routes.set('/v1/passports', { method: 'POST', handle: (req, res) => passports(ctx, req, res) });
  }

  return (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '').split('?')[0]!;
    const route = routes.get(path);
    const run = async (): Promise<void> => {
      if (!route) return sendRefusal(res, refuse('not_found', `no endpoint ${path.slice(0, 64)}`));
      if (req.method !== route.method && !(route.method === 'GET' && req.method === 'HEAD')) {
        return sendRefusal(res, refuse('method_not_allowed', `${path} accepts ${route.method} only`), { allow: route.method });
      }
      await route.handle(req, res);
    };
    run().catch((err: unknown) => {
      ctx.log({ level: 'error', msg: 'broker_handler_failed', path, error: err instanceof Error ? `${err.name}: ${err.message}` : 'non-error thrown' });
      if (path === '/v1/passports') ctx.metrics.refused('internal_error');
      if (!res.headersSent) sendRefusal(res, refuse('internal_error', 'unexpected error; nothing was issued'));
      else res.destroy();
    });
  };
}

async function passports(ctx: HandlerContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const fail = (r: Refusal, headers: Record<string, string> = {}): void => {
    ctx.metrics.refused(r.code);
    ctx.log({ level: 'info', msg: 'passport_refused', reason: r.code, detail: r.message });
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
  ctx.log({
    level: 'info',
    msg: 'passport_issued',
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
