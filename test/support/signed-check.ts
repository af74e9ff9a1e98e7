/**
 * Signed requests on the real clock with a trust setup's keys, presented the way Envoy presents them:
 * an EnvoyCheckInput, or CheckRequest bytes built with Envoy's official definitions.
 */
import { issuePassport, type IssuePassportOptions } from '../../core/src/passport.js';
import { collectHeaders, signRequest, type SignOptions } from '../../core/src/sign-request.js';
import type { KeyBinding } from '../../core/src/types.js';
import { envoyCheckRequest, type EnvoyCheckInput } from './envoy-api.js';
import type { TrustSetup } from './trust-setup.js';
import { AUDIENCE, ISSUER, SUBJECT, TRUST_DOMAIN } from './world.js';

export interface SignedCheckOptions {
  readonly method?: string;
  readonly authority?: string;
  readonly path?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly route?: string;
  readonly bindHeaders?: readonly string[];
  /** Passport overrides (issuer, subject, key binding, clock, lifetime, key...). */
  readonly passport?: Partial<IssuePassportOptions> & { keyBinding?: KeyBinding };
  /** A passport to use as is (replay tests present one passport twice). */
  readonly passportToken?: string;
  readonly sign?: Partial<SignOptions>;
}

export interface SignedCheck {
  readonly passport: string;
  readonly proof: string;
  readonly method: string;
  readonly authority: string;
  readonly path: string;
  readonly body: string;
  /** Lower-case name → value, credentials included. */
  readonly headers: Map<string, string>;
}

/** Sign a request on the real clock with the setup's issuer and holder keys. */
export function signCheck(t: TrustSetup, o: SignedCheckOptions = {}): SignedCheck {
  const nowMs = Date.now();
  const method = o.method ?? 'POST';
  const authority = o.authority ?? 'api.example.test';
  const path = o.path ?? '/v1/payments';
  const body = o.body ?? (method === 'GET' ? '' : '{"amount":100}');
  const headers = o.headers ?? (method === 'GET' ? {} : { 'content-type': 'application/json' });
  const passport =
    o.passportToken ??
    issuePassport({
      key: t.issuerKey,
      issuer: ISSUER,
      subject: SUBJECT,
      audience: AUDIENCE,
      trustDomain: TRUST_DOMAIN,
      holder: t.holder.publicJwk,
      keyBinding: 'software',
      lifetimeS: 60,
      nowMs,
      ...o.passport,
    });
  const s = signRequest(
    { method, authority, pathAndQuery: path, headers, body },
    {
      passport,
      holder: t.holder,
      route: o.route ?? 'payments-create',
      bindHeaders: o.bindHeaders ?? (method === 'GET' ? [] : ['content-type']),
      nowMs,
      ...o.sign,
    },
  );
  const all = collectHeaders(headers);
  all.set('x-trustplane-passport', s.headers['x-trustplane-passport']);
  all.set('x-trustplane-proof', s.headers['x-trustplane-proof']);
  return { passport, proof: s.headers['x-trustplane-proof'], method, authority, path, body, headers: all };
}

/** 1 MiB: the body buffer Envoy is configured with in these tests (`with_request_body`). */
export const ENVOY_MAX_REQUEST_BYTES = 1024 * 1024;

/** The EnvoyCheckInput for a signed request: HTTP/1.1, body buffered with pack_as_bytes. */
export function envoyInput(s: SignedCheck, over: Partial<EnvoyCheckInput> = {}): EnvoyCheckInput {
  return {
    method: s.method,
    authority: s.authority,
    path: s.path,
    scheme: 'https',
    headers: [...s.headers.entries()],
    ...(s.body !== '' ? { body: s.body, withRequestBody: { maxRequestBytes: ENVOY_MAX_REQUEST_BYTES, packAsBytes: true } } : {}),
    source: { address: '10.0.0.7', port: 51234 },
    time: new Date(),
    ...over,
  };
}

/** Encoded CheckRequest bytes (official definitions) for a signed request. */
export function checkBytes(s: SignedCheck, over: Partial<EnvoyCheckInput> = {}): Buffer {
  return envoyCheckRequest(envoyInput(s, over));
}
