/**
 * The real .wasm under the host emulator: the filter writes the body length it hashed next to the
 * hash (x-trustplane-body-length), replacing every client copy, so the authz server can enforce a
 * route's body.max_bytes when it takes the hash from the filter (docs/transcript-v1.md §10).
 */
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import type { ProxyWasmHost } from '../../dev/gateway/proxy-wasm-host.js';
import { HASH_HEADER, expectedDigest, loadFilter, runRequest, splitAt } from '../support/wasm-filter.js';

const LENGTH_HEADER = 'x-trustplane-body-length';

describe('wasm filter: the body-length header', function () {
  this.timeout(60_000);
  let host: ProxyWasmHost;
  before(async () => {
    host = await loadFilter({ max_body_bytes: 4096 });
  });

  it('is "0" with the empty-body hash on a request without a body', () => {
    const stream = runRequest(host, { headers: [[':method', 'GET'], [':path', '/']], chunks: [] });
    assert.deepEqual(stream.headerValues(LENGTH_HEADER), ['0']);
    assert.deepEqual(stream.headerValues(HASH_HEADER), [expectedDigest(new Uint8Array(0))]);
  });

  it('is "0" when the body is an empty final chunk', () => {
    const stream = runRequest(host, { chunks: [], emptyFinalChunk: true });
    assert.deepEqual(stream.headerValues(LENGTH_HEADER), ['0']);
  });

  for (const [label, extra] of [
    ['once', [[LENGTH_HEADER, '1']]],
    ['twice', [[LENGTH_HEADER, '1'], [LENGTH_HEADER, '2']]],
    ['in another case', [['X-TrustPlane-Body-Length', '999999']]],
  ] as [string, [string, string][]][]) {
    it(`replaces a client copy sent ${label}`, () => {
      const body = new TextEncoder().encode('{"amount":100}');
      const stream = runRequest(host, { headers: [[':method', 'POST'], [':path', '/'], ...extra], chunks: [body] });
      assert.deepEqual(stream.headerValues(LENGTH_HEADER), [String(body.length)]);
      assert.deepEqual(stream.headerValues(HASH_HEADER), [expectedDigest(body)]);
    });
  }

  it('refuses a configuration that names the length header as the hash or passport header', async () => {
    await assert.rejects(loadFilter({ header: LENGTH_HEADER }), /must not be "x-trustplane-body-length"/);
    await assert.rejects(loadFilter({ require_passport_header: LENGTH_HEADER }), /must not be "x-trustplane-body-length"/);
  });

  it('reports exactly the bytes hashed for any body up to max_body_bytes, however it is chunked (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4096 }).chain((n) => fc.tuple(fc.uint8Array({ minLength: n, maxLength: n }), fc.array(fc.integer({ min: 0, max: n }), { maxLength: 4 }))),
        fc.boolean(),
        ([body, cuts], viaTrailers) => {
          const chunks = body.length === 0 ? [] : splitAt(body, [...cuts].sort((a, b) => a - b));
          const stream = runRequest(host, viaTrailers ? { chunks, trailers: [['x-t', '1']] } : { chunks, emptyFinalChunk: body.length === 0 });
          assert.equal(stream.localReply, null);
          assert.deepEqual(stream.headerValues(LENGTH_HEADER), [String(body.length)]);
          assert.deepEqual(stream.headerValues(HASH_HEADER), [expectedDigest(body)]);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('answers 413 instead of a length above max_body_bytes (property around the limit)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 4090, max: 4102 }), (n) => {
        const body = new Uint8Array(n).fill(0x61);
        const stream = runRequest(host, { chunks: [body] });
        if (n <= 4096) assert.deepEqual(stream.headerValues(LENGTH_HEADER), [String(n)]);
        else assert.equal(stream.localReply?.status, 413);
      }),
      { numRuns: 30 },
    );
  });
});
