import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { generateKeyPairSync } from 'node:crypto';
import { REDACTED, REDACTED_JWS, looksLikeJws, redactString } from '../../core/src/redact.js';

describe('redactString', () => {
  const jws = `${Buffer.from('{"alg":"EdDSA"}').toString('base64url')}.${Buffer.from('{"sub":"x"}').toString('base64url')}.${'s'.repeat(20)}`;
  it('replaces an embedded JWS and leaves text without one as it is', () => {
    assert.equal(redactString(`Bearer ${jws} trailing`), `Bearer ${REDACTED_JWS} trailing`);
    assert.equal(redactString('a'.repeat(64)), 'a'.repeat(64));
    assert.equal(redactString(`${'a'.repeat(60)}.b`), `${'a'.repeat(60)}.b`);
  });
  it('replaces the password of a URL and a PEM private key, however short the string', () => {
    assert.equal(redactString('redis://u:pw@h'), `redis://${REDACTED}@h`);
    assert.equal(redactString('a https://:p@x:1/z and ftp://y'), `a https://${REDACTED}@x:1/z and ftp://y`);
    assert.equal(redactString('redis://u:pa"ss@h:1'), `redis://${REDACTED}@h:1`);
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'sec1' }) as string;
    assert.equal(redactString(`key ${pem}end`), `key ${REDACTED}\nend`);
    assert.equal(redactString(pem.slice(0, 60)), REDACTED);
    for (const text of ['https://api.example/v1/a?x=a@b', 'mail ops@example.org', 'redis://redis:6379/0', '-----BEGIN PUBLIC KEY-----']) assert.equal(redactString(text), text);
  });
  it('gives what the run-by-run rule gives, whatever the number of dots', () => {
    const unit = fc.constantFrom('.', '.', 'e', 'y', 'J', 'a', '-', '_', ' ', ',', 'Z');
    const text = fc.oneof(fc.string({ unit, minLength: 35, maxLength: 80 }), fc.constantFrom(jws, `x ${jws}`, `${jws}.${jws}`, jws.replace('.', '')));
    fc.assert(
      fc.property(text, (v) => assert.equal(redactString(v), v.length < 41 ? v : v.replace(/[A-Za-z0-9_.-]+/g, (run) => (looksLikeJws(run) ? REDACTED_JWS : run)))),
      { numRuns: 3000 },
    );
  });
});
