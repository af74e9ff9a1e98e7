/**
 * The server's CheckRequest reader (authz-server/src/envoy/check-request.ts, one walk from bytes to
 * the request view) against a reference built from independent parts: proto-loader's decoder for
 * protos/ and the reference translation (test/support/request-view-reference.ts), on bytes written
 * with Envoy's OFFICIAL definitions: the same request view, and a `request_malformed` deny (never an
 * exception, never a gRPC error) for bytes it cannot read.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { CheckService } from '../../authz-server/src/check-service.js';
import { readCheckRequest } from '../../authz-server/src/envoy/check-request.js';
import { GrpcServer } from '../../authz-server/src/envoy/grpc-transport.js';
import type { MalformedRequest, RequestViewSettings } from '../../authz-server/src/envoy/request-view.js';
import type { RequestView } from '../../core/src/types.js';
import { AuthorizationClientService } from '../../dev/gateway/authz-client.js';
import { referenceRequestView, type ReferenceResult } from '../support/request-view-reference.js';
import { DEFAULT_ENGINE_OPTIONS } from '../../core/src/engine/options.js';
import { MemoryReplayStore } from '../../core/src/replay/memory.js';
import {
  REPO_ROOT,
  decodeOfficialCheckResponse,
  encodeOfficialCheckRequest,
  envoyCheckRequest,
  loadOfficialRoot,
  makeRawCheckClient,
  structToPlain,
} from '../support/envoy-api.js';

const BODY_HEADER = 'x-trustplane-body-sha256';
const SETTINGS: RequestViewSettings = { bodyHeader: { trusted: true, name: BODY_HEADER }, envoyBuffersBody: false };
const AS_LOADER = { longs: String, enums: Number, defaults: true, oneofs: true } as const;
const CHECK_REQUEST = 'envoy.service.auth.v3.CheckRequest';

/** proto-loader's decoder for protos/: what the server used before, and the reference here. */
function loaderDecode(bytes: Uint8Array): unknown {
  return AuthorizationClientService['Check']!.requestDeserialize(Buffer.from(bytes));
}

const read = (bytes: Uint8Array, settings: RequestViewSettings = SETTINGS): RequestView | MalformedRequest => readCheckRequest(bytes, settings);
const isMalformed = (r: RequestView | MalformedRequest): r is MalformedRequest => 'reason' in r;

/** The fields the server reads, by message: the reader's contract (check-request.ts). */
const READ: Readonly<Record<string, readonly string[]>> = {
  [CHECK_REQUEST]: ['attributes'],
  'envoy.service.auth.v3.AttributeContext': ['source', 'request', 'context_extensions'],
  'envoy.service.auth.v3.AttributeContext.Peer': ['address', 'principal'],
  'envoy.config.core.v3.Address': ['socket_address'],
  'envoy.config.core.v3.SocketAddress': ['address', 'port_value'],
  'envoy.service.auth.v3.AttributeContext.Request': ['http'],
  'envoy.service.auth.v3.AttributeContext.HttpRequest': ['method', 'headers', 'path', 'host', 'scheme', 'body', 'raw_body', 'header_map'],
  'envoy.config.core.v3.HeaderMap': ['headers'],
  'envoy.config.core.v3.HeaderValue': ['key', 'value', 'raw_value'],
};


/**
 * Envoy's official definitions reduced to the READ fields: protobufjs then skips everything else as
 * unknown, as the direct decoder does. On arbitrary bytes it accepts what the direct decoder accepts,
 * except for the rules the direct decoder adds (STRICTER).
 */
const subsetRoot = ((): protobuf.Root => {
  const root = loadOfficialRoot();
  for (const [typeName, keep] of Object.entries(READ)) {
    const type = root.lookupType(typeName);
    for (const field of Object.values(type.fields)) {
      if (keep.includes(field.name)) continue;
      field.partOf?.remove(field);
      type.remove(field);
    }
  }
  root.resolveAll();
  return root;
})();
const SubsetCheckRequest = subsetRoot.lookupType(CHECK_REQUEST);

function subsetDecode(bytes: Uint8Array): unknown {
  return SubsetCheckRequest.toObject(SubsetCheckRequest.decode(bytes), AS_LOADER);
}

