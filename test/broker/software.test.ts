import { strict as assert } from 'node:assert';
import { generateSigningKey } from '../../core/src/keys.js';
import { requestPassport, BrokerRequestError } from '../../broker/src/client.js';
import { subjectMatches } from '../../broker/src/issue.js';
import type { PublicJwk } from '../../core/src/types.js';
import { AUDIENCE, call, startTestBroker, verifyWithJwks, type TestBroker } from './harness.js';

const NOW_MS = Date.UTC(2026, 10, 24, 12, 0, 0);

describe('broker software path', () => {
  let tb: TestBroker;
  const holder = generateSigningKey('ES256');
  before(async () => {
    tb = await startTestBroker({
      spiffe: false,
      nowMs: () => NOW_MS,
      raw: {
        trust_domain: 'corp.example',
        software: { subject: 'urn:example:batch-runner', allowed_subjects: ['urn:example:jobs:*', 'https://callers.example/team/**'] },
      },
    });
  });
  after(() => tb.close());

  it('issues a software passport for the configured subject, bound to the holder key, on the frozen clock', async () => {
    const r = await requestPassport(tb.broker.socketPath, { audience: AUDIENCE, route: 'orders-create', holder_jwk: holder.publicJwk });
    const claims = verifyWithJwks(r.passport, tb.broker.jwks());
    assert.equal(claims.key_binding, 'software');
    assert.equal(claims.sub, 'urn:example:batch-runner');
    assert.equal(claims.trust_domain, 'corp.example');
    assert.equal(claims.iat, NOW_MS / 1000);
    assert.equal(claims.exp, NOW_MS / 1000 + 60);
    assert.equal(r.expires_at, claims.exp);
    assert.equal(r.jti, claims.jti);
    const cnf = (claims.cnf as { jwk: PublicJwk }).jwk;
    assert.deepEqual({ ...cnf }, { kty: 'EC', crv: 'P-256', x: holder.publicJwk.x, y: holder.publicJwk.y });
  });

  it('honours lifetime_s up to max_lifetime_s and refuses more', async () => {
    const r = await requestPassport(tb.broker.socketPath, { audience: AUDIENCE, holder_jwk: holder.publicJwk, lifetime_s: 300 });
    assert.equal(r.expires_at, NOW_MS / 1000 + 300);
    await assert.rejects(
      requestPassport(tb.broker.socketPath, { audience: AUDIENCE, holder_jwk: holder.publicJwk, lifetime_s: 301 }),
      (e: unknown) => e instanceof BrokerRequestError && e.code === 'request_invalid' && e.status === 400 && /lifetime_s/.test(e.message),
    );
  });

  it('lets a caller choose a subject only when allowed_subjects matches it', async () => {
    const ok = await requestPassport(tb.broker.socketPath, { audience: AUDIENCE, holder_jwk: holder.publicJwk, subject: 'urn:example:jobs:nightly' });
    assert.equal(ok.subject, 'urn:example:jobs:nightly');
    const deep = await requestPassport(tb.broker.socketPath, { audience: AUDIENCE, holder_jwk: holder.publicJwk, subject: 'https://callers.example/team/a/b' });
    assert.equal(deep.subject, 'https://callers.example/team/a/b');
    for (const subject of ['spiffe://example.org/ns/shop/sa/checkout', 'urn:example:jobs:', 'https://callers.example/team']) {
      const r = await call(tb.broker.socketPath, { body: { audience: AUDIENCE, holder_jwk: holder.publicJwk, subject } });
      assert.deepEqual([r.status, r.json.error], [403, 'subject_not_allowed'], subject);
    }
  });

  it('publishes a trust entry that may assert software only', () => {
    const e = tb.broker.trustEntry();
    assert.equal(e.max_key_binding, 'software');
    assert.equal(e.trust_domain, 'corp.example');
    assert.equal(e.kid, e.jwk.kid);
    assert.equal(e.jwk.alg, 'EdDSA');
  });

  it('counts software issues', async () => {
    const text = (await call(tb.broker.socketPath, { method: 'GET', path: '/metrics' })).text;
    assert.match(text, /^trustplane_broker_issued_total\{key_binding="software"\} 4$/m);
    assert.match(text, /^trustplane_broker_refused_total\{reason="subject_not_allowed"\} 3$/m);
  });
});

