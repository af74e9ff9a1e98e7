import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { AUDIT_SCHEMA, type Decision } from '../../core/src/types.js';
import { REASONS, REASON_CODES, type ReasonCode } from '../../core/src/reasons.js';
import { CHECK_METHOD_PATH, HEALTH_CHECK_PATH, HEALTH_WATCH_PATH, readHealthRequest, writeHealthResponse } from '../../authz-server/src/envoy/services.js';
import { GrpcServer, GrpcStatus } from '../../authz-server/src/envoy/grpc-transport.js';
import { readCheckRequest } from '../../authz-server/src/envoy/check-request.js';
import { writeAllow, writeCheckResponse, writeDeny } from '../../authz-server/src/envoy/check-response.js';
import { AuthorizationClientService } from '../../dev/gateway/authz-client.js';
import { referenceRequestView } from '../support/request-view-reference.js';
import {
  CHECK_PATH,
  OfficialCheckRequest,
  OfficialCheckResponse,
  REPO_ROOT,
  decodeOfficialCheckResponse,
  encodeOfficialCheckRequest,
  encodeOfficialCheckResponse,
  envoyCheckRequest,
  loadOfficialRoot,
  makeRawCheckClient,
  structToPlain,
} from '../support/envoy-api.js';

const FIXTURES = join(REPO_ROOT, 'test', 'fixtures', 'check-requests');
const SETTINGS = { bodyHeader: { trusted: true, name: 'x-trustplane-body-sha256' }, envoyBuffersBody: false };
/** toObject options giving what proto-loader's LOADER_OPTIONS give. */
const AS_OURS = { longs: String, enums: Number, oneofs: true };

