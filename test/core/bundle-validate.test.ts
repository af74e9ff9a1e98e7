import assert from 'node:assert/strict';
import { validateBundle } from '../../core/src/bundle/index.js';
import { exportPrivateJwk, generateSigningKey } from '../../core/src/keys.js';
import { sha256b64url } from '../../core/src/encoding.js';
import { be32, edNonCanonical, edNotOnCurve, otherSpellings, P256_P, smallOrderEncodings, trailingBitSpellings } from '../support/hostile-keys.js';

const NOW = 1_700_000_000;
const ISSUER = generateSigningKey('EdDSA');
const P256 = generateSigningKey('ES256');

function sample(): Record<string, any> {
  return {
    format: 'trustplane-bundle-v1',
    serial: 7,
    issued_at: NOW - 60,
    expires_at: NOW + 86_400,
    keys: [
      { kid: ISSUER.kid, issuer: 'https://issuer.example', trust_domain: 'example.org', max_key_binding: 'software', jwk: ISSUER.publicJwk },
      { kid: 'p256', issuer: 'https://kms.example', trust_domain: 'example.org', max_key_binding: 'remote_kms', jwk: { kty: 'EC', crv: 'P-256', x: P256.publicJwk.x, y: P256.publicJwk.y } },
    ],
    routes: [
      {
        id: 'orders-read',
        match: { methods: ['GET', 'HEAD'], path: '/orders/*', authority: 'api.example.com' },
        audience: 'orders-api',
        allowed_sources: [{ issuer: 'https://issuer.example', trust_domain: 'example.org', subject: 'spiffe://example.org/ns/*/sa/caller', min_key_binding: 'software' }],
        required_key_binding: 'software',
        freshness_class: 'bounded',
        bound_headers: ['content-type', 'x-request-id'],
        max_passport_lifetime_s: 120,
        require_peer_principal: false,
        mode: 'dry_run',
        body: { mode: 'bound', max_bytes: 65_536 },
      },
      {
        id: 'admin',
        match: { path: '/admin/**' },
        audience: 'orders-api',
        allowed_sources: [{ issuer: 'https://kms.example', trust_domain: 'example.org', subject: 'spiffe://example.org/admin/**' }],
        required_key_binding: 'remote_kms',
        freshness_class: 'realtime',
        bound_headers: [],
      },
    ],
    revocations: { kids: ['old-kid'], jtis: [], subjects: [], cnf_thumbprints: [] },
  };
}

function problemsOf(doc: unknown): string[] {
  const r = validateBundle(doc);
  assert.equal(r.ok, false, 'expected the document to be refused');
  return r.ok ? [] : r.problems;
}

