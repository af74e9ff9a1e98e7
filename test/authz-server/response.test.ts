import assert from 'node:assert/strict';
import { AUDIT_SCHEMA, type AuditEvent, type Decision, type Identity } from '../../core/src/types.js';
import { REASONS, REASON_CODES, type ReasonCode } from '../../core/src/reasons.js';
import { writeAllow, writeCheckResponse, writeDeny } from '../../authz-server/src/envoy/check-response.js';
import { OfficialCheckResponse } from '../support/envoy-api.js';

/** A CheckResponse as Envoy's definitions read it (proto field names, enums as numbers), status always present. */
interface HeaderValueOption {
  header: { key: string; value?: string };
  append_action?: number;
  append?: unknown;
}
type Struct = { fields: Record<string, { stringValue?: string; boolValue?: boolean }> };
type CheckResponse =
  | { status: { code: number; message: string }; denied_response: { status: { code: number }; headers: HeaderValueOption[]; body: string }; dynamic_metadata?: Struct }
  | { status: { code: number; message: string }; ok_response: { headers: HeaderValueOption[]; headers_to_remove: string[] }; dynamic_metadata?: Struct };

/** What the builders wrote, read back with Envoy's official definitions. */
function read(bytes: Buffer): CheckResponse {
  const o = OfficialCheckResponse.toObject(OfficialCheckResponse.decode(bytes), { enums: Number, longs: String, defaults: false }) as Record<string, unknown>;
  const status = (o['status'] ?? {}) as { code?: number; message?: string };
  return { ...o, status: { code: status.code ?? 0, message: status.message ?? '' } } as CheckResponse;
}
const allowResponse = (d: Decision, namespaceHeaders?: readonly string[]): CheckResponse => read(writeAllow(d, namespaceHeaders));
const denyResponse = (d: Decision): CheckResponse => read(writeDeny(d));
const toCheckResponse = (d: Decision): CheckResponse => read(writeCheckResponse(d));

const IDENTITY: Identity = Object.freeze({
  issuer: 'https://issuer.example.org',
  subject: 'spiffe://example.org/ns/billing/sa/client',
  trustDomain: 'example.org',
  keyBinding: 'attested_workload',
  kid: 'issuer-key-1',
  jti: 'jti-7f3a',
  audience: 'https://api.example.com',
});

const AUDIT: AuditEvent = Object.freeze({
  schema: AUDIT_SCHEMA,
  time: '2025-06-01T12:00:00.000Z',
  decision_id: 'dec-0001',
  decision: 'allow',
  enforced: true,
  reason_code: 'ok',
  phase: 'decision',
  detail: null,
  route_id: 'orders-read',
  audience: null,
  issuer: null,
  subject: null,
  trust_domain: null,
  jti: null,
  kid: null,
  key_binding: null,
  transcript_sha256: null,
  method: 'GET',
  authority: 'api.example.com',
  path: '/v1/orders/42',
  source_address: null,
  source_principal: null,
  bundle_serial: 1,
  latency_us: 120,
  credential_kind: 'transcript-v1',
  credential_mode: 'per_request',
  bound: 'method authority path query headers body',
  dpop_jti: null,
});

function allowDecision(over: Partial<Decision> = {}): Decision {
  return {
    allow: true,
    reason: 'ok',
    phase: 'decision',
    httpStatus: 200,
    grpcStatus: 0,
    decisionId: 'dec-0001',
    dryRun: false,
    routeId: 'orders-read',
    identity: IDENTITY,
    audit: AUDIT,
    ...over,
  };
}

function denyDecision(reason: ReasonCode, over: Partial<Decision> = {}): Decision {
  return allowDecision({
    allow: false,
    reason,
    httpStatus: REASONS[reason].status,
    grpcStatus: REASONS[reason].grpc,
    identity: undefined,
    ...over,
  });
}

const set = (key: string, value: string): HeaderValueOption => ({ header: { key, value }, append_action: 2 });
const CREDENTIALS = ['x-trustplane-passport', 'x-trustplane-proof', 'x-trustplane-body-sha256'];

function headerOptions(r: CheckResponse): HeaderValueOption[] {
  return 'ok_response' in r ? r.ok_response.headers : r.denied_response.headers;
}

