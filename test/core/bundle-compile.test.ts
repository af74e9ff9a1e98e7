import assert from 'node:assert/strict';
import fc from 'fast-check';
import { buildBundle, canonicalBundleBytes, compileBundle, type Route } from '../../core/src/bundle/index.js';
import { sha256hex } from '../../core/src/encoding.js';
import { generateSigningKey, verifyBytes, signBytes } from '../../core/src/keys.js';

const NOW = 1_700_000_000;
const ISSUER = generateSigningKey('EdDSA');
const KMS = generateSigningKey('ES256');
const SRC = [{ issuer: 'https://issuer.example', trust_domain: 'example.org', subject: 'spiffe://example.org/**' }];
/** A well-formed RFC 7638 thumbprint (43 base64url characters) of no key in particular. */
const THUMB = 'A'.repeat(42) + 'E';

function route(id: string, path: string, extra: Partial<Route['match']> = {}): Route {
  return {
    id,
    match: { path, ...extra },
    audience: 'api',
    allowed_sources: SRC,
    required_key_binding: 'software',
    freshness_class: 'bounded',
    bound_headers: [],
  };
}

function compiled(routes: Route[]) {
  const r = buildBundle({
    serial: 3,
    issuedAt: NOW,
    expiresAt: NOW + 60,
    keys: [
      { kid: ISSUER.kid, issuer: 'https://issuer.example', trust_domain: 'example.org', max_key_binding: 'software', jwk: ISSUER.publicJwk },
      { kid: KMS.kid, issuer: 'https://kms.example', trust_domain: 'example.org', max_key_binding: 'remote_kms', jwk: KMS.publicJwk },
    ],
    routes,
    revocations: { kids: ['gone'], jtis: ['jti-1'], subjects: ['spiffe://example.org/bad'], cnf_thumbprints: [THUMB] },
  });
  assert.ok(r.ok, r.ok ? '' : r.problems.join('\n'));
  return { doc: r.bundle, c: compileBundle(r.bundle) };
}

