import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { identityProblem, isAudience, isIdentityUri, isJti, isKid, isSpiffeId, isTrustDomain } from '../../core/src/identity.js';
import { printable } from '../../core/src/printable.js';
import { parseStrictJsonObject } from '../../core/src/strict-json.js';
import { compileSubjectPattern, subjectPatternProblem } from '../../core/src/bundle/lib/rules.js';
import { ROUTE_ID, HEADER_NAME, METHOD, VISIBLE } from '../../core/src/bundle/lib/rules.js';

/** Every character the "no control character" rule names: C0, DEL, C1, U+2028, U+2029. */
const CONTROLS: string[] = [
  ...Array.from({ length: 0x20 }, (_, i) => String.fromCharCode(i)),
  '\x7f',
  ...Array.from({ length: 0x20 }, (_, i) => String.fromCharCode(0x80 + i)),
  '\u2028',
  '\u2029',
];
/** Whitespace a lenient trim or parser might drop. */
const SPACES = [' ', '\t', '\u00a0', '\ufeff', '\u1680', '\u2000', '\u200b', '\u3000'];

const TD_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789.-_'.split('');
const SEG_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_'.split('');
const trustDomain = fc.string({ unit: fc.constantFrom(...TD_CHARS), minLength: 1, maxLength: 20 });
const segment = fc.string({ unit: fc.constantFrom(...SEG_CHARS), minLength: 1, maxLength: 8 }).filter((s) => s !== '.' && s !== '..');
const spiffeId = fc.tuple(trustDomain, fc.array(segment, { maxLength: 5 })).map(([td, segs]) => `spiffe://${td}${segs.map((s) => `/${s}`).join('')}`);

