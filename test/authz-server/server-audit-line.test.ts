/**
 * The server writes one audit line per decision through `AuditSink.line`, whose hot path skips the
 * generic redaction walk for flat events. That path must produce exactly what the one redaction
 * list (`redactForLog`) produces, for any event, or it would be a second, weaker redaction list.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AuditSink } from '../../authz-server/src/audit-sink.js';
import { b64url } from '../../core/src/encoding.js';
import { REDACTED, REDACTED_JWS, redactForLog } from '../../core/src/redact.js';
import { AUDIT_SCHEMA, type AuditEvent } from '../../core/src/types.js';

const JWS = `${b64url(Buffer.from('{"alg":"EdDSA","typ":"tp-passport+jwt","kid":"k1"}'))}.${b64url(Buffer.from('{"sub":"spiffe://x/y","jti":"abc"}'))}.${b64url(Buffer.alloc(64, 7))}`;

const reference = (event: unknown): string => `${JSON.stringify(redactForLog(event))}\n`;

/** An allow event with every field set, as the engine builds it (same keys, same order). */
const ALLOW: AuditEvent = Object.freeze({
  schema: AUDIT_SCHEMA,
  time: '2026-01-02T03:04:05.678Z',
  decision_id: '7f1c0c9e-4b8a-4d8e-9a57-2f6f1b1f0c11',
  decision: 'allow',
  enforced: true,
  reason_code: 'ok',
  phase: 'decision',
  detail: null,
  route_id: 'payments-create',
  audience: 'https://payments.example.com',
  issuer: 'https://issuer.example.com',
  subject: 'spiffe://example.org/ns/shop/sa/checkout',
  trust_domain: 'example.org',
  jti: '01JH8Q3W5ZC4K8W1T0V9B6X2YD',
  kid: 'Zx3kq0nA8bE2rXc5mJt7hY1uVw9sL4oP6dF0gH2jK8M',
  key_binding: 'software',
  transcript_sha256: '9f2c4e1b0d7a5c3e8f6b2a1d4c7e0f9a8b3d6c5e2f1a0b9c8d7e6f5a4b3c2d1e',
  method: 'POST',
  authority: 'api.example.com',
  path: '/v1/payments?expand=items',
  source_address: '10.0.0.7:51234',
  source_principal: 'spiffe://example.org/ns/edge/sa/gateway',
  bundle_serial: 7,
  latency_us: 412,
  credential_kind: 'transcript-v1',
  credential_mode: 'reusable',
  bound: 'method authority path query headers body',
  dpop_jti: null,
});

describe('server audit line', () => {
  it('is byte-identical to the generic redaction for random flat and nested events, sensitive keys and JWS-bearing values included', () => {
    const text = fc.oneof(
      fc.string({ maxLength: 60 }),
      // Any UTF-16 code unit: quotes, backslashes, controls, lone and paired surrogates.
      fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 20 }),
      fc.constantFrom(JWS, `Bearer ${JWS}`, `/v1/payments?token=${JWS}`, 'a'.repeat(41), 'api.example.test.with.a.very.long.dotted.host.name.example', ''),
    );
    const value = fc.oneof(text, fc.constant(null), fc.boolean(), fc.integer(), fc.double(), fc.constant(undefined), fc.dictionary(fc.string({ maxLength: 8 }), text, { maxKeys: 3 }), fc.array(text, { maxLength: 3 }));
    const key = fc.oneof(
      fc.constantFrom('decision_id', 'reason_code', 'route_id', 'subject', 'jti', 'path', 'authority', 'latency_us', 'transcript_sha256'),
      fc.constantFrom('x-trustplane-passport', 'proof', 'Authorization', 'private_key', 'd', 'kty', 'k', '__proto__', 'apiKey', 'token_id'),
      fc.string({ maxLength: 12 }),
    );
    fc.assert(
      fc.property(fc.dictionary(key, value, { maxKeys: 24 }), (event) => {
        assert.equal(AuditSink.line(event as unknown as AuditEvent), reference(event));
      }),
      { numRuns: 2000 },
    );
  });

  it('masks a JWS placed in any field of an allow event, alone, as a bearer value or inside a query', () => {
    const signature = JWS.split('.')[2]!;
    for (const key of Object.keys(ALLOW)) {
      for (const planted of [JWS, `Bearer ${JWS}`, `/v1/payments?access=${JWS}&x=1`]) {
        const event = { ...ALLOW, [key]: planted } as AuditEvent;
        const line = AuditSink.line(event);
        assert.equal(line, reference(event), key);
        assert.equal(line.includes(signature), false, key);
        assert.equal((JSON.parse(line) as Record<string, unknown>)[key], planted.replace(JWS, REDACTED_JWS), key);
      }
    }
  });

  it('masks a value under a secret-looking key added to an allow event, between events of the usual shape', () => {
    const usual = AuditSink.line(ALLOW);
    assert.equal(usual, reference(ALLOW));
    for (const secretKey of ['passport', 'x-trustplane-proof', 'Authorization', 'private_key', 'apiKey', 'client_secret', 'd']) {
      // Added at the end, and in place of `kid` (same number of keys, one name differs).
      const added = { ...ALLOW, [secretKey]: 'sekrit-value' } as unknown as AuditEvent;
      const renamed = Object.fromEntries(Object.entries(ALLOW).map(([k, v]) => (k === 'kid' ? [secretKey, 'sekrit-value'] : [k, v]))) as unknown as AuditEvent;
      for (const event of [added, renamed]) {
        const line = AuditSink.line(event);
        assert.equal(line.includes('sekrit-value'), false, secretKey);
        assert.equal((JSON.parse(line) as Record<string, unknown>)[secretKey], REDACTED, secretKey);
        assert.equal(line, reference(event), secretKey);
        assert.equal(AuditSink.line(ALLOW), usual);
      }
    }
  });

  it('masks a JWS that reached a path on the hot path too', () => {
    const event = { schema: 'trustplane-auth-audit-event-v0.1', decision_id: 'd-1', path: `/v1/payments?t=${JWS}`, latency_us: 12, jti: null } as unknown as AuditEvent;
    const line = AuditSink.line(event);
    assert.equal(line, reference(event));
    assert.equal(line.includes(JWS), false);
    assert.ok(line.includes('[REDACTED_JWS]'));
  });
});
