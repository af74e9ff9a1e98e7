/**
 * The embedded development default: keys and a signed bundle generated on first run into a local
 * state folder, reused afterwards. Each start re-issues the bundle with a higher serial and a fresh
 * `issued_at`, so it always passes the freshness and rollback rules a production server applies.
 * Development only: the private keys sit in plain files (mode 0600).
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { signBundle } from '../../core/src/bundle/sign.js';
import { buildBundle } from '../../core/src/bundle/edit.js';
import type { BundleDocument, Route } from '../../core/src/bundle/types.js';
import { exportPrivateJwk, generateSigningKey, importPrivateJwk, type SigningKey } from '../../core/src/keys.js';

export const DEV = Object.freeze({
  issuer: 'https://issuer.dev.trustplane.local',
  brokerIssuer: 'https://broker.dev.trustplane.local',
  trustDomain: 'dev.trustplane.local',
  audience: 'https://api.dev.trustplane.local',
  subject: 'spiffe://dev.trustplane.local/ns/demo/sa/caller',
});

export interface DevState {
  readonly dir: string;
  readonly bundlePath: string;
  readonly signingKeysPath: string;
  readonly bundleSigningKey: SigningKey;
  readonly issuerKey: SigningKey;
  readonly brokerKey: SigningKey;
  readonly holderKey: SigningKey;
  readonly bundle: BundleDocument;
}

export function defaultStateDir(): string {
  return resolve(process.env.TRUSTPLANE_STATE_DIR ?? '.trustplane');
}

function keyFile(dir: string, name: string, alg: 'EdDSA' | 'ES256' = 'EdDSA'): SigningKey {
  const path = join(dir, `${name}.jwk.json`);
  if (existsSync(path)) return importPrivateJwk(JSON.parse(readFileSync(path, 'utf8')));
  const key = generateSigningKey(alg);
  writeAtomic(path, `${JSON.stringify(exportPrivateJwk(key), null, 2)}\n`, 0o600);
  return key;
}

export function writeAtomic(path: string, text: string, mode = 0o644): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

export function devRoutes(): Route[] {
  const source = { issuer: DEV.issuer, trust_domain: DEV.trustDomain, subject: 'spiffe://dev.trustplane.local/ns/demo/sa/*' };
  const brokerSource = { issuer: DEV.brokerIssuer, trust_domain: DEV.trustDomain, subject: 'spiffe://dev.trustplane.local/**' };
  const base = { audience: DEV.audience, allowed_sources: [source, brokerSource], required_key_binding: 'software', freshness_class: 'bounded', bound_headers: [] } as const;
  return [
    { ...base, id: 'payments-create', match: { methods: ['POST'], path: '/v1/payments' }, bound_headers: ['content-type'] },
    { ...base, id: 'payments-read', match: { methods: ['GET'], path: '/v1/payments/*' }, body: { mode: 'empty' } },
    { ...base, id: 'uploads-create', match: { methods: ['POST'], path: '/v1/uploads' } },
    { ...base, id: 'admin', match: { path: '/v1/admin/**' }, allowed_sources: [brokerSource], required_key_binding: 'attested_workload' },
  ];
}

/** Load or create the state folder and write a freshly signed bundle into it. */
export function ensureDevState(dir = defaultStateDir(), nowMs = Date.now()): DevState {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const bundleSigningKey = keyFile(dir, 'bundle-signing-key');
  const issuerKey = keyFile(dir, 'issuer-key');
  const brokerKey = keyFile(dir, 'broker-key');
  const holderKey = keyFile(dir, 'holder-key');
  const bundlePath = join(dir, 'bundle.json');
  const signingKeysPath = join(dir, 'bundle-signing-keys.json');
  writeAtomic(signingKeysPath, `${JSON.stringify({ keys: [bundleSigningKey.publicJwk] }, null, 2)}\n`);
  let serial = 1;
  if (existsSync(bundlePath)) {
    try {
      serial = (JSON.parse(readFileSync(bundlePath, 'utf8')) as { serial: number }).serial + 1;
    } catch {
      serial = 1;
    }
  }
  const now = Math.floor(nowMs / 1000);
  const built = buildBundle({
    serial,
    issuedAt: now,
    expiresAt: now + 30 * 86_400,
    keys: [
      { kid: issuerKey.kid, issuer: DEV.issuer, trust_domain: DEV.trustDomain, max_key_binding: 'software', jwk: issuerKey.publicJwk },
      { kid: brokerKey.kid, issuer: DEV.brokerIssuer, trust_domain: DEV.trustDomain, max_key_binding: 'attested_workload', jwk: brokerKey.publicJwk },
    ],
    routes: devRoutes(),
  });
  if (!built.ok) throw new Error(`development bundle is invalid: ${JSON.stringify(built)}`);
  const bundle = signBundle(built.bundle, bundleSigningKey);
  writeAtomic(bundlePath, `${JSON.stringify(bundle, null, 2)}\n`);
  return { dir, bundlePath, signingKeysPath, bundleSigningKey, issuerKey, brokerKey, holderKey, bundle };
}
