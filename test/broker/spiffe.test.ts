import { strict as assert } from 'node:assert';
import { generateKeyPairSync } from 'node:crypto';
import { spiffePop } from '../../broker/src/client.js';
import { x509 } from '../../broker/src/x509.js';
import { generateSigningKey, type SigningKey } from '../../core/src/keys.js';
import type { PublicJwk } from '../../core/src/types.js';
import { createTestCa, type TestSvid } from '../support/spiffe-ca.js';
import { AUDIENCE, call, startTestBroker, verifyWithJwks, type Reply, type TestBroker } from './harness.js';

const HOUR = 3_600_000;

describe('broker SPIFFE path', () => {
  let tb: TestBroker;
  let holder: SigningKey;
  before(async () => {
    tb = await startTestBroker({ intermediate: true });
    holder = generateSigningKey('EdDSA');
  });
  after(() => tb.close());

  function body(svid: TestSvid, o: { holderJwk?: PublicJwk; popFor?: Partial<Parameters<typeof spiffePop>[0]>; chain?: string[] } = {}): Record<string, unknown> {
    const holderJwk = o.holderJwk ?? holder.publicJwk;
    const pop = spiffePop({
      svidKey: svid.privateKey,
      leafPem: svid.leafPem,
      brokerIssuer: tb.config.issuer,
      audience: AUDIENCE,
      holderJwk,
      ...o.popFor,
    });
    return { audience: AUDIENCE, holder_jwk: holderJwk, svid_chain: o.chain ?? svid.chainPem, pop };
  }

  function assertRefused(r: Reply, code: string, status: number): void {
    assert.deepEqual({ status: r.status, error: r.json.error }, { status, error: code }, r.text);
    assert.equal(typeof r.json.message, 'string');
    assert.equal(r.json.passport, undefined);
  }

  it('issues an attested_workload passport whose sub is the SPIFFE ID and whose cnf is the holder key', async () => {
    const svid = await tb.ca.issueSvid({ path: '/ns/shop/sa/checkout' });
    const r = await call(tb.broker.socketPath, { body: body(svid) });
    assert.equal(r.status, 200, r.text);
    const jwks = (await call(tb.broker.socketPath, { method: 'GET', path: '/v1/jwks' })).json as unknown as { keys: PublicJwk[] };
    const claims = verifyWithJwks(r.json.passport as string, jwks);
    assert.equal(claims.sub, 'spiffe://example.org/ns/shop/sa/checkout');
    assert.equal(claims.key_binding, 'attested_workload');
    assert.equal(claims.iss, tb.config.issuer);
    assert.equal(claims.aud, AUDIENCE);
    assert.equal(claims.trust_domain, 'example.org');
    assert.deepEqual(JSON.parse(JSON.stringify(claims.cnf)), { jwk: { kty: 'OKP', crv: 'Ed25519', x: holder.publicJwk.x } });
    assert.equal((claims.header as Record<string, unknown>).typ, 'tp-passport+jwt');
    assert.equal(r.json.expires_at, claims.exp);
    assert.equal(r.json.subject, claims.sub);
  });

  it('accepts a leaf signed directly by the root, and a chain that repeats the root', async () => {
    const svid = await tb.ca.issueSvid({ signedByRoot: true });
    assert.equal((await call(tb.broker.socketPath, { body: body(svid) })).status, 200);
    const viaIntermediate = await tb.ca.issueSvid();
    const withRoot = body(viaIntermediate, { chain: [...viaIntermediate.chainPem, tb.ca.rootPem] });
    assert.equal((await call(tb.broker.socketPath, { body: withRoot })).status, 200);
  });

  it('takes the proof-of-possession scheme from the leaf key: Ed25519 and P-384 SVIDs work too', async () => {
    for (const keyAlg of ['Ed25519', 'P-384'] as const) {
      const svid = await tb.ca.issueSvid({ keyAlg });
      const r = await call(tb.broker.socketPath, { body: body(svid) });
      assert.equal(r.status, 200, `${keyAlg}: ${r.text}`);
    }
  });

  it('refuses an expired SVID with svid_expired, and a not-yet-valid one too', async () => {
    const expired = await tb.ca.issueSvid({ notBefore: new Date(Date.now() - 2 * HOUR), notAfter: new Date(Date.now() - HOUR) });
    assertRefused(await call(tb.broker.socketPath, { body: body(expired) }), 'svid_expired', 401);
    const early = await tb.ca.issueSvid({ notBefore: new Date(Date.now() + HOUR), notAfter: new Date(Date.now() + 2 * HOUR) });
    assertRefused(await call(tb.broker.socketPath, { body: body(early) }), 'svid_expired', 401);
  });

  it('refuses an SVID of another trust domain with svid_trust_domain_mismatch', async () => {
    const svid = await tb.ca.issueSvid({ uris: ['spiffe://other.example/ns/shop/sa/checkout'] });
    assertRefused(await call(tb.broker.socketPath, { body: body(svid) }), 'svid_trust_domain_mismatch', 401);
  });

  it('refuses two URI SANs, and none, with svid_uri_san_count', async () => {
    const two = await tb.ca.issueSvid({ uris: ['spiffe://example.org/a', 'spiffe://example.org/b'] });
    assertRefused(await call(tb.broker.socketPath, { body: body(two) }), 'svid_uri_san_count', 401);
    const none = await tb.ca.issueSvid({ uris: [], dnsNames: ['checkout.example.org'] });
    assertRefused(await call(tb.broker.socketPath, { body: body(none) }), 'svid_uri_san_count', 401);
  });

  it('refuses a URI SAN that is not a workload SPIFFE ID with svid_not_spiffe_id', async () => {
    for (const uri of ['https://example.org/ns/shop', 'spiffe://example.org', 'spiffe://Example.org/a', 'spiffe://example.org/a/../b']) {
      const svid = await tb.ca.issueSvid({ uris: [uri] });
      assertRefused(await call(tb.broker.socketPath, { body: body(svid) }), 'svid_not_spiffe_id', 401);
    }
  });

  it('refuses a CA leaf with svid_leaf_is_ca', async () => {
    const svid = await tb.ca.issueSvid({ ca: true });
    assertRefused(await call(tb.broker.socketPath, { body: body(svid) }), 'svid_leaf_is_ca', 401);
  });

  it('refuses a leaf without digitalSignature, or allowed to sign certificates, with svid_key_usage', async () => {
    const none = await tb.ca.issueSvid({ keyUsage: null });
    assertRefused(await call(tb.broker.socketPath, { body: body(none) }), 'svid_key_usage', 401);
    const encipher = await tb.ca.issueSvid({ keyUsage: x509.KeyUsageFlags.keyEncipherment });
    assertRefused(await call(tb.broker.socketPath, { body: body(encipher) }), 'svid_key_usage', 401);
    const certSign = await tb.ca.issueSvid({ keyUsage: x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign });
    assertRefused(await call(tb.broker.socketPath, { body: body(certSign) }), 'svid_key_usage', 401);
  });

  it('refuses a chain to an unknown root with svid_chain_untrusted', async () => {
    const stranger = await createTestCa({ trustDomain: 'example.org' });
    const svid = await stranger.issueSvid();
    assertRefused(await call(tb.broker.socketPath, { body: body(svid) }), 'svid_chain_untrusted', 401);
  });

  it('refuses a chain missing its intermediate, or with a forged one, with svid_chain_untrusted', async () => {
    const svid = await tb.ca.issueSvid({ omitIntermediate: true });
    assertRefused(await call(tb.broker.socketPath, { body: body(svid) }), 'svid_chain_untrusted', 401);
    // Same names, other keys: the intermediate of a look-alike CA does not verify under our root.
    const lookAlike = await createTestCa({ trustDomain: 'example.org', intermediate: true });
    const forged = await lookAlike.issueSvid();
    assertRefused(await call(tb.broker.socketPath, { body: body(forged) }), 'svid_chain_untrusted', 401);
  });

  it('refuses a leaf with a critical extension it does not process with svid_chain_untrusted', async () => {
    const svid = await tb.ca.issueSvid({ extraExtensions: [new x509.Extension('1.3.6.1.4.1.99999.1', true, new Uint8Array([5, 0]))] });
    assertRefused(await call(tb.broker.socketPath, { body: body(svid) }), 'svid_chain_untrusted', 401);
  });

  it('refuses when the SVID key is not proven: wrong key, other holder, other audience, stale, or reused', async () => {
    const svid = await tb.ca.issueSvid();
    const otherKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    assertRefused(await call(tb.broker.socketPath, { body: body(svid, { popFor: { svidKey: otherKey } }) }), 'svid_pop_invalid', 401);

    // A proof made for one holder key cannot be attached to a request for another.
    const forOther = body(svid, { holderJwk: generateSigningKey('EdDSA').publicJwk });
    assertRefused(await call(tb.broker.socketPath, { body: { ...forOther, holder_jwk: holder.publicJwk } }), 'svid_pop_invalid', 401);

    assertRefused(await call(tb.broker.socketPath, { body: body(svid, { popFor: { audience: 'https://other.example.org' } }) }), 'svid_pop_invalid', 401);
    assertRefused(await call(tb.broker.socketPath, { body: body(svid, { popFor: { brokerIssuer: 'https://another-broker.example' } }) }), 'svid_pop_invalid', 401);
    assertRefused(await call(tb.broker.socketPath, { body: body(svid, { popFor: { nowMs: Date.now() - 5 * 60_000 } }) }), 'svid_pop_invalid', 401);
    // lifetime_s is bound only when requested: adding it after signing breaks the proof.
    assertRefused(await call(tb.broker.socketPath, { body: { ...body(svid), lifetime_s: 30 } }), 'svid_pop_invalid', 401);

    const once = body(svid);
    assert.equal((await call(tb.broker.socketPath, { body: once })).status, 200);
    assertRefused(await call(tb.broker.socketPath, { body: once }), 'svid_pop_invalid', 401);
  });

  it('refuses a proof signed by the leaf of another SVID that shares nothing but the chain', async () => {
    const a = await tb.ca.issueSvid({ path: '/a' });
    const b = await tb.ca.issueSvid({ path: '/b' });
    const popByB = body(b).pop;
    assertRefused(await call(tb.broker.socketPath, { body: { ...body(a), pop: popByB } }), 'svid_pop_invalid', 401);
  });

  it('refuses an svid_chain element that is not one PEM certificate with svid_malformed', async () => {
    const svid = await tb.ca.issueSvid();
    const twoInOne = `${svid.chainPem[0]}${svid.chainPem[1]}`;
    for (const pem of ['not a certificate', twoInOne, svid.leafPem.replace('MII', 'MIJ')]) {
      const b = body(svid);
      assertRefused(await call(tb.broker.socketPath, { body: { ...b, svid_chain: [pem] } }), 'svid_malformed', 400);
    }
  });

  it('counts each refusal under its own reason and each issue under attested_workload', async () => {
    const text = (await call(tb.broker.socketPath, { method: 'GET', path: '/metrics' })).text;
    const value = (series: string): number => Number(new RegExp(`^${series.replace(/[{}"]/g, '\\$&')} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
    assert.equal(value('trustplane_broker_refused_total{reason="svid_expired"}'), 2);
    assert.equal(value('trustplane_broker_refused_total{reason="svid_uri_san_count"}'), 2);
    assert.equal(value('trustplane_broker_refused_total{reason="svid_leaf_is_ca"}'), 1);
    assert.equal(value('trustplane_broker_refused_total{reason="svid_trust_domain_mismatch"}'), 1);
    assert.equal(value('trustplane_broker_refused_total{reason="svid_pop_invalid"}'), 8);
    assert.equal(value('trustplane_broker_issued_total{key_binding="attested_workload"}'), 6);
    assert.equal(value('trustplane_broker_issued_total{key_binding="software"}'), 0);
  });

  it('never logs the passport or the SVID', () => {
    const text = JSON.stringify(tb.logs);
    assert.doesNotMatch(text, /eyJ[A-Za-z0-9_-]+\.eyJ/);
    assert.doesNotMatch(text, /BEGIN CERTIFICATE/);
    assert.ok(tb.logs.some((e) => e.msg === 'passport_issued' && e.key_binding === 'attested_workload'));
  });
});

describe('broker without a SPIFFE section', () => {
  it('refuses an SVID request with spiffe_not_configured and says nothing about the SVID', async () => {
    const tb = await startTestBroker({ spiffe: false });
    try {
      const svid = await tb.ca.issueSvid();
      const holder = generateSigningKey('EdDSA');
      const pop = spiffePop({ svidKey: svid.privateKey, leafPem: svid.leafPem, brokerIssuer: tb.config.issuer, audience: AUDIENCE, holderJwk: holder.publicJwk });
      const r = await call(tb.broker.socketPath, { body: { audience: AUDIENCE, holder_jwk: holder.publicJwk, svid_chain: svid.chainPem, pop } });
      assert.deepEqual([r.status, r.json.error], [400, 'spiffe_not_configured']);
      assert.equal(tb.broker.trustEntry().max_key_binding, 'software');
    } finally {
      await tb.close();
    }
  });
});
