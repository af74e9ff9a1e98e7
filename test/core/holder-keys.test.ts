import { strict as assert } from 'node:assert';
import { holderKey } from '../../core/src/engine/holder-keys.js';
import { exportPrivateJwk, generateSigningKey, jwkThumbprint } from '../../core/src/keys.js';

/** The other P-256 point with the same x: y' = p − y. */
function negatedY(y: string): string {
  const p = 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n;
  const neg = p - BigInt(`0x${Buffer.from(y, 'base64url').toString('hex')}`);
  return Buffer.from(neg.toString(16).padStart(64, '0'), 'hex').toString('base64url');
}

describe('holder key cache', () => {
  it('imports a cnf key once and answers the same key, thumbprint and algorithm after', () => {
    const k = generateSigningKey('EdDSA');
    const first = holderKey({ kty: 'OKP', crv: 'Ed25519', x: k.publicJwk.x });
    const again = holderKey({ kty: 'OKP', crv: 'Ed25519', x: k.publicJwk.x });
    assert.ok(first);
    assert.equal(again, first);
    // A cnf.jwk is bare (docs/transcript-v1.md §4.1): the cached entry never answers for a JWK with more members.
    assert.equal(holderKey({ kty: 'OKP', crv: 'Ed25519', x: k.publicJwk.x, kid: 'extra' }), undefined);
    assert.equal(first.jkt, jwkThumbprint(k.publicJwk));
    assert.equal(first.alg, 'EdDSA');
    assert.ok(first.key.equals(k.publicKey));
  });
  it('never answers a cached key for a JWK with the same x that carries a private member', () => {
    const k = generateSigningKey('EdDSA');
    assert.ok(holderKey({ kty: 'OKP', crv: 'Ed25519', x: k.publicJwk.x }));
    assert.equal(holderKey(exportPrivateJwk(k)), undefined);
  });
  it('never answers a cached key for a JWK with the same x but another kty or crv', () => {
    const k = generateSigningKey('EdDSA');
    assert.ok(holderKey({ kty: 'OKP', crv: 'Ed25519', x: k.publicJwk.x }));
    assert.equal(holderKey({ kty: 'OKP', crv: 'Ed448', x: k.publicJwk.x }), undefined);
    assert.equal(holderKey({ kty: 'EC', crv: 'Ed25519', x: k.publicJwk.x }), undefined);
  });
  it('tells apart the two P-256 keys that share an x, whichever is seen first', () => {
    const k = generateSigningKey('ES256');
    const { x, y } = k.publicJwk as { x: string; y: string };
    const other = { kty: 'EC', crv: 'P-256', x, y: negatedY(y) } as const;
    const mine = holderKey({ kty: 'EC', crv: 'P-256', x, y });
    const theirs = holderKey(other);
    assert.ok(mine && theirs);
    assert.ok(mine.key.equals(k.publicKey));
    assert.ok(!theirs.key.equals(k.publicKey));
    assert.equal(theirs.jkt, jwkThumbprint(other));
    assert.notEqual(theirs.jkt, mine.jkt);
    assert.equal(theirs.alg, 'ES256');
    assert.equal(holderKey({ kty: 'EC', crv: 'P-256', x, y })?.jkt, mine.jkt);
  });
  it('refuses what is not a usable public JWK', () => {
    for (const jwk of [null, 'x', {}, { kty: 'OKP', crv: 'Ed25519' }, { kty: 'OKP', crv: 'Ed25519', x: 'short' }, { kty: 'RSA', n: 'AQAB', e: 'AQAB' }]) {
      assert.equal(holderKey(jwk), undefined, JSON.stringify(jwk));
    }
  });
});