/** Details of the rules by which the direct decoder refuses bytes that protobufjs reads anyway. */
const STRICTER = [
  /^field number 0$/,
  /^wire type [34567]$/,
  /^field \d+ with wire type \d$/,
  /^varint longer than 10 bytes$/,
  /^varint over 32 bits$/,
  // protobufjs cuts a string that runs past its message instead of refusing it
  /^length past the end of the message$/,
];

function attempt(decode: (b: Uint8Array) => unknown, bytes: Uint8Array): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: decode(bytes) };
  } catch {
    return { ok: false };
  }
}

/**
 * Header order as a Map built from the wire keeps it, except that the reference's map comes from a
 * JavaScript object, which lists array-index names ("0", "10") first, ascending: both are put in that
 * order before comparing. Joins cannot differ by it (such names have no case).
 */
function ordered(headers: ReadonlyMap<string, string>): Array<[string, string]> {
  const index = (k: string): boolean => /^(0|[1-9][0-9]{0,9})$/.test(k) && Number(k) < 2 ** 32 - 1;
  const entries = [...headers];
  return [...entries.filter(([k]) => index(k)).sort(([a], [b]) => Number(a) - Number(b)), ...entries.filter(([k]) => !index(k))];
}

/** Same view, and same header order (a Map's deepEqual ignores order; joins depend on it). */
function assertSameView(ours: RequestView | MalformedRequest, reference: ReferenceResult): void {
  if (isMalformed(ours)) {
    assert.ok(!reference.ok, `we refused (${ours.detail}), the reference read a view`);
    assert.deepStrictEqual({ reason: ours.reason, detail: ours.detail }, { reason: reference.reason, detail: reference.detail });
    return;
  }
  assert.ok(reference.ok, `the reference refused (${reference.ok ? '' : reference.detail}), we read a view`);
  assert.deepStrictEqual(ours, reference.view);
  assert.deepStrictEqual(ordered(ours.headers), ordered(reference.view.headers));
}

/** The server's reader and proto-loader with the reference rules agree on these bytes. */
function assertAgree(bytes: Uint8Array): RequestView | MalformedRequest {
  const ours = read(bytes);
  assert.ok(!isMalformed(ours) || !ours.detail.startsWith('undecodable'), `refused: ${isMalformed(ours) ? ours.detail : ''}`);
  assertSameView(ours, referenceRequestView(loaderDecode(bytes), SETTINGS));
  return ours;
}

function malformedDetail(bytes: Uint8Array): string {
  const result = read(bytes);
  assert.ok(isMalformed(result) && result.detail.startsWith('undecodable CheckRequest ('), 'expected the reader to refuse the bytes');
  assert.equal(result.reason, 'request_malformed');
  return result.detail.slice('undecodable CheckRequest ('.length, -1);
}

/** A protobuf writer for hand-made bytes that Envoy's definitions cannot produce. */
const w = (): protobuf.Writer => protobuf.Writer.create();
const tag = (field: number, wire: number): number => ((field << 3) | wire) >>> 0;
const done = (writer: protobuf.Writer): Buffer => Buffer.from(writer.finish());
/** `inner` wrapped in length-delimited fields, innermost last: nest([1, 4], x) is field 1 { field 4 { x } }. */
function nest(fields: readonly number[], inner: Uint8Array): Buffer {
  return fields.reduceRight((acc: Buffer, field) => done(w().uint32(tag(field, 2)).bytes(acc)), Buffer.from(inner));
}
/** attributes { request { http { <http> } <tail> } } */
function inHttp(http: Uint8Array, tail: Uint8Array = new Uint8Array(0)): Buffer {
  return nest([1, 4], Buffer.concat([done(w().uint32(tag(2, 2)).bytes(http)), tail]));
}
/** attributes { source { address { socket_address { <socket> } } } } */
const inSocket = (socket: Uint8Array): Buffer => nest([1, 1, 1, 1], socket);

// ---------------------------------------------------------------------------------------------
// Random CheckRequests in the object form of Envoy's official definitions

const HEADER_NAMES = [
  ':authority', ':path', ':method', ':scheme', 'content-type', 'x-trustplane-passport', 'x-trustplane-proof', BODY_HEADER,
  'x-envoy-auth-partial-body', 'X-Mixed-Case', 'x-mixed-case', '__proto__', 'constructor', 'toString', '0', '10', '',
];
const text = (common: readonly string[]): fc.Arbitrary<string> =>
  fc.oneof(fc.constantFrom(...common), fc.string({ maxLength: 24 }), fc.string({ unit: 'binary', maxLength: 16 }), fc.string({ unit: 'grapheme', maxLength: 12 }));
