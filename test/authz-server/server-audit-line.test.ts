/**
 * The server writes one audit line per decision through `AuditSink.line`, whose hot path skips the
 * generic redaction walk for flat events. That path must produce exactly what the one redaction
 * list (`redactForLog`) produces, for any event, or it would be a second, weaker redaction list.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AuditSink } from '../../authz-server/src/audit-sink.js';
import { b64url } from '../../core/src/encoding.js';
import { redactForLog } from '../../core/src/redact.js';
import type { AuditEvent } from '../../core/src/types.js';

const JWS = `${b64url(Buffer.from('{"alg":"EdDSA","typ":"tp-passport+jwt","kid":"k1"}'))}.${b64url(Buffer.from('{"sub":"spiffe://x/y","jti":"abc"}'))}.${b64url(Buffer.alloc(64, 7))}`;

const reference = (event: unknown): string => `${JSON.stringify(redactForLog(event))}\n`;

describe('server audit line', () => {
  it('is byte-identical to the generic redaction for random flat and nested events, sensitive keys and JWS-bearing values included', () => {
    const text = fc.oneof(
      fc.string({ maxLength: 60 }),
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

  it('masks a JWS that reached a path on the hot path too', () => {
    const event = { schema: 'trustplane-auth-audit-event-v0.1', decision_id: 'd-1', path: `/v1/payments?t=${JWS}`, latency_us: 12, jti: null } as unknown as AuditEvent;
    const line = AuditSink.line(event);
    assert.equal(line, reference(event));
    assert.equal(line.includes(JWS), false);
    assert.ok(line.includes('[REDACTED_JWS]'));
  });
});
