/**
 * Bodies through the real server over gRPC, with Envoy-shaped CheckRequests (docs/transcript-v1.md
 * §10, docs/bundle.md §1.2.3): a route that takes no body denies any body it can see, whatever the
 * proof signed; body.max_bytes holds when the hash comes from the wasm filter (its body-length
 * header); and the filter's headers count only on a bundle route whose body.hash_source is
 * "filter". After every hostile attempt the genuine request with the same passport is allowed, so
 * no deny burnt the jti.
 */
import fc from 'fast-check';
import { sha256b64url } from '../../core/src/encoding.js';
import type { ReasonCode } from '../../core/src/reasons.js';
import { assertAllow, assertDeny } from '../support/check-assertions.js';
import { makeCheckClient, type CheckClient } from '../support/server-clients.js';
import { startInProcess, type InProcessServer } from '../support/server-harness.js';
import { checkBytes, ENVOY_MAX_REQUEST_BYTES, signCheck, type SignedCheck } from '../support/signed-check.js';
import { makeTrust, type TrustSetup } from '../support/trust-setup.js';
import { route } from '../support/world.js';

const HASH = 'x-trustplane-body-sha256';
const LENGTH = 'x-trustplane-body-length';
const MAX = 64;
const BUFFERED = { withRequestBody: { maxRequestBytes: ENVOY_MAX_REQUEST_BYTES, packAsBytes: true } } as const;
const NOT_BUFFERED = { withRequestBody: undefined } as const;

/** What the wasm filter writes for `body` (and replaces any client copy with). */
function withFilter(s: SignedCheck, body: string | Buffer = s.body): SignedCheck {
  s.headers.set(HASH, sha256b64url(Buffer.from(body)));
  s.headers.set(LENGTH, String(Buffer.byteLength(body)));
  return s;
}