/**
 * proto-loader's decoder for protos/ (dev/gateway/authz-client.ts; the server itself reads with
 * envoy/check-request.ts). Its objects are explored freely here, hence `any`.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const loaderDecode = (bytes: Buffer): any => AuthorizationClientService['Check']!.requestDeserialize(bytes);

function fixtureObject(file: string): Record<string, unknown> {
  return (JSON.parse(readFileSync(join(FIXTURES, file), 'utf8')) as { check_request: Record<string, unknown> }).check_request;
}

function decision(over: Partial<Decision> = {}): Decision {
  return {
    allow: true,
    reason: 'ok',
    phase: 'decision',
    httpStatus: 200,
    grpcStatus: 0,
    decisionId: 'dec-wire-1',
    dryRun: false,
    routeId: 'orders-read',
    identity: {
      issuer: 'https://issuer.example.org',
      subject: 'spiffe://example.org/ns/billing/sa/client',
      trustDomain: 'example.org',
      keyBinding: 'hardware_local',
      kid: 'k1',
      jti: 'jti-1',
      audience: 'https://api.example.com',
    },
    audit: {
      schema: AUDIT_SCHEMA, time: '2025-06-01T12:00:00.000Z', decision_id: 'dec-wire-1', decision: 'allow', enforced: true,
      reason_code: 'ok', phase: 'decision', detail: null, route_id: null, audience: null, issuer: null, subject: null, trust_domain: null, jti: null, kid: null,
      key_binding: null, transcript_sha256: null, method: null, authority: null, path: null, source_address: null,
      source_principal: null, bundle_serial: null, latency_us: 0, credential_kind: null, credential_mode: null, bound: null, dpop_jti: null,
    },
    ...over,
  };
}

const deny = (reason: ReasonCode): Decision =>
  decision({ allow: false, reason, httpStatus: REASONS[reason].status, grpcStatus: REASONS[reason].grpc, identity: undefined });

describe('wire compatibility with Envoy\'s official ext_authz definitions', () => {
  describe('CheckRequest: official bytes → our protos/ and our reader', () => {
    for (const file of readdirSync(FIXTURES).filter((f) => f.endsWith('.json')).sort()) {
      it(`decodes fixture ${file} with protos/ exactly as Envoy's definitions do: nothing on the wire lost, nothing invented`, () => {
        const bytes = encodeOfficialCheckRequest(fixtureObject(file));
        const ours = loaderDecode(bytes);
        const message = OfficialCheckRequest.decode(bytes);
        // Every field present on the wire, read by Envoy's definitions, reads the same with ours…
        assertSubset(OfficialCheckRequest.toObject(message, { ...AS_OURS, defaults: false }), ours, 'CheckRequest');
        // …and everything we report, defaults included, is what Envoy's definitions report.
        assertSubset(ours, OfficialCheckRequest.toObject(message, { ...AS_OURS, defaults: true }), 'CheckRequest');
      });

      it(`reads fixture ${file} with the server's reader into the view the rules give on what Envoy's definitions report`, () => {
        const bytes = encodeOfficialCheckRequest(fixtureObject(file));
        const ours = readCheckRequest(bytes, SETTINGS);
        assert.ok(!('reason' in ours), 'reason' in ours ? ours.detail : '');
        const reference = referenceRequestView(OfficialCheckRequest.toObject(OfficialCheckRequest.decode(bytes), { ...AS_OURS, defaults: true }), SETTINGS);
        assert.ok(reference.ok);
        assert.deepStrictEqual(ours, reference.view);
      });
    }

    it('decodes every declared field of a full CheckRequest, typed metadata, TLS session and route metadata included', () => {
      const bytes = encodeOfficialCheckRequest({
        attributes: {
          source: {
            address: { socket_address: { address: '10.244.1.17', port_value: 43512 } },
            service: 'frontend',
            principal: 'spiffe://cluster.local/ns/default/sa/x',
            certificate: '-----BEGIN%20CERTIFICATE-----',
          },
          destination: {
            address: { socket_address: { address: '10.244.2.9', port_value: 8080 } },
            labels: { app: 'payments' },
            principal: 'spiffe://cluster.local/ns/payments/sa/api',
          },
          request: {
            time: { seconds: '1748779206', nanos: 250000000 },
            http: {
              id: '42', method: 'POST', path: '/v1/pay?x=1', host: 'pay.example', scheme: 'https', query: '', fragment: '',
              size: '9007199254740993', protocol: 'HTTP/2',
              headers: { ':authority': 'pay.example', 'x-envoy-auth-partial-body': 'false' },
              raw_body: Buffer.from([0, 1, 2, 255]),
            },
          },
          context_extensions: { trustplane_route: 'pay', trustplane_mode: 'enforce' },
          metadata_context: {
            filter_metadata: { 'envoy.filters.http.jwt_authn': { fields: { sub: { stringValue: 'abc' }, n: { numberValue: 1.5 } } } },
            typed_filter_metadata: { 'istio.authn': { type_url: 'type.googleapis.com/google.protobuf.StringValue', value: Buffer.from([0x0a, 0x01, 0x78]) } },
          },
          route_metadata_context: { filter_metadata: { 'trustplane': { fields: { tier: { stringValue: 'gold' } } } } },
          tls_session: { sni: 'pay.example' },
        },
      });
      const decoded = loaderDecode(bytes);
      const a = decoded.attributes!;
      assert.deepEqual(a.source?.address?.socket_address, {
        protocol: 0, address: '10.244.1.17', port_value: 43512, port_specifier: 'port_value', resolver_name: '', ipv4_compat: false,
      });
      assert.equal(a.source?.principal, 'spiffe://cluster.local/ns/default/sa/x');
      assert.equal(a.source?.service, 'frontend');
      assert.deepEqual({ ...a.destination?.labels }, { app: 'payments' });
      assert.deepEqual(a.request?.time, { seconds: '1748779206', nanos: 250000000 });
      const http = a.request!.http!;
      assert.deepEqual(
        [http.id, http.method, http.path, http.host, http.scheme, http.size, http.protocol],
        ['42', 'POST', '/v1/pay?x=1', 'pay.example', 'https', '9007199254740993', 'HTTP/2'],
      );
      assert.deepEqual(http.raw_body, Buffer.from([0, 1, 2, 255]));
      assert.deepEqual({ ...a.context_extensions }, { trustplane_route: 'pay', trustplane_mode: 'enforce' });
      assert.equal(a.tls_session?.sni, 'pay.example');
      assert.equal(a.metadata_context?.filter_metadata?.['envoy.filters.http.jwt_authn']?.fields['sub']?.stringValue, 'abc');
      assert.equal(a.metadata_context?.filter_metadata?.['envoy.filters.http.jwt_authn']?.fields['n']?.numberValue, 1.5);
      assert.deepEqual(a.metadata_context?.typed_filter_metadata?.['istio.authn'], {
        type_url: 'type.googleapis.com/google.protobuf.StringValue',
        value: Buffer.from([0x0a, 0x01, 0x78]),
      });
      assert.equal(a.route_metadata_context?.filter_metadata?.['trustplane']?.fields['tier']?.stringValue, 'gold');
    });

    it('skips fields a future Envoy adds, at every level and of every wire type', () => {
      const future = loadOfficialRoot();
      const add = (type: string, name: string, id: number, fieldType: string): void => {
        future.lookupType(type).add(new protobuf.Field(name, id, fieldType));
      };
      add('envoy.service.auth.v3.CheckRequest', 'future_string', 100, 'string');
      add('envoy.service.auth.v3.AttributeContext', 'future_fixed64', 101, 'fixed64');
      add('envoy.service.auth.v3.AttributeContext.HttpRequest', 'future_message', 102, 'envoy.config.core.v3.HeaderValue');
      add('envoy.service.auth.v3.AttributeContext.HttpRequest', 'future_fixed32', 103, 'fixed32');
      add('envoy.service.auth.v3.AttributeContext.Peer', 'future_varint', 104, 'uint64');
      add('envoy.config.core.v3.HeaderValue', 'future_bytes', 105, 'bytes');
      add('envoy.config.core.v3.SocketAddress', 'future_bool', 106, 'bool');
      future.resolveAll();
      const FutureCheckRequest = future.lookupType('envoy.service.auth.v3.CheckRequest');
      const withFuture = {
        future_string: 'hello',
        attributes: {
          future_fixed64: '18446744073709551615',
          source: { future_varint: '300', address: { socket_address: { address: '10.0.0.1', port_value: 1, future_bool: true } } },
          request: {
            http: {
              method: 'GET', path: '/p?q', host: 'h.example', future_fixed32: 7,
              future_message: { key: 'k', value: 'v' },
              header_map: { headers: [{ key: 'x-a', raw_value: Buffer.from('1'), future_bytes: Buffer.from([9, 9]) }] },
            },
          },
          context_extensions: { trustplane_route: 'r' },
          metadata_context: {},
        },
      };
      const futureBytes = Buffer.from(FutureCheckRequest.encode(FutureCheckRequest.fromObject(withFuture)).finish());
      const plainBytes = envoyLess(withFuture);
      assert.ok(futureBytes.length > plainBytes.length, 'the future fields are on the wire');
      // What we decode from a future Envoy is exactly what we decode without those fields, with
      // protos/ and with the server's reader.
      assert.deepEqual(loaderDecode(futureBytes), loaderDecode(plainBytes));
      assert.deepEqual(readCheckRequest(futureBytes, SETTINGS), readCheckRequest(plainBytes, SETTINGS));
      for (const result of [referenceRequestView(loaderDecode(futureBytes), SETTINGS), { ok: true, view: readCheckRequest(futureBytes, SETTINGS) }]) {
        assert.ok(result.ok && !('reason' in result.view));
        assert.deepEqual([...result.view.headers], [['x-a', '1']]);
        assert.equal(result.view.sourceAddress, '10.0.0.1:1');
        assert.equal(result.view.routeId, 'r');
      }
    });
  });

  describe('CheckResponse: our writer → official bytes', () => {
    /** [name, bytes, the deny's HTTP status (undefined: an allow)] */
    const shapes: ReadonlyArray<[string, Buffer, number | undefined]> = [
      ['allow with full identity', writeAllow(decision()), undefined],
      ['allow without a route id', writeAllow(decision({ routeId: undefined })), undefined],
      ['allow removing client namespace headers', writeAllow(decision(), ['x-trustplane-reason']), undefined],
      ['dry-run allow of a would-be deny', writeAllow(decision({ reason: 'passport_expired', dryRun: true })), undefined],
      ['dry-run allow whose verdict was ok', writeAllow(decision({ dryRun: true })), undefined],
      ...REASON_CODES.filter((c) => c !== 'ok').map((c): [string, Buffer, number] => [`deny ${c}`, writeDeny(deny(c)), REASONS[c].status]),
    ];

    for (const [name, ours, denyStatus] of shapes) {
      it(`${name}: same bytes as Envoy's definitions produce, headers set with OVERWRITE_IF_EXISTS_OR_ADD and append unset`, () => {
        const asObject = OfficialCheckResponse.toObject(OfficialCheckResponse.decode(ours), { enums: Number, longs: String, defaults: false }) as Record<string, unknown>;
        assert.equal(ours.toString('hex'), encodeOfficialCheckResponse(asObject).toString('hex'));
        const message = OfficialCheckResponse.decode(ours) as unknown as Record<string, Record<string, unknown> | undefined>;
        const http = message['ok_response'] ?? message['denied_response'];
        const options = (http?.['headers'] ?? []) as Array<Record<string, unknown>>;
        assert.ok(options.length > 0);
        for (const option of options) {
          assert.equal(Object.prototype.hasOwnProperty.call(option, 'append'), false, 'append must not be on the wire');
          assert.equal(option['append_action'], 2);
        }
        const decoded = decodeOfficialCheckResponse(ours);
        if (denyStatus === undefined) {
          assert.equal(decoded.http_response, 'ok_response');
          assert.equal(decoded.status?.code ?? 0, 0);
          assert.equal(decoded.ok_response?.dynamic_metadata, undefined, 'the deprecated field would override dynamic_metadata');
        } else {
          assert.equal(decoded.http_response, 'denied_response');
          assert.notEqual(decoded.status?.code ?? 0, 0, 'a deny must not read as OK');
          const http = denyStatus;
          // HttpStatus.code is validated as a defined, non-zero StatusCode
          // (docs/envoy-integration.md F3).
          const enumType = loadedStatusCode();
          assert.equal(decoded.denied_response?.status?.code, enumType.valuesById[http]);
          assert.notEqual(enumType.valuesById[http], undefined, `HTTP ${http} is a defined StatusCode`);
        }
      });
    }

    it('an allow decodes with the official definitions exactly as Envoy reads it', () => {
      assert.deepEqual(decodeOfficialCheckResponse(writeAllow(decision())), {
        // google.rpc.Status with code 0 and no message: proto3 leaves both off the wire.
        status: {},
        ok_response: {
          headers: [
            { header: { key: 'x-trustplane-subject', value: 'spiffe://example.org/ns/billing/sa/client' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
            { header: { key: 'x-trustplane-issuer', value: 'https://issuer.example.org' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
            { header: { key: 'x-trustplane-trust-domain', value: 'example.org' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
            { header: { key: 'x-trustplane-key-binding', value: 'hardware_local' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
            { header: { key: 'x-trustplane-route', value: 'orders-read' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
            { header: { key: 'x-trustplane-decision-id', value: 'dec-wire-1' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
          ],
          headers_to_remove: ['x-trustplane-passport', 'x-trustplane-proof', 'x-trustplane-body-sha256'],
        },
        http_response: 'ok_response',
        dynamic_metadata: {
          fields: {
            decision_id: { stringValue: 'dec-wire-1', kind: 'stringValue' },
            reason: { stringValue: 'ok', kind: 'stringValue' },
            route_id: { stringValue: 'orders-read', kind: 'stringValue' },
            subject: { stringValue: 'spiffe://example.org/ns/billing/sa/client', kind: 'stringValue' },
            issuer: { stringValue: 'https://issuer.example.org', kind: 'stringValue' },
            trust_domain: { stringValue: 'example.org', kind: 'stringValue' },
            key_binding: { stringValue: 'hardware_local', kind: 'stringValue' },
            jti: { stringValue: 'jti-1', kind: 'stringValue' },
            dry_run: { boolValue: false, kind: 'boolValue' },
          },
        },
      });
    });

    it('a 503 deny decodes with the official definitions exactly as Envoy reads it', () => {
      assert.deepEqual(decodeOfficialCheckResponse(writeDeny(deny('replay_store_unavailable'))), {
        status: { code: 14, message: 'replay_store_unavailable' },
        denied_response: {
          status: { code: 'ServiceUnavailable' },
          headers: [
            { header: { key: 'x-trustplane-reason', value: 'replay_store_unavailable' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
            { header: { key: 'x-trustplane-decision-id', value: 'dec-wire-1' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
            { header: { key: 'content-type', value: 'application/json' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
          ],
          body: '{"reason":"replay_store_unavailable","decision_id":"dec-wire-1","status":503}',
        },
        http_response: 'denied_response',
        dynamic_metadata: {
          fields: {
            decision_id: { stringValue: 'dec-wire-1', kind: 'stringValue' },
            reason: { stringValue: 'replay_store_unavailable', kind: 'stringValue' },
            route_id: { stringValue: 'orders-read', kind: 'stringValue' },
            dry_run: { boolValue: false, kind: 'boolValue' },
          },
        },
      });
    });

    it('a dry-run allow carries would_deny_reason in metadata Envoy can read', () => {
      const decoded = decodeOfficialCheckResponse(writeAllow(decision({ reason: 'jti_replay', dryRun: true })));
      assert.deepEqual(structToPlain(decoded.dynamic_metadata), {
        decision_id: 'dec-wire-1',
        reason: 'jti_replay',
        route_id: 'orders-read',
        dry_run: true,
        would_deny_reason: 'jti_replay',
      });
    });
  });

  describe('over a real gRPC channel', () => {
    let server: GrpcServer;
    let address: string;
    const seen: unknown[] = [];

    before(async () => {
      // The server's own transport, with a handler that shows what the reader saw.
      server = new GrpcServer();
      server.unary(CHECK_METHOD_PATH, (call) => {
        const result = readCheckRequest(call.request, SETTINGS);
        seen.push(result);
        if (!('reason' in result) && result.path === '/grpc-error') return call.fail(GrpcStatus.INTERNAL, 'store down');
        call.reply(writeCheckResponse('reason' in result ? deny(result.reason) : decision({ routeId: result.routeId })));
      });
      address = `127.0.0.1:${await server.listen('127.0.0.1:0')}`;
    });

    after(() => {
      server.forceShutdown();
    });

    // What the server registers under it is called end to end by every server test (CHECK_PATH).
    it('CHECK_METHOD_PATH is the path Envoy calls, and the one the tests call', () => {
      assert.equal(CHECK_METHOD_PATH, '/envoy.service.auth.v3.Authorization/Check');
      assert.equal(CHECK_METHOD_PATH, CHECK_PATH);
    });

    it('carries Envoy\'s bytes to the reader and our answer back as Envoy reads it', async () => {
      const client = makeRawCheckClient(address);
      try {
        seen.length = 0;
        const response = await client.check(
          envoyCheckRequest({
            method: 'POST',
            path: '/v1/orders?dry=1',
            protocol: 'HTTP/2',
            headers: [['X-TrustPlane-Passport', 'p'], ['x-trustplane-proof', 'q']],
            body: 'abc',
            withRequestBody: { maxRequestBytes: 1024, packAsBytes: true },
            contextExtensions: { trustplane_route: 'orders-write' },
            source: { address: '10.244.1.17', port: 43512, principal: 'spiffe://cluster.local/ns/default/sa/x' },
          }),
        );
        const view = seen[0] as { path: string; routeId: string; sourcePrincipal: string; body: unknown; headers: Map<string, string> };
        assert.ok(!('reason' in view));
        assert.equal(view.path, '/v1/orders?dry=1');
        assert.equal(view.routeId, 'orders-write');
        assert.equal(view.sourcePrincipal, 'spiffe://cluster.local/ns/default/sa/x');
        assert.deepEqual(view.body, { kind: 'bytes', bytes: new TextEncoder().encode('abc'), partial: false });
        assert.equal(view.headers.get('x-trustplane-passport'), 'p');
        assert.equal(response.http_response, 'ok_response');
        assert.equal(structToPlain(response.dynamic_metadata)['route_id'], 'orders-write');
      } finally {
        client.close();
      }
    });

    it('answers an unusable CheckRequest with a deny, not a gRPC error', async () => {
      const client = makeRawCheckClient(address);
      try {
        const response = await client.check(Buffer.alloc(0));
        assert.deepEqual(response.status, { code: 3, message: 'request_malformed' });
        assert.equal(response.denied_response?.status?.code, 'BadRequest');
      } finally {
        client.close();
      }
    });

    it('rejects with the gRPC status when the server answers an error instead of a CheckResponse', async () => {
      const client = makeRawCheckClient(address);
      try {
        await assert.rejects(client.checkBytes(envoyCheckRequest({ path: '/grpc-error' })), (err: grpc.ServiceError) => {
          assert.equal(err.code, grpc.status.INTERNAL);
          assert.equal(err.details, 'store down');
          return true;
        });
      } finally {
        client.close();
      }
    });
  });

  describe('grpc.health.v1', () => {
    it('uses the standard names, paths and field numbers', () => {
      assert.equal(HEALTH_CHECK_PATH, '/grpc.health.v1.Health/Check');
      assert.equal(HEALTH_WATCH_PATH, '/grpc.health.v1.Health/Watch');
      assert.equal(writeHealthResponse({ status: 1 }).toString('hex'), '0801');
      assert.equal(writeHealthResponse({ status: 3 }).toString('hex'), '0803');
      assert.deepEqual(readHealthRequest(Buffer.from('0a03616263', 'hex')), { service: 'abc' });
    });
  });
});

/** Every key of `small` is in `big` with an equal value, recursively; Buffers compare by content. */
function assertSubset(small: unknown, big: unknown, path: string): void {
  if (small instanceof Uint8Array || big instanceof Uint8Array) {
    assert.ok(small instanceof Uint8Array && big instanceof Uint8Array, `${path}: bytes on one side only`);
    assert.equal(Buffer.from(small).toString('hex'), Buffer.from(big).toString('hex'), path);
    return;
  }
  if (Array.isArray(small)) {
    assert.ok(Array.isArray(big) && big.length === small.length, `${path}: array length`);
    small.forEach((v, i) => assertSubset(v, (big as unknown[])[i], `${path}[${i}]`));
    return;
  }
  if (typeof small === 'object' && small !== null) {
    assert.ok(typeof big === 'object' && big !== null, `${path}: missing`);
    for (const key of Object.keys(small)) {
      assert.ok(Object.prototype.hasOwnProperty.call(big, key), `${path}.${key}: missing`);
      assertSubset((small as Record<string, unknown>)[key], (big as Record<string, unknown>)[key], `${path}.${key}`);
    }
    return;
  }
  assert.equal(small, big, path);
}

/** The same request without the future fields, encoded with the official definitions. */
function envoyLess(withFuture: Record<string, unknown>): Buffer {
  const strip = (value: unknown): unknown => {
    if (Buffer.isBuffer(value) || value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) return value.map(strip);
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).filter(([k]) => !k.startsWith('future_')).map(([k, v]) => [k, strip(v)]),
    );
  };
  return encodeOfficialCheckRequest(strip(withFuture) as Record<string, unknown>);
}

let statusCodeEnum: protobuf.Enum | undefined;
function loadedStatusCode(): protobuf.Enum {
  statusCodeEnum ??= OfficialCheckResponse.root.lookupEnum('envoy.type.v3.StatusCode');
  return statusCodeEnum;
}
