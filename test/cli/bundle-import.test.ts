/**
 * What an operator imports into a bundle: the broker's own `GET /v1/trust-entry` answer
 * (merge-source --trust-entry), an OIDC/JWKS issuer's key set with rotation (import-jwks), and the
 * refusal to merge a kid the bundle revokes. Real CLI, real broker, real keys.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fetchTrustEntry } from '../../broker/src/client.js';
import type { BundleDocument } from '../../core/src/bundle/types.js';
import { exportPrivateJwk, generateSigningKey, jwkThumbprint } from '../../core/src/keys.js';
import { startTestBroker, type TestBroker } from '../broker/harness.js';
import { cli, tempDir } from './cli-harness.js';

const ISSUER = 'https://issuer.import.test';
const TD = 'import.test';
const OIDC = 'https://accounts.oidc.test';
const OIDC_TD = 'oidc.test';

describe('trustplane bundle: merge-source --trust-entry, import-jwks, revoked kids', function () {
  this.timeout(90_000);
  let t: ReturnType<typeof tempDir>;
  let tb: TestBroker;
  const p = (name: string): string => join(t.dir, name);
  const run = (args: string[]) => cli(['bundle', ...args], { cwd: t.dir });
  const doc = (name: string): BundleDocument => JSON.parse(readFileSync(p(name), 'utf8')) as BundleDocument;
  const pub = (alg: 'EdDSA' | 'ES256', kid: string) => ({ ...generateSigningKey(alg, kid).publicJwk, use: 'sig' });
  const A = pub('ES256', 'oidc-a');
  const B = pub('EdDSA', 'oidc-b');
  const C = pub('ES256', 'oidc-c');
  const jwks = (name: string, keys: unknown[]): void => writeFileSync(p(name), JSON.stringify({ keys }));
  const importArgs = (bundle: string, set: string, out: string) => ['import-jwks', '--bundle', bundle, '--jwks', set, '--issuer', OIDC, '--trust-domain', OIDC_TD, '--out', out];

  before(async () => {
    t = tempDir();
    tb = await startTestBroker({ spiffe: false });
    assert.equal((await cli(['keygen', '--out', 'issuer.jwk', '--public-out', 'issuer.pub.jwk'], { cwd: t.dir })).code, 0);
    assert.equal((await cli(['keygen', '--out', 'revoked.jwk', '--public-out', 'revoked.pub.jwk'], { cwd: t.dir })).code, 0);
    const revokedKid = JSON.parse(readFileSync(p('revoked.pub.jwk'), 'utf8')).kid as string;
    writeFileSync(
      p('input.yaml'),
      [
        'valid_for: 1d',
        `keys: [{ jwk_file: issuer.pub.jwk, issuer: "${ISSUER}", trust_domain: ${TD}, max_key_binding: software }]`,
        'routes:',
        '  - id: orders-read',
        '    match: { methods: [GET], path: "/v1/orders/*" }',
        '    audience: https://orders.import.test',
        `    allowed_sources: [{ issuer: "${ISSUER}", trust_domain: ${TD}, subject: "spiffe://import.test/**" }]`,
        '    required_key_binding: software',
        '    freshness_class: bounded',
        '    bound_headers: []',
        `revocations: { kids: ["${revokedKid}"], jtis: [], subjects: [], cnf_thumbprints: [] }`,
        '',
      ].join('\n'),
    );
    const b = await run(['build', '--input', 'input.yaml', '--out', 'base.json']);
    assert.equal(b.code, 0, b.stderr);
  });
  after(async () => {
    await tb?.close();
    t?.dispose();
  });

  it('merge-source reads the broker\u2019s own GET /v1/trust-entry answer', async () => {
    const entry = await fetchTrustEntry(tb.broker.socketPath);
    writeFileSync(p('trust-entry.json'), JSON.stringify(entry));
    const r = await run(['merge-source', '--bundle', 'base.json', '--trust-entry', 'trust-entry.json', '--route', 'orders-read', '--subject', 'urn:trustplane:broker:*', '--out', 'with-broker.json']);
    assert.equal(r.code, 0, r.stderr);
    const merged = doc('with-broker.json');
    const key = merged.keys.find((k) => k.kid === entry.kid)!;
    assert.deepEqual([key.issuer, key.trust_domain, key.max_key_binding, jwkThumbprint(key.jwk)], [entry.issuer, entry.trust_domain, entry.max_key_binding, jwkThumbprint(entry.jwk)]);
    assert.ok(merged.routes[0]!.allowed_sources.some((s) => s.issuer === entry.issuer && s.subject === 'urn:trustplane:broker:*'));
    const hint = await run(['merge-source', '--bundle', 'base.json', '--key-file', 'trust-entry.json', '--issuer', ISSUER, '--trust-domain', TD, '--route', 'orders-read', '--subject', 'x:*']);
    assert.equal(hint.code, 2);
    assert.equal(hint.stderr, 'trustplane bundle merge-source: --key-file trust-entry.json is a trust entry ({kid, issuer, trust_domain, max_key_binding, jwk}); pass it as --trust-entry trust-entry.json\n');
    const both = await run(['merge-source', '--bundle', 'base.json', '--trust-entry', 'trust-entry.json', '--issuer', ISSUER, '--route', 'orders-read', '--subject', 'x:*']);
    assert.equal(both.code, 2);
    assert.equal(both.stderr, 'trustplane bundle merge-source: --issuer cannot be combined with --trust-entry (the entry says it)\n');
  });

  it('refuses a trust entry with unknown members, a private key or a kid that is not the JWK\u2019s', async () => {
    const entry = await fetchTrustEntry(tb.broker.socketPath);
    const priv = exportPrivateJwk(generateSigningKey('EdDSA'));
    const cases: [string, unknown, RegExp][] = [
      ['extra', { ...entry, note: 'x' }, /unknown member "note"/],
      ['private', { ...entry, jwk: priv }, /"jwk" carries a private key/],
      ['kid', { ...entry, kid: 'other' }, /"kid" "other" is not the jwk's kid/],
      ['missing', { kid: entry.kid, jwk: entry.jwk }, /"issuer" is required; "trust_domain" is required; "max_key_binding" is required/],
    ];
    for (const [name, body, re] of cases) {
      writeFileSync(p(`${name}.json`), JSON.stringify(body));
      const r = await run(['merge-source', '--bundle', 'base.json', '--trust-entry', `${name}.json`, '--route', 'orders-read', '--subject', 'x:*']);
      assert.equal(r.code, 1, name);
      assert.match(r.stderr, re, name);
      assert.equal(r.stderr.split('\n').length, 2, name);
    }
  });

  it('refuses to merge a kid listed in revocations.kids, saying how it could be lifted (exit 1, nothing written)', async () => {
    const kid = JSON.parse(readFileSync(p('revoked.pub.jwk'), 'utf8')).kid as string;
    const r = await run(['merge-source', '--bundle', 'base.json', '--key-file', 'revoked.pub.jwk', '--issuer', ISSUER, '--trust-domain', TD, '--route', 'orders-read', '--subject', 'spiffe://import.test/**', '--out', 'revoked-merge.json']);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `trustplane bundle merge-source: bundle_key_revoked: kid "${kid}" is revoked (listed in revocations.kids), so every passport it signs would stay denied; no command lifts a revocation: remove "${kid}" from revocations.kids by hand and re-sign, or trust a new key\n`,
    );
    assert.equal(r.stdout, '');
    // The same key material under a new kid is the same revoked key.
    const renamed = await run(['merge-source', '--bundle', 'base.json', '--key-file', 'revoked.pub.jwk', '--kid', 'fresh-name', '--issuer', ISSUER, '--trust-domain', TD, '--route', 'orders-read', '--subject', 'spiffe://import.test/**']);
    assert.equal(renamed.code, 1);
    assert.match(renamed.stderr, /bundle_key_revoked: kid "[^"]+" is revoked/);
  });

  it('import-jwks adds an issuer\u2019s signing keys, skips what it cannot use, and names every problem', async () => {
    jwks('set1.json', [A, B, { kty: 'RSA', kid: 'rsa-1', n: 'AQAB', e: 'AQAB' }, { ...pub('EdDSA', 'enc-1'), use: 'enc' }]);
    const r = await run([...importArgs('base.json', 'set1.json', 'v1.json'), '--route', 'orders-read', '--subject', 'https://accounts.oidc.test/clients/*']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, 'skipped kid "rsa-1": RSA (Ed25519 and P-256 only)\nskipped kid "enc-1": use "enc"\n');
    assert.match(r.stdout, /^imported https:\/\/accounts\.oidc\.test \(oidc\.test\): added oidc-a, oidc-b; updated -; unchanged -; removed -; 1 source rule\(s\) added; serial 1 -> 2/);
    const v1 = doc('v1.json');
    assert.deepEqual(v1.keys.filter((k) => k.issuer === OIDC).map((k) => k.kid), ['oidc-a', 'oidc-b']);
    const again = await run(importArgs('v1.json', 'set1.json', 'v1-again.json'));
    assert.equal(again.code, 0);
    assert.match(again.stdout, /^nothing to import/);
    jwks('bad.json', [A, { ...B, x: B.x.slice(0, 40) }]);
    const bad = await run(importArgs('v1.json', 'bad.json', 'bad-out.json'));
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^trustplane bundle import-jwks: --jwks bad\.json: kid "oidc-b": [^\n]+\n$/);
    jwks('private.json', [{ ...exportPrivateJwk(generateSigningKey('EdDSA', 'leaked')) }]);
    const leaked = await run(importArgs('v1.json', 'private.json', 'leaked-out.json'));
    assert.equal(leaked.code, 1);
    assert.equal(leaked.stderr, 'trustplane bundle import-jwks: --jwks private.json: kid "leaked": carries a private key ("d")\n');
    const issuerKid = JSON.parse(readFileSync(p('issuer.pub.jwk'), 'utf8')).kid as string;
    jwks('steal.json', [{ ...pub('EdDSA', issuerKid) }]);
    const steal = await run(importArgs('v1.json', 'steal.json', 'steal-out.json'));
    assert.equal(steal.code, 1);
    assert.equal(steal.stderr, `trustplane bundle import-jwks: bundle_key_conflict: kid "${issuerKid}" is already trusted for ${ISSUER} (${TD})\n`);
    const revokedPub = JSON.parse(readFileSync(p('revoked.pub.jwk'), 'utf8'));
    jwks('revoked-set.json', [revokedPub]);
    const revoked = await run(importArgs('v1.json', 'revoked-set.json', 'revoked-out.json'));
    assert.equal(revoked.code, 1);
    assert.match(revoked.stderr, /^trustplane bundle import-jwks: bundle_key_revoked: /);
  });

  it('import-jwks follows a rotation: new keys added, a dropped key reported, removed only with --prune --confirm-remove', async () => {
    jwks('set2.json', [B, C]);
    const kept = await run(importArgs('v1.json', 'set2.json', 'v2.json'));
    assert.equal(kept.code, 0, kept.stderr);
    assert.equal(kept.stderr, 'not in the JWKS, kept (--prune --confirm-remove removes them): oidc-a\n');
    assert.deepEqual(doc('v2.json').keys.filter((k) => k.issuer === OIDC).map((k) => k.kid), ['oidc-a', 'oidc-b', 'oidc-c']);
    const unconfirmed = await run([...importArgs('v1.json', 'set2.json', 'v3.json'), '--prune']);
    assert.equal(unconfirmed.code, 2);
    assert.equal(unconfirmed.stderr, 'trustplane bundle import-jwks: bundle_confirm_required: --prune removes trusted keys; pass --confirm-remove too (nothing was written)\n');
    const pruned = await run([...importArgs('v1.json', 'set2.json', 'v3.json'), '--prune', '--confirm-remove']);
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.match(pruned.stdout, /added oidc-c; updated -; unchanged oidc-b; removed oidc-a;/);
    const v3 = doc('v3.json');
    assert.deepEqual(v3.keys.filter((k) => k.issuer === OIDC).map((k) => k.kid), ['oidc-b', 'oidc-c']);
    assert.ok(v3.keys.some((k) => k.issuer === ISSUER), 'other issuers are untouched');
    const rekeyed = { ...pub('EdDSA', 'oidc-b') };
    jwks('set3.json', [rekeyed, C]);
    const updated = await run(importArgs('v3.json', 'set3.json', 'v4.json'));
    assert.equal(updated.code, 0, updated.stderr);
    assert.match(updated.stdout, /added -; updated oidc-b; unchanged oidc-c;/);
    assert.equal(doc('v4.json').keys.find((k) => k.kid === 'oidc-b')!.jwk.x, rekeyed.x);
  });
});