describe('compileBundle', () => {
  it('exposes serial, times, content hash and routes, and is frozen', () => {
    const { doc, c } = compiled([route('a', '/a')]);
    assert.equal(c.serial, 3);
    assert.equal(c.issuedAt, NOW);
    assert.equal(c.expiresAt, NOW + 60);
    assert.equal(c.sha256, sha256hex(canonicalBundleBytes(doc)));
    assert.equal(c.route('a'), doc.routes[0]);
    assert.equal(c.route('b'), undefined);
    assert.ok(Object.isFrozen(c));
    assert.throws(() => {
      (c as { serial: number }).serial = 9;
    }, TypeError);
  });

  it('finds trust keys by kid with a KeyObject imported once', () => {
    const { c } = compiled([route('a', '/a')]);
    const k = c.keyByKid(KMS.kid);
    assert.ok(k);
    assert.equal(k.key.issuer, 'https://kms.example');
    assert.equal(k.alg, 'ES256');
    assert.equal(c.keyByKid(ISSUER.kid)!.alg, ISSUER.alg);
    assert.equal(c.keyByKid(KMS.kid)!.publicKey, k.publicKey);
    const data = Buffer.from('hello');
    assert.ok(verifyBytes('ES256', k.publicKey, data, signBytes('ES256', KMS.privateKey, data)));
    assert.equal(c.keyByKid('nope'), undefined);
    assert.equal(c.keyByKid('__proto__'), undefined);
  });

  it('answers revocation questions from each list', () => {
    const { c } = compiled([route('a', '/a')]);
    assert.deepEqual(
      [c.isRevokedKid('gone'), c.isRevokedKid(ISSUER.kid), c.isRevokedJti('jti-1'), c.isRevokedJti('jti-2')],
      [true, false, true, false],
    );
    assert.deepEqual([c.isRevokedSubject('spiffe://example.org/bad'), c.isRevokedSubject('spiffe://example.org/good')], [true, false]);
    assert.deepEqual([c.isRevokedCnfThumbprint(THUMB), c.isRevokedCnfThumbprint('gone')], [true, false]);
  });

  describe('matchRoute', () => {
    const { c } = compiled([
      route('any', '/**'),
      route('orders-any', '/orders/**'),
      route('orders-one', '/orders/*'),
      route('orders-exact', '/orders/special'),
      route('orders-deep', '/orders/v2/**'),
      route('orders-post', '/orders/new', { methods: ['POST'] }),
      route('orders-new-host', '/orders/new', { authority: 'api.example.com' }),
      route('first-tie', '/t/*', { methods: ['GET'] }),
      route('second-tie', '/t/*', { methods: ['GET', 'PUT'] }),
      route('slash', '/s/'),
    ]);
    const id = (method: string, path: string, authority = 'other.example') => c.matchRoute(method, authority, path)?.id;

    it('prefers an exact path over /* over /**', () => {
      assert.equal(id('GET', '/orders/special'), 'orders-exact');
      assert.equal(id('GET', '/orders/123'), 'orders-one');
      assert.equal(id('GET', '/orders/123/items'), 'orders-any');
      assert.equal(id('GET', '/elsewhere'), 'any');
      assert.equal(id('GET', '/'), 'any');
    });

    it('prefers the longer prefix among /** routes', () => {
      assert.equal(id('GET', '/orders/v2/x/y'), 'orders-deep');
      assert.equal(id('GET', '/orders/v2/'), 'orders-deep');
      assert.equal(id('GET', '/orders/v2'), 'orders-one');
    });

    it('lets /* match exactly one non-empty segment and /** match the directory itself', () => {
      assert.equal(id('GET', '/orders/'), 'orders-any');
      assert.equal(id('GET', '/orders'), 'any');
    });

    it('filters by method and authority, then falls through to less specific routes', () => {
      assert.equal(id('POST', '/orders/new'), 'orders-post');
      assert.equal(id('GET', '/orders/new', 'api.example.com'), 'orders-new-host');
      assert.equal(id('GET', '/orders/new'), 'orders-one');
    });

    it('breaks remaining ties by route order', () => {
      assert.equal(id('GET', '/t/x'), 'first-tie');
      assert.equal(id('PUT', '/t/x'), 'second-tie');
    });

    it('treats a trailing slash as part of an exact path', () => {
      assert.equal(id('GET', '/s/'), 'slash');
      assert.equal(id('GET', '/s'), 'any');
    });

    it('returns undefined when nothing matches', () => {
      const { c: narrow } = compiled([route('only', '/only', { methods: ['GET'] })]);
      assert.equal(narrow.matchRoute('POST', 'h', '/only'), undefined);
      assert.equal(narrow.matchRoute('GET', 'h', '/only/'), undefined);
    });
  });

  describe('subjectAllowed', () => {
    const { c } = compiled([route('a', '/a')]);
    const cases: Array<[string, string, boolean]> = [
      ['spiffe://example.org/ns/prod/sa/orders', 'spiffe://example.org/ns/prod/sa/orders', true],
      ['spiffe://example.org/ns/prod/sa/orders', 'spiffe://example.org/ns/prod/sa/orders2', false],
      ['spiffe://example.org/ns/*/sa/orders', 'spiffe://example.org/ns/dev/sa/orders', true],
      ['spiffe://example.org/ns/*/sa/orders', 'spiffe://example.org/ns/a/b/sa/orders', false],
      ['spiffe://example.org/ns/*/sa/orders', 'spiffe://example.org/ns//sa/orders', false],
      ['spiffe://example.org/sa/orders-*', 'spiffe://example.org/sa/orders-eu', true],
      ['spiffe://example.org/sa/orders-*', 'spiffe://example.org/sa/orders-', false],
      ['spiffe://example.org/sa/*-*-x', 'spiffe://example.org/sa/a-b-x', true],
      ['spiffe://example.org/sa/*-*-x', 'spiffe://example.org/sa/a--x', false],
      ['spiffe://example.org/sa/a*a', 'spiffe://example.org/sa/aa', false],
      ['spiffe://example.org/sa/a*a', 'spiffe://example.org/sa/aba', true],
      ['spiffe://example.org/**', 'spiffe://example.org/anything/at/all', true],
      ['spiffe://example.org/**', 'spiffe://example.org/', false],
      ['spiffe://example.org/**', 'spiffe://example.org', false],
      ['spiffe://example.org/**', 'spiffe://example.org.evil/x', false],
      ['spiffe://*/ns/x/**', 'spiffe://td.example/ns/x/sa/y', true],
      ['spiffe://*/ns/x/**', 'spiffe://td.example/ns/y/sa/y', false],
      ['https://issuer.example/a.b', 'https://issuer.example/aXb', false],
    ];
    for (const [pattern, subject, expected] of cases) {
      it(`${expected ? 'matches' : 'does not match'} ${subject} against ${pattern}`, () => {
        assert.equal(c.subjectAllowed(pattern, subject), expected);
      });
    }

    it('agrees with a reference regular expression on random subjects', () => {
      const seg = fc.stringMatching(/^[ab*-]{0,4}$/).filter((s) => !s.includes('**'));
      fc.assert(
        fc.property(fc.array(seg, { minLength: 1, maxLength: 3 }), fc.boolean(), fc.stringMatching(/^[ab/-]{0,10}$/), (segs, rest, subject) => {
          const pattern = segs.join('/') + (rest ? '/**' : '');
          const body = segs.map((s) => s.split('*').map((l) => l.replace(/[-]/g, '\\-')).join('[^/]+')).join('/');
          const re = new RegExp(`^${body}${rest ? '/.+' : ''}$`, 's');
          assert.equal(c.subjectAllowed(pattern, subject), re.test(subject), `${pattern} vs ${subject}`);
        }),
        { numRuns: 2000 },
      );
    });
  });
});