describe('identities (docs/transcript-v1.md §4.2)', () => {
  describe('SPIFFE IDs', () => {
    const valid = ['spiffe://example.org', 'spiffe://example.org/ns/payments/sa/client', 'spiffe://a_b-c.d/x.y/Z_9', 'spiffe://td/...', 'spiffe://td/.a'];
    const invalid = [
      'SPIFFE://example.org/x',
      'Spiffe://example.org/x',
      'spiffe://Example.org/x',
      'spiffe://example.org:8443/x',
      'spiffe://user@example.org/x',
      'spiffe://example.org/',
      'spiffe://example.org/a//b',
      'spiffe://example.org/a/./b',
      'spiffe://example.org/a/../b',
      'spiffe://example.org/..',
      'spiffe://example.org/a/%2E%2E/b',
      'spiffe://example.org/b%61d',
      'spiffe://example.org/a?x=1',
      'spiffe://example.org/a#x',
      'spiffe://example.org/a b',
      'spiffe:///a',
      'spiffe://',
      'spiffe:example.org/a',
      'spiffe://example.org/a\n',
      `spiffe://${'a'.repeat(256)}/x`,
      `spiffe://example.org/${'a'.repeat(2048)}`,
    ];
    for (const v of valid) it(`accepts ${JSON.stringify(v)}`, () => assert.equal(isIdentityUri(v), true));
    for (const v of invalid) {
      it(`refuses ${JSON.stringify(v.slice(0, 60))}`, () => {
        assert.equal(isIdentityUri(v), false);
        assert.equal(isSpiffeId(v), false);
        assert.equal(typeof identityProblem(v), 'string');
      });
    }

    it('accepts every ID built from the SPIFFE character sets without dot or empty segments', () => {
      fc.assert(fc.property(spiffeId, (id) => assert.equal(isIdentityUri(id), true, id)), { numRuns: 2000 });
    });

    it('refuses every ID with a dot, empty or percent-encoded segment, wherever it sits', () => {
      const bad = fc.constantFrom('.', '..', '', '%2E', '%2e%2E', 'b%61d', '%41', '%2F');
      fc.assert(
        fc.property(trustDomain, fc.array(segment, { maxLength: 3 }), bad, fc.array(segment, { maxLength: 3 }), (td, before, b, after) => {
          const id = `spiffe://${td}${[...before, b, ...after].map((s) => `/${s}`).join('')}`;
          assert.equal(isIdentityUri(id), false, id);
        }),
        { numRuns: 2000 },
      );
    });
  });

  describe('other URIs', () => {
    const valid = [
      'https://issuer.example.com',
      'https://issuer.example.com/',
      'https://issuer.example.com:8443/tenant/a',
      'http://[2001:db8::1]:8080/x',
      'https://h/caf%C3%A9',
      'https://h/100%25',
      'https://h/a//b',
      'urn:example:workload:7',
      'mailto:ops@example.com',
    ];
    const invalid = [
      'issuer.example.com',
      'HTTPS://issuer.example.com',
      'https://Issuer.example.com',
      'https://issuer.example.com:443',
      'https://issuer.example.com:443/x',
      'http://issuer.example.com:80/x',
      'https://issuer.example.com:0443',
      'https://issuer.example.com:',
      'https://user@issuer.example.com',
      'https://issuer.example.com/a/../b',
      'https://issuer.example.com/a/./b',
      'https://issuer.example.com/..',
      'https://h/%7Euser',
      'https://h/%41',
      'https://h/caf%c3%a9',
      'https://h/%zz',
      'https://h/café',
      'https://h/?q=1',
      'https://h/#f',
      'https://h/a b',
      'https://h/a"b',
      'https://',
      'https:///x',
      'x:',
      ':x',
      '',
    ];
    for (const v of valid) it(`accepts ${JSON.stringify(v)}`, () => assert.equal(isIdentityUri(v), true));
    for (const v of invalid) {
      it(`refuses ${JSON.stringify(v)}`, () => {
        assert.equal(isIdentityUri(v), false);
        assert.equal(typeof identityProblem(v), 'string');
      });
    }
  });

  it('refuses an identity with any control character or whitespace inserted anywhere', () => {
    const base = fc.oneof(spiffeId, fc.constantFrom('https://issuer.example.com/x', 'urn:example:a'));
    fc.assert(
      fc.property(base, fc.constantFrom(...CONTROLS, ...SPACES), fc.nat(), (id, c, at) => {
        const i = at % (id.length + 1);
        const v = id.slice(0, i) + c + id.slice(i);
        assert.equal(isIdentityUri(v), false, JSON.stringify(v));
        assert.equal(isTrustDomain(v), false);
        assert.equal(isAudience(v), false);
        assert.equal(isKid(v), false);
      }),
      { numRuns: 3000 },
    );
  });

  it('a trailing line feed never matches: every anchored pattern matches the whole string', () => {
    // JavaScript `$` without the m flag is the end of input only (ECMA-262 Assertion); a Python
    // re.match with `$` would accept these.
    for (const [re, v] of [
      [ROUTE_ID, 'files'],
      [HEADER_NAME, 'content-type'],
      [METHOD, 'GET'],
      [VISIBLE, 'k1'],
    ] as const) {
      assert.equal(re.test(v), true);
      assert.equal(re.test(`${v}\n`), false, `${re}`);
      assert.equal(re.flags.includes('m'), false);
    }
    for (const v of ['spiffe://example.org/a', 'https://h/a', 'example.org']) {
      assert.equal(isIdentityUri(`${v}\n`), false);
      assert.equal(isTrustDomain(`${v}\n`), false);
    }
    assert.equal(isAudience('aud\n'), false);
    assert.equal(isKid('k1\n'), false);
  });

  it('trust domains, audiences and kids have one length unit', () => {
    assert.equal(isTrustDomain('a'.repeat(255)), true);
    assert.equal(isTrustDomain('a'.repeat(256)), false);
    assert.equal(isTrustDomain('Example.org'), false);
    assert.equal(isTrustDomain('example.org:443'), false);
    assert.equal(isKid('k'.repeat(256)), true);
    assert.equal(isKid('k'.repeat(257)), false);
    assert.equal(isKid('é'), false);
    assert.equal(isAudience('a'.repeat(1024)), true);
    assert.equal(isAudience('a'.repeat(1025)), false);
  });
});

