import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import {
  buildTranscript,
  buildTranscriptForTarget,
  canonicalAuthority,
  canonicalPath,
  canonicalQuery,
  diagnoseMismatch,
  escapeText,
  fieldDigests,
  type TranscriptInput,
} from '../../core/src/transcript.js';
import { referenceAuthority, referenceLines, referencePath, referenceQuery } from '../support/transcript-reference.js';

const base: TranscriptInput = {
  method: 'POST',
  authority: 'api.example.com',
  pathAndQuery: '/v1/payments?b=2&a=1',
  headers: [['content-type', 'application/json']],
  bodySha256: '47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU',
  nonce: 'AAAAAAAAAAAAAAAAAAAAAAAA',
  audience: 'https://payments.example.com',
  routeId: 'payments-create',
  jti: 'jti-1',
  passportSha256: 'p'.repeat(43),
  ts: 1767225600,
  keyBinding: 'software',
  cnfJkt: 'k'.repeat(43),
};

describe('transcript-v1 canonical path', () => {
  const ok: [string, string][] = [
    ['/', '/'],
    ['/v1/payments', '/v1/payments'],
    ['/a/', '/a/'],
    ['/%7euser/%41b', '/~user/Ab'],
    ['/a%2fb'.replace('%2f', '%3a'), '/a%3Ab'],
    ['/caf\u00e9', '/caf%C3%A9'],
    ['/a b', '/a%20b'],
    ["/x!$&'()*+,=:@", "/x!$&'()*+,=:@"],
    ['/%e2%82%ac', '/%E2%82%AC'],
    ['/100%25', '/100%25'],
    ['/a/%25zz', '/a/%25zz'],
    ['/a/b.c./.d/...', '/a/b.c./.d/...'],
    ['/\ufb01le', '/%EF%AC%81le'],
  ];
  for (const [input, want] of ok) {
    it(`canonicalises ${JSON.stringify(input)} to ${JSON.stringify(want)}`, () => {
      assert.deepEqual(canonicalPath(input), { ok: true, value: want });
    });
  }
  const refused = ['/a/../b', '/a/./b', '/a//b', '//a', '/a/%2e%2E/b', '/a%2Fb', '/a%5cb', '/a\\b', '/a%zz', '/a%4', '/a%00b', 'a/b', '', '/a#frag', '/..'];
  for (const input of refused) {
    it(`refuses the ambiguous path ${JSON.stringify(input)} with path_not_canonical`, () => {
      const r = canonicalPath(input);
      assert.equal(r.ok, false);
      assert.equal(!r.ok && r.reason, 'path_not_canonical');
    });
  }
  // Forms an upstream could resolve to another path (docs/transcript-v1.md §6.4 step 4).
  const resolvable: [string, string][] = [
    ['/files/..;/admin', 'path parameter (";") in path'],
    ['/files/.;/admin', 'path parameter (";") in path'],
    ['/files/%2e%2e;/admin', 'path parameter (";") in path'],
    ['/admin;jsessionid=abc', 'path parameter (";") in path'],
    ['/a/;x/b', 'path parameter (";") in path'],
    ['/a/..%3b/b', 'encoded path parameter (";") in path'],
    ['/a/x%3Bjsessionid=1', 'encoded path parameter (";") in path'],
    ['/a/%c0%ae%c0%ae/b', 'percent-escapes in path do not decode to UTF-8 (overlong or invalid sequence)'],
    ['/a/%e0%80%ae/b', 'percent-escapes in path do not decode to UTF-8 (overlong or invalid sequence)'],
    ['/a/%ff', 'percent-escapes in path do not decode to UTF-8 (overlong or invalid sequence)'],
    ['/a/%252e%252e/b', 'double percent-encoding in path'],
    ['/a/%25%32%65', 'double percent-encoding in path'],
    ['/a/%09b', 'encoded control character in path'],
    ['/a/b%0d%0a', 'encoded control character in path'],
    ['/a/\u2025/b', 'Unicode compatibility form of the path adds "."'],
    ['/a/\uff0e\uff0e/b', 'Unicode compatibility form of the path adds "."'],
    ['/a\uff0fb', 'Unicode compatibility form of the path adds "/"'],
    ['/a/%EF%BC%8E%EF%BC%8E/b', 'Unicode compatibility form of the path adds "."'],
    ['/a\uff3cb', 'Unicode compatibility form of the path adds "\\"'],
    ['/a\uff1bb', 'Unicode compatibility form of the path adds ";"'],
  ];
  for (const [input, detail] of resolvable) {
    it(`refuses ${JSON.stringify(input)}, which an upstream could resolve to another path: ${detail}`, () => {
      assert.deepEqual(canonicalPath(input), { ok: false, reason: 'path_not_canonical', detail });
    });
  }
  it('property: random path forms with ";", encoded dots, odd escapes and mixed-case hex never canonicalise to a path an upstream could resolve differently', () => {
    // Pieces an attacker combines; whatever canonicalPath accepts must, decoded once (and even
    // twice, and after NFKC), hold no path parameter, no dot segment and no extra separator.
    const piece = fc.constantFrom('a', 'b', '.', '..', ';', ';x=1', '%2e', '%2E', '%3b', '%3B', '%25', '%32', '%65', '%c0', '%ae', '%C0%AE', '%e0%80%ae', '%ef%bc%8e', '\uff0e', '\u2024', '\uff0f', '%5c', '%09', '%0A', '%2f', '/', '~', '%7e', 'jsessionid', '=');
    const decode = (s: string): string => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    };
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 10 }), (pieces) => {
        const r = canonicalPath(`/${pieces.join('')}`);
        if (!r.ok) {
          assert.equal(r.reason, 'path_not_canonical');
          return;
        }
        for (const form of [r.value, decode(r.value), decode(decode(r.value)), decode(r.value).normalize('NFKC')]) {
          assert.ok(!form.includes(';'), `${r.value}: ";" in ${form}`);
          assert.ok(!form.includes('\\'), `${r.value}: "\\" in ${form}`);
          const segs = form.split('/').slice(1);
          segs.forEach((seg, i) => {
            assert.ok(seg !== '.' && seg !== '..', `${r.value}: dot segment in ${form}`);
            assert.ok(seg !== '' || i === segs.length - 1, `${r.value}: empty segment in ${form}`);
          });
          assert.equal(form.split('/').length, r.value.split('/').length, `${r.value}: another segment count in ${form}`);
        }
      }),
      { numRuns: 20000 },
    );
  });
  it('is idempotent on every path it accepts', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (s) => {
        const r = canonicalPath(`/${s}`);
        if (r.ok) assert.deepEqual(canonicalPath(r.value), r);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('transcript-v1 canonical query', () => {
  const cases: [string, string][] = [
    ['', ''],
    ['b=2&a=1', 'a=1&b=2'],
    ['a=2&a=1', 'a=2&a=1'],
    ['a=1&&b=2&', 'a=1&b=2'],
    ['flag&a=1', 'a=1&flag'],
    ['q=a+b', 'q=a+b'],
    ['q=a%20b', 'q=a%20b'],
    ['q=a%2bb', 'q=a%2Bb'],
    ['q=%7e', 'q=~'],
    ['x=a=b', 'x=a=b'],
    ['p=/x/y?z', 'p=/x/y?z'],
    ['e=', 'e='],
  ];
  for (const [input, want] of cases) {
    it(`canonicalises ${JSON.stringify(input)} to ${JSON.stringify(want)}`, () => {
      assert.deepEqual(canonicalQuery(input), { ok: true, value: want });
    });
  }
  it('keeps "+" distinct from an encoded space and an encoded plus', () => {
    const forms = ['q=a+b', 'q=a%20b', 'q=a%2Bb'].map((q) => canonicalQuery(q));
    assert.equal(new Set(forms.map((f) => (f.ok ? f.value : ''))).size, 3);
  });
  it('refuses a malformed escape', () => {
    assert.deepEqual(canonicalQuery('a=%g1'), { ok: false, reason: 'path_not_canonical', detail: 'malformed percent-escape in query' });
  });
});

describe('transcript-v1 canonical authority', () => {
  const cases: [string, string][] = [
    ['API.Example.com', 'api.example.com'],
    ['api.example.com:443', 'api.example.com'],
    ['api.example.com:80', 'api.example.com'],
    ['api.example.com:8443', 'api.example.com:8443'],
    ['api.example.com:08443', 'api.example.com:8443'],
    ['[::1]:443', '[::1]'],
    ['[::1]:9000', '[::1]:9000'],
    ['127.0.0.1:10000', '127.0.0.1:10000'],
  ];
  for (const [input, want] of cases) {
    it(`canonicalises ${input} to ${want}`, () => assert.deepEqual(canonicalAuthority(input), { ok: true, value: want }));
  }
  for (const input of ['', 'user@host', 'host:0', 'host:70000', 'host:x', '[::1', 'ho st', '[zz]']) {
    it(`refuses ${JSON.stringify(input)} with authority_invalid`, () => {
      const r = canonicalAuthority(input);
      assert.equal(!r.ok && r.reason, 'authority_invalid');
    });
  }
});

describe('transcript-v1 text', () => {
  it('lays out every field in the specified order', () => {
    const t = buildTranscript(base);
    assert.ok(t.ok);
    assert.equal(
      t.value.bytes.toString('utf8'),
      [
        'trustplane-transcript-v1',
        'method:POST',
        'authority:api.example.com',
        'path:/v1/payments',
        'query:a=1&b=2',
        'headers:content-type',
        'header:content-type:application/json',
        'body-sha256:47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU',
        'nonce:AAAAAAAAAAAAAAAAAAAAAAAA',
        'aud:https://payments.example.com',
        'route:payments-create',
        'jti:jti-1',
        `passport-sha256:${'p'.repeat(43)}`,
        'ts:1767225600',
        'key-binding:software',
        `cnf-jkt:${'k'.repeat(43)}`,
        '',
      ].join('\n'),
    );
  });
  it('escapes line breaks and "%" in free text so a value can never forge a line', () => {
    assert.equal(escapeText('a\nb%c\u00e9'), 'a%0Ab%25c%C3%A9');
  });
  it('refuses unsorted or duplicated header names with proof_malformed', () => {
    const r = buildTranscript({ ...base, headers: [['x-b', '1'], ['x-a', '2']] });
    assert.equal(!r.ok && r.reason, 'proof_malformed');
  });
  for (const name of ['host', 'cookie', 'x-trustplane-passport', ':path', 'transfer-encoding', 'Content-Type']) {
    it(`refuses to bind ${name} with header_not_bindable`, () => {
      const r = buildTranscript({ ...base, headers: [[name, 'v']] });
      assert.equal(!r.ok && r.reason, 'header_not_bindable');
    });
  }
  it('names the changed field from the digest table for every single-field change', () => {
    const signed = buildTranscript(base);
    assert.ok(signed.ok);
    const fd = fieldDigests(signed.value);
    const changes: [Partial<TranscriptInput>, string][] = [
      [{ method: 'PUT' }, 'method_mismatch'],
      [{ authority: 'evil.example.com' }, 'authority_mismatch'],
      [{ pathAndQuery: '/v1/refunds?b=2&a=1' }, 'path_mismatch'],
      [{ pathAndQuery: '/v1/payments?b=3&a=1' }, 'query_mismatch'],
      [{ headers: [['content-type', 'text/plain']] }, 'header_mismatch'],
      [{ headers: [] }, 'header_mismatch'],
      [{ bodySha256: 'x'.repeat(43) }, 'body_mismatch'],
      [{ nonce: 'BBBBBBBBBBBBBBBBBBBBBBBB' }, 'nonce_mismatch'],
      // aud and route are checked before the signature (route phase), so their lines name no
      // route-group code: another aud is another passport, another route an inconsistent proof.
      [{ audience: 'https://other' }, 'passport_binding_mismatch'],
      [{ routeId: 'payments-read' }, 'transcript_mismatch'],
      [{ jti: 'jti-2' }, 'passport_binding_mismatch'],
      [{ passportSha256: 'q'.repeat(43) }, 'passport_binding_mismatch'],
      [{ ts: 1767225601 }, 'proof_time_mismatch'],
      [{ keyBinding: 'remote_kms' }, 'key_binding_mismatch'],
      [{ cnfJkt: 'j'.repeat(43) }, 'key_binding_mismatch'],
    ];
    for (const [change, reason] of changes) {
      const rebuilt = buildTranscript({ ...base, ...change });
      assert.ok(rebuilt.ok);
      assert.equal(diagnoseMismatch(rebuilt.value, fd), reason, JSON.stringify(change));
    }
    assert.equal(diagnoseMismatch(signed.value, undefined), 'transcript_mismatch');
    assert.equal(diagnoseMismatch(signed.value, fd), 'transcript_mismatch');
  });
});

describe('transcript-v1 agrees with a direct transcription of the spec', () => {
  // Characters that exercise every branch: unreserved, literal in one set but not another,
  // escapes of each kind (decoded, upper-cased, refused, malformed), structure, non-ASCII
  // (including a lone surrogate and U+212A, which must not fold to "k"), and controls.
  const tricky = ['/', '/', '.', '%', '2', 'e', 'E', 'f', 'F', '5', 'c', 'C', '0', '7', 'a', 'Z', '~', '-', '_', '#', '\\', '\0', ' ', '\t', '!', ':', '@', '=', '&', '+', '?', '[', ']', '"', '\u00e9', '\u212a', '\ud83d\ude00', '\ud800', '\n'];
  const text = (extra: string[] = []): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...tricky, ...extra), maxLength: 24 });
  const runs = { numRuns: 5000 };

  it('canonicalPath', () => {
    fc.assert(fc.property(fc.oneof(text(), text().map((s) => `/${s}`)), (p) => assert.deepEqual(canonicalPath(p), referencePath(p))), runs);
  });
  it('canonicalQuery', () => {
    fc.assert(fc.property(text(), (q) => assert.deepEqual(canonicalQuery(q), referenceQuery(q))), runs);
  });
  it('canonicalAuthority', () => {
    const host = fc.string({ unit: fc.constantFrom('a', 'Z', 'x', '0', '8', '4', '3', '.', '-', '_', '~', ':', '[', ']', '@', '%', ' ', '!', '\u212a', '\u00e9'), maxLength: 20 });
    // Ports around every boundary of §6.3 step 5, with and without leading zeros, after each kind of host.
    const port = fc.oneof(fc.integer({ min: 0, max: 99999 }), fc.constantFrom(0, 1, 80, 443, 65535, 65536, 99999)).chain((n) =>
      fc.constantFrom(String(n), `0${n}`, `00${n}`),
    );
    const hostPort = fc.tuple(fc.constantFrom('a', 'API.Example.com', '[::1]', '[2001:DB8::1]', 'a:b', ''), port).map(([h, p]) => `${h}:${p}`);
    fc.assert(
      fc.property(fc.oneof(host, hostPort, fc.constant('a'.repeat(255)), fc.constant('a'.repeat(256))), (a) => assert.deepEqual(canonicalAuthority(a), referenceAuthority(a))),
      runs,
    );
  });
  it('buildTranscript lays out the same bytes, lines and fields, and buildTranscriptForTarget the same bytes', () => {
    const names = fc.uniqueArray(fc.constantFrom('accept', 'content-type', 'x-a', 'x-b', 'x-request-id', 'digest'), { maxLength: 4 }).map((n) => [...n].sort());
    const input = fc.record({
      method: fc.constantFrom('GET', 'POST', 'patch', 'M-SEARCH'),
      authority: fc.oneof(fc.constant('api.example.com'), fc.constant('API.example.com:443'), text()),
      pathAndQuery: fc.oneof(fc.constant('/v1/payments'), text().map((s) => `/${s}`)),
      headers: fc.tuple(names, fc.array(text([' ', '\t']), { minLength: 4, maxLength: 4 })).map(([n, v]) => n.map((name, i): [string, string] => [name, v[i]!])),
      bodySha256: fc.constant('47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU'),
      nonce: fc.constant('AAAAAAAAAAAAAAAAAAAAAAAA'),
      audience: text(),
      routeId: text(),
      jti: text(),
      passportSha256: fc.constant('p'.repeat(43)),
      ts: fc.nat(),
      keyBinding: text(),
      cnfJkt: fc.constant('k'.repeat(43)),
    });
    fc.assert(
      fc.property(input, (t: TranscriptInput) => {
        const want = referenceLines(t);
        const got = buildTranscript(t);
        if (!want) return assert.equal(got.ok, false);
        assert.ok(got.ok);
        assert.equal(got.value.bytes.toString('utf8'), `trustplane-transcript-v1\n${want.lines.join('\n')}\n`);
        assert.deepEqual(got.value.lines, want.lines);
        assert.deepEqual(got.value.fields, want.fields);
        const q = t.pathAndQuery.indexOf('?');
        const target = {
          authority: (canonicalAuthority(t.authority) as { value: string }).value,
          path: (canonicalPath(q < 0 ? t.pathAndQuery : t.pathAndQuery.slice(0, q)) as { value: string }).value,
          query: (canonicalQuery(q < 0 ? '' : t.pathAndQuery.slice(q + 1)) as { value: string }).value,
        };
        const again = buildTranscriptForTarget(t, target);
        assert.ok(again.ok);
        assert.ok(again.value.bytes.equals(got.value.bytes));
      }),
      { numRuns: 3000 },
    );
  });
});
