/**
 * The embedded development default: keys and a signed bundle generated on first run into a local
 * state folder, reused afterwards. Each start re-issues the bundle with a higher serial and a fresh
 * `issued_at`, so it always passes the freshness and rollback rules a production server applies.
 * Development only: the private keys sit in plain files (mode 0600).
 */
import { resolve } from 'node:path';
import type { Route } from '../../core/src/server-api.js';
import { writeLocalTrust, type LocalTrust, type TrustFiles } from './local-trust.js';

export const DEV = Object.freeze({
  issuer: 'https://issuer.dev.trustplane.local',
  brokerIssuer: 'https://broker.dev.trustplane.local',
  trustDomain: 'dev.trustplane.local',
  audience: 'https://api.dev.trustplane.local',
  subject: 'spiffe://dev.trustplane.local/ns/demo/sa/caller',
});

export type DevState = LocalTrust;

export const DEV_FILES: TrustFiles = Object.freeze({
  bundle: 'bundle.json',
  signingKeys: 'bundle-signing-keys.json',
  bundleSigningKey: 'bundle-signing-key.jwk.json',
  issuerKey: 'issuer-key.jwk.json',
  brokerKey: 'broker-key.jwk.json',
  holderKey: 'holder-key.jwk.json',
});

export function defaultStateDir(): string {
  return resolve(process.env.TRUSTPLANE_STATE_DIR ?? '.trustplane');
}

export function devRoutes(): Route[] {
  const source = { issuer: DEV.issuer, trust_domain: DEV.trustDomain, subject: 'spiffe://dev.trustplane.local/ns/demo/sa/*' };
  const brokerSource = { issuer: DEV.brokerIssuer, trust_domain: DEV.trustDomain, subject: 'spiffe://dev.trustplane.local/**' };
  const base = { audience: DEV.audience, allowed_sources: [source, brokerSource], required_key_binding: 'software', freshness_class: 'bounded', bound_headers: [] } as const;
  return [
    // The development gateway (dev/stack.ts, docs/gateway.md) runs the wasm filter before ext_authz
    // on these routes and has ext_authz buffer uploads itself: each route names the body observation
    // it trusts (docs/bundle.md §1.2.3).
    { ...base, id: 'payments-create', match: { methods: ['POST'], path: '/v1/payments' }, bound_headers: ['content-type'], body: { mode: 'bound', hash_source: 'filter' } },
    { ...base, id: 'payments-read', match: { methods: ['GET'], path: '/v1/payments/*' }, body: { mode: 'empty', hash_source: 'filter' } },
    { ...base, id: 'uploads-create', match: { methods: ['POST'], path: '/v1/uploads' }, body: { mode: 'bound', hash_source: 'buffered' } },
    { ...base, id: 'admin', match: { path: '/v1/admin/**' }, allowed_sources: [brokerSource], required_key_binding: 'attested_workload', body: { mode: 'bound', hash_source: 'filter' } },
  ];
}

/** Load or create the state folder and write a freshly signed bundle into it. */
export function ensureDevState(dir = defaultStateDir(), nowMs = Date.now()): DevState {
  return writeLocalTrust({
    dir,
    files: DEV_FILES,
    validForS: 30 * 86_400,
    nowMs,
    describe: ({ issuerKey, brokerKey }) => ({
      keys: [
        { kid: issuerKey.kid, issuer: DEV.issuer, trust_domain: DEV.trustDomain, max_key_binding: 'software', jwk: issuerKey.publicJwk },
        { kid: brokerKey.kid, issuer: DEV.brokerIssuer, trust_domain: DEV.trustDomain, max_key_binding: 'attested_workload', jwk: brokerKey.publicJwk },
      ],
      routes: devRoutes(),
    }),
  });
}