describe('broker reusable passports (docs/broker.md, docs/transcript-v1.md §15)', () => {
  const holder = generateSigningKey('EdDSA');
  let tb: TestBroker;
  let none: TestBroker;
  before(async () => {
    tb = await startTestBroker({
      spiffe: false,
      nowMs: () => NOW_MS,
      raw: {
        software: { subject: 'urn:example:batch-runner', allowed_subjects: ['urn:example:jobs:*'] },
        reusable: { subjects: ['urn:example:batch-runner'], max_lifetime_s: 900 },
      },
    });
    none = await startTestBroker({ spiffe: false, nowMs: () => NOW_MS });
  });
  after(async () => {
    await tb.close();
    await none.close();
  });

  it('issues a reusable passport to a subject reusable.subjects names, up to reusable.max_lifetime_s', async () => {
    const r = await requestPassport(tb.broker.socketPath, { audience: AUDIENCE, holder_jwk: holder.publicJwk, reusable: true, lifetime_s: 900 });
    const claims = verifyWithJwks(r.passport, tb.broker.jwks());
    assert.equal(claims.reusable, true);
    assert.equal(claims.exp, NOW_MS / 1000 + 900);
    const plain = verifyWithJwks((await requestPassport(tb.broker.socketPath, { audience: AUDIENCE, holder_jwk: holder.publicJwk })).passport, tb.broker.jwks());
    assert.equal(plain.reusable, undefined, 'a request without reusable gets a per-request passport');
    // 900 s is beyond max_lifetime_s (300) for a per-request passport.
    const long = await call(tb.broker.socketPath, { body: { audience: AUDIENCE, holder_jwk: holder.publicJwk, lifetime_s: 900 } });
    assert.deepEqual([long.status, long.json.error], [400, 'request_invalid']);
    const tooLong = await call(tb.broker.socketPath, { body: { audience: AUDIENCE, holder_jwk: holder.publicJwk, reusable: true, lifetime_s: 901 } });
    assert.deepEqual([tooLong.status, tooLong.json.error], [400, 'request_invalid']);
  });

  it('refuses a subject reusable.subjects does not name, a broker without the section, and a reusable other than true', async () => {
    const other = await call(tb.broker.socketPath, { body: { audience: AUDIENCE, holder_jwk: holder.publicJwk, reusable: true, subject: 'urn:example:jobs:nightly' } });
    assert.deepEqual([other.status, other.json.error], [403, 'reusable_not_allowed']);
    const off = await call(none.broker.socketPath, { body: { audience: AUDIENCE, holder_jwk: holder.publicJwk, reusable: true } });
    assert.deepEqual([off.status, off.json.error], [403, 'reusable_not_allowed']);
    const bad = await call(tb.broker.socketPath, { body: { audience: AUDIENCE, holder_jwk: holder.publicJwk, reusable: 'yes' } });
    assert.deepEqual([bad.status, bad.json.error], [400, 'request_invalid']);
  });
});

describe('broker with the software path disabled', () => {
  it('refuses software requests with software_path_disabled', async () => {
    const tb = await startTestBroker({ raw: { software: { enabled: false } } });
    try {
      const r = await call(tb.broker.socketPath, { body: { audience: AUDIENCE, holder_jwk: generateSigningKey('EdDSA').publicJwk } });
      assert.deepEqual([r.status, r.json.error], [403, 'software_path_disabled']);
    } finally {
      await tb.close();
    }
  });
});

describe('allowed_subjects patterns', () => {
  it('match exactly, one segment per *, and one or more segments for a trailing /**', () => {
    assert.equal(subjectMatches('urn:a:b', 'urn:a:b'), true);
    assert.equal(subjectMatches('urn:a:b', 'urn:a:bc'), false);
    assert.equal(subjectMatches('spiffe://td/ns/*/sa/x', 'spiffe://td/ns/shop/sa/x'), true);
    assert.equal(subjectMatches('spiffe://td/ns/*/sa/x', 'spiffe://td/ns/a/b/sa/x'), false);
    assert.equal(subjectMatches('spiffe://td/ns/*/sa/x', 'spiffe://td/ns//sa/x'), false);
    assert.equal(subjectMatches('spiffe://td/**', 'spiffe://td/a/b/c'), true);
    assert.equal(subjectMatches('spiffe://td/**', 'spiffe://td'), false);
    assert.equal(subjectMatches('spiffe://td/**', 'spiffe://td.evil/a'), false);
    assert.equal(subjectMatches('urn:a.b:*', 'urn:aXb:c'), false);
  });
});