const headerName = text(HEADER_NAMES);
const headerValue = text(['application/json', 'true', 'false', '', 'a.b.c', 'v1.x']);
const bytesValue = fc.oneof(fc.uint8Array({ maxLength: 24 }), headerValue.map((s) => Buffer.from(s)));
const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String);

const socketAddress = fc.record(
  {
    protocol: fc.constantFrom(0, 1),
    address: text(['10.0.0.7', '2001:db8::7', '']),
    port: fc.oneof(fc.record({ port_value: fc.nat(0xffffffff) }), fc.record({ named_port: text(['http']) })),
    resolver_name: text(['']),
    ipv4_compat: fc.boolean(),
  },
  { requiredKeys: [] },
).map(({ port, ...rest }) => ({ ...rest, ...(port ?? {}) }));
const address = fc.oneof(
  socketAddress.map((s) => ({ socket_address: s })),
  fc.record({ pipe: fc.record({ path: text(['/tmp/s']), mode: fc.nat(0o777) }) }),
  fc.record({ envoy_internal_address: fc.record({ server_listener_name: text(['l']), endpoint_id: text(['e']) }, { requiredKeys: [] }) }),
  fc.constant({}),
);
const peer = fc.record(
  {
    address,
    service: text(['frontend']),
    labels: fc.dictionary(text(['app']), text(['payments']), { maxKeys: 3 }),
    principal: text(['spiffe://cluster.local/ns/default/sa/x', '']),
    certificate: text(['-----BEGIN%20CERTIFICATE-----']),
  },
  { requiredKeys: [] },
);
const struct = fc.record({
  fields: fc.dictionary(
    fc.string({ maxLength: 8 }),
    fc.oneof(fc.record({ stringValue: fc.string({ maxLength: 8 }) }), fc.record({ numberValue: fc.double({ noNaN: true }) }), fc.record({ boolValue: fc.boolean() })),
    { maxKeys: 3 },
  ),
});
const metadata = fc.record(
  {
    filter_metadata: fc.dictionary(fc.string({ maxLength: 10 }), struct, { maxKeys: 2 }),
    typed_filter_metadata: fc.dictionary(fc.string({ maxLength: 10 }), fc.record({ type_url: fc.string({ maxLength: 20 }), value: fc.uint8Array({ maxLength: 12 }) }), { maxKeys: 2 }),
  },
  { requiredKeys: [] },
);
const headerMapEntry = fc.record({ key: headerName, value: headerValue, raw_value: bytesValue }, { requiredKeys: [] });
const httpRequest = fc.record(
  {
    id: text(['11920138546937489102']),
    method: text(['POST', 'GET', '']),
    headers: fc.dictionary(headerName, headerValue, { maxKeys: 10 }),
    header_map: fc.record({ headers: fc.array(headerMapEntry, { maxLength: 8 }) }, { requiredKeys: [] }),
    path: text(['/v1/payments', '/v1/payments?x=1', '']),
    host: text(['api.example.test', '']),
    scheme: text(['https', 'http', '']),
    query: text(['']),
    fragment: text(['']),
    size: int64,
    protocol: text(['HTTP/1.1', 'HTTP/2']),
    body: text(['{"amount":100}', '']),
    raw_body: bytesValue,
  },
  { requiredKeys: [] },
);
const attributeContext = fc.record(
  {
    source: peer,
    destination: peer,
    request: fc.record({ time: fc.record({ seconds: int64, nanos: fc.nat(999_999_999) }, { requiredKeys: [] }), http: httpRequest }, { requiredKeys: [] }),
    context_extensions: fc.dictionary(
      fc.oneof(fc.constantFrom('trustplane_route', 'trustplane_mode', 'trustplane_body', '__proto__'), fc.string({ maxLength: 10 })),
      text(['payments-create', 'enforce', 'dry_run', 'filter', 'buffered', '']),
      { maxKeys: 4 },
    ),
    metadata_context: metadata,
    tls_session: fc.record({ sni: text(['api.example.test']) }, { requiredKeys: [] }),
    route_metadata_context: metadata,
  },
  { requiredKeys: [] },
);
const checkRequestObject = fc.record({ attributes: attributeContext }, { requiredKeys: [] });