describe('writeAllow', () => {
  it('sets every identity header, removes the credential headers and publishes the decision as metadata', () => {
    assert.deepEqual(allowResponse(allowDecision()), {
      status: { code: 0, message: '' },
      ok_response: {
        headers: [
          set('x-trustplane-subject', 'spiffe://example.org/ns/billing/sa/client'),
          set('x-trustplane-issuer', 'https://issuer.example.org'),
          set('x-trustplane-trust-domain', 'example.org'),
          set('x-trustplane-key-binding', 'attested_workload'),
          set('x-trustplane-route', 'orders-read'),
          set('x-trustplane-decision-id', 'dec-0001'),
        ],
        headers_to_remove: CREDENTIALS,
      },
      dynamic_metadata: {
        fields: {
          decision_id: { stringValue: 'dec-0001' },
          reason: { stringValue: 'ok' },
          route_id: { stringValue: 'orders-read' },
          subject: { stringValue: 'spiffe://example.org/ns/billing/sa/client' },
          issuer: { stringValue: 'https://issuer.example.org' },
          trust_domain: { stringValue: 'example.org' },
          key_binding: { stringValue: 'attested_workload' },
          jti: { stringValue: 'jti-7f3a' },
          dry_run: { boolValue: false },
        },
      },
    });
  });

  it('removes an identity header it cannot set, so a client-sent copy never reaches the upstream', () => {
    const r = allowResponse(allowDecision({ routeId: undefined }));
    assert.ok('ok_response' in r);
    assert.deepEqual(
      r.ok_response.headers.map((h) => h.header.key),
      ['x-trustplane-subject', 'x-trustplane-issuer', 'x-trustplane-trust-domain', 'x-trustplane-key-binding', 'x-trustplane-decision-id'],
    );
    assert.deepEqual(r.ok_response.headers_to_remove, [...CREDENTIALS, 'x-trustplane-route']);
    assert.equal(r.dynamic_metadata?.fields['route_id'], undefined);
  });

  it('removes the client\'s other namespace headers too, after the credentials and the unset identity names', () => {
    const r = allowResponse(allowDecision({ routeId: undefined }), ['x-trustplane-reason', 'x-trustplane-x']);
    assert.ok('ok_response' in r);
    assert.deepEqual(r.ok_response.headers_to_remove, [...CREDENTIALS, 'x-trustplane-route', 'x-trustplane-reason', 'x-trustplane-x']);
  });

  it('forwards no identity on a dry-run allow of a would-be deny, and names the deny in metadata', () => {
    const r = allowResponse(allowDecision({ reason: 'jti_replay', dryRun: true }));
    assert.deepEqual(r, {
      status: { code: 0, message: '' },
      ok_response: {
        headers: [set('x-trustplane-route', 'orders-read'), set('x-trustplane-decision-id', 'dec-0001')],
        headers_to_remove: [
          ...CREDENTIALS,
          'x-trustplane-subject',
          'x-trustplane-issuer',
          'x-trustplane-trust-domain',
          'x-trustplane-key-binding',
        ],
      },
      dynamic_metadata: {
        fields: {
          decision_id: { stringValue: 'dec-0001' },
          reason: { stringValue: 'jti_replay' },
          route_id: { stringValue: 'orders-read' },
          dry_run: { boolValue: true },
          would_deny_reason: { stringValue: 'jti_replay' },
        },
      },
    });
  });

  it('forwards identity on a dry-run allow whose verdict was ok, without a would_deny_reason', () => {
    const r = allowResponse(allowDecision({ dryRun: true }));
    assert.ok('ok_response' in r);
    assert.equal(r.ok_response.headers.length, 6);
    assert.deepEqual(r.dynamic_metadata?.fields['dry_run'], { boolValue: true });
    assert.equal(r.dynamic_metadata?.fields['would_deny_reason'], undefined);
  });

  it('drops and removes a header whose value Envoy would reject: CR, LF, NUL, or more than 16384 bytes', () => {
    const cases: ReadonlyArray<[string, boolean]> = [
      ['spiffe://example.org/a\r\nx-injected: 1', false],
      ['spiffe://example.org/a\nb', false],
      ['spiffe://example.org/a\0b', false],
      ['s'.repeat(16385), false],
      ['é'.repeat(8193), false], // 16386 bytes in UTF-8
      ['s'.repeat(16384), true],
    ];
    for (const [subject, kept] of cases) {
      const r = allowResponse(allowDecision({ identity: { ...IDENTITY, subject } }));
      assert.ok('ok_response' in r);
      assert.equal(r.ok_response.headers.some((h) => h.header.key === 'x-trustplane-subject'), kept, JSON.stringify(subject.slice(0, 40)));
      assert.equal(r.ok_response.headers_to_remove.includes('x-trustplane-subject'), !kept);
    }
  });
});

