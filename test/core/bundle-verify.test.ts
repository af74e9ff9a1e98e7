import assert from 'node:assert/strict';
import {
  BUNDLE_CLOCK_SKEW_S,
  canonicalBundleBytes,
  signBundle,
  verifyBundle,
  BundleError,
  type BundleDocument,
} from '../../core/src/bundle/index.js';
import { sha256hex } from '../../core/src/encoding.js';
import { ordersBundle } from '../support/orders-bundle.js';
import { generateSigningKey, type SigningKey } from '../../core/src/keys.js';

const NOW = 1_700_000_000;
const SIGNER = generateSigningKey('EdDSA');
const SIGNER_P256 = generateSigningKey('ES256');
const OTHER = generateSigningKey('EdDSA');
const ISSUER = generateSigningKey('EdDSA');

function unsigned(serial = 5, over: { issuedAt?: number; expiresAt?: number; audience?: string } = {}): BundleDocument {
  return ordersBundle({ serial, issuedAt: over.issuedAt ?? NOW - 10, expiresAt: over.expiresAt ?? NOW + 3600, issuerKey: ISSUER, ...(over.audience ? { audience: over.audience } : {}) });
}

const keys = [SIGNER.publicJwk, SIGNER_P256.publicJwk];
const opts = { signingKeys: keys, now: NOW };

function refused(json: unknown, o: Parameters<typeof verifyBundle>[1]): { code: string; problems: string[] } {
  const r = verifyBundle(json, o);
  assert.equal(r.ok, false, 'expected the bundle to be refused');
  return r.ok ? { code: '', problems: [] } : { code: r.code, problems: r.problems };
}

function sign(b: BundleDocument, key: SigningKey = SIGNER): BundleDocument {
  return signBundle(b, key);
}

describe('canonicalBundleBytes', () => {
  it('is the sorted, whitespace-free JSON of the document without its signature', () => {
    const b = unsigned();
    const text = canonicalBundleBytes(sign(b)).toString('utf8');
    assert.equal(text, canonicalBundleBytes(b).toString('utf8'));
    assert.ok(text.startsWith('{"expires_at":1700003600,"format":"trustplane-bundle-v1","issued_at":1699999990,"keys":[{"issuer":'));
    assert.ok(!text.includes('signature') && !/\s/.test(text));
  });
});

describe('signBundle', () => {
  it('adds {alg, kid, value} and replaces an earlier signature', () => {
    const once = sign(unsigned());
    assert.deepEqual(Object.keys(once.signature!).sort(), ['alg', 'kid', 'value']);
    assert.equal(once.signature!.alg, 'EdDSA');
    assert.equal(once.signature!.kid, SIGNER.kid);
    const twice = sign(once, SIGNER_P256);
    assert.equal(twice.signature!.alg, 'ES256');
    assert.equal(twice.signature!.kid, SIGNER_P256.kid);
    assert.ok(verifyBundle(twice, opts).ok);
  });

  it('refuses to sign an invalid document with bundle_invalid', () => {
    const bad = { ...unsigned(), serial: -1 } as BundleDocument;
    assert.throws(() => sign(bad), (e: unknown) => e instanceof BundleError && e.code === 'bundle_invalid' && e.problems[0] === '/serial: must be a positive safe integer');
  });
});

