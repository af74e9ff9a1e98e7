/**
 * The bytes the CheckResponse builders write (authz-server/src/envoy/check-response.ts), read and
 * written again with Envoy's official definitions: for every reason, and for values that are
 * arbitrary, large enough to outgrow the writer's scratch buffer, or many and distinct, the same
 * bytes come back, so what we send is exactly what Envoy's definitions would send for its content.
 */
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { writeAllow, writeCheckResponse, writeDeny } from '../../authz-server/src/envoy/check-response.js';
import { constantField } from '../../authz-server/src/envoy/wire.js';
import { edgeDecision } from '../../core/src/engine/verify.js';
import { REASON_CODES, type ReasonCode } from '../../core/src/reasons.js';
import type { Decision } from '../../core/src/types.js';
import { OfficialCheckResponse, decodeOfficialCheckResponse, structToPlain } from '../support/envoy-api.js';

/** Decoded with Envoy's official definitions, as plain JSON. */
const official = (bytes: Buffer): Record<string, unknown> =>
  OfficialCheckResponse.toObject(OfficialCheckResponse.decode(bytes), { defaults: true, enums: Number, longs: String }) as Record<string, unknown>;

/** The bytes Envoy's definitions write for what they read from `bytes`. */
const canonical = (bytes: Buffer): string =>
  Buffer.from(OfficialCheckResponse.encode(OfficialCheckResponse.decode(bytes)).finish()).toString('hex');

function decision(reason: ReasonCode, over: Partial<Decision> = {}): Decision {
  const d = edgeDecision(reason);
  return {
    ...d,
    ...(reason === 'ok' ? { allow: true, identity: { issuer: 'https://i.test', subject: 'spiffe://t/ns/a/sa/b', trustDomain: 't', keyBinding: 'software', kid: 'k1', jti: 'j1', audience: 'https://a' }, routeId: 'r1' } : {}),
    ...over,
  } as Decision;
}

describe('CheckResponse bytes', () => {
  const responses: [string, Buffer][] = [
    ...REASON_CODES.map((c): [string, Buffer] => [c, writeCheckResponse(decision(c))]),
    ['dry-run allow', writeCheckResponse(decision('jti_replay', { allow: true, dryRun: true }))],
    ['allow removing namespace headers', writeAllow(decision('ok'), ['x-trustplane-a', 'x-trustplane-b'])],
  ];
  for (const [name, bytes] of responses) {
    it(`writes the ${name} response exactly as Envoy's definitions write what they read from it`, () => {
      assert.equal(bytes.toString('hex'), canonical(bytes));
    });
  }

  it('carries arbitrary identity, route and decision id values through as Envoy reads them', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 60 }), fc.string({ maxLength: 30 }), fc.string({ unit: 'binary', maxLength: 20 }), (v, k, id) => {
        const d = decision('ok', { identity: { issuer: v, subject: k, trustDomain: v, keyBinding: 'software', kid: 'k', jti: id, audience: 'a' }, routeId: k, decisionId: id });
        const bytes = writeAllow(d, [`x-trustplane-${k}`]);
        assert.equal(bytes.toString('hex'), canonical(bytes));
        const meta = structToPlain(decodeOfficialCheckResponse(bytes).dynamic_metadata);
        // protobufjs writes a lone surrogate as U+FFFD, as Buffer does
        const wire = (s: string): string => Buffer.from(s, 'utf8').toString('utf8');
        assert.deepEqual([meta['issuer'], meta['subject'], meta['jti'], meta['route_id'], meta['decision_id']], [wire(v), wire(k), wire(id), wire(k), wire(id)]);
        const ok = official(bytes)['ok_response'] as { headers_to_remove: string[] };
        assert.equal(ok.headers_to_remove.at(-1), wire(`x-trustplane-${k}`));
        const denied = writeDeny(decision('jti_replay', { decisionId: id }));
        assert.equal(denied.toString('hex'), canonical(denied));
      }),
      { numRuns: 300 },
    );
  });

  it('writes values that outgrow its scratch buffer, and goes back to a small one after', () => {
    const big = 'é'.repeat(20_000) + 'x'.repeat(70_000);
    const bytes = writeAllow(decision('ok', { routeId: big, decisionId: big }), [big]);
    assert.equal(bytes.toString('hex'), canonical(bytes));
    const decoded = decodeOfficialCheckResponse(bytes);
    assert.equal(structToPlain(decoded.dynamic_metadata)['route_id'], big);
    // Too long for a header value (docs/envoy-integration.md F3): removed, not set.
    assert.ok(decoded.ok_response?.headers_to_remove?.includes('x-trustplane-route'));
    assert.equal(decoded.ok_response?.headers_to_remove?.at(-1), big);
    const small = writeCheckResponse(decision('ok'));
    assert.equal(small.toString('hex'), canonical(small));
  });

  it('returns bytes that later writes do not overwrite, whatever the names', () => {
    const written = Array.from({ length: 200 }, (_, i) => writeAllow(decision('ok', { routeId: `route-${i}`, decisionId: `d-${i}` }), [`x-trustplane-gone-${i}`]));
    written.forEach((bytes, i) => {
      const decoded = decodeOfficialCheckResponse(bytes);
      assert.equal(structToPlain(decoded.dynamic_metadata)['route_id'], `route-${i}`);
      assert.equal(decoded.ok_response?.headers_to_remove?.at(-1), `x-trustplane-gone-${i}`);
    });
  });

  it('writes a constant field\'s tag as a varint, for any field number', () => {
    assert.equal(constantField(1, 'ab').toString('hex'), '0a026162');
    // Field 16: tag (16 << 3) | 2 = 130, two varint bytes.
    assert.equal(constantField(16, 'ab').toString('hex'), '8201026162');
    assert.equal(constantField(1, 'x'.repeat(200)).subarray(0, 3).toString('hex'), '0ac801');
  });
});