describe('validateBundle', () => {
  it('accepts a complete document and returns a frozen copy with exactly its members', () => {
    const doc = sample();
    const r = validateBundle(doc);
    assert.ok(r.ok, r.ok ? '' : r.problems.join('\n'));
    assert.deepEqual(r.bundle, doc);
    assert.notEqual(r.bundle, doc);
    assert.ok(Object.isFrozen(r.bundle) && Object.isFrozen(r.bundle.routes[0]!.match.methods));
    assert.equal('signature' in r.bundle, false);
  });

  it('reports every problem of a broken document at once, each at its JSON pointer', () => {
    const doc = sample();
    doc.format = 'trustplane-bundle-v2';
    doc.serial = 0;
    doc.expires_at = doc.issued_at;
    doc.extra = true;
    doc.keys[1].kid = ISSUER.kid;
    doc.keys[1].issuer = 'not a uri';
    doc.keys[1].max_key_binding = 'titanium';
    doc.keys[0].jwk = { ...ISSUER.publicJwk, kid: 'other' };
    doc.routes[0].id = 'Orders';
    doc.routes[0].match.path = '/orders/../admin';
    doc.routes[0].match.methods = ['get', 'GET', 'GET'];
    doc.routes[0].match.authority = 'API.example.com';
    doc.routes[0].audience = '';
    doc.routes[0].allowed_sources[0].subject = '';
    doc.routes[0].allowed_sources[0].extra = 1;
    doc.routes[0].freshness_class = 'sometimes';
    doc.routes[0].bound_headers = ['Content-Type', ':path', 'cookie', 'x-trustplane-proof', 'te', 'x-a', 'x-a'];
    doc.routes[0].max_passport_lifetime_s = 3601;
    doc.routes[0].mode = 'audit';
    doc.routes[0].body = { mode: 'empty', max_bytes: 10 };
    doc.routes[1].allowed_sources = [];
    delete doc.routes[1].required_key_binding;
    doc.revocations.jtis = ['', 5];
    delete doc.revocations.subjects;
    doc.signature = { alg: 'HS256', kid: 'k', value: 'a+b=' };

    assert.deepEqual(problemsOf(doc), [
      '/extra: unknown member',
      '/format: must be "trustplane-bundle-v1"',
      '/serial: must be a positive safe integer',
      '/expires_at: must be later than issued_at',
      '/keys/0/jwk/kid: must equal the key\'s kid when present',
      `/keys/1/kid: duplicates /keys/0/kid`,
      '/keys/1/issuer: must be ASCII without whitespace or control characters',
      '/keys/1/max_key_binding: must be one of software, remote_kms, hardware_local, attested_workload',
      '/routes/0/id: must match ^[a-z0-9][a-z0-9._-]{0,63}$',
      '/routes/0/match/path: dot segment in path',
      '/routes/0/match/methods/0: must be an upper-case HTTP method token',
      '/routes/0/match/methods/2: duplicate method',
      '/routes/0/match/authority: must be in canonical form: "api.example.com"',
      '/routes/0/audience: must be a non-empty string',
      '/routes/0/allowed_sources/0/extra: unknown member',
      '/routes/0/allowed_sources/0/subject: must be a non-empty string',
      '/routes/0/freshness_class: must be one of realtime, bounded, offline-ok',
      '/routes/0/bound_headers/0: must be a lower-case header name token',
      '/routes/0/bound_headers/1: pseudo-headers cannot be bound',
      '/routes/0/bound_headers/2: cookie cannot be bound (credential, hop-by-hop, host or cookie header)',
      '/routes/0/bound_headers/3: x-trustplane-proof cannot be bound (credential, hop-by-hop, host or cookie header)',
      '/routes/0/bound_headers/4: te cannot be bound (credential, hop-by-hop, host or cookie header)',
      '/routes/0/bound_headers/6: duplicate header name',
      '/routes/0/max_passport_lifetime_s: must be an integer from 1 to 3600',
      '/routes/0/mode: must be "enforce" or "dry_run"',
      '/routes/0/body/max_bytes: has no meaning when mode is "empty"',
      '/routes/1/required_key_binding: is required',
      '/routes/1/allowed_sources: must be a non-empty array',
      '/revocations/subjects: is required',
      '/revocations/jtis/0: must be a non-empty string',
      '/revocations/jtis/1: must be a non-empty string',
      '/signature/alg: must be "EdDSA" or "ES256"',
      '/signature/value: must be unpadded base64url',
    ]);
  });

  it('accepts body.hash_source "buffered" and "filter" and refuses any other spelling (docs/bundle.md §1.2.3)', () => {
    for (const ok of ['buffered', 'filter']) {
      const doc = sample();
      doc.routes[0].body = { mode: 'bound', hash_source: ok };
      const r = validateBundle(doc);
      assert.ok(r.ok, ok);
      assert.equal(r.bundle.routes[0]!.body?.hash_source, ok);
    }
    for (const bad of ['Filter', 'FILTER', 'filter ', 'header', '', 'metadata', 1, null, true]) {
      const doc = sample();
      doc.routes[0].body = { mode: 'empty', hash_source: bad };
      assert.deepEqual(problemsOf(doc), ['/routes/0/body/hash_source: must be "buffered" or "filter"'], String(bad));
    }
  });

  it('refuses a non-object document and names every missing member', () => {
    assert.deepEqual(problemsOf([]), ['/: must be an object']);
    assert.deepEqual(problemsOf({}), [
      '/format: is required',
      '/serial: is required',
      '/issued_at: is required',
      '/expires_at: is required',
      '/keys: is required',
      '/routes: is required',
      '/revocations: is required',
    ]);
  });

  it('refuses private, foreign and malformed JWKs', () => {
    const doc = sample();
    doc.keys[0].jwk = exportPrivateJwk(ISSUER);
    doc.keys[1].jwk = { kty: 'RSA', n: 'x', e: 'AQAB' };
    doc.keys.push({ ...doc.keys[1], kid: 'short', jwk: { kty: 'OKP', crv: 'Ed25519', x: 'abc' } });
    doc.keys.push({ ...doc.keys[1], kid: 'alg', jwk: { ...ISSUER.publicJwk, kid: 'alg', alg: 'ES256' } });
    assert.deepEqual(problemsOf(doc), [
      `/keys/0/jwk: key "${doc.keys[0].kid}": a public key must not carry the private member "d"`,
      `/keys/1/jwk: key "${doc.keys[1].kid}": JWK "kty" must be "OKP" (Ed25519) or "EC" (P-256)`,
      '/keys/2/jwk: key "short": "x" must be 32 bytes of canonical base64url (43 characters of A-Z a-z 0-9 - _, no padding, unused bits zero)',
      '/keys/3/jwk: key "alg": "alg" must be "EdDSA" for this key type',
    ]);
  });

  it('accepts proof_kinds and min_binding as lists of known, unique names, and names every problem', () => {
    const good = sample();
    good.routes[0].proof_kinds = ['transcript-v1'];
    good.routes[0].min_binding = ['method', 'path'];
    good.routes[1].min_binding = [];
    assert.equal(validateBundle(good).ok, true);
    const doc = sample();
    doc.routes[0].proof_kinds = ['transcript-v1', 'transcript-v1', 'jwt-bearer'];
    doc.routes[0].min_binding = ['method', 'cookies', 'method'];
    doc.routes[1].proof_kinds = [];
    const r = validateBundle(doc);
    assert.deepEqual(!r.ok && r.problems, [
      '/routes/0/proof_kinds/1: duplicate name',
      '/routes/0/proof_kinds/2: must be one of transcript-v1, dpop',
      '/routes/0/min_binding/1: must be one of method, authority, path, query, headers, body',
      '/routes/0/min_binding/2: duplicate name',
      '/routes/1/proof_kinds: must be a non-empty array',
    ]);
  });

  it('accepts reusable_passport with an integer max_lifetime_s from 1 to 3600, and nothing else in it', () => {
    const good = sample();
    good.routes[0].reusable_passport = { max_lifetime_s: 900 };
    assert.equal(validateBundle(good).ok, true);
    const doc = sample();
    doc.routes[0].reusable_passport = { max_lifetime_s: 3601, reuse: true };
    doc.routes[1].reusable_passport = {};
    const r = validateBundle(doc);
    assert.deepEqual(!r.ok && r.problems, [
      '/routes/0/reusable_passport/reuse: unknown member',
      '/routes/0/reusable_passport/max_lifetime_s: must be an integer from 1 to 3600',
      '/routes/1/reusable_passport/max_lifetime_s: is required',
    ]);
  });

  it('accepts override_headers as a list of unique, bindable, lower-case names (empty turns the check off)', () => {
    for (const ok of [[], ['x-http-method-override'], ['x-verb', 'forwarded']]) {
      const doc = sample();
      doc.routes[0].override_headers = ok;
      assert.equal(validateBundle(doc).ok, true, JSON.stringify(ok));
    }
    const doc = sample();
    doc.routes[0].override_headers = ['X-HTTP-Method', ':method', 'x-trustplane-route', 'cookie', 'x-a', 'x-a', 7];
    doc.routes[1].override_headers = 'x-http-method';
    const r = validateBundle(doc);
    assert.equal(r.ok, false);
    assert.deepEqual(!r.ok && r.problems, [
      '/routes/0/override_headers/0: must be a lower-case header name token',
      '/routes/0/override_headers/1: pseudo-headers cannot be bound',
      '/routes/0/override_headers/2: cannot be bound by a proof, so it cannot be an override header',
      '/routes/0/override_headers/3: cookie cannot be bound (credential, hop-by-hop, host or cookie header)',
      '/routes/0/override_headers/5: duplicate header name',
      '/routes/0/override_headers/6: must be a string',
      '/routes/1/override_headers: must be an array',
    ]);
    const long = sample();
    long.routes[0].override_headers = Array.from({ length: 65 }, (_, i) => `x-h${i}`);
    const l = validateBundle(long);
    assert.deepEqual(!l.ok && l.problems, ['/routes/0/override_headers: must name at most 64 headers']);
  });

  it('refuses each class of hostile trust key through the one import path, naming the key', () => {
    const x = ISSUER.publicJwk.x;
    const y = P256.publicJwk.y!;
    const cases: Array<[Record<string, unknown>, string]> = [
      ...trailingBitSpellings(x).map((s): [Record<string, unknown>, string] => [{ kty: 'OKP', crv: 'Ed25519', x: s }, '"x" must be 32 bytes of canonical base64url']),
      ...otherSpellings(x).map((s): [Record<string, unknown>, string] => [{ kty: 'OKP', crv: 'Ed25519', x: s }, '"x" must be 32 bytes of canonical base64url']),
      ...smallOrderEncodings().map((e): [Record<string, unknown>, string] => [{ kty: 'OKP', crv: 'Ed25519', x: e.x }, e.name.includes('non-canonical') ? '"x" is a non-canonical Ed25519 encoding' : '"x" is an Ed25519 point of small order']),
      [{ kty: 'OKP', crv: 'Ed25519', x: edNonCanonical()[0]!.x }, '"x" is a non-canonical Ed25519 encoding (y >= p)'],
      [{ kty: 'OKP', crv: 'Ed25519', x: edNotOnCurve().x }, '"x" is not a point of Ed25519'],
      [{ kty: 'EC', crv: 'P-256', x: P256.publicJwk.x, y: be32(3n) }, '"x"/"y" is not a point of P-256'],
      [{ kty: 'EC', crv: 'P-256', x: be32(0n), y: be32(0n) }, '"x"/"y" is not a point of P-256'],
      [{ kty: 'EC', crv: 'P-256', x: P256.publicJwk.x, y: be32(P256_P) }, '"x"/"y" must be below the P-256 field prime'],
      [{ ...P256.publicJwk, d: 'AAAA' }, 'a public key must not carry the private member "d"'],
      [{ ...ISSUER.publicJwk, k: 'c2VjcmV0' }, 'a public key must not carry the private member "k"'],
      [{ kty: 'EC', crv: 'P-256', x: P256.publicJwk.x, y: trailingBitSpellings(y)[1] }, '"y" must be 32 bytes of canonical base64url'],
    ];
    for (const [jwk, message] of cases) {
      const doc = sample();
      doc.keys[1].jwk = jwk;
      const problems = problemsOf(doc);
      assert.equal(problems.length, 1, JSON.stringify(problems));
      assert.ok(problems[0]!.startsWith(`/keys/1/jwk: key "p256": ${message}`), `${JSON.stringify(jwk)} → ${problems[0]}`);
    }
  });

  it('refuses a revoked cnf thumbprint that is not a canonical RFC 7638 thumbprint (it could never match)', () => {
    const doc = sample();
    const t = sha256b64url('{}');
    doc.revocations = { kids: [], jtis: [], subjects: [], cnf_thumbprints: [t, `${t}=`, trailingBitSpellings(t)[0], 'thumb'] };
    assert.deepEqual(problemsOf(doc), [1, 2, 3].map((i) => `/revocations/cnf_thumbprints/${i}: must be an RFC 7638 SHA-256 thumbprint: 43 characters of canonical base64url`));
  });

  it('accepts only route paths that are already in transcript-v1 canonical form', () => {
    const cases: Array<[string, string | undefined]> = [
      ['/', undefined],
      ['/orders', undefined],
      ['/orders/', undefined],
      ['/orders/*', undefined],
      ['/**', undefined],
      ['/a/%C3%A9/b', undefined],
      ["/a/:@!$&'()+,=", undefined],
      ['/a/b;c', 'path parameter (";") in path'],
      ['/a/%3B', 'encoded path parameter (";") in path'],
      ['orders', 'must start with "/"'],
      ['/a//b', 'empty segment ("//") in path'],
      ['/a/./b', 'dot segment in path'],
      ['/%2E%2E/x', 'dot segment in path'],
      ['/a/*/b', '"*" is only allowed as a final "/*" or "/**" segment'],
      ['/a/b*', '"*" is only allowed as a final "/*" or "/**" segment'],
      ['/a%2Fb', 'malformed or forbidden percent-escape in path (%2F, %5C and %00 are refused)'],
      ['/a?x=1', 'must be in canonical form: "/a%3Fx=1"'],
      ['/a/%c3%a9', 'must be in canonical form: "/a/%C3%A9"'],
      ['/a/é', 'must be in canonical form: "/a/%C3%A9"'],
      ['/%7Euser', 'must be in canonical form: "/~user"'],
    ];
    for (const [path, problem] of cases) {
      const doc = sample();
      doc.routes[1].match.path = path;
      const r = validateBundle(doc);
      if (problem === undefined) assert.ok(r.ok, `${path}: ${r.ok ? '' : r.problems.join()}`);
      else assert.deepEqual(r.ok ? [] : r.problems, [`/routes/1/match/path: ${problem}`], path);
    }
  });

  it('accepts only canonical authorities: lower case, default ports dropped', () => {
    const cases: Array<[string, string | undefined]> = [
      ['api.example.com', undefined],
      ['api.example.com:8443', undefined],
      ['[::1]:8080', undefined],
      ['api.example.com:443', 'must be in canonical form: "api.example.com"'],
      ['API.example.com', 'must be in canonical form: "api.example.com"'],
    ];
    for (const [authority, problem] of cases) {
      const doc = sample();
      doc.routes[1].match.authority = authority;
      const r = validateBundle(doc);
      if (problem === undefined) assert.ok(r.ok, `${authority}: ${r.ok ? '' : r.problems.join()}`);
      else assert.deepEqual(r.ok ? [] : r.problems, [`/routes/1/match/authority: ${problem}`], authority);
    }
    const bad = sample();
    bad.routes[1].match.authority = 'user@host';
    assert.equal(validateBundle(bad).ok, false);
  });

  it('refuses more bound headers than a proof may carry', () => {
    const doc = sample();
    doc.routes[1].bound_headers = Array.from({ length: 33 }, (_, i) => `x-h${i}`);
    assert.deepEqual(problemsOf(doc), ['/routes/1/bound_headers: must name at most 32 headers (the transcript limit)']);
  });

  it('refuses subject patterns with "**" anywhere but the end', () => {
    const doc = sample();
    doc.routes[0].allowed_sources.push({ issuer: 'https://issuer.example', trust_domain: 'example.org', subject: 'spiffe://example.org/**/x' });
    doc.routes[0].allowed_sources.push({ issuer: 'https://issuer.example', trust_domain: 'example.org', subject: 'spiffe://example.org/a b' });
    assert.deepEqual(problemsOf(doc), [
      '/routes/0/allowed_sources/1/subject: "**" is only allowed as a final "/**"',
      '/routes/0/allowed_sources/2/subject: must be visible ASCII without spaces',
    ]);
  });

  it('refuses two routes with the same id or the same match', () => {
    const doc = sample();
    doc.routes.push({ ...doc.routes[1], id: 'admin' });
    doc.routes.push({ ...doc.routes[1], id: 'admin-2' });
    assert.deepEqual(problemsOf(doc), [
      '/routes/2/id: duplicates /routes/1/id',
      '/routes/2/match: same match as /routes/1/match; this route could never be selected',
      '/routes/3/match: same match as /routes/1/match; this route could never be selected',
    ]);
  });

  it('escapes unknown member names as RFC 6901 pointers and treats __proto__ as a plain member', () => {
    const doc = JSON.parse(JSON.stringify(sample()).replace('"format"', '"a/b~c":1,"__proto__":{"x":1},"format"'));
    assert.deepEqual(problemsOf(doc), ['/a~1b~0c: unknown member', '/__proto__: unknown member']);
  });
});