describe('writeDeny', () => {
  it('answers a 401 reason with a successful RPC, UNAUTHENTICATED, an explicit 401, a challenge and a JSON body', () => {
    assert.deepEqual(denyResponse(denyDecision('passport_missing')), {
      status: { code: 16, message: 'passport_missing' },
      denied_response: {
        status: { code: 401 },
        headers: [
          set('x-trustplane-reason', 'passport_missing'),
          set('x-trustplane-decision-id', 'dec-0001'),
          set('content-type', 'application/json'),
          set('www-authenticate', 'TrustPlane error="passport_missing"'),
        ],
        body: '{"reason":"passport_missing","decision_id":"dec-0001","status":401}',
      },
      dynamic_metadata: {
        fields: {
          decision_id: { stringValue: 'dec-0001' },
          reason: { stringValue: 'passport_missing' },
          route_id: { stringValue: 'orders-read' },
          dry_run: { boolValue: false },
        },
      },
    });
  });

  const families: ReadonlyArray<[ReasonCode, number, number]> = [
    ['source_not_allowed', 7, 403],
    ['replay_store_unavailable', 14, 503],
    ['request_malformed', 3, 400],
    ['body_partial', 3, 413],
    ['internal_error', 13, 500],
  ];
  for (const [reason, grpc, http] of families) {
    it(`answers ${reason} with gRPC code ${grpc}, HTTP ${http} and no challenge`, () => {
      const r = denyResponse(denyDecision(reason));
      assert.ok('denied_response' in r);
      assert.deepEqual(r.status, { code: grpc, message: reason });
      assert.deepEqual(r.denied_response.status, { code: http });
      assert.deepEqual(r.denied_response.headers, [
        set('x-trustplane-reason', reason),
        set('x-trustplane-decision-id', 'dec-0001'),
        set('content-type', 'application/json'),
      ]);
      assert.deepEqual(JSON.parse(r.denied_response.body), { reason, decision_id: 'dec-0001', status: http });
    });
  }

  it('never publishes identity on a deny, even when the decision carries one', () => {
    const r = denyResponse(denyDecision('jti_replay', { identity: IDENTITY }));
    assert.deepEqual(Object.keys(r.dynamic_metadata?.fields ?? {}), ['decision_id', 'reason', 'route_id', 'dry_run']);
  });

  it('answers a deny whose reason has gRPC code 0 as internal_error, so it can never read as OK', () => {
    const r = denyResponse(denyDecision('ok'));
    assert.ok('denied_response' in r);
    assert.deepEqual(r.status, { code: 13, message: 'internal_error' });
    assert.deepEqual(r.denied_response.status, { code: 500 });
    assert.equal(r.denied_response.headers[0]?.header.value, 'internal_error');
  });

  it('answers an unknown reason string as internal_error', () => {
    const r = denyResponse(denyDecision('internal_error', { reason: 'not_a_reason' as ReasonCode }));
    assert.deepEqual(r.status, { code: 13, message: 'internal_error' });
  });

  it('takes status and gRPC code from the reason registry for every reason, always non-zero', () => {
    for (const reason of REASON_CODES.filter((c) => c !== 'ok')) {
      const r = denyResponse(denyDecision(reason));
      assert.ok('denied_response' in r, reason);
      assert.notEqual(r.status.code, 0, reason);
      assert.deepEqual(r.status, { code: REASONS[reason].grpc, message: reason });
      assert.deepEqual(r.denied_response.status, { code: REASONS[reason].status });
      assert.equal(r.denied_response.headers.some((h) => h.header.key === 'www-authenticate'), REASONS[reason].status === 401, reason);
    }
  });
});

describe('writeCheckResponse', () => {
  it('builds an allow for decision.allow and a deny otherwise', () => {
    assert.deepEqual(toCheckResponse(allowDecision()), allowResponse(allowDecision()));
    assert.deepEqual(toCheckResponse(denyDecision('key_revoked')), denyResponse(denyDecision('key_revoked')));
  });

  it('sends every header with append_action OVERWRITE_IF_EXISTS_OR_ADD and no append field at all', () => {
    const responses = [
      allowResponse(allowDecision()),
      allowResponse(allowDecision({ reason: 'transcript_mismatch', dryRun: true })),
      ...REASON_CODES.filter((c) => c !== 'ok').map((c) => denyResponse(denyDecision(c))),
    ];
    for (const r of responses) {
      for (const option of headerOptions(r)) {
        assert.equal(option.append_action, 2);
        assert.equal(Object.prototype.hasOwnProperty.call(option, 'append'), false);
      }
    }
  });
});
