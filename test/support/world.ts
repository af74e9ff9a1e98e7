/**
 * A small, real TrustPlane world for tests: an issuer key, a holder key, a compiled bundle with a
 * few routes, and helpers that sign a request and present it the way Envoy would. Everything is
 * real keys and real signatures; only the clock is frozen.
 */
import { compileBundle, type CompiledBundle } from '../../core/src/bundle/compile.js';
import { buildBundle } from '../../core/src/bundle/edit.js';
import type { BundleDocument, Route, TrustKey } from '../../core/src/bundle/types.js';
import { generateSigningKey, type SigningKey } from '../../core/src/keys.js';
import { issuePassport, type IssuePassportOptions } from '../../core/src/passport.js';
import { collectHeaders, signRequest, type RequestToSign, type SignOptions } from '../../core/src/sign-request.js';
import type { BodyObservation, KeyBinding, RequestView } from '../../core/src/types.js';

export const NOW_MS = Date.UTC(2026, 10, 24, 12, 0, 0);
export const NOW_S = Math.floor(NOW_MS / 1000);
export const ISSUER = 'https://issuer.example.test';
export const TRUST_DOMAIN = 'example.test';
export const AUDIENCE = 'https://payments.example.test';
export const SUBJECT = 'spiffe://example.test/ns/shop/sa/checkout';

export interface World {
  readonly issuerKey: SigningKey;
  readonly attestedKey: SigningKey;
  readonly holder: SigningKey;
  readonly doc: BundleDocument;
  readonly bundle: CompiledBundle;
}

export function route(id: string, over: Partial<Route> = {}): Route {
  return {
    id,
    match: { methods: ['POST'], path: '/v1/payments' },
    audience: AUDIENCE,
    allowed_sources: [{ issuer: ISSUER, trust_domain: TRUST_DOMAIN, subject: 'spiffe://example.test/ns/shop/sa/*' }],
    required_key_binding: 'software',
    freshness_class: 'bounded',
    bound_headers: [],
    ...over,
  };
}

export function trustKey(key: SigningKey, over: Partial<TrustKey> = {}): TrustKey {
  return { kid: key.kid, issuer: ISSUER, trust_domain: TRUST_DOMAIN, max_key_binding: 'software', jwk: key.publicJwk, ...over };
}

export function makeWorld(opts: { routes?: Route[]; extraKeys?: TrustKey[]; serial?: number } = {}): World {
  const issuerKey = generateSigningKey('EdDSA');
  const attestedKey = generateSigningKey('ES256');
  const holder = generateSigningKey('EdDSA');
  const routes = opts.routes ?? [
    route('payments-create', { bound_headers: ['content-type'], body: { mode: 'bound', hash_source: 'filter' } }),
    route('payments-read', { match: { methods: ['GET'], path: '/v1/payments/*' }, body: { mode: 'empty', hash_source: 'filter' } }),
    route('attested-admin', {
      match: { path: '/v1/admin/**' },
      required_key_binding: 'attested_workload',
      allowed_sources: [{ issuer: 'https://broker.example.test', trust_domain: TRUST_DOMAIN, subject: 'spiffe://example.test/**' }],
    }),
  ];
  const built = buildBundle({
    issuedAt: NOW_S - 60,
    expiresAt: NOW_S + 86_400,
    serial: opts.serial ?? 1,
    keys: [
      trustKey(issuerKey),
      trustKey(attestedKey, { issuer: 'https://broker.example.test', max_key_binding: 'attested_workload' }),
      ...(opts.extraKeys ?? []),
    ],
    routes,
  });
  if (!built.ok) throw new Error(`test bundle invalid: ${JSON.stringify(built)}`);
  return { issuerKey, attestedKey, holder, doc: built.bundle, bundle: compileBundle(built.bundle) };
}

export function passport(w: World, over: Partial<IssuePassportOptions> & { keyBinding?: KeyBinding } = {}): string {
  return issuePassport({
    key: w.issuerKey,
    issuer: ISSUER,
    subject: SUBJECT,
    audience: AUDIENCE,
    trustDomain: TRUST_DOMAIN,
    holder: w.holder.publicJwk,
    keyBinding: 'software',
    lifetimeS: 60,
    nowMs: NOW_MS,
    ...over,
  });
}

export interface Presented {
  readonly request: RequestToSign & { authority: string; pathAndQuery: string };
  readonly headers: Map<string, string>;
}

/** Sign a request and return the header map Envoy would present (credentials included). */
export function signed(w: World, req: Partial<RequestToSign> = {}, o: Partial<SignOptions> = {}): Presented {
  const request = {
    method: 'POST',
    authority: 'api.example.test',
    pathAndQuery: '/v1/payments',
    headers: { 'content-type': 'application/json' },
    body: '{"amount":100}',
    ...req,
  } as RequestToSign & { authority: string; pathAndQuery: string };
  const s = signRequest(request, { passport: o.passport ?? passport(w), holder: w.holder, route: 'payments-create', bindHeaders: ['content-type'], nowMs: NOW_MS, ...o });
  const headers = collectHeaders(request.headers);
  for (const [k, v] of Object.entries(s.headers)) headers.set(k, v);
  return { request, headers };
}

/** The RequestView the server would build from that request, with Envoy's buffered body. */
export function view(p: Presented, over: Partial<RequestView> = {}): RequestView {
  const body = p.request.body;
  const bytes = typeof body === 'string' ? Buffer.from(body) : (body ?? new Uint8Array(0));
  const observed: BodyObservation = bytes.length > 0 ? { kind: 'bytes', bytes, partial: false } : { kind: 'empty' };
  return {
    method: p.request.method,
    scheme: 'https',
    authority: p.request.authority,
    path: p.request.pathAndQuery,
    headers: p.headers,
    body: observed,
    ...over,
  };
}
