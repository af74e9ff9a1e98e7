/**
 * Trust material on disk, on the real clock, for tests and benches that drive the real authz server:
 * a bundle signing key as a JWKS file, a signed bundle, issuer, attested and holder keys.
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBundle, signBundle, type BundleDocument, type Route, type Revocations } from '../../core/src/bundle/index.js';
import { generateSigningKey, type SigningKey } from '../../core/src/keys.js';
import { TRUST_DOMAIN, route, trustKey } from './world.js';

export const BROKER_ISSUER = 'https://broker.example.test';

/** The routes every server test bundle starts with. */
export function defaultRoutes(): Route[] {
  return [
    route('payments-create', { bound_headers: ['content-type'], body: { mode: 'bound', hash_source: 'filter' } }),
    route('payments-read', { match: { methods: ['GET'], path: '/v1/payments/*' }, body: { mode: 'empty', hash_source: 'filter' } }),
    route('attested-admin', {
      match: { path: '/v1/admin/**' },
      required_key_binding: 'attested_workload',
      allowed_sources: [{ issuer: BROKER_ISSUER, trust_domain: TRUST_DOMAIN, subject: 'spiffe://example.test/**' }],
    }),
    route('payments-shadow', { match: { methods: ['POST'], path: '/v1/shadow' }, mode: 'dry_run' }),
  ];
}

export interface TrustSetup {
  readonly dir: string;
  /** Signs bundles; its public JWK is in `jwksPath`. */
  readonly bundleSigner: SigningKey;
  readonly issuerKey: SigningKey;
  readonly attestedKey: SigningKey;
  readonly holder: SigningKey;
  readonly jwksPath: string;
  readonly bundlePath: string;
  /** Build (and by default sign) a bundle document on the real clock. */
  bundle(opts?: { serial?: number; routes?: Route[]; expiresInS?: number; signer?: SigningKey | null; revocations?: Partial<Revocations> }): BundleDocument;
  /** Replace the bundle file the way deploy tools do (write a sibling, rename over). */
  writeBundle(doc: BundleDocument | string): void;
  dispose(): void;
}

export function makeTrust(prefix = 'tp-server-test-'): TrustSetup {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const bundleSigner = generateSigningKey('EdDSA');
  const issuerKey = generateSigningKey('EdDSA');
  const attestedKey = generateSigningKey('ES256');
  const holder = generateSigningKey('EdDSA');
  const jwksPath = join(dir, 'bundle-signing.jwks.json');
  writeFileSync(jwksPath, JSON.stringify({ keys: [bundleSigner.publicJwk] }));
  const bundlePath = join(dir, 'bundle.json');
  let tmpCounter = 0;
  const setup: TrustSetup = {
    dir,
    bundleSigner,
    issuerKey,
    attestedKey,
    holder,
    jwksPath,
    bundlePath,
    bundle(opts = {}) {
      const nowS = Math.floor(Date.now() / 1000);
      const built = buildBundle({
        issuedAt: nowS - 60,
        expiresAt: nowS + (opts.expiresInS ?? 86_400),
        serial: opts.serial ?? 1,
        keys: [trustKey(issuerKey), trustKey(attestedKey, { issuer: BROKER_ISSUER, max_key_binding: 'attested_workload' })],
        routes: opts.routes ?? defaultRoutes(),
        ...(opts.revocations ? { revocations: opts.revocations } : {}),
      });
      if (!built.ok) throw new Error(`test bundle invalid: ${JSON.stringify(built)}`);
      return opts.signer === null ? built.bundle : signBundle(built.bundle, opts.signer ?? bundleSigner);
    },
    writeBundle(doc) {
      const tmp = `${bundlePath}.tmp-${process.pid}-${tmpCounter++}`;
      writeFileSync(tmp, typeof doc === 'string' ? doc : JSON.stringify(doc, null, 2));
      // A rename is atomic on one filesystem: the server never reads a half-written file.
      renameSync(tmp, bundlePath);
    },
    dispose() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return setup;
}
