import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSigningKeys } from '../../authz-server/src/server.js';
import { exportPrivateJwk, generateSigningKey, jwkThumbprint, parseKeySet, toPublicJwk } from '../../core/src/keys.js';

describe('key sets', () => {
  const ed = generateSigningKey('EdDSA');
  const p256 = generateSigningKey('ES256');

  it('reduces a private JWK to its public part, keeping its kid', () => {
    const pub = toPublicJwk(exportPrivateJwk(ed));
    assert.deepEqual(pub, ed.publicJwk);
    assert.equal((pub as { d?: string }).d, undefined);
  });
  it('gives a bare public JWK its thumbprint as kid and the algorithm of its curve', () => {
    const { kty, crv, x, y } = p256.publicJwk;
    assert.deepEqual(toPublicJwk({ kty, crv, x, y }), { kty, crv, x, y, kid: jwkThumbprint(p256.publicJwk), alg: 'ES256' });
  });
  it('reads a JWKS or a single JWK, and names the bad entry of a set', () => {
    assert.deepEqual(parseKeySet({ keys: [ed.publicJwk, p256.publicJwk] }), [ed.publicJwk, p256.publicJwk]);
    assert.deepEqual(parseKeySet(ed.publicJwk), [ed.publicJwk]);
    assert.throws(() => parseKeySet({ keys: [] }), { name: 'TypeError', message: 'the key set is empty' });
    assert.throws(() => parseKeySet({ keys: [ed.publicJwk, { kty: 'RSA' }] }), { name: 'JwkError', code: 'jwk_kty_unsupported', message: /^key 1: JWK "kty" must be "OKP" \(Ed25519\) or "EC" \(P-256\)$/ });
  });
  it('makes the server name the signing-keys file in every error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tp-keys-'));
    try {
      const bad = join(dir, 'keys.json');
      writeFileSync(bad, '{"keys": [');
      assert.throws(() => readSigningKeys(bad), (e: Error) => e.message.startsWith(`bundle.signing_keys ${bad}: `));
      writeFileSync(bad, JSON.stringify({ keys: [{ kty: 'oct', k: 'c2VjcmV0' }] }));
      assert.throws(() => readSigningKeys(bad), { message: `bundle.signing_keys ${bad}: key 0: JWK "kty" must be "OKP" (Ed25519) or "EC" (P-256)` });
      assert.throws(() => readSigningKeys(join(dir, 'missing.json')), /^Error: bundle\.signing_keys .*missing\.json: no such file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
