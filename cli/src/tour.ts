/**
 * The signed-request tour: real requests through a gateway (the development gateway, or Envoy in the
 * compose lab), each printed with its HTTP status and reason. Every step states what it expects, so
 * the tour is also an end-to-end check: `runTour` reports the steps whose outcome differed.
 */
import { issuePassport, signRequest, type SigningKey } from '../../core/src/index.js';
import { requestPassport } from '../../broker/src/client.js';
import { DEV } from './dev-state.js';

export interface TourContext {
  /** Base URL of the gateway, e.g. http://127.0.0.1:10000. */
  readonly target: string;
  readonly issuerKey: SigningKey;
  readonly holderKey: SigningKey;
  /** The broker's socket, when one runs locally. */
  readonly brokerSocket?: string;
  /** The gateway routes /v1/admin/ to the attested-workload route (the local stack does). */
  readonly adminRoute?: boolean;
}

export interface TourStep {
  readonly name: string;
  readonly expectStatus: number;
  /** Expected x-trustplane-reason (absent on an allow). */
  readonly expectReason: string | null;
}

export interface TourResult extends TourStep {
  readonly status: number;
  readonly reason: string | null;
  readonly ok: boolean;
  /** On an allow: what the upstream saw of TrustPlane headers. */
  readonly upstream?: { subject?: string; credentialsForwarded: boolean };
}

interface Send {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
}

