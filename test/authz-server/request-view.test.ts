import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import type { RequestView } from '../../core/src/types.js';
import { DEFAULT_ENGINE_OPTIONS } from '../../core/src/engine/options.js';
import { MemoryReplayStore } from '../../core/src/replay/memory.js';
import { CheckService } from '../../authz-server/src/check-service.js';
import { readCheckRequest } from '../../authz-server/src/envoy/check-request.js';
import type { MalformedRequest, RequestViewSettings } from '../../authz-server/src/envoy/request-view.js';
import { REPO_ROOT, decodeOfficialCheckResponse, encodeOfficialCheckRequest, envoyCheckRequest } from '../support/envoy-api.js';

type RequestViewResult = RequestView | MalformedRequest;

const BODY_HEADER = 'x-trustplane-body-sha256';
const UNTRUSTED: RequestViewSettings = { bodyHeader: { trusted: false, name: BODY_HEADER }, envoyBuffersBody: false };
const FILTER: RequestViewSettings = { bodyHeader: { trusted: true, name: BODY_HEADER }, envoyBuffersBody: false };
const BUFFERED: RequestViewSettings = { bodyHeader: { trusted: false, name: BODY_HEADER }, envoyBuffersBody: true };
const FILTER_AND_BUFFERED: RequestViewSettings = { bodyHeader: { trusted: true, name: BODY_HEADER }, envoyBuffersBody: true };

function fixture(name: string): Record<string, unknown> {
  const file = join(REPO_ROOT, 'test', 'fixtures', 'check-requests', `${name}.json`);
  return (JSON.parse(readFileSync(file, 'utf8')) as { check_request: Record<string, unknown> }).check_request;
}

/** The fixture as Envoy's bytes, read by the server's edge. */
function viewOfFixture(name: string, settings: RequestViewSettings): RequestView {
  return viewOf(encodeOfficialCheckRequest(fixture(name)), settings);
}

/** What the server's edge reads from these CheckRequest bytes. */
function toRequestView(bytes: Uint8Array, settings: RequestViewSettings): RequestViewResult {
  return readCheckRequest(bytes, settings);
}

function viewOf(bytes: Uint8Array, settings: RequestViewSettings = UNTRUSTED): RequestView {
  const result = toRequestView(bytes, settings);
  assert.ok(!('reason' in result), `expected a view, got ${JSON.stringify(result)}`);
  return result;
}

