/**
 * importKeySet (docs/bundle.md §5) as a property over key-set rotations, and the revoked-kid refusal
 * of mergeSource and importKeySet: the pure edits behind `bundle import-jwks` and `merge-source`.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { importKeySet, mergeSource } from '../../core/src/bundle/edit.js';
import type { BundleDocument, TrustKey } from '../../core/src/bundle/types.js';
import { generateSigningKey, jwkThumbprint } from '../../core/src/keys.js';
import { ordersBundle } from '../support/orders-bundle.js';

const OIDC = 'https://accounts.oidc.example';
const TD = 'oidc.example';
const NOW = 1_700_000_000;
const POOL: TrustKey[] = Array.from({ length: 6 }, (_, i) => {
  const k = generateSigningKey(i % 2 === 0 ? 'EdDSA' : 'ES256', `oidc-${i}`);
  return { kid: k.kid, issuer: OIDC, trust_domain: TD, max_key_binding: 'software', jwk: k.publicJwk };
});
const ISSUER_KEY = generateSigningKey('EdDSA');
const base = (): BundleDocument => ordersBundle({ serial: 3, issuedAt: NOW, expiresAt: NOW + 3600, issuerKey: ISSUER_KEY });
const oidcKids = (d: BundleDocument): string[] => d.keys.filter((k) => k.issuer === OIDC).map((k) => k.kid).sort();
const subset = fc.subarray(POOL, { minLength: 1 });

describe('importKeySet: an issuer key set and its rotations', () => {
  it('after importing set A then set B: with prune the issuer holds exactly B, without it A ∪ B; other issuers untouched; a repeat changes nothing', () => {
    fc.assert(
      fc.property(subset, subset, fc.boolean(), (a, b, prune) => {
        const first = importKeySet(base(), { keys: a, issuer: OIDC, trust_domain: TD, prune: false });
        assert.ok(first.ok, first.ok ? '' : first.problems.join('; '));
        const second = importKeySet(first.bundle, { keys: b, issuer: OIDC, trust_domain: TD, prune });
        assert.ok(second.ok, second.ok ? '' : second.problems.join('; '));
        const want = prune ? b.map((k) => k.kid) : [...new Set([...a, ...b].map((k) => k.kid))];
        assert.deepEqual(oidcKids(second.bundle), want.sort());
        assert.deepEqual(second.report!.absent.sort(), a.filter((k) => !b.includes(k)).map((k) => k.kid).sort());
        assert.deepEqual(second.report!.removed.length, prune ? second.report!.absent.length : 0);
        assert.deepEqual(second.bundle.keys.filter((k) => k.issuer !== OIDC), base().keys);
        assert.equal(second.bundle.signature, undefined);
        const again = importKeySet(second.bundle, { keys: b, issuer: OIDC, trust_domain: TD, prune });
        assert.ok(again.ok && !again.changed);
      }),
      { numRuns: 60 },
    );
  });

  it('refuses the whole set when one kid is revoked, by kid or by thumbprint (bundle_key_revoked)', () => {
    const revokedDoc = { ...base(), revocations: { ...base().revocations, kids: [POOL[1]!.kid, jwkThumbprint(POOL[2]!.jwk)] } };
    for (const k of [POOL[1]!, POOL[2]!]) {
      const r = importKeySet(revokedDoc, { keys: [POOL[0]!, k], issuer: OIDC, trust_domain: TD, prune: false });
      assert.equal(r.ok ? '' : r.code, 'bundle_key_revoked');
      const m = mergeSource(revokedDoc, { key: k, routes: ['orders'], source: { issuer: OIDC, trust_domain: TD, subject: 'x:*' } });
      assert.equal(m.ok ? '' : m.code, 'bundle_key_revoked');
      assert.match(m.ok ? '' : m.problems[0]!, /is revoked \(listed in revocations\.kids\).*no command lifts a revocation/);
    }
    const ok = mergeSource(revokedDoc, { key: POOL[0]!, routes: ['orders'], source: { issuer: OIDC, trust_domain: TD, subject: 'x:*' } });
    assert.ok(ok.ok);
  });

  it('refuses a kid trusted for another issuer and key material trusted under another kid (bundle_key_conflict)', () => {
    const steal = { ...POOL[0]!, kid: ISSUER_KEY.kid };
    const r1 = importKeySet(base(), { keys: [steal], issuer: OIDC, trust_domain: TD, prune: false });
    assert.deepEqual(r1.ok ? [] : [r1.code, r1.problems], ['bundle_key_conflict', [`kid "${ISSUER_KEY.kid}" is already trusted for https://issuer.example (example.org)`]]);
    const twin = { ...POOL[3]!, kid: 'renamed', jwk: { ...ISSUER_KEY.publicJwk, kid: 'renamed' } };
    const r2 = importKeySet(base(), { keys: [twin], issuer: OIDC, trust_domain: TD, prune: false });
    assert.equal(r2.ok ? '' : r2.code, 'bundle_key_conflict');
    const empty = importKeySet(base(), { keys: [], issuer: OIDC, trust_domain: TD, prune: true });
    assert.equal(empty.ok ? '' : empty.code, 'bundle_invalid');
  });
});
