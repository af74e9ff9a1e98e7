import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import {
  buildTranscript,
  canonicalAuthority,
  canonicalPath,
  canonicalQuery,
  diagnoseMismatch,
  escapeText,
  fieldDigests,
  type TranscriptInput,
} from '../../core/src/transcript.js';

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
    ["/x!$&'()*+,;=:@", "/x!$&'()*+,;=:@"],
    ['/%e2%82%ac', '/%E2%82%AC'],
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
      [{ audience: 'https://other' }, 'audience_mismatch'],
      [{ routeId: 'payments-read' }, 'route_mismatch'],
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