describe('validateBundle: identities (docs/bundle.md §1.1, §1.2.2, §1.4)', () => {
  const cases: Array<[string, (d: Record<string, any>) => void, RegExp]> = [
    ['an issuer with a line feed', (d) => (d.keys[0].issuer = 'https://issuer.example\n'), /^\/keys\/0\/issuer: must be ASCII without whitespace or control characters$/],
    ['an issuer with an upper-case host', (d) => (d.keys[0].issuer = 'https://Issuer.example'), /^\/keys\/0\/issuer: the host must be lower case/],
    ['an issuer with the default port', (d) => (d.keys[0].issuer = 'https://issuer.example:443'), /^\/keys\/0\/issuer: the default port :443/],
    ['an issuer with a query', (d) => (d.keys[0].issuer = 'https://issuer.example/?t=1'), /^\/keys\/0\/issuer: an identity has no query or fragment$/],
    ['a trust domain with upper case', (d) => (d.keys[0].trust_domain = 'Example.org'), /^\/keys\/0\/trust_domain: must be 1-255 characters of a-z 0-9 \. - _/],
    ['a source trust domain with a port', (d) => (d.routes[0].allowed_sources[0].trust_domain = 'example.org:1'), /^\/routes\/0\/allowed_sources\/0\/trust_domain: must be 1-255/],
    ['a source issuer that is not a URI', (d) => (d.routes[0].allowed_sources[0].issuer = 'issuer'), /^\/routes\/0\/allowed_sources\/0\/issuer: must be an absolute URI/],
    ['a pattern with "*" in the trust domain', (d) => (d.routes[0].allowed_sources[0].subject = 'spiffe://*/ns/a'), /subject: "\*" and "\/\*\*" may stand only for path segments/],
    ['a pattern with a ".." segment', (d) => (d.routes[0].allowed_sources[0].subject = 'spiffe://example.org/ns/../sa/*'), /subject: with each "\*" standing for a segment's characters, SPIFFE ID path segments/],
    ['a pattern with an escape', (d) => (d.routes[0].allowed_sources[0].subject = 'spiffe://example.org/ns/b%61d/*'), /subject: with each "\*" standing/],
    ['a pattern with "**" inside', (d) => (d.routes[0].allowed_sources[0].subject = 'spiffe://example.org/**/sa'), /subject: "\*\*" is only allowed as a final "\/\*\*"$/],
    ['a pattern with a control character', (d) => (d.routes[0].allowed_sources[0].subject = 'spiffe://example.org/a\u0085/*'), /subject: must be visible ASCII without spaces$/],
    ['a revoked subject with an escape', (d) => (d.revocations.subjects = ['spiffe://example.org/ns/b%61d/sa/x']), /^\/revocations\/subjects\/0: SPIFFE ID path segments/],
    ['a revoked subject in upper case', (d) => (d.revocations.subjects = ['SPIFFE://example.org/x']), /^\/revocations\/subjects\/0: a SPIFFE ID starts with "spiffe:\/\/" in lower case$/],
    ['a revoked kid with a space', (d) => (d.revocations.kids = ['old kid']), /^\/revocations\/kids\/0: must be 1-256 visible ASCII characters/],
    ['a revoked jti of 129 characters', (d) => (d.revocations.jtis = ['j'.repeat(129)]), /^\/revocations\/jtis\/0: must be 1-128 visible ASCII characters/],
    ['an audience with a space', (d) => (d.routes[0].audience = 'orders api'), /^\/routes\/0\/audience: must be 1-1024 visible ASCII characters/],
    ['a kid with a non-ASCII character', (d) => (d.keys[1].kid = 'p256é'), /^\/keys\/1\/kid: must be 1-256 visible ASCII characters/],
  ];
  for (const [what, change, want] of cases) {
    it(`refuses ${what}, naming the problem`, () => {
      const doc = sample();
      change(doc);
      const problems = problemsOf(doc);
      assert.equal(problems.length, 1, problems.join('\n'));
      assert.match(problems[0]!, want);
    });
  }

  it('accepts canonical identities of every kind', () => {
    const doc = sample();
    doc.keys[0].issuer = 'urn:example:issuer';
    doc.routes[0].allowed_sources[0].issuer = 'urn:example:issuer';
    doc.routes[0].allowed_sources[0].subject = 'https://workloads.example.org:8443/team/*/svc-*';
    doc.revocations.subjects = ['spiffe://example.org/ns/bad/sa/x', 'https://workloads.example.org/caf%C3%A9'];
    const r = validateBundle(doc);
    assert.ok(r.ok, r.ok ? '' : r.problems.join('\n'));
  });
});