/** A CheckRequest (proto field names) with the given HttpRequest fields and attributes, as Envoy's definitions encode it. */
function check(http: Record<string, unknown>, attributes: Record<string, unknown> = {}): Buffer {
  return encodeOfficialCheckRequest({
    attributes: {
      request: { http: { method: 'GET', path: '/p', host: 'h.example', headers: {}, ...http } },
      ...attributes,
    },
  });
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('toRequestView on Envoy-shaped fixtures', () => {
  it('reads an HTTP/1.1 GET: path keeps its query, pseudo-headers stay in the header map, no body is unavailable', () => {
    const view = viewOfFixture('http1-get-query', UNTRUSTED);
    assert.deepEqual(view, {
      method: 'GET',
      scheme: 'http',
      authority: 'api.example.com',
      path: '/v1/orders/42?expand=items&sort=desc',
      headers: new Map([
        [':authority', 'api.example.com'],
        [':path', '/v1/orders/42?expand=items&sort=desc'],
        [':method', 'GET'],
        [':scheme', 'http'],
        ['user-agent', 'curl/8.5.0'],
        ['accept', '*/*'],
        ['x-trustplane-passport', 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJzcGlmZmU6Ly9leGFtcGxlLm9yZy9jbGllbnQifQ.c2ln'],
        ['x-trustplane-proof', 'tp1.proof.c2lnbmF0dXJl'],
        ['x-forwarded-proto', 'http'],
        ['x-request-id', '8c2f6a6e-3f4b-4c55-9d8e-2b1a0f9e7d61'],
      ]),
      body: { kind: 'unavailable' },
      sourceAddress: '10.1.2.3:40312',
    });
    assert.deepEqual([...view.headers.keys()].slice(0, 4), [':authority', ':path', ':method', ':scheme']);
  });

  it('treats a bodyless check as an empty body when Envoy is configured to buffer bodies', () => {
    assert.deepEqual(viewOfFixture('http1-get-query', BUFFERED).body, { kind: 'empty' });
  });

  it('reads an HTTP/2 POST: authority keeps its port, merged cookie survives, the trusted filter header is the body source', () => {
    const view = viewOfFixture('http2-post-filter-header', FILTER);
    assert.equal(view.method, 'POST');
    assert.equal(view.scheme, 'https');
    assert.equal(view.authority, 'api.example.com:8443');
    assert.equal(view.path, '/v1/payments');
    assert.equal(view.headers.get('cookie'), 'a=1; b=2');
    assert.equal(view.repeatedHeaders, undefined);
    assert.deepEqual(view.body, { kind: 'filter_header', value: 'n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg', otherwise: 'unavailable' });
    assert.equal(view.sourceAddress, '192.0.2.44:61002');
    assert.equal(view.sourcePrincipal, undefined);
  });

  it('ignores the filter header when the server does not trust it', () => {
    assert.deepEqual(viewOfFixture('http2-post-filter-header', UNTRUSTED).body, { kind: 'unavailable' });
  });

  it('reads header_map (encode_raw_headers): raw values, repeats joined in arrival order and recorded, invalid UTF-8 as "!"', () => {
    const view = viewOfFixture('raw-headers-duplicates', UNTRUSTED);
    assert.deepEqual(view, {
      method: 'GET',
      scheme: 'https',
      authority: 'api.example.com',
      path: '/v1/tenants/acme/reports?format=csv',
      headers: new Map([
        [':authority', 'api.example.com'],
        [':path', '/v1/tenants/acme/reports?format=csv'],
        [':method', 'GET'],
        [':scheme', 'https'],
        ['x-tenant', 'blue,green'],
        ['x-trustplane-passport', 'passport-one,passport-two'],
        ['user-agent', 'reporter/2.1'],
        ['x-note', 'caf! au lait'],
        ['x-forwarded-for', '203.0.113.7,198.51.100.2'],
        ['x-request-id', '0f0c2b61-35c4-4bde-a1c4-55f1a9a0b7d3'],
        ['x-forwarded-proto', 'https'],
      ]),
      repeatedHeaders: new Set(['x-tenant', 'x-trustplane-passport']),
      body: { kind: 'unavailable' },
      sourceAddress: '10.1.2.3:40400',
    });
  });

  it('takes raw_body bytes exactly (pack_as_bytes), complete when x-envoy-auth-partial-body is "false"', () => {
    const expected = {
      kind: 'bytes',
      bytes: new Uint8Array([0x00, 0xff, 0x10, 0x80, ...utf8('{"amount":100}')]),
      partial: false,
    };
    assert.deepEqual(viewOfFixture('body-pack-as-bytes', UNTRUSTED).body, expected);
    // Observed bytes win over any configuration.
    assert.deepEqual(viewOfFixture('body-pack-as-bytes', FILTER_AND_BUFFERED).body, expected);
  });

  it('takes the body string as UTF-8 when pack_as_bytes is off (Envoy already replaced invalid bytes with "!")', () => {
    assert.deepEqual(viewOfFixture('body-string', FILTER).body, {
      kind: 'bytes',
      bytes: utf8('{"name":"caf!"}'),
      partial: false,
    });
  });

  it('marks a truncated body partial when x-envoy-auth-partial-body is "true"', () => {
    assert.deepEqual(viewOfFixture('body-partial', UNTRUSTED).body, {
      kind: 'bytes',
      bytes: utf8('{"items":[1,2,3,'),
      partial: true,
    });
  });

  it('reads the Istio mTLS peer: source principal is the SPIFFE ID, source address is ip:port', () => {
    const view = viewOfFixture('istio-mtls', UNTRUSTED);
    assert.equal(view.sourcePrincipal, 'spiffe://cluster.local/ns/default/sa/x');
    assert.equal(view.sourceAddress, '10.244.1.17:43512');
    assert.equal(view.authority, 'payments.payments.svc.cluster.local:8080');
    assert.equal(view.path, '/v1/balance?account=7');
    assert.equal(
      view.headers.get('x-forwarded-client-cert'),
      'By=spiffe://cluster.local/ns/payments/sa/api;Hash=4f1e0c2a;Subject="";URI=spiffe://cluster.local/ns/default/sa/x',
    );
    assert.deepEqual(view.body, { kind: 'unavailable' });
  });

  it('reads context_extensions: route id, dry-run mode, and body source "buffered" that outranks a trusted filter header', () => {
    const view = viewOfFixture('context-extensions', FILTER);
    assert.equal(view.routeId, 'orders-write');
    assert.equal(view.mode, 'dry_run');
    assert.equal(view.method, 'DELETE');
    assert.deepEqual(view.body, { kind: 'empty' });
  });
});

describe('toRequestView rules', () => {
  it('falls back to the pseudo-headers when the HttpRequest fields are empty', () => {
    const view = viewOf(
      check({ method: '', path: '', host: '', headers: { ':method': 'PUT', ':path': '/a?b=c', ':authority': 'x.example:81', ':scheme': 'https' } }),
    );
    assert.deepEqual(
      [view.method, view.path, view.authority, view.scheme],
      ['PUT', '/a?b=c', 'x.example:81', 'https'],
    );
  });

  it('prefers the HttpRequest fields over the pseudo-headers', () => {
    const view = viewOf(check({ method: 'GET', path: '/real', host: 'real.example', headers: { ':path': '/other', ':authority': 'other' } }));
    assert.deepEqual([view.method, view.path, view.authority, view.scheme], ['GET', '/real', 'real.example', '']);
  });

  it('does not take the authority from a host header', () => {
    assert.deepEqual(toRequestView(check({ host: '', headers: { host: 'h.example' } }), UNTRUSTED), {
      reason: 'request_malformed',
      detail: 'missing authority',
      view: { method: 'GET', path: '/p' },
    });
  });

  it('reports every missing request field at once', () => {
    assert.deepEqual(toRequestView(check({ method: '', path: '', host: '' }), UNTRUSTED), {
      reason: 'request_malformed',
      detail: 'missing method, path, authority',
      view: {},
    });
  });

  it('rejects a CheckRequest without attributes or without request.http', () => {
    assert.deepEqual(toRequestView(encodeOfficialCheckRequest({}), UNTRUSTED), { reason: 'request_malformed', detail: 'attributes missing', view: {} });
    assert.deepEqual(toRequestView(encodeOfficialCheckRequest({ attributes: { request: { http: null } } }), UNTRUSTED), {
      reason: 'request_malformed',
      detail: 'attributes.request.http missing',
      view: {},
    });
    // The empty CheckRequest: zero bytes.
    assert.deepEqual(toRequestView(Buffer.alloc(0), UNTRUSTED), {
      reason: 'request_malformed',
      detail: 'attributes missing',
      view: {},
    });
  });

  it('turns bytes the decoder could not read into request_malformed naming the problem', () => {
    // A tag for field 1 with wire type 3 (start group): the decoder refuses groups.
    assert.deepEqual(toRequestView(Buffer.from([0x0b]), UNTRUSTED), {
      reason: 'request_malformed',
      detail: 'undecodable CheckRequest (wire type 3)',
      view: {},
    });
  });

  it('keeps the method, path and authority it read before the problem, for the deny\'s audit line', () => {
    // attributes { request { http { method "POST", path "/v1/pay", <a tag of wire type 7> } } }
    const delimited = (field: number, content: Buffer): Buffer => Buffer.concat([Buffer.from([(field << 3) | 2, content.length]), content]);
    const http = Buffer.concat([delimited(2, Buffer.from('POST')), delimited(4, Buffer.from('/v1/pay')), Buffer.from([0x0f])]);
    assert.deepEqual(toRequestView(delimited(1, delimited(4, delimited(2, http))), UNTRUSTED), {
      reason: 'request_malformed',
      detail: 'undecodable CheckRequest (wire type 7)',
      view: { method: 'POST', path: '/v1/pay' },
    });
    assert.deepEqual(toRequestView(check({}, { context_extensions: { trustplane_mode: 'x' } }), UNTRUSTED), {
      reason: 'request_malformed',
      detail: 'context_extensions.trustplane_mode must be enforce or dry_run',
      view: { method: 'GET', path: '/p', authority: 'h.example' },
    });
  });

  it('uses header_map value when raw_value is empty, and the headers map when header_map has no entries', () => {
    const fromValue = viewOf(check({ header_map: { headers: [{ key: 'x-a', value: 'v', raw_value: Buffer.alloc(0) }] }, headers: { 'x-b': 'ignored' } }));
    assert.deepEqual([...fromValue.headers], [['x-a', 'v']]);
    const fromMap = viewOf(check({ header_map: { headers: [] }, headers: { 'x-b': 'kept' } }));
    assert.deepEqual([...fromMap.headers], [['x-b', 'kept']]);
  });

  it('lower-cases ASCII letters only, so a KELVIN SIGN cannot turn into "k"', () => {
    const view = viewOf(check({ headers: { 'X-TrustPlane-Proof': 'p', 'x-\u212Aey': 'v' } }));
    assert.deepEqual([...view.headers.keys()], ['x-trustplane-proof', 'x-\u212Aey']);
  });

  it('lists client-sent x-trustplane-* names beyond the credentials and identity headers, once each, for the allow to remove', () => {
    const view = viewOf(
      check({
        header_map: {
          headers: [
            { key: 'X-TrustPlane-Reason', value: 'ok' },
            { key: 'x-trustplane-passport', value: 'p' },
            { key: 'x-trustplane-subject', value: 's' },
            { key: 'x-trustplane-reason', value: 'again' },
            { key: 'x-trustplanex', value: 'not ours' },
            { key: 'x-trustplane-x', value: '1' },
          ],
        },
      }),
    );
    assert.deepEqual(view.namespaceHeaders, ['x-trustplane-reason', 'x-trustplane-x']);
    assert.equal(viewOf(check({ headers: { 'x-trustplane-passport': 'p', 'x-trustplane-proof': 'q' } })).namespaceHeaders, undefined);
  });

  it('joins names that differ only in case and records them as repeated', () => {
    const view = viewOf(check({ headers: { 'x-a': '1', 'X-A': '2' } }));
    assert.equal(view.headers.get('x-a'), '1,2');
    assert.deepEqual(view.repeatedHeaders, new Set(['x-a']));
  });

  it('keeps __proto__ and constructor as ordinary header names, from the wire and from header_map', () => {
    const wire = envoyCheckRequest({ headers: [['__proto__', 'p'], ['constructor', 'c']] });
    const view = viewOf(wire);
    assert.equal(view.headers.get('__proto__'), 'p');
    assert.equal(view.headers.get('constructor'), 'c');
    const raw = viewOf(envoyCheckRequest({ encodeRawHeaders: true, headers: [['__proto__', 'p']] }));
    assert.equal(raw.headers.get('__proto__'), 'p');
  });

  it('rejects an unknown trustplane_mode or trustplane_body instead of ignoring it', () => {
    assert.deepEqual(toRequestView(check({}, { context_extensions: { trustplane_mode: 'dry-run' } }), UNTRUSTED), {
      reason: 'request_malformed',
      detail: 'context_extensions.trustplane_mode must be enforce or dry_run',
      view: { method: 'GET', path: '/p', authority: 'h.example' },
    });
    assert.deepEqual(toRequestView(check({}, { context_extensions: { trustplane_body: 'wasm' } }), UNTRUSTED), {
      reason: 'request_malformed',
      detail: 'context_extensions.trustplane_body must be filter or buffered',
      view: { method: 'GET', path: '/p', authority: 'h.example' },
    });
  });

  it('treats empty context_extensions values and inherited keys as absent', () => {
    const inherited = Object.create({ trustplane_route: 'from-prototype' }) as Record<string, string>;
    inherited['trustplane_mode'] = '';
    const view = viewOf(check({}, { context_extensions: inherited }));
    assert.equal(view.routeId, undefined);
    assert.equal(view.mode, undefined);
    assert.equal(viewOf(check({}, { context_extensions: { trustplane_mode: 'enforce' } })).mode, 'enforce');
  });

  it('formats source addresses: IPv6 in brackets, no port when none is given, nothing when empty', () => {
    const at = (socket: unknown): string | undefined => viewOf(check({}, { source: { address: { socket_address: socket } } })).sourceAddress;
    assert.equal(at({ address: '2001:db8::7', port_value: 443 }), '[2001:db8::7]:443');
    assert.equal(at({ address: '10.0.0.1', named_port: 'http' }), '10.0.0.1');
    assert.equal(at({ address: '', port_value: 1 }), undefined);
    assert.equal(viewOf(check({}, { source: { principal: '' } })).sourcePrincipal, undefined);
  });
});

describe('toRequestView body source', () => {
  const digest = 'LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564';
  const cases: ReadonlyArray<{
    name: string;
    http: Record<string, unknown>;
    settings: RequestViewSettings;
    route?: string;
    body: unknown;
  }> = [
    { name: 'raw_body without the partial header is complete', http: { raw_body: Buffer.from('ab') }, settings: UNTRUSTED, body: { kind: 'bytes', bytes: utf8('ab'), partial: false } },
    { name: 'raw_body is preferred over body', http: { raw_body: Buffer.from('raw'), body: 'text' }, settings: UNTRUSTED, body: { kind: 'bytes', bytes: utf8('raw'), partial: false } },
    { name: 'body is UTF-8 encoded', http: { body: 'é' }, settings: UNTRUSTED, body: { kind: 'bytes', bytes: new Uint8Array([0xc3, 0xa9]), partial: false } },
    { name: 'the partial header alone means an empty buffered body', http: { headers: { 'x-envoy-auth-partial-body': 'false' } }, settings: UNTRUSTED, body: { kind: 'bytes', bytes: new Uint8Array(0), partial: false } },
    { name: 'partial "true" with no bytes', http: { headers: { 'x-envoy-auth-partial-body': 'true' } }, settings: UNTRUSTED, body: { kind: 'bytes', bytes: new Uint8Array(0), partial: true } },
    { name: 'a partial value other than "false" fails closed as partial', http: { raw_body: Buffer.from('a'), headers: { 'x-envoy-auth-partial-body': 'yes' } }, settings: UNTRUSTED, body: { kind: 'bytes', bytes: utf8('a'), partial: true } },
    { name: 'observed bytes win over a trusted filter header', http: { raw_body: Buffer.from('a'), headers: { [BODY_HEADER]: digest } }, settings: FILTER, body: { kind: 'bytes', bytes: utf8('a'), partial: false } },
    { name: 'a trusted filter header', http: { headers: { [BODY_HEADER]: digest } }, settings: FILTER_AND_BUFFERED, body: { kind: 'filter_header', value: digest, otherwise: 'empty' } },
    { name: 'a trusted filter header with its body length', http: { headers: { [BODY_HEADER]: digest, 'x-trustplane-body-length': '12' } }, settings: FILTER, body: { kind: 'filter_header', value: digest, length: '12', otherwise: 'unavailable' } },
    { name: 'a repeated body-length header is passed through joined', http: { header_map: { headers: [{ key: BODY_HEADER, value: digest }, { key: 'x-trustplane-body-length', value: '0' }, { key: 'X-Trustplane-Body-Length', value: '12' }] } }, settings: FILTER, body: { kind: 'filter_header', value: digest, length: '0,12', otherwise: 'unavailable' } },
    { name: 'a repeated filter header is passed through joined', http: { header_map: { headers: [{ key: BODY_HEADER, value: 'a' }, { key: BODY_HEADER, value: 'b' }] } }, settings: FILTER, body: { kind: 'filter_header', value: 'a,b', otherwise: 'unavailable' } },
    { name: 'a custom filter header name is matched lower-cased', http: { headers: { 'x-body-hash': digest } }, settings: { bodyHeader: { trusted: true, name: 'X-Body-Hash' }, envoyBuffersBody: false }, body: { kind: 'filter_header', value: digest, otherwise: 'unavailable' } },
    { name: 'an untrusted filter header without buffering is unavailable', http: { headers: { [BODY_HEADER]: digest } }, settings: UNTRUSTED, body: { kind: 'unavailable' } },
    { name: 'an untrusted filter header with buffering is empty', http: { headers: { [BODY_HEADER]: digest } }, settings: BUFFERED, body: { kind: 'empty' } },
    { name: 'a trusted filter that set nothing, with buffering, is empty', http: {}, settings: FILTER_AND_BUFFERED, body: { kind: 'empty' } },
    { name: 'route "buffered" ignores a trusted filter header', http: { headers: { [BODY_HEADER]: digest } }, settings: FILTER, route: 'buffered', body: { kind: 'empty' } },
    { name: 'route "buffered" turns buffering on', http: {}, settings: UNTRUSTED, route: 'buffered', body: { kind: 'empty' } },
    { name: 'route "filter" turns buffering off', http: {}, settings: FILTER_AND_BUFFERED, route: 'filter', body: { kind: 'unavailable' } },
    { name: 'route "filter" does not make an untrusted header trusted', http: { headers: { [BODY_HEADER]: digest } }, settings: BUFFERED, route: 'filter', body: { kind: 'unavailable' } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const extensions = c.route === undefined ? {} : { context_extensions: { trustplane_body: c.route } };
      assert.deepEqual(viewOf(check(c.http, extensions), c.settings).body, c.body);
    });
  }

  // docs/transcript-v1.md §10: only the exact value "false" marks a buffered body complete.
  it('marks a buffered body partial for every x-envoy-auth-partial-body value but exactly "false" (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.constantFrom('true', 'False', 'FALSE', ' false', 'false ', 'false,false', '', '0', 'no'), fc.string()), (value) => {
        const r = viewOf(encodeOfficialCheckRequest({ attributes: { request: { http: { method: 'POST', path: '/', host: 'h', raw_body: Buffer.from('a'), headers: { 'x-envoy-auth-partial-body': value } } } } }), UNTRUSTED);
        assert.equal(r.body.kind, 'bytes');
        assert.equal(r.body.kind === 'bytes' && r.body.partial, value !== 'false');
      }),
      { numRuns: 200 },
    );
  });
});