/**
 * Envoy's definitions as a later Envoy might have them: fields the subset does not declare, of
 * every wire type, at every level the decoder walks, and the strings it reads retyped as bytes (the
 * same wire type) so that any bytes, invalid UTF-8 included, can stand in them.
 */
const variant = ((): { root: protobuf.Root; type: protobuf.Type } => {
  const root = loadOfficialRoot();
  const retype = (typeName: string, name: string): void => {
    const type = root.lookupType(typeName);
    const field = type.fields[name]!;
    type.remove(field);
    type.add(field instanceof protobuf.MapField ? new protobuf.MapField(name, field.id, 'string', 'bytes') : new protobuf.Field(name, field.id, 'bytes'));
  };
  for (const name of ['method', 'path', 'host', 'scheme', 'body', 'headers']) retype('envoy.service.auth.v3.AttributeContext.HttpRequest', name);
  retype('envoy.service.auth.v3.AttributeContext.Peer', 'principal');
  retype('envoy.service.auth.v3.AttributeContext', 'context_extensions');
  retype('envoy.config.core.v3.SocketAddress', 'address');
  retype('envoy.config.core.v3.HeaderValue', 'key');
  retype('envoy.config.core.v3.HeaderValue', 'value');
  for (const typeName of Object.keys(READ)) {
    const type = root.lookupType(typeName);
    type.add(new protobuf.Field('future_varint', 1000, 'uint64'));
    type.add(new protobuf.Field('future_sint', 1001, 'sint32'));
    type.add(new protobuf.Field('future_fixed64', 1002, 'fixed64'));
    type.add(new protobuf.Field('future_double', 1003, 'double'));
    type.add(new protobuf.Field('future_fixed32', 1004, 'fixed32'));
    type.add(new protobuf.Field('future_string', 1005, 'string'));
    type.add(new protobuf.Field('future_message', 1006, 'envoy.config.core.v3.HeaderValue'));
    type.add(new protobuf.Field('future_packed', 536_870_911, 'int32', 'repeated')); // the largest field number
  }
  root.resolveAll();
  return { root, type: root.lookupType(CHECK_REQUEST) };
})();

const future = fc.record(
  {
    future_varint: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String),
    future_sint: fc.integer(),
    future_fixed64: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String),
    future_double: fc.double(),
    future_fixed32: fc.nat(0xffffffff),
    future_string: fc.string({ maxLength: 12 }),
    // a HeaderValue, whose key this root declares as bytes
    future_message: fc.record({ key: fc.uint8Array({ maxLength: 6 }), raw_value: fc.uint8Array({ maxLength: 6 }) }),
    future_packed: fc.array(fc.integer(), { maxLength: 4 }),
  },
  { requiredKeys: [] },
);
const anyBytes = fc.oneof(fc.uint8Array({ maxLength: 24 }), headerValue.map((s) => Buffer.from(s)));
const withFuture = <T extends object>(a: fc.Arbitrary<T>): fc.Arbitrary<T> => fc.tuple(a, future).map(([x, f]) => ({ ...x, ...f }));
const variantHttp = withFuture(
  fc.record(
    {
      method: anyBytes,
      path: anyBytes,
      host: anyBytes,
      scheme: anyBytes,
      body: anyBytes,
      raw_body: anyBytes,
      size: int64,
      headers: fc.dictionary(headerName, anyBytes, { maxKeys: 8 }),
      header_map: withFuture(fc.record({ headers: fc.array(withFuture(fc.record({ key: anyBytes, value: anyBytes, raw_value: anyBytes }, { requiredKeys: [] })), { maxLength: 6 }) }, { requiredKeys: [] })),
    },
    { requiredKeys: [] },
  ),
);
const variantSocket = withFuture(fc.record({ address: anyBytes, port_value: fc.nat(0xffffffff), resolver_name: fc.string({ maxLength: 4 }) }, { requiredKeys: [] }));
const variantObject = withFuture(
  fc.record(
    {
      attributes: withFuture(
        fc.record(
          {
            source: withFuture(fc.record({ address: withFuture(fc.record({ socket_address: variantSocket }, { requiredKeys: [] })), principal: anyBytes }, { requiredKeys: [] })),
            request: withFuture(fc.record({ http: variantHttp }, { requiredKeys: [] })),
            context_extensions: fc.dictionary(fc.constantFrom('trustplane_route', 'trustplane_mode', 'trustplane_body', 'x'), anyBytes, { maxKeys: 3 }),
          },
          { requiredKeys: [] },
        ),
      ),
    },
    { requiredKeys: [] },
  ),
);

