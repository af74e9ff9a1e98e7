/**
 * The small one-route bundle the bundle tests build on: one issuer key, route `orders`
 * (`/orders/**`, audience `orders-api` unless given). Unsigned; tests sign it as they need.
 */
import { strict as assert } from 'node:assert';
import { buildBundle, type BundleDocument } from '../../core/src/bundle/index.js';
import type { SigningKey } from '../../core/src/keys.js';

export function ordersBundle(o: { serial: number; issuedAt: number; expiresAt: number; issuerKey: SigningKey; audience?: string }): BundleDocument {
  const r = buildBundle({
    serial: o.serial,
    issuedAt: o.issuedAt,
    expiresAt: o.expiresAt,
    keys: [{ kid: o.issuerKey.kid, issuer: 'https://issuer.example', trust_domain: 'example.org', max_key_binding: 'software', jwk: o.issuerKey.publicJwk }],
    routes: [
      {
        id: 'orders',
        match: { path: '/orders/**' },
        audience: o.audience ?? 'orders-api',
        allowed_sources: [{ issuer: 'https://issuer.example', trust_domain: 'example.org', subject: 'spiffe://example.org/**' }],
        required_key_binding: 'software',
        freshness_class: 'bounded',
        bound_headers: [],
      },
    ],
  });
  assert.ok(r.ok, r.ok ? '' : r.problems.join('\n'));
  return r.bundle;
}