describe('toRequestView on arbitrary input', () => {
  const KEYS = [
    'attributes', 'request', 'http', 'headers', 'header_map', 'key', 'value', 'raw_value', 'method', 'path', 'host',
    'scheme', 'body', 'raw_body', 'context_extensions', 'source', 'address', 'socket_address', 'port_value', 'principal',
    ':method', ':path', ':authority', 'x-envoy-auth-partial-body', BODY_HEADER, 'trustplane_mode', 'trustplane_body',
    'trustplane_route', '__proto__', 'constructor', 'toString',
  ];
  const anything = fc.anything({
    key: fc.oneof(fc.constantFrom(...KEYS), fc.string()),
    maxDepth: 6,
    withNullPrototype: true,
    withTypedArray: true,
    withMap: true,
    withSet: true,
    withBoxedValues: true,
    withSparseArray: true,
  });
  const settings = fc.record({
    bodyHeader: fc.record({ trusted: fc.boolean(), name: fc.oneof(fc.constant(BODY_HEADER), fc.string()) }),
    envoyBuffersBody: fc.boolean(),
  });

  function wellFormed(result: RequestViewResult): void {
    if ('reason' in result) {
      assert.equal(result.reason, 'request_malformed');
      assert.equal(typeof result.detail, 'string');
      return;
    }
    const v = result;
    for (const s of [v.method, v.path, v.authority]) assert.ok(typeof s === 'string' && s.length > 0);
    assert.equal(typeof v.scheme, 'string');
    assert.ok(v.headers instanceof Map);
    for (const [k, val] of v.headers) assert.ok(typeof k === 'string' && typeof val === 'string');
    assert.ok(['bytes', 'filter_header', 'empty', 'unavailable'].includes(v.body.kind));
  }

  /** Envoy's definitions encode what they can of a random object (protobufjs coerces or refuses it). */
  function encodable(input: unknown): Buffer | undefined {
    try {
      return encodeOfficialCheckRequest(input as Record<string, unknown>);
    } catch {
      return undefined;
    }
  }

  it('never throws and always returns a well-formed result for whatever random objects encode to', () => {
    let encoded = 0;
    fc.assert(
      fc.property(anything, settings, (input, s) => {
        const bytes = encodable(input);
        if (bytes === undefined) return;
        encoded++;
        wellFormed(toRequestView(bytes, s));
      }),
      { numRuns: 2000 },
    );
    assert.ok(encoded > 0);
  });

  it('never throws for random values placed inside an otherwise valid CheckRequest', () => {
    let encoded = 0;
    fc.assert(
      fc.property(anything, anything, anything, settings, (headers, extensions, source, s) => {
        const object = { attributes: { request: { http: { method: 'GET', path: '/p', host: 'h.example', headers, header_map: { headers: [headers, source] } } }, context_extensions: extensions, source } };
        const bytes = encodable(object);
        if (bytes === undefined) return;
        encoded++;
        wellFormed(toRequestView(bytes, s));
      }),
      { numRuns: 1000 },
    );
    assert.ok(encoded > 0);
  });

  it('never throws for random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), settings, (bytes, s) => {
        wellFormed(toRequestView(Buffer.from(bytes), s));
      }),
      { numRuns: 2000 },
    );
  });

  it('lets a failure that is not about the bytes through to check-service, whose one catch answers internal_error', async () => {
    const hostile = new Proxy(new Uint8Array(4), { get: () => { throw new Error('boom'); } });
    assert.throws(() => readCheckRequest(hostile, UNTRUSTED), /boom/);
    const errors: unknown[] = [];
    const service = new CheckService({
      bundle: () => undefined,
      store: new MemoryReplayStore({ maxEntries: 10, generationStartMs: -Infinity }),
      settings: UNTRUSTED,
      engine: DEFAULT_ENGINE_OPTIONS,
      onDecision: () => {},
      onInternalError: (error) => errors.push(error),
    });
    try {
      const response = decodeOfficialCheckResponse(await service.decide(hostile));
      assert.deepEqual(response.status, { code: 13, message: 'internal_error' });
      assert.equal(errors.length, 1);
    } finally {
      service.close();
    }
  });
});