function encodeVariant(object: object): Buffer {
  return Buffer.from(variant.type.encode(variant.type.fromObject(object)).finish());
}

// ---------------------------------------------------------------------------------------------

describe('CheckRequest reader', () => {
  describe('agrees with proto-loader on what Envoy sends', () => {
    const fixtures = join(REPO_ROOT, 'test', 'fixtures', 'check-requests');
    for (const file of readdirSync(fixtures).filter((f) => f.endsWith('.json')).sort()) {
      it(`decodes fixture ${file} into proto-loader's objects for the fields the server reads`, () => {
        const object = (JSON.parse(readFileSync(join(fixtures, file), 'utf8')) as { check_request: Record<string, unknown> }).check_request;
        assertAgree(encodeOfficialCheckRequest(object));
      });
    }

    it('decodes Envoy-shaped requests with headers, raw headers, bodies and an mTLS peer the same way', () => {
      const inputs = [
        {},
        { method: 'POST', path: '/v1/payments', headers: [['Content-Type', 'application/json'], ['X-A', '1'], ['x-a', '2']] as const, body: '{"a":1}', withRequestBody: { maxRequestBytes: 1024, packAsBytes: true } },
        { encodeRawHeaders: true, headers: [['x-a', Buffer.from([0x61, 0xff, 0x62])], ['x-a', 'again'], ['__proto__', 'p']] as const },
        { body: Buffer.from([0xc3, 0x28, 0x41]), withRequestBody: { maxRequestBytes: 2, allowPartialMessage: true } },
        { source: { address: '2001:db8::7', port: 443, principal: 'spiffe://cluster.local/ns/a/sa/b' }, contextExtensions: { trustplane_route: 'r', trustplane_mode: 'dry_run' } },
        { headers: [['10', 'ten'], ['2', 'two'], ['b', 'bee'], ['a', 'ay']] as const, tlsSni: 'api.example.com', metadataContext: { filter_metadata: { ns: { fields: { k: { stringValue: 'v' } } } } } },
      ];
      for (const input of inputs) assertAgree(envoyCheckRequest(input));
    });

    it('agrees on random CheckRequests encoded with the official definitions', () => {
      fc.assert(
        fc.property(checkRequestObject, (object) => {
          assertAgree(encodeOfficialCheckRequest(object as Record<string, unknown>));
        }),
        { numRuns: 400 },
      );
    });

    it('agrees when the strings it reads carry any bytes, invalid UTF-8 included, and fields it does not know surround them', () => {
      let invalid = 0;
      fc.assert(
        fc.property(variantObject, (object) => {
          const bytes = encodeVariant(object);
          assertAgree(bytes);
          const path = (object as { attributes?: { request?: { http?: { path?: Uint8Array } } } }).attributes?.request?.http?.path;
          if (path !== undefined && !isUtf8(path)) invalid++;
        }),
        { numRuns: 400 },
      );
      assert.ok(invalid > 0, 'the run put invalid UTF-8 in a string the server reads');
    });

    it('reads invalid UTF-8 in a string as proto-loader does: one U+FFFD per maximal invalid subpart', () => {
      const http = done(w().uint32(tag(2, 2)).bytes(Buffer.from([0x50, 0xc3, 0x28, 0xf0, 0x9f, 0x98, 0x80, 0xed, 0xa0, 0x80, 0xff])));
      const ours = assertAgree(inHttp(http));
      assert.ok(isMalformed(ours));
      assert.equal(ours.view.method, 'P\ufffd(\u{1F600}\ufffd\ufffd\ufffd\ufffd');
      // …and with the path and authority present, as the view's method.
      const full = assertAgree(inHttp(Buffer.concat([http, done(w().uint32(tag(4, 2)).string('/p').uint32(tag(5, 2)).string('h'))])));
      assert.ok(!isMalformed(full));
      assert.equal(full.method, 'P\ufffd(\u{1F600}\ufffd\ufffd\ufffd\ufffd');
    });

    it('keeps the last of a message field sent twice, as protobufjs does, and the last value of a repeated map key in its first place', () => {
      const first = done(w().uint32(tag(2, 2)).string('GET').uint32(tag(4, 2)).string('/first'));
      const second = done(w().uint32(tag(5, 2)).string('h.example'));
      const entry = (k: string, v: string): Buffer => done(w().uint32(tag(1, 2)).string(k).uint32(tag(2, 2)).string(v));
      const headers = done(w().uint32(tag(3, 2)).bytes(entry('x-a', '1')).uint32(tag(3, 2)).bytes(entry('x-b', '2')).uint32(tag(3, 2)).bytes(entry('x-a', '3')));
      const bytes = nest([1, 4], done(w().uint32(tag(2, 2)).bytes(first).uint32(tag(2, 2)).bytes(Buffer.concat([second, headers]))));
      // The first HttpRequest's method and path are gone with it.
      assert.deepStrictEqual(assertAgree(bytes), { reason: 'request_malformed', detail: 'missing method, path', view: { authority: 'h.example' } });
      const withTarget = done(w().uint32(tag(2, 2)).string('PUT').uint32(tag(4, 2)).string('/second'));
      const ours = assertAgree(nest([1, 4], done(w().uint32(tag(2, 2)).bytes(first).uint32(tag(2, 2)).bytes(Buffer.concat([withTarget, second, headers])))));
      assert.ok(!isMalformed(ours));
      assert.deepEqual([ours.method, ours.path, ours.authority], ['PUT', '/second', 'h.example']);
      assert.deepEqual([...ours.headers], [['x-a', '3'], ['x-b', '2']]);
    });

    it('skips unknown fields inside a map entry and takes a missing key or value as empty', () => {
      const entry = done(w().uint32(tag(7, 0)).uint32(5).uint32(tag(2, 2)).string('only-value').uint32(tag(9, 5)).fixed32(1));
      const http = done(w().uint32(tag(3, 2)).bytes(entry).uint32(tag(3, 2)).bytes(done(w().uint32(tag(1, 2)).string('only-key'))));
      const target = done(w().uint32(tag(2, 2)).string('GET').uint32(tag(4, 2)).string('/p').uint32(tag(5, 2)).string('h'));
      const ours = assertAgree(inHttp(Buffer.concat([target, http])));
      assert.ok(!isMalformed(ours));
      // The entry without a key has the empty name, which names no header.
      assert.deepEqual([...ours.headers], [['only-key', '']]);
    });

    it('reads a port sent after a named port, as protobufjs does', () => {
      // attributes { source { address { socket_address { … } } }, request { http { … } } }
      const source = nest([1, 1, 1], done(w().uint32(tag(2, 2)).string('10.0.0.1').uint32(tag(4, 2)).string('http').uint32(tag(3, 0)).uint32(8080)));
      const request = nest([4, 2], done(w().uint32(tag(2, 2)).string('GET').uint32(tag(4, 2)).string('/p').uint32(tag(5, 2)).string('h')));
      const bytes = nest([1], Buffer.concat([source, request]));
      const ours = assertAgree(bytes);
      assert.ok(!isMalformed(ours));
      assert.equal(ours.sourceAddress, '10.0.0.1:8080');
    });

    it('does not look inside declared fields it does not read: a malformed destination still decodes', () => {
      // attributes { destination (2) { address (1) { <length running past the message> } }, request { http { … } } }
      const good = envoyCheckRequest({ method: 'GET', path: '/p', authority: 'h.example' });
      const brokenDestination = done(w().uint32(tag(2, 2)).bytes(Buffer.from([0x0a, 0x7f, 0x00])));
      const attributes = decodeLength(good.subarray(1));
      const bytes = done(w().uint32(tag(1, 2)).bytes(Buffer.concat([brokenDestination, attributes])));
      assert.throws(() => loaderDecode(bytes));
      assertSameView(read(bytes), referenceRequestView(loaderDecode(good), SETTINGS));
    });
  });

  describe('refuses bytes that are not a CheckRequest, as a request_malformed deny', () => {
    const cases: ReadonlyArray<[string, Buffer, string]> = [
      ['a group start (wire type 3)', Buffer.from([0x0b]), 'wire type 3'],
      ['a group end (wire type 4)', Buffer.from([0x0c]), 'wire type 4'],
      ['wire type 6', Buffer.from([0x0e]), 'wire type 6'],
      ['wire type 7', Buffer.from([0x0f]), 'wire type 7'],
      ['an unknown field of wire type 3', done(w().uint32(tag(100, 3)).uint32(tag(100, 4))), 'wire type 3'],
      ['field number 0', Buffer.from([0x02, 0x00]), 'field number 0'],
      ['attributes as a varint', Buffer.from([0x08, 0x01]), 'field 1 with wire type 0'],
      ['a tag cut short', Buffer.from([0x80]), 'truncated varint'],
      ['a length cut short', Buffer.from([0x0a]), 'truncated varint'],
      ['a length past the end', Buffer.from([0x0a, 0x05, 0x01]), 'length past the end of the message'],
      ['a tag over 32 bits', Buffer.from([0x80, 0x80, 0x80, 0x80, 0x10]), 'varint over 32 bits'],
      ['a tag of six bytes', Buffer.from([0x8a, 0x80, 0x80, 0x80, 0x80, 0x00]), 'varint over 32 bits'],
      ['an unknown varint of 11 bytes', Buffer.concat([done(w().uint32(tag(100, 0))), Buffer.alloc(10, 0xff), Buffer.from([0x01])]), 'varint longer than 10 bytes'],
      ['an unknown varint cut short', Buffer.concat([done(w().uint32(tag(100, 0))), Buffer.from([0xff, 0xff])]), 'truncated varint'],
      ['an unknown fixed64 cut short', Buffer.concat([done(w().uint32(tag(100, 1))), Buffer.alloc(7)]), 'truncated fixed64'],
      ['an unknown fixed32 cut short', Buffer.concat([done(w().uint32(tag(100, 5))), Buffer.alloc(3)]), 'truncated fixed32'],
      ['the method as a varint', inHttp(done(w().uint32(tag(2, 0)).uint32(3))), 'field 2 with wire type 0'],
      ['the unread size as bytes', inHttp(done(w().uint32(tag(9, 2)).string('1'))), 'field 9 with wire type 2'],
      ['a port over 32 bits', inSocket(done(w().uint32(tag(3, 0)).uint64(2 ** 40))), 'varint over 32 bits'],
    ];
    for (const [title, bytes, detail] of cases) {
      it(`${title} → request_malformed (${detail})`, () => {
        assert.equal(malformedDetail(bytes), detail);
      });
    }

    it('refuses a string that runs past its message, which proto-loader would cut short', () => {
      // http { method: "GET" claimed as 9 bytes } followed, inside Request, by other bytes.
      const http = Buffer.from([tag(2, 2), 9, 0x47, 0x45, 0x54]);
      const bytes = inHttp(http, Buffer.from([tag(7, 2), 4, 0x41, 0x41, 0x41, 0x41]));
      assert.equal((loaderDecode(bytes) as { attributes: { request: { http: { method: string } } } }).attributes.request.http.method, 'GET');
      assert.equal(malformedDetail(bytes), 'length past the end of the message');
    });

    it('answers zero bytes as an empty CheckRequest, not as undecodable', () => {
      assert.deepStrictEqual(read(Buffer.alloc(0)), { reason: 'request_malformed', detail: 'attributes missing', view: {} });
      assertAgree(Buffer.alloc(0));
    });

    it('never throws on truncated, altered or random bytes; refuses only what protobufjs also refuses or a stricter rule forbids', () => {
      const pool = [
        envoyCheckRequest({ method: 'POST', path: '/v1/payments', headers: [['content-type', 'application/json']], body: '{"a":1}', withRequestBody: { maxRequestBytes: 64, packAsBytes: true }, contextExtensions: { trustplane_route: 'r' } }),
        envoyCheckRequest({ encodeRawHeaders: true, headers: [['x-a', Buffer.from([0xff])], ['x-b', '2']], source: { address: '10.0.0.1', port: 1, principal: 'spiffe://a/b' } }),
        encodeVariant({ future_string: 'x', attributes: { future_fixed64: '1', request: { http: { method: Buffer.from('GET'), future_double: 1.5, header_map: { headers: [{ key: Buffer.from('k'), future_packed: [1, -1], future_message: { key: Buffer.from('f') } }] } } } } }),
      ];
      const mutated = fc.oneof(
        fc.uint8Array({ maxLength: 200 }),
        fc.tuple(fc.constantFrom(...pool), fc.nat()).map(([b, n]) => b.subarray(0, n % (b.length + 1))),
        fc.tuple(fc.constantFrom(...pool), fc.nat(), fc.integer({ min: 0, max: 255 })).map(([b, n, v]) => {
          const c = Buffer.from(b);
          c[n % c.length] = v;
          return c;
        }),
        fc.tuple(fc.constantFrom(...pool), fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 6 })).map(([b, n, ins]) => {
          const at = n % (b.length + 1);
          return Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
        }),
      );
      const seen = { refusedByBoth: 0, stricter: 0, agreed: 0, unreadFieldBroken: 0 };
      fc.assert(
        fc.property(mutated, (input) => {
          const bytes = Buffer.from(input);
          const ours = read(bytes);
          const subset = attempt(subsetDecode, bytes);
          if (isMalformed(ours) && ours.detail.startsWith('undecodable')) {
            const detail = malformedDetail(bytes);
            if (subset.ok) {
              assert.ok(STRICTER.some((re) => re.test(detail)), `protobufjs read what we refused with "${detail}"`);
              seen.stricter++;
            } else seen.refusedByBoth++;
            return;
          }
          // Whatever we read, protobufjs reading the same fields reads too, and the same way…
          assert.ok(subset.ok, 'protobufjs refused what we read');
          assertSameView(ours, referenceRequestView(subset.value, SETTINGS));
          // …and so does proto-loader, unless what breaks it is in a field the server does not read.
          const full = attempt(loaderDecode, bytes);
          if (full.ok) {
            assertSameView(ours, referenceRequestView(full.value, SETTINGS));
            seen.agreed++;
          } else seen.unreadFieldBroken++;
        }),
        { numRuns: 3000 },
      );
      assert.ok(seen.refusedByBoth > 0 && seen.stricter > 0 && seen.agreed > 0, JSON.stringify(seen));
    });
  });

  describe('in the Check service', () => {
    const internalErrors: unknown[] = [];
    const service = new CheckService({
      bundle: () => undefined,
      store: new MemoryReplayStore({ maxEntries: 100, generationStartMs: -Infinity }),
      settings: SETTINGS,
      engine: DEFAULT_ENGINE_OPTIONS,
      onDecision: () => {},
      onInternalError: (error) => internalErrors.push(error),
    });
    let server: GrpcServer;
    let address: string;

    before(async () => {
      server = new GrpcServer();
      service.addToServer(server);
      address = `127.0.0.1:${await server.listen('127.0.0.1:0')}`;
    });

    after(() => {
      server.forceShutdown();
    });

    afterEach(() => {
      assert.deepEqual(internalErrors, []);
    });

    it('answers undecodable bytes over gRPC with a request_malformed deny (400), not the INTERNAL error proto-loader caused', async () => {
      const client = makeRawCheckClient(address);
      try {
        for (const bytes of [Buffer.from([0x0b]), Buffer.from([0x0a, 0x05, 0x01]), inHttp(Buffer.from([tag(13, 2), 0x7f]))]) {
          assert.throws(() => loaderDecode(bytes));
          const response = await client.check(bytes);
          assert.deepEqual(response.status, { code: 3, message: 'request_malformed' });
          assert.equal(response.denied_response?.status?.code, 'BadRequest');
          assert.equal(structToPlain(response.dynamic_metadata)['reason'], 'request_malformed');
        }
        // A request the decoder reads goes on to the engine (here: no bundle loaded).
        const good = await client.check(envoyCheckRequest({ method: 'GET', path: '/p', authority: 'h.example' }));
        assert.equal(good.status?.message, 'bundle_unavailable');
      } finally {
        client.close();
      }
    });

    it('denies random bytes with request_malformed or a later reason, never an allow and never an exception', async () => {
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 256 }), async (bytes) => {
          const result = read(Buffer.from(bytes));
          const response = decodeOfficialCheckResponse(await service.decide(Buffer.from(bytes)));
          assert.equal(response.http_response, 'denied_response', 'a deny');
          if (isMalformed(result)) assert.deepEqual(response.status, { code: 3, message: 'request_malformed' });
          else assert.notEqual(response.status?.code ?? 0, 0);
        }),
        { numRuns: 500 },
      );
    });
  });
});

/** The payload of a length-delimited field whose length starts `bytes`. */
function decodeLength(bytes: Uint8Array): Buffer {
  const reader = protobuf.Reader.create(bytes);
  return Buffer.from(reader.bytes());
}

function isUtf8(bytes: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}