describe('verifyBundle', () => {
  it('accepts a signed bundle from an object, a string or bytes, and reports the content hash', () => {
    const signed = sign(unsigned());
    const expected = sha256hex(canonicalBundleBytes(signed));
    for (const input of [signed, JSON.stringify(signed, null, 2), Buffer.from(JSON.stringify(signed))]) {
      const r = verifyBundle(input, opts);
      assert.ok(r.ok, r.ok ? '' : `${r.code} ${r.problems.join()}`);
      assert.equal(r.sha256, expected);
      assert.equal(r.bundle.serial, 5);
    }
  });

  it('accepts ES256 signatures', () => {
    assert.ok(verifyBundle(sign(unsigned(), SIGNER_P256), opts).ok);
  });

  it('refuses bad JSON, invalid UTF-8 and schema problems with bundle_invalid', () => {
    assert.deepEqual(refused('{"format":', opts), { code: 'bundle_invalid', problems: ['/: not a JSON object'] });
    assert.deepEqual(refused(Buffer.from([0x7b, 0xff, 0x7d]), opts), { code: 'bundle_invalid', problems: ['/: the file is not valid UTF-8'] });
    const r = refused({ ...sign(unsigned()), serial: 1.5 }, opts);
    assert.deepEqual(r, { code: 'bundle_invalid', problems: ['/serial: must be a positive safe integer'] });
  });

  it('refuses a document with a duplicated member anywhere, text or bytes, even when correctly signed', () => {
    const text = JSON.stringify(sign(unsigned()));
    const dup = '/: an object has two members with the same name';
    // Same content with an extra earlier copy: JSON.parse keeps the last, a reviewer may read the first.
    for (const t of [
      text.replace('"revocations":{', '"revocations":{"subjects":["spiffe://example.org/x"],'),
      text.replace('{', '{"serial":1,'),
      text.replace('"revocations":{', '"revocations":{"\\u006bids":[],'),
    ]) {
      assert.deepEqual(refused(t, opts), { code: 'bundle_invalid', problems: [dup] }, t.slice(0, 80));
      assert.deepEqual(refused(Buffer.from(t), opts), { code: 'bundle_invalid', problems: [dup] });
    }
    assert.ok(verifyBundle(text, opts).ok);
    assert.ok(verifyBundle(JSON.stringify(JSON.parse(text), null, 2), opts).ok);
  });

  it('refuses an unsigned bundle with bundle_unsigned', () => {
    assert.deepEqual(refused(unsigned(), opts), { code: 'bundle_unsigned', problems: ['the bundle has no signature and unsigned bundles are not allowed'] });
  });

  it('refuses a tampered bundle with bundle_signature_invalid', () => {
    const signed = sign(unsigned());
    const tampered = JSON.parse(JSON.stringify(signed));
    tampered.routes[0].allowed_sources[0].subject = 'spiffe://evil.example/**';
    assert.deepEqual(refused(tampered, opts), { code: 'bundle_signature_invalid', problems: [`the signature does not verify with key "${SIGNER.kid}"`] });
  });

  it('refuses a signature made by another key under a trusted kid with bundle_signature_invalid', () => {
    const forged = signBundle(unsigned(), { ...OTHER, kid: SIGNER.kid });
    assert.equal(refused(forged, opts).code, 'bundle_signature_invalid');
    const wrongAlg = { ...sign(unsigned()), signature: { ...sign(unsigned()).signature!, alg: 'ES256' } };
    assert.deepEqual(refused(wrongAlg, opts), { code: 'bundle_signature_invalid', problems: [`signature alg ES256 does not fit key "${SIGNER.kid}" (EdDSA)`] });
  });

  it('refuses a signature by a key that is not configured with bundle_signing_key_unknown', () => {
    assert.deepEqual(refused(sign(unsigned(), OTHER), opts), {
      code: 'bundle_signing_key_unknown',
      problems: [`no configured bundle-signing key has kid "${OTHER.kid}"`],
    });
  });

  it('refuses an expired bundle with bundle_expired, exactly at expires_at', () => {
    const b = sign(unsigned(5, { expiresAt: NOW }));
    assert.deepEqual(refused(b, opts), { code: 'bundle_expired', problems: [`expired at ${NOW}, now ${NOW}`] });
    assert.ok(verifyBundle(b, { ...opts, now: NOW - 1 }).ok);
  });

  it('refuses a bundle issued more than the clock skew in the future with bundle_not_yet_valid', () => {
    assert.ok(verifyBundle(sign(unsigned(5, { issuedAt: NOW + BUNDLE_CLOCK_SKEW_S })), opts).ok);
    const r = refused(sign(unsigned(5, { issuedAt: NOW + BUNDLE_CLOCK_SKEW_S + 1 })), opts);
    assert.equal(r.code, 'bundle_not_yet_valid');
  });

  it('refuses a lower serial than the one in use or than minSerial with bundle_rollback', () => {
    const current = verifyBundle(sign(unsigned(5)), opts);
    assert.ok(current.ok);
    const cur = { serial: 5, sha256: current.sha256 };
    assert.deepEqual(refused(sign(unsigned(4)), { ...opts, current: cur }), { code: 'bundle_rollback', problems: ['serial 4 is below the serial in use 5'] });
    assert.deepEqual(refused(sign(unsigned(4)), { ...opts, minSerial: 5 }), { code: 'bundle_rollback', problems: ['serial 4 is below the minimum 5'] });
    assert.ok(verifyBundle(sign(unsigned(6)), { ...opts, current: cur, minSerial: 5 }).ok);
  });

  it('accepts the same serial with the same content (re-signed or re-formatted), refuses it with other content', () => {
    const first = verifyBundle(sign(unsigned(5)), opts);
    assert.ok(first.ok);
    const cur = { serial: 5, sha256: first.sha256 };
    const resigned = sign(unsigned(5), SIGNER_P256);
    assert.ok(verifyBundle(JSON.stringify(resigned, null, 4), { ...opts, current: cur }).ok);
    assert.deepEqual(refused(sign(unsigned(5, { audience: 'other-api' })), { ...opts, current: cur }), {
      code: 'bundle_rollback',
      problems: ['serial 5 is already in use with different content'],
    });
  });

  it('checks authenticity before time and serial, so a tampered old bundle is reported as tampered', () => {
    const old = JSON.parse(JSON.stringify(sign(unsigned(1, { expiresAt: NOW - 1, issuedAt: NOW - 100 }))));
    old.serial = 99;
    assert.equal(refused(old, { ...opts, minSerial: 50 }).code, 'bundle_signature_invalid');
  });

  describe('with allowUnsigned (development)', () => {
    const dev = { ...opts, allowUnsigned: true };

    it('accepts an unsigned bundle', () => {
      const r = verifyBundle(unsigned(), dev);
      assert.ok(r.ok);
      assert.equal(r.bundle.signature, undefined);
    });

    it('still refuses a tampered signed bundle and a signature by an unknown key', () => {
      const tampered = JSON.parse(JSON.stringify(sign(unsigned())));
      tampered.expires_at += 1;
      assert.equal(refused(tampered, dev).code, 'bundle_signature_invalid');
      assert.equal(refused(sign(unsigned(), OTHER), dev).code, 'bundle_signing_key_unknown');
    });

    it('still validates the schema, the time window and the serial', () => {
      assert.equal(refused({ ...unsigned(), routes: 'x' }, dev).code, 'bundle_invalid');
      assert.equal(refused(unsigned(5, { expiresAt: NOW }), dev).code, 'bundle_expired');
      assert.equal(refused(unsigned(4), { ...dev, minSerial: 5 }).code, 'bundle_rollback');
    });
  });
});
