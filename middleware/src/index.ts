/**
 * `trustplane-auth/middleware` (docs/middleware.md): the verifier as a `node:http` / Express
 * (Connect-style) middleware and as a Fastify hook. Both answer a deny exactly as the ext_authz
 * server does (status, `x-trustplane-reason`, JSON body) and never call the handler for it.
 *
 * On allow the handler runs with `req.trustplane` = { decision, body, identity }: the body bytes
 * were read to bind them, so they are handed on — for Express as `req.body` (a Buffer; parse it
 * from there, since the stream is consumed), for Fastify as a fresh payload stream, so its
 * content-type parsers work unchanged. The credential headers are removed from `req.headers` — those
 * of the proof kind that decided (`decision.credentialHeaders`: for DPoP `authorization` and `dpop`),
 * as the ext_authz server's allow removes them (authz-server/src/envoy/check-response.ts) — and
 * every client-sent `x-trustplane-*` header with them, so a handler can only see identity from
 * `req.trustplane` and never holds a credential to pass on.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { HEADER_NAMESPACE, type Decision, type Identity } from '../../core/src/index.js';
import { Verifier, type DenyResponse, type VerifierOptions } from './verifier.js';

export { Verifier, denyResponse, type DenyResponse, type Verdict, type VerifierOptions } from './verifier.js';

export interface TrustPlaneRequestState {
  readonly decision: Decision;
  readonly body: Buffer;
  /** Present only for a real allow (not a dry-run allow of a would-be deny). */
  readonly identity?: Identity;
}

type WithState = IncomingMessage & { trustplane?: TrustPlaneRequestState; body?: unknown; originalUrl?: string };

function sendDeny(res: ServerResponse, deny: DenyResponse): void {
  res.writeHead(deny.status, { ...deny.headers, 'content-length': Buffer.byteLength(deny.body) });
  res.end(deny.body);
}

function attach(req: WithState, decision: Decision, body: Buffer): void {
  for (const name of Object.keys(req.headers)) if (name.startsWith(HEADER_NAMESPACE)) delete req.headers[name];
  const credentials = decision.credentialHeaders;
  if (credentials !== undefined) for (const name of credentials) delete req.headers[name];
  req.trustplane = { decision, body, ...(decision.reason === 'ok' && decision.identity ? { identity: decision.identity } : {}) };
}

/**
 * A Connect-style middleware, for `node:http` (`(req, res) => mw(req, res, () => handler(req, res))`)
 * and Express (`app.use(mw)`). The request target is `req.originalUrl` when Express set it: a
 * mounted router rewrites `req.url`, and the signature covers what the client sent.
 */
export function trustplane(verifier: Verifier): (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void {
  return (req, res, next) => {
    const r = req as WithState;
    verifier.verify(req, r.originalUrl ?? req.url ?? '').then(
      (v) => {
        if (v.deny) return sendDeny(res, v.deny);
        attach(r, v.decision, v.body);
        if (r.body === undefined) {
          r.body = v.body;
          // body-parser's flag for "already read": later parsers skip instead of waiting for a stream that has ended.
          (r as { _body?: boolean })._body = true;
        }
        next();
      },
      (error: unknown) => next(error),
    );
  };
}

/** The subset of Fastify's instance this needs (Fastify itself is not a dependency). */
interface FastifyLike {
  addHook(name: 'preParsing', hook: (request: { raw: IncomingMessage; url: string }, reply: FastifyReplyLike, payload: Readable) => Promise<Readable | undefined>): unknown;
  addHook(name: 'preHandler', hook: (request: { raw: IncomingMessage; url: string } & { trustplane?: TrustPlaneRequestState }, reply: FastifyReplyLike) => Promise<void>): unknown;
  decorateRequest(name: string, value: unknown): unknown;
}
interface FastifyReplyLike {
  code(status: number): FastifyReplyLike;
  headers(values: Record<string, string>): FastifyReplyLike;
  send(body: string): unknown;
  readonly sent: boolean;
}

/**
 * A Fastify plugin (`await app.register(fastifyTrustplane(verifier))`; wrap it with fastify-plugin
 * or register it at the root so it applies to every route). Requests with a body are decided in
 * `preParsing` over the payload stream, which is then replaced by the verified bytes; requests
 * without one (Fastify skips parsing for them) are decided in `preHandler`.
 */
export function fastifyTrustplane(verifier: Verifier): (app: FastifyLike) => Promise<void> {
  const plugin = async (app: FastifyLike): Promise<void> => {
    app.decorateRequest('trustplane', undefined);
    app.addHook('preParsing', async (request, reply, payload) => {
      const v = await verifier.verify(payloadRequest(request.raw, payload), request.raw.url ?? request.url);
      if (v.deny) {
        reply.code(v.deny.status).headers(v.deny.headers).send(v.deny.body);
        return undefined;
      }
      attach(request.raw as WithState, v.decision, v.body);
      (request as { trustplane?: TrustPlaneRequestState }).trustplane = (request.raw as WithState).trustplane;
      const fresh = Readable.from(v.body.length > 0 ? [v.body] : []);
      (fresh as Readable & { receivedEncodedLength?: number }).receivedEncodedLength = v.body.length;
      return fresh;
    });
    app.addHook('preHandler', async (request, reply) => {
      if (request.trustplane !== undefined || reply.sent) return;
      const v = await verifier.verify(request.raw, request.raw.url ?? request.url);
      if (v.deny) {
        reply.code(v.deny.status).headers(v.deny.headers).send(v.deny.body);
        return;
      }
      attach(request.raw as WithState, v.decision, v.body);
      request.trustplane = (request.raw as WithState).trustplane;
    });
  };
  // fastify-plugin's marker: apply the hooks to the whole instance, not an encapsulated child.
  (plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
  return plugin;
}

/** The raw request with its body taken from Fastify's payload stream (which may be decompressed). */
function payloadRequest(raw: IncomingMessage, payload: Readable): IncomingMessage {
  return new Proxy(raw, {
    get(target, prop, receiver) {
      if (prop === 'on' || prop === 'off' || prop === 'pause') {
        const fn = (payload as unknown as Record<string | symbol, unknown>)[prop] as (...a: unknown[]) => unknown;
        return (...args: unknown[]) => fn.apply(payload, args);
      }
      return Reflect.get(target, prop, receiver);
    },
  });
}

export async function createTrustplane(options: VerifierOptions): Promise<Verifier> {
  return Verifier.open(options);
}