async function send(target: string, s: Send): Promise<{ status: number; reason: string | null; json: unknown }> {
  const res = await fetch(new URL(s.path, target), {
    method: s.method,
    headers: s.headers,
    ...(s.body !== undefined ? { body: s.body } : {}),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, reason: res.headers.get('x-trustplane-reason'), json };
}

export async function runTour(ctx: TourContext, print: (line: string) => void = () => {}): Promise<TourResult[]> {
  const authority = new URL(ctx.target).host;
  const passport = (over: { audience?: string; nowMs?: number; lifetimeS?: number } = {}): string =>
    issuePassport({
      key: ctx.issuerKey,
      issuer: DEV.issuer,
      subject: DEV.subject,
      audience: over.audience ?? DEV.audience,
      trustDomain: DEV.trustDomain,
      holder: ctx.holderKey.publicJwk,
      keyBinding: 'software',
      lifetimeS: over.lifetimeS ?? 60,
      ...(over.nowMs !== undefined ? { nowMs: over.nowMs } : {}),
    });
  const sign = (method: string, path: string, route: string, o: { headers?: Record<string, string>; body?: string | Uint8Array; bind?: string[]; passport?: string; nowMs?: number } = {}): Send => {
    const headers = { ...(o.headers ?? {}) };
    const signed = signRequest(
      { method, authority, pathAndQuery: path, headers, ...(o.body !== undefined ? { body: o.body } : {}) },
      { passport: o.passport ?? passport(), holder: ctx.holderKey, route, bindHeaders: o.bind ?? [], ...(o.nowMs !== undefined ? { nowMs: o.nowMs } : {}) },
    );
    return { method, path, headers: { ...headers, ...signed.headers }, ...(o.body !== undefined ? { body: o.body } : {}) };
  };
  const json = { 'content-type': 'application/json' };
  const payment = '{"amount":100,"currency":"EUR"}';

  const first = sign('POST', '/v1/payments', 'payments-create', { headers: json, body: payment, bind: ['content-type'] });
  const steps: [TourStep, () => Promise<Send>][] = [
    [{ name: 'allow: signed POST /v1/payments', expectStatus: 200, expectReason: null }, async () => first],
    [{ name: 'replay of that exact request', expectStatus: 401, expectReason: 'jti_replay' }, async () => first],
    [
      { name: 'tampered path (signed /v1/payments/123, sent /v1/payments/456)', expectStatus: 401, expectReason: 'path_mismatch' },
      async () => ({ ...sign('GET', '/v1/payments/123', 'payments-read'), path: '/v1/payments/456' }),
    ],
    [
      { name: 'tampered query (signed ?expand=none, sent ?expand=all)', expectStatus: 401, expectReason: 'query_mismatch' },
      async () => ({ ...sign('GET', '/v1/payments/123?expand=none', 'payments-read'), path: '/v1/payments/123?expand=all' }),
    ],
    [
      { name: 'tampered bound header (content-type changed)', expectStatus: 401, expectReason: 'header_mismatch' },
      async () => {
        const s = sign('POST', '/v1/payments', 'payments-create', { headers: json, body: payment, bind: ['content-type'] });
        return { ...s, headers: { ...s.headers, 'content-type': 'text/plain' } };
      },
    ],
    [
      { name: 'tampered body (amount changed in flight)', expectStatus: 401, expectReason: 'body_mismatch' },
      async () => ({ ...sign('POST', '/v1/payments', 'payments-create', { headers: json, body: payment, bind: ['content-type'] }), body: '{"amount":999999,"currency":"EUR"}' }),
    ],
    [
      { name: 'wrong audience (passport for another API)', expectStatus: 403, expectReason: 'audience_mismatch' },
      async () => sign('GET', '/v1/payments/123', 'payments-read', { passport: passport({ audience: 'https://other-api.dev.trustplane.local' }) }),
    ],
    [
      { name: 'expired passport (issued 10 minutes ago, 60 s lifetime)', expectStatus: 401, expectReason: 'passport_expired' },
      async () => sign('GET', '/v1/payments/123', 'payments-read', { passport: passport({ nowMs: Date.now() - 600_000 }) }),
    ],
    [{ name: 'missing passport', expectStatus: 401, expectReason: 'passport_missing' }, async () => ({ method: 'GET', path: '/v1/payments/123', headers: {} })],
    [
      { name: 'over-limit body (2 MiB, limit 1 MiB)', expectStatus: 413, expectReason: 'body_too_large' },
      async () => sign('POST', '/v1/payments', 'payments-create', { headers: json, body: new Uint8Array(2 * 1024 * 1024), bind: ['content-type'] }),
    ],
    [
      { name: 'allow: buffered-body route (Envoy with_request_body, no wasm)', expectStatus: 200, expectReason: null },
      async () => sign('POST', '/v1/uploads', 'uploads-create', { body: 'id,amount\n1,100\n' }),
    ],
  ];
  if (ctx.brokerSocket) {
    const socket = ctx.brokerSocket;
    steps.push([
      { name: 'allow: passport from the broker (software key)', expectStatus: 200, expectReason: null },
      async () => {
        const p = await requestPassport(socket, { audience: DEV.audience, route: 'payments-read', holder_jwk: ctx.holderKey.publicJwk });
        return sign('GET', '/v1/payments/77', 'payments-read', { passport: p.passport });
      },
    ]);
  }
  if (ctx.brokerSocket && ctx.adminRoute) {
    const socket = ctx.brokerSocket;
    steps.push([
      { name: 'attested route with a software passport', expectStatus: 403, expectReason: 'key_binding_insufficient' },
      async () => {
        const p = await requestPassport(socket, { audience: DEV.audience, route: 'admin', holder_jwk: ctx.holderKey.publicJwk });
        return sign('POST', '/v1/admin/rotate', 'admin', { passport: p.passport });
      },
    ]);
  }

  const results: TourResult[] = [];
  for (const [step, make] of steps) {
    const r = await send(ctx.target, await make());
    const echo = r.json as { headers?: Record<string, string> } | undefined;
    const upstream =
      r.status === 200 && echo?.headers
        ? {
            ...(echo.headers['x-trustplane-subject'] ? { subject: echo.headers['x-trustplane-subject'] } : {}),
            credentialsForwarded: 'x-trustplane-passport' in echo.headers || 'x-trustplane-proof' in echo.headers,
          }
        : undefined;
    const ok = r.status === step.expectStatus && r.reason === step.expectReason && !upstream?.credentialsForwarded;
    results.push({ ...step, status: r.status, reason: r.reason, ok, ...(upstream ? { upstream } : {}) });
    const detail = upstream ? `upstream saw subject ${upstream.subject ?? '(none)'}${upstream.credentialsForwarded ? ', CREDENTIALS FORWARDED' : ', no credentials'}` : '';
    print(`${ok ? '✔' : '✘'} ${String(r.status).padEnd(3)} ${(r.reason ?? 'allowed').padEnd(24)} ${step.name}${detail ? `  (${detail})` : ''}\n`);
  }
  return results;
}
