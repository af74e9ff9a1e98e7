/**
 * The filter's header equals node:crypto's SHA-256 (unpadded base64url) of the body for every
 * chunking Envoy can produce (docs/envoy-integration.md F5.4), with many streams interleaved in one VM.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import type { ProxyWasmHost } from '../../dev/gateway/proxy-wasm-host.js';
import {
  DEBUG_WASM,
  expectedDigest,
  HASH_HEADER,
  loadFilter,
  runRequest,
  splitAt,
  startRequest,
} from '../support/wasm-filter.js';
import type { RequestPlan } from '../support/wasm-filter.js';

const MiB = 1024 * 1024;
// Large enough for the 8 MiB bodies; the filter's own limit is tested elsewhere.
const CONFIG = { max_body_bytes: 16 * MiB };
const OPTIONS = { decoderBufferLimitBytes: 16 * MiB };

/** A body and a way of delivering it: cut points, an empty end-of-stream chunk, or trailers. */
function planArbitrary(maxLength: number): fc.Arbitrary<{ body: Uint8Array; plan: RequestPlan }> {
  return fc
    .record({
      // fast-check keeps arrays short by default: pick the length explicitly so long bodies occur.
      body: fc.integer({ min: 0, max: maxLength }).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
      cuts: fc.array(fc.integer({ min: 0, max: 1 << 30 }), { maxLength: 12, size: 'max' }),
      ending: fc.constantFrom('last-chunk', 'empty-chunk', 'trailers'),
    })
    .map(({ body, cuts, ending }) => {
      const points = [...new Set(cuts.map((c) => (body.length === 0 ? 0 : c % (body.length + 1))))].sort((a, b) => a - b);
      const chunks = body.length === 0 && ending === 'last-chunk' ? [] : splitAt(body, points);
      const plan: RequestPlan = {
        chunks,
        emptyFinalChunk: ending === 'empty-chunk',
        ...(ending === 'trailers' ? { trailers: [['x-checksum', 'abc']] as const } : {}),
      };
      return { body, plan };
    });
}

function assertHashed(host: ProxyWasmHost, body: Uint8Array, plan: RequestPlan): void {
  const stream = runRequest(host, plan);
  assert.equal(stream.localReply, null);
  assert.equal(stream.ended, true);
  assert.deepEqual(stream.headerValues(HASH_HEADER), [expectedDigest(body)]);
  assert.equal(Buffer.compare(stream.forwardedBody(), body), 0);
}

