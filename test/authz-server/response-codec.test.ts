import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { encodeCheckResponseFast } from '../../authz-server/src/response-codec.js';
import { encodeCheckResponse, type CheckResponse } from '../../authz-server/src/proto.js';
import { toCheckResponse } from '../../authz-server/src/translate/response.js';
import { edgeDecision } from '../../core/src/engine/verify.js';
import { REASON_CODES, type ReasonCode } from '../../core/src/reasons.js';
import type { Decision } from '../../core/src/types.js';
import { OfficialCheckResponse } from '../support/envoy-api.js';

/** Decoded with Envoy's official definitions, as plain JSON. */
const official = (bytes: Buffer): unknown => OfficialCheckResponse.toObject(OfficialCheckResponse.decode(bytes), { defaults: true, enums: Number, longs: String });

function decision(reason: ReasonCode, over: Partial<Decision> = {}): Decision {
  const d = edgeDecision(reason);
  return {
    ...d,
    ...(reason === 'ok' ? { allow: true, identity: { issuer: 'https://i.test', subject: 'spiffe://t/ns/a/sa/b', trustDomain: 't', keyBinding: 'software', kid: 'k1', jti: 'j1', audience: 'https://a' }, routeId: 'r1' } : {}),
    ...over,
  } as Decision;
}

describe('direct CheckResponse encoder', () => {
  const responses: [string, CheckResponse][] = [
    ...REASON_CODES.map((c): [string, CheckResponse] => [c, toCheckResponse(decision(c))]),
    ['dry-run allow', toCheckResponse(decision('jti_replay', { allow: true, dryRun: true }))],
  ];
  for (const [name, r] of responses) {
    it(`encodes the ${name} response to what Envoy's definitions decode exactly as the generic encoding`, () => {
      assert.deepEqual(official(encodeCheckResponseFast(r)), official(encodeCheckResponse(r)));
    });
  }
  it('agrees with the generic encoder on arbitrary header and metadata values', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 60 }), fc.string({ maxLength: 30 }), fc.double({ noNaN: true }), (v, k, n) => {
        const r: CheckResponse = {
          status: { code: 0, message: '' },
          ok_response: {
            headers: [{ header: { key: `x-${k.length}`, value: v }, append_action: 2 }],
            headers_to_remove: [k],
            response_headers_to_add: [{ header: { key: 'x-r', value: v }, append: { value: true } }],
            query_parameters_to_set: [{ key: 'q', value: v }],
          },
          dynamic_metadata: { fields: { [k]: { stringValue: v }, n: { numberValue: n }, s: { structValue: { fields: { b: { boolValue: true } } } } } },
        };
        assert.deepEqual(official(encodeCheckResponseFast(r)), official(encodeCheckResponse(r)));
      }),
      { numRuns: 300 },
    );
  });

  it('agrees with the generic encoder on values that outgrow its scratch buffer, negative codes, lists, nulls, raw values and empty entries', () => {
    const big = 'é'.repeat(20_000) + 'x'.repeat(70_000);
    const r: CheckResponse = {
      status: { code: -7, message: 'ü'.repeat(200) },
      ok_response: {
        headers: [
          { header: { key: 'x-big', value: big }, append_action: 2, keep_empty_value: true },
          { header: { key: 'x-raw', raw_value: Buffer.from([0, 255, 10]) }, append: { value: false } },
          { header: { key: '', value: '' } },
        ],
        headers_to_remove: ['', 'x-a', 'ß'.repeat(100)],
        query_parameters_to_remove: ['', 'q'],
      },
      dynamic_metadata: {
        fields: {
          n: { nullValue: 0 },
          l: { listValue: { values: [{ stringValue: 'a' }, { numberValue: -0.5 }, { listValue: { values: [] } }, { boolValue: false }] } },
          big: { stringValue: big },
        },
      },
    };
    assert.deepEqual(official(encodeCheckResponseFast(r)), official(encodeCheckResponse(r)));
    const deny: CheckResponse = { status: { code: 2 ** 31 - 1, message: '' }, denied_response: { status: { code: 0 }, headers: [], body: '' } };
    assert.deepEqual(official(encodeCheckResponseFast(deny)), official(encodeCheckResponse(deny)));
  });

  it('returns bytes that later encodings do not overwrite, with more distinct names than its table of constant pieces holds', () => {
    const responses = Array.from({ length: 200 }, (_, i): CheckResponse => ({
      status: { code: 0, message: '' },
      ok_response: { headers: [{ header: { key: `x-name-${i}`, value: `v${i}` }, append_action: 2 }], headers_to_remove: [`x-gone-${i}`] },
      dynamic_metadata: { fields: { [`key_${i}`]: { stringValue: `value ${i}` } } },
    }));
    const encoded = responses.map((r) => encodeCheckResponseFast(r));
    responses.forEach((r, i) => assert.deepEqual(official(encoded[i]!), official(encodeCheckResponse(r))));
  });
});
