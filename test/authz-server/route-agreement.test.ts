/**
 * Issue 11 §3 through the real server: Envoy-shaped CheckRequests (official definitions) over real
 * gRPC on loopback, with a signed bundle on disk.
 *
 * - a route Envoy names must cover the request (route_request_mismatch);
 * - path forms an upstream could resolve to another path never verify or route (path_not_canonical);
 * - method- and URL-override headers the proof does not bind are refused (override_header_not_bound),
 *   the list configurable per route;
 * - an allow removes every client-sent `x-trustplane-*` header.
 *
 * After every hostile attempt the genuine request with the same passport is still allowed: no
 * refusal burns the jti.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { issuePassport } from '../../core/src/passport.js';
import type { Route } from '../../core/src/bundle/types.js';
import { DEFAULT_OVERRIDE_HEADERS } from '../../core/src/bundle/lib/rules.js';
import { IDENTITY_HEADER_NAMES, assertAllow, assertDeny, headerMap } from '../support/check-assertions.js';
import { makeCheckClient, type CheckClient } from '../support/server-clients.js';
import { startInProcess, type InProcessServer } from '../support/server-harness.js';
import { checkBytes, signCheck, type SignedCheck, type SignedCheckOptions } from '../support/signed-check.js';
import { defaultRoutes, makeTrust, type TrustSetup } from '../support/trust-setup.js';
import { AUDIENCE, ISSUER, SUBJECT, TRUST_DOMAIN } from '../support/world.js';
import type { EnvoyCheckInput } from '../support/envoy-api.js';
import { route } from '../support/world.js';

const FILES: Route = route('files', { match: { methods: ['GET', 'POST'], path: '/files/**' }, body: { mode: 'empty' } });
const NO_OVERRIDES: Route = route('legacy', { match: { methods: ['GET'], path: '/legacy/*' }, body: { mode: 'empty' }, override_headers: [] });
const CUSTOM_OVERRIDES: Route = route('custom', { match: { methods: ['GET'], path: '/custom/*' }, body: { mode: 'empty' }, override_headers: ['x-verb'] });

describe('authz server over gRPC: the bundle route is the law (docs/transcript-v1.md §12)', function () {
  this.timeout(120_000);
  let trust: TrustSetup;
  let srv: InProcessServer;
  let client: CheckClient;

  before(async () => {
    trust = makeTrust();
    trust.writeBundle(trust.bundle({ serial: 1, routes: [...defaultRoutes(), FILES, NO_OVERRIDES, CUSTOM_OVERRIDES] }));
    srv = await startInProcess(trust);
    client = makeCheckClient(srv.grpcAddress);
  });
  after(async () => {
    client?.close();
    await srv?.server.close();
    trust?.dispose();
  });

  const freshPassport = (): string =>
    issuePassport({ key: trust.issuerKey, issuer: ISSUER, subject: SUBJECT, audience: AUDIENCE, trustDomain: TRUST_DOMAIN, holder: trust.holder.publicJwk, keyBinding: 'software', lifetimeS: 60 });
  const get = (passportToken: string, path: string, route: string, o: Partial<SignedCheckOptions> = {}): SignedCheck =>
    signCheck(trust, { passportToken, method: 'GET', path, route, ...o });
  const ask = (s: SignedCheck, over: Partial<EnvoyCheckInput> = {}) => client.check(checkBytes(s, over));
  const named = (id: string): Partial<EnvoyCheckInput> => ({ contextExtensions: { trustplane_route: id } });

  /** The genuine request for `passport` is allowed: the hostile attempts before it consumed nothing. */
  async function genuineStillAllowed(passport: string): Promise<void> {
    assertAllow(await ask(get(passport, '/v1/payments/42', 'payments-read'), named('payments-read')), 'payments-read');
  }

  describe('a route named by Envoy must cover the request', () => {
    let passport = '';
    before(() => {
      passport = freshPassport();
    });
    const hostile: [string, (p: string) => SignedCheck, string][] = [
      ['a DELETE under a GET-only route id', (p) => signCheck(trust, { passportToken: p, method: 'DELETE', path: '/v1/payments/42', route: 'payments-read', headers: {}, body: '', bindHeaders: [] }), 'payments-read'],
      ['DELETE /v1/admin/users under a GET-only route id', (p) => signCheck(trust, { passportToken: p, method: 'DELETE', path: '/v1/admin/users', route: 'payments-read', headers: {}, body: '', bindHeaders: [] }), 'payments-read'],
      ['a deeper path under a one-segment route (/v1/payments/42/refunds/7)', (p) => get(p, '/v1/payments/42/refunds/7', 'payments-read'), 'payments-read'],
      ['the collection path under a one-segment route', (p) => get(p, '/v1/payments/', 'payments-read'), 'payments-read'],
      ['a POST under a GET-only route id', (p) => signCheck(trust, { passportToken: p, route: 'payments-read' }), 'payments-read'],
      ['a path outside a /** route', (p) => get(p, '/v1/other', 'attested-admin'), 'attested-admin'],
      ['another path under an exact route', (p) => signCheck(trust, { passportToken: p, path: '/v1/payments/x' }), 'payments-create'],
    ];
    for (const [name, make, id] of hostile) {
      it(`${name} → route_request_mismatch (403)`, async () => {
        assertDeny(await ask(make(passport), named(id)), 'route_request_mismatch');
      });
    }
    it('the genuine request with the same passport is still allowed after all of them', async () => {
      await genuineStillAllowed(passport);
    });

    it('property: random methods and paths outside the named route are route_request_mismatch; the genuine request passes after', async () => {
      const p = freshPassport();
      const segment = fc.stringMatching(/^[a-z0-9]{1,8}$/);
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'),
          fc.array(segment, { minLength: 0, maxLength: 4 }),
          fc.constantFrom('payments-read', 'payments-create', 'attested-admin'),
          async (method, segs, id) => {
            const path = `/v1/${segs.join('/')}`;
            const covered =
              id === 'payments-read' ? method === 'GET' && /^\/v1\/payments\/[^/]+$/.test(path)
                : id === 'payments-create' ? method === 'POST' && path === '/v1/payments'
                  : path.startsWith('/v1/admin/');
            fc.pre(!covered);
            const s = signCheck(trust, { passportToken: p, method, path, route: id, headers: {}, body: '', bindHeaders: [] });
            assertDeny(await ask(s, named(id)), 'route_request_mismatch');
          },
        ),
        { numRuns: 60 },
      );
      await genuineStillAllowed(p);
    });
  });

  describe('paths an upstream could resolve to another path', () => {
    const TOKENS = ['..;', '.;', '..;foo', 'a;jsessionid=0123', ';x', '%2e%2e;', '%2E.;', '.%2e;', '%3B', '%3b', '..%3B', 'x%3bjsessionid=1', '%c0%ae%c0%ae', '%C0%AE', '%e0%80%ae', '%252e%252e', '%252E', '%25%32%65', '%0a', '%09', '%7f', '%EF%BC%8E%EF%BC%8E', '\uff0e\uff0e', '%e2%80%a5', '\u2025', '\uff0f', '%2e%2e', '.%2E', '%2e', '..', '.', '%5c', '\\'];
    const mixCase = (s: string, flips: boolean[]): string =>
      s.replace(/%[0-9a-fA-F]{2}/g, (e, i: number) => (flips[i % flips.length] ? e.toUpperCase() : e.toLowerCase()));

    it('property: a path holding any such form is path_not_canonical, whether Envoy names the route or bundle matching finds it; the genuine request passes after', async () => {
      const p = freshPassport();
      const word = fc.stringMatching(/^[a-z0-9]{1,6}$/);
      await fc.assert(
        fc.asyncProperty(
          fc.array(word, { maxLength: 3 }),
          fc.constantFrom(...TOKENS),
          fc.array(word, { minLength: 1, maxLength: 3 }),
          fc.array(fc.boolean(), { minLength: 1, maxLength: 4 }),
          fc.boolean(),
          fc.constantFrom('', '?x=1', '?a&=b'),
          async (before, token, after, flips, byName, query) => {
            const looksLike = `/files/${[...before, ...after].join('/')}`;
            const observed = `/files/${[...before, mixCase(token, flips), ...after].join('/')}${query}`;
            // The caller signs the path it looks like; Envoy presents the hostile form.
            const s = get(p, `${looksLike}${query}`, 'files');
            assertDeny(await ask(s, { path: observed, ...(byName ? named('files') : {}) }), 'path_not_canonical');
          },
        ),
        { numRuns: 80 },
      );
      await genuineStillAllowed(p);
    });

    it('the issue example /…/..;/..;/admin/users is path_not_canonical on a /** route', async () => {
      const p = freshPassport();
      assertDeny(await ask(get(p, '/files/admin/users', 'files'), { path: '/files/..;/..;/admin/users' }), 'path_not_canonical');
      await genuineStillAllowed(p);
    });
  });

  describe('method- and URL-override headers', () => {
    const casing = (name: string, flips: boolean[]): string => [...name].map((c, i) => (flips[i % flips.length] ? c.toUpperCase() : c)).join('');

    it('property: any default override header, in any casing and with any value, unbound → override_header_not_bound; the genuine request passes after', async () => {
      const p = freshPassport();
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...DEFAULT_OVERRIDE_HEADERS),
          fc.array(fc.boolean(), { minLength: 1, maxLength: 5 }),
          fc.stringMatching(/^[ -~]{0,20}$/),
          fc.boolean(),
          async (name, flips, value, byName) => {
            const s = get(p, '/v1/payments/42', 'payments-read', { headers: { [casing(name, flips)]: value } });
            assertDeny(await ask(s, byName ? named('payments-read') : {}), 'override_header_not_bound');
          },
        ),
        { numRuns: 60 },
      );
      await genuineStillAllowed(p);
    });

    it('property: an override header the proof binds is allowed (the caller signed it)', async () => {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...DEFAULT_OVERRIDE_HEADERS), fc.stringMatching(/^[!-~]{1,20}$/), async (name, value) => {
          const s = get(freshPassport(), '/v1/payments/42', 'payments-read', { headers: { [name]: value }, bindHeaders: [name] });
          assertAllow(await ask(s), 'payments-read');
        }),
        { numRuns: 15 },
      );
    });

    it('a route with override_headers [] lets an unbound X-HTTP-Method-Override through', async () => {
      const s = get(freshPassport(), '/legacy/1', 'legacy', { headers: { 'X-HTTP-Method-Override': 'DELETE' } });
      assertAllow(await ask(s), 'legacy');
    });

    it('a route with its own list denies its names and no longer the defaults', async () => {
      const p = freshPassport();
      assertDeny(await ask(get(p, '/custom/1', 'custom', { headers: { 'X-Verb': 'DELETE' } })), 'override_header_not_bound');
      assertAllow(await ask(get(p, '/custom/1', 'custom', { headers: { 'X-Original-URL': '/admin' } })), 'custom');
    });
  });

  describe('the x-trustplane- namespace on allow', () => {
    it('property: every client-sent x-trustplane-* header is removed, identity headers are set and not removed', async () => {
      // The credential names themselves would be a second credential (credential_duplicated).
      const suffix = fc.stringMatching(/^[a-z0-9-]{1,12}$/).filter((x) => !['passport', 'proof', 'body-sha256'].includes(x));
      await fc.assert(
        fc.asyncProperty(fc.uniqueArray(suffix, { minLength: 1, maxLength: 4 }), fc.array(fc.boolean(), { minLength: 1, maxLength: 3 }), async (suffixes, flips) => {
          const names = suffixes.map((x) => `x-trustplane-${x}`);
          const sent = Object.fromEntries(names.map((n, i) => [flips[i % flips.length] ? n.toUpperCase() : n, 'client value']));
          const s = get(freshPassport(), '/v1/payments/42', 'payments-read', { headers: sent });
          const r = await ask(s);
          assertAllow(r, 'payments-read');
          const removed = r.ok_response?.headers_to_remove ?? [];
          const set = Object.keys(headerMap(r.ok_response?.headers));
          for (const n of names) {
            if (set.includes(n)) assert.ok(!removed.includes(n), `${n} is set by the server and must not also be removed`);
            else assert.ok(removed.includes(n), `${n} must be removed (got ${removed.join(', ')})`);
          }
          for (const n of IDENTITY_HEADER_NAMES) assert.ok(set.includes(n) && !removed.includes(n), n);
          for (const n of ['x-trustplane-passport', 'x-trustplane-proof', 'x-trustplane-body-sha256']) assert.ok(removed.includes(n), n);
        }),
        { numRuns: 25 },
      );
    });

    it('x-trustplane-reason sent by a client is removed on allow; without extra names the list is the credentials only', async () => {
      const r = await ask(get(freshPassport(), '/v1/payments/42', 'payments-read', { headers: { 'X-Trustplane-Reason': 'ok' } }));
      assertAllow(r, 'payments-read');
      assert.deepEqual(r.ok_response?.headers_to_remove, ['x-trustplane-passport', 'x-trustplane-proof', 'x-trustplane-body-sha256', 'x-trustplane-reason']);
      const plain = await ask(get(freshPassport(), '/v1/payments/42', 'payments-read'));
      assert.deepEqual(plain.ok_response?.headers_to_remove, ['x-trustplane-passport', 'x-trustplane-proof', 'x-trustplane-body-sha256']);
    });
  });

});