describe('wasm filter: body digest', function () {
  this.timeout(120_000);
  let host: ProxyWasmHost;

  before(async () => {
    host = await loadFilter(CONFIG, OPTIONS);
  });

  it('hashes the empty body of a body-less request', () => {
    const stream = runRequest(host, { chunks: [] });
    assert.deepEqual(stream.headerValues(HASH_HEADER), ['47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU']);
    assert.equal(stream.bodyCallbacks, 0);
  });

  it('hashes "abc" to the FIPS 180-2 test vector', () => {
    const stream = runRequest(host, { chunks: [new TextEncoder().encode('abc')] });
    // ba7816bf 8f01cfea 414140de 5dae2223 b00361a3 96177a9c b410ff61 f20015ad
    assert.deepEqual(stream.headerValues(HASH_HEADER), ['ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0']);
  });

  it('is right at every padding boundary, one byte at a time', () => {
    for (const size of [1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000]) {
      const body = randomBytes(size);
      const oneByteChunks = Array.from({ length: size }, (_, i) => body.subarray(i, i + 1));
      assertHashed(host, body, { chunks: oneByteChunks });
      assertHashed(host, body, { chunks: [body] });
    }
  });

  it('matches node:crypto for random bodies under random chunkings, empty end chunks and trailers', () => {
    fc.assert(
      fc.property(planArbitrary(5000), ({ body, plan }) => assertHashed(host, body, plan)),
      { numRuns: 300 },
    );
  });

  it('matches node:crypto for bodies up to 8 MiB in random chunk sizes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 8 * MiB }),
        // Chunks of at least 4 KiB here: 1-byte chunks are covered by the property above on smaller
        // bodies, and 8 MiB of 1-byte callbacks would take minutes of synchronous work.
        fc.array(fc.integer({ min: 4096, max: 512 * 1024 }), { minLength: 1, maxLength: 8 }),
        fc.constantFrom('last-chunk', 'empty-chunk', 'trailers'),
        (size, chunkSizes, ending) => {
          const body = randomBytes(size);
          const chunks: Uint8Array[] = [];
          for (let at = 0, i = 0; at < size; i++) {
            const n = chunkSizes[i % chunkSizes.length] ?? 1;
            chunks.push(body.subarray(at, at + n));
            at += n;
          }
          const plan: RequestPlan = {
            chunks: size === 0 && ending === 'last-chunk' ? [] : chunks.length === 0 ? [body] : chunks,
            emptyFinalChunk: ending === 'empty-chunk',
            ...(ending === 'trailers' ? { trailers: [['x-t', '1']] as const } : {}),
          };
          assertHashed(host, body, plan);
        },
      ),
      { numRuns: 6 },
    );
    const eightMiB = randomBytes(8 * MiB);
    assertHashed(host, eightMiB, { chunks: splitAt(eightMiB, [16_384, MiB, 5 * MiB + 3]) });
  });

  it('keeps one hash per stream when many streams interleave in one VM', () => {
    fc.assert(
      fc.property(
        fc.array(planArbitrary(3000), { minLength: 2, maxLength: 24 }),
        fc.array(fc.nat(), { minLength: 200, maxLength: 200 }),
        (requests, order) => {
          // Each request is a queue of steps (headers, chunks, end); steps of different streams
          // are interleaved in a random order, as one Envoy worker serves many connections.
          const streams = requests.map(({ plan }) => ({ plan, stream: startRequest(host, plan), next: 0 }));
          const steps = streams.map(({ plan }) => plan.chunks.length + (plan.emptyFinalChunk ? 1 : 0) + (plan.trailers ? 1 : 0));
          const pending = streams.map((_, i) => i).filter((i) => (steps[i] ?? 0) > 0);
          let o = 0;
          while (pending.length > 0) {
            const pick = (order[o++ % order.length] ?? 0) % pending.length;
            const i = pending[pick] ?? 0;
            const s = streams[i];
            if (s === undefined) break;
            deliverStep(s.stream, s.plan, s.next++);
            if (s.next >= (steps[i] ?? 0)) pending.splice(pick, 1);
          }
          requests.forEach(({ body }, i) => {
            const stream = streams[i]?.stream;
            assert.ok(stream !== undefined);
            assert.equal(stream.localReply, null);
            assert.deepEqual(stream.headerValues(HASH_HEADER), [expectedDigest(body)]);
            stream.close();
          });
        },
      ),
      { numRuns: 60 },
    );
  });

  it('gives the same digests in the debug build (assertions and bounds checks on)', async () => {
    const debugHost = await loadFilter(CONFIG, OPTIONS, DEBUG_WASM);
    fc.assert(
      fc.property(planArbitrary(3000), ({ body, plan }) => assertHashed(debugHost, body, plan)),
      { numRuns: 50 },
    );
  });

  it('does not grow the VM memory over many requests', () => {
    const body = randomBytes(20_000);
    const plan: RequestPlan = { chunks: splitAt(body, [1, 5000, 12_000]) };
    for (let i = 0; i < 2000; i++) runRequest(host, plan);
    const settled = host.memoryBytes;
    for (let i = 0; i < 10_000; i++) runRequest(host, plan);
    assert.equal(host.memoryBytes, settled);
    assert.equal(host.openStreams, 0);
  });
});

/** Delivers step `n` of a plan: a chunk, the empty end-of-stream chunk, or the trailers. */
function deliverStep(stream: ReturnType<typeof startRequest>, plan: RequestPlan, n: number): void {
  const endsWithChunk = plan.trailers === undefined && !plan.emptyFinalChunk;
  if (n < plan.chunks.length) {
    stream.sendBody(plan.chunks[n] ?? new Uint8Array(0), endsWithChunk && n === plan.chunks.length - 1);
  } else if (plan.emptyFinalChunk && n === plan.chunks.length) {
    stream.sendBody(new Uint8Array(0), plan.trailers === undefined);
  } else if (plan.trailers !== undefined) {
    stream.sendTrailers(plan.trailers);
  }
}