describe('subject patterns (docs/bundle.md §1.2.2)', () => {
  const good = ['spiffe://example.org/ns/*/sa/*', 'spiffe://example.org/**', 'spiffe://example.org/sa/orders-*', 'https://issuer.example.com/u/*', 'urn:example:*'];
  const bad: [string, RegExp][] = [
    ['spiffe://*/ns/a', /only for path segments/],
    ['spiffe://exa*.org/ns/a', /only for path segments/],
    ['spiffe://**', /only for path segments/],
    ['https://*.example.com/x', /only for path segments/],
    ['sp*ffe://example.org/a', /only for path segments/],
    ['spiffe://example.org/ns/../sa/*', /"\." or "\.\."|SPIFFE ID path/],
    ['spiffe://example.org/ns/b%61d/*', /SPIFFE ID path/],
    ['spiffe://example.org/a/**/b', /final/],
    ['spiffe://example.org/ns//*', /SPIFFE ID path/],
    ['spiffe://Example.org/*', /trust domain/],
    ['https://h/*?x=1', /query/],
    ['spiffe://example.org/a b/*', /visible ASCII/],
    ['spiffe://example.org/a\n', /visible ASCII/],
  ];
  for (const p of good) it(`accepts ${p}`, () => assert.equal(subjectPatternProblem(p), undefined));
  for (const [p, why] of bad) it(`refuses ${JSON.stringify(p)}`, () => assert.match(subjectPatternProblem(p) ?? '', why));

  it('no "*" or "/**" ever matches into or across a dot segment, whatever the subject', () => {
    const patterns = ['spiffe://example.org/ns/*/sa/*', 'spiffe://example.org/**', 'spiffe://example.org/ns/*', 'spiffe://example.org/ns/x*'].map(compileSubjectPattern);
    const part = fc.constantFrom('.', '..', 'a', 'sa', 'ns', 'x.', '.x', '..x');
    fc.assert(
      fc.property(fc.array(part, { minLength: 1, maxLength: 5 }), (parts) => {
        const subject = `spiffe://example.org/${parts.join('/')}`;
        const hasDot = parts.some((p) => p === '.' || p === '..');
        if (hasDot) for (const m of patterns) assert.equal(m(subject), false, subject);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('the JSON profile (docs/transcript-v1.md §2)', () => {
  const parse = (text: string) => parseStrictJsonObject(Buffer.from(text, 'utf8'));
  const refused = [
    '{"iat":1767225595.0}',
    '{"iat":1.7e9}',
    '{"iat":17E8}',
    '{"iat":-0}',
    '{"iat":-1}',
    '{"iat":9007199254740992}',
    '{"iat":12345678901234567}',
    '{"a":1,"a":1}',
    '{"a":{"b":1,"b":2}}',
    '{"a":[{"b":1,"b":1}]}',
    '{"a":{"x":1},"a":2}',
    '{"a":1,"\\u0061":2}',
    '{"__proto__":1,"__proto__":2}',
    '[]',
    '{',
  ];
  const accepted: [string, Record<string, unknown>][] = [
    ['{"iat":1767225595}', { iat: 1767225595 }],
    ['{"iat":0}', { iat: 0 }],
    ['{"iat":9007199254740991}', { iat: 9007199254740991 }],
    ['{"s":"1.5e9 -0 \\" : ,","t":true,"f":false,"n":null}', { s: '1.5e9 -0 " : ,', t: true, f: false, n: null }],
    ['{ "a" : [ 1 , {"b":2} ] }', { a: [1, { b: 2 }] }],
    ['{"a":{"a":{"a":1}}}', { a: { a: { a: 1 } } }],
  ];
  for (const t of refused) it(`refuses ${t}`, () => assert.equal(parse(t), undefined));
  for (const [t, want] of accepted) it(`accepts ${t}`, () => assert.deepEqual(JSON.parse(JSON.stringify(parse(t))), want));

  it('refuses text that is not valid UTF-8 instead of repairing it', () => {
    assert.equal(parseStrictJsonObject(Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d])), undefined);
    assert.equal(parseStrictJsonObject(Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d])), undefined);
  });

  it('agrees with JSON.parse on objects without duplicates or non-plain numbers', () => {
    const key = fc.string({ maxLength: 4 }).filter((k) => k !== '__proto__');
    const leaf = fc.oneof(fc.nat({ max: 2 ** 53 - 1 }), fc.string({ maxLength: 6 }), fc.boolean(), fc.constant(null));
    const { tree } = fc.letrec((tie) => ({
      tree: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('tree'), { maxLength: 3 }), fc.dictionary(key, tie('tree'), { maxKeys: 4 })),
    }));
    fc.assert(
      fc.property(fc.dictionary(key, tree, { maxKeys: 5 }), (obj) => {
        const t = JSON.stringify(obj);
        assert.deepEqual(JSON.parse(JSON.stringify(parseStrictJsonObject(Buffer.from(t, 'utf8')))), JSON.parse(t), t);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses a duplicated member wherever it is inserted', () => {
    fc.assert(
      fc.property(fc.constantFrom('{"a":1,"b":{"c":[1,{"d":2}]}}', '{"iss":"x","cnf":{"jwk":{"kty":"OKP","x":"y"}}}'), fc.nat(), (base, at) => {
        // Find the objects' openings and repeat that object's first member right after it.
        const opens = [...base.matchAll(/\{"([^"]+)":/g)];
        const m = opens[at % opens.length]!;
        const first = new RegExp(`^\\{("${m[1]}":(?:"[^"]*"|[0-9]+|\\{[^{}]*\\}|\\[[^\\]]*\\]))`).exec(base.slice(m.index));
        if (!first) return;
        const t = `${base.slice(0, m.index! + 1)}${first[1]},${base.slice(m.index! + 1)}`;
        assert.equal(parseStrictJsonObject(Buffer.from(t, 'utf8')), undefined, t);
      }),
      { numRuns: 500 },
    );
  });
});

describe('printable (core/src/printable.ts)', () => {
  it('replaces every control character by its percent-escaped UTF-8 and leaves other text alone', () => {
    assert.equal(printable('a\nb'), 'a%0Ab');
    assert.equal(printable('\u0085\u2028\u2029\x7f\x00'), '%C2%85%E2%80%A8%E2%80%A9%7F%00');
    assert.equal(printable('café 100% "x"'), 'café 100% "x"');
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 30 }), (s) => {
        const out = printable(s);
        for (const c of CONTROLS) assert.equal(out.includes(c), false);
        assert.equal(printable(out), out);
      }),
      { numRuns: 3000 },
    );
  });
});

/**
 * An independent reading of docs/transcript-v1.md §4.2, written as a character walk rather than a
 * regular expression, to check core/src/identity.ts against on random URIs.
 */
function referenceIsIdentity(v: string): boolean {
  if (v.length === 0 || v.length > 2048) return false;
  for (const ch of v) if (ch < '!' || ch > '~') return false;
  const colon = v.indexOf(':');
  if (colon < 1) return false;
  const scheme = v.slice(0, colon);
  if (!/^[a-z][a-z0-9+.-]*$/.test(scheme)) return false;
  let rest = v.slice(colon + 1);
  if (scheme === 'spiffe') {
    if (!rest.startsWith('//')) return false;
    const parts = rest.slice(2).split('/');
    const td = parts[0]!;
    if (td.length < 1 || td.length > 255 || [...td].some((c) => !'abcdefghijklmnopqrstuvwxyz0123456789._-'.includes(c))) return false;
    return parts.slice(1).every((seg) => seg !== '' && seg !== '.' && seg !== '..' && [...seg].every((c) => /[A-Za-z0-9._-]/.test(c)));
  }
  if (rest.includes('?') || rest.includes('#') || rest === '') return false;
  const pchar = (s: string): boolean => {
    for (let i = 0; i < s.length; i++) {
      const c = s[i]!;
      if (c === '%') {
        const hex = s.slice(i + 1, i + 3);
        if (!/^[0-9A-F]{2}$/.test(hex)) return false;
        const ch = String.fromCharCode(parseInt(hex, 16));
        if (/[A-Za-z0-9\-._~]/.test(ch)) return false;
        i += 2;
      } else if (!/[A-Za-z0-9\-._~!$&'()*+,;=:@]/.test(c)) return false;
    }
    return true;
  };
  const pathOk = (path: string): boolean => path.split('/').every((seg) => seg !== '.' && seg !== '..' && pchar(seg));
  if (rest.startsWith('//')) {
    rest = rest.slice(2);
    const slash = rest.indexOf('/');
    const authority = slash === -1 ? rest : rest.slice(0, slash);
    const path = slash === -1 ? '' : rest.slice(slash);
    let host = authority;
    let port: string | undefined;
    if (authority.startsWith('[')) {
      const close = authority.indexOf(']');
      if (close === -1) return false;
      host = authority.slice(0, close + 1);
      if (!/^\[[0-9a-f:.]+\]$/.test(host)) return false;
      const after = authority.slice(close + 1);
      if (after !== '') {
        if (!after.startsWith(':')) return false;
        port = after.slice(1);
      }
    } else {
      const c = authority.lastIndexOf(':');
      if (c !== -1) {
        host = authority.slice(0, c);
        port = authority.slice(c + 1);
      }
      if (host === '' || host.includes('@') || host.includes(':') || /[A-Z]/.test(host.replace(/%[0-9A-F]{2}/g, '')) || !pchar(host)) return false;
    }
    if (port !== undefined) {
      if (!/^[1-9][0-9]{0,4}$/.test(port)) return false;
      if ((port === '443' && (scheme === 'https' || scheme === 'wss')) || (port === '80' && (scheme === 'http' || scheme === 'ws'))) return false;
    }
    return path === '' || pathOk(path.slice(1));
  }
  return pathOk(rest.startsWith('/') ? rest.slice(1) : rest);
}

describe('identity syntax against an independent reading of the spec', () => {
  it('agrees on random URIs built from hostile parts (property)', () => {
    const scheme = fc.constantFrom('https', 'http', 'wss', 'urn', 'spiffe', 'HTTPS', 'Spiffe', 'x-1.2+3', '1a');
    const host = fc.constantFrom('example.org', 'Example.org', 'a_b-c', '[2001:db8::1]', '[::G]', 'h%C3%A9', 'h%c3', 'u@h', '', 'h:443', 'h:80', 'h:0', 'h:08', 'h:8443', 'h:');
    const seg = fc.constantFrom('a', 'A', '.', '..', '', '%2E', '%41', '%7e', '%7E', '%C3%A9', '%c3%a9', '%zz', '~x', "!$&'()*+,;=", ':@', 'a b', 'a?b', 'a#b', 'é', '*', 'x\n');
    const uri = fc.tuple(scheme, fc.boolean(), host, fc.array(seg, { maxLength: 4 }), fc.boolean()).map(
      ([s, hier, h, segs, lead]) => (hier ? `${s}://${h}${segs.map((x) => `/${x}`).join('')}` : `${s}:${lead ? '/' : ''}${segs.join('/')}`),
    );
    fc.assert(fc.property(uri, (u) => assert.equal(isIdentityUri(u), referenceIsIdentity(u), u)), { numRuns: 20000 });
  });
});

describe('isJti (passport, DPoP access token and DPoP proof jti)', () => {
  it('accepts 1-128 visible ASCII characters and nothing else', () => {
    assert.equal(isJti('a'), true);
    assert.equal(isJti('~'.repeat(128)), true);
    assert.equal(isJti('a'.repeat(129)), false);
    assert.equal(isJti(''), false);
    for (const bad of ['a b', 'a\n', 'é', '\x7f']) assert.equal(isJti(bad), false, JSON.stringify(bad));
    for (const bad of [1, null, undefined, ['a'], { a: 1 }]) assert.equal(isJti(bad), false, String(bad));
  });
});