describe('authz server over gRPC: bodies', function () {
  this.timeout(60_000);
  let trust: TrustSetup;
  let srv: InProcessServer;
  let client: CheckClient;

  before(async () => {
    trust = makeTrust();
    trust.writeBundle(
      trust.bundle({
        routes: [
          route('payments-create', { bound_headers: ['content-type'], body: { mode: 'bound', max_bytes: MAX, hash_source: 'filter' } }),
          route('payments-read', { match: { methods: ['GET'], path: '/v1/payments/*' }, body: { mode: 'empty', hash_source: 'filter' } }),
          route('notes-read', { match: { methods: ['GET'], path: '/v1/notes/*' }, body: { mode: 'empty' } }),
          route('uploads', { match: { methods: ['POST'], path: '/v1/uploads' }, bound_headers: ['content-type'] }),
        ],
      }),
    );
    srv = await startInProcess(trust, { body: { filter_header: { trusted: true } } });
    client = makeCheckClient(srv.grpcAddress);
  });
  after(async () => {
    client.close();
    await srv.server.close();
    trust.dispose();
  });

  const deny = async (s: SignedCheck, over: Parameters<typeof checkBytes>[1], reason: ReasonCode): Promise<void> => {
    assertDeny(await client.check(checkBytes(s, over)), reason);
  };
  const get = (path: string, routeId: string, extra: { body?: string; passportToken?: string } = {}): SignedCheck =>
    signCheck(trust, { method: 'GET', path, route: routeId, ...extra });

  describe('a route whose body.mode is "empty" denies any body it can see as body_mismatch', () => {
    it('a body Envoy buffered, although the proof signed it; then the genuine GET is allowed', async () => {
      const hostile = get('/v1/payments/7', 'payments-read', { body: 'hidden' });
      await deny(hostile, BUFFERED, 'body_mismatch');
      assertAllow(await client.check(checkBytes(get('/v1/payments/7', 'payments-read', { passportToken: hostile.passport }), BUFFERED)), 'payments-read');
    });

    it('a body the trusted filter hashed (length 6), although the proof signed it', async () => {
      const hostile = withFilter(get('/v1/payments/8', 'payments-read', { body: 'hidden' }));
      await deny(hostile, NOT_BUFFERED, 'body_mismatch');
      const genuine = withFilter(get('/v1/payments/8', 'payments-read', { passportToken: hostile.passport }), '');
      assertAllow(await client.check(checkBytes(genuine, NOT_BUFFERED)), 'payments-read');
    });

    it('a body only its content-length declares, on a route where nothing observes the body', async () => {
      const hostile = get('/v1/notes/1', 'notes-read', { body: 'hidden' });
      hostile.headers.set('content-length', '6');
      await deny(hostile, NOT_BUFFERED, 'body_mismatch');
      assertAllow(await client.check(checkBytes(get('/v1/notes/1', 'notes-read', { passportToken: hostile.passport }), NOT_BUFFERED)), 'notes-read');
    });

    it('any content-length but "0" declares a body; "0" does not (property over header values)', async () => {
      let n = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(fc.constantFrom('0', '00', '1', '6', ' 0', '0 ', '-0', '+0', '0,0', '0x0', ''), fc.nat().map(String), fc.string({ maxLength: 5 }).filter((v) => !/[\r\n\0]/.test(v))),
          async (length) => {
            const path = `/v1/notes/p${n++}`;
            const s = get(path, 'notes-read');
            s.headers.set('content-length', length);
            const r = await client.check(checkBytes(s, NOT_BUFFERED));
            // Compared exactly: Envoy already removed surrounding whitespace, so " 0" is not its form of 0.
            if (length === '0') return assertAllow(r, 'notes-read');
            assertDeny(r, 'body_mismatch');
            assertAllow(await client.check(checkBytes(get(path, 'notes-read', { passportToken: s.passport }), NOT_BUFFERED)), 'notes-read');
          },
        ),
        { numRuns: 25 },
      );
    });

    it('a forged filter hash of the empty body does not hide a buffered body on a route that does not trust the filter', async () => {
      const hostile = withFilter(get('/v1/notes/2', 'notes-read', { body: 'hidden' }), '');
      await deny(hostile, BUFFERED, 'body_mismatch');
      assertAllow(await client.check(checkBytes(get('/v1/notes/2', 'notes-read', { passportToken: hostile.passport }), BUFFERED)), 'notes-read');
    });
  });

  describe('body.max_bytes holds when the hash comes from the filter', () => {
    it('allows a filter length up to max_bytes and denies body_too_large above it; the same passport then passes (property)', async () => {
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: MAX - 6, max: MAX + 6 }), async (n) => {
          const body = 'a'.repeat(n);
          const s = withFilter(signCheck(trust, { body }));
          const r = await client.check(checkBytes(s, NOT_BUFFERED));
          if (n <= MAX) {
            assertAllow(r, 'payments-create');
            return;
          }
          assertDeny(r, 'body_too_large');
          const genuine = withFilter(signCheck(trust, { body: 'a'.repeat(MAX), passportToken: s.passport }));
          assertAllow(await client.check(checkBytes(genuine, NOT_BUFFERED)), 'payments-create');
        }),
        { numRuns: 16 },
      );
    });

    it('denies body_hash_invalid for a filter hash without a well-formed length (property over header values)', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.constant(undefined),
            fc.constantFrom('', '014', '+14', '14 ', '1e1', '0x0e', '14,14', '0,14', '-0', '99999999999999999'),
            fc.string({ maxLength: 6 }).filter((v) => !/^(0|[1-9][0-9]*)$/.test(v) && !/[\r\n\0]/.test(v)),
          ),
          async (length) => {
            const s = withFilter(signCheck(trust));
            if (length === undefined) s.headers.delete(LENGTH);
            else s.headers.set(LENGTH, length);
            await deny(s, NOT_BUFFERED, 'body_hash_invalid');
            assertAllow(await client.check(checkBytes(withFilter(signCheck(trust, { passportToken: s.passport })), NOT_BUFFERED)), 'payments-create');
          },
        ),
        { numRuns: 20 },
      );
    });
  });

  describe('trust in the filter headers is per bundle route (body.hash_source)', () => {
    it('ignores a client-supplied hash and length on a route that does not say "filter": body_unavailable, then the buffered genuine request passes', async () => {
      const hostile = withFilter(signCheck(trust, { path: '/v1/uploads', route: 'uploads' }));
      await deny(hostile, NOT_BUFFERED, 'body_unavailable');
      assertAllow(await client.check(checkBytes(signCheck(trust, { path: '/v1/uploads', route: 'uploads', passportToken: hostile.passport }), BUFFERED)), 'uploads');
    });

    it('takes the filter hash on a route that says "filter"', async () => {
      assertAllow(await client.check(checkBytes(withFilter(signCheck(trust)), NOT_BUFFERED)), 'payments-create');
    });
  });
});
