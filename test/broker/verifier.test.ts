/**
 * What the broker issues, the verifier accepts: broker passports are signed into real requests with
 * the core signer and decided by the real decision engine against a bundle that lists the broker's
 * own trust entry, on a route that requires attested_workload.
 */
import { strict as assert } from 'node:assert';
import { spiffePop } from '../../broker/src/client.js';
import { compileBundle } from '../../core/src/bundle/compile.js';
import { buildBundle } from '../../core/src/bundle/edit.js';
import type { TrustKey } from '../../core/src/bundle/types.js';
import { verifyRequest } from '../../core/src/engine/verify.js';
import { generateSigningKey, type SigningKey } from '../../core/src/keys.js';
import { MemoryReplayStore } from '../../core/src/replay/memory.js';
import { collectHeaders, signRequest } from '../../core/src/sign-request.js';
import { route, view } from '../support/world.js';
import { AUDIENCE, TRUST_DOMAIN, call, startTestBroker, type TestBroker } from './harness.js';

const ROUTE = 'orders-admin';

describe('broker passports at the verifier', () => {
  let tb: TestBroker;
  let holder: SigningKey;
  before(async () => {
    tb = await startTestBroker();
    holder = generateSigningKey('EdDSA');
  });
  after(() => tb.close());

  function bundleWith(entry: TrustKey) {
    const nowS = Math.floor(Date.now() / 1000);
    const built = buildBundle({
      issuedAt: nowS - 60,
      expiresAt: nowS + 3600,
      keys: [entry],
      routes: [
        route(ROUTE, {
          match: { methods: ['POST'], path: '/v1/admin/orders' },
          audience: AUDIENCE,
          required_key_binding: 'attested_workload',
          allowed_sources: [
            { issuer: entry.issuer, trust_domain: TRUST_DOMAIN, subject: 'spiffe://example.org/ns/shop/**' },
            { issuer: entry.issuer, trust_domain: TRUST_DOMAIN, subject: tb.config.software.subject },
          ],
        }),
      ],
    });
    if (!built.ok) throw new Error(JSON.stringify(built));
    return compileBundle(built.bundle);
  }

  async function decide(passport: string, entry: TrustKey) {
    const request = { method: 'POST', authority: 'orders.example.org', pathAndQuery: '/v1/admin/orders', headers: {}, body: '{"cancel":42}' };
    const signed = signRequest(request, { passport, holder, route: ROUTE });
    const headers = collectHeaders(request.headers);
    for (const [k, v] of Object.entries(signed.headers)) headers.set(k, v);
    return verifyRequest({ view: view({ request, headers }), bundle: bundleWith(entry), store: new MemoryReplayStore({ maxEntries: 10, generationStartMs: -Infinity }) });
  }

  async function attestedPassport(): Promise<string> {
    const svid = await tb.ca.issueSvid({ path: '/ns/shop/sa/admin' });
    const pop = spiffePop({ svidKey: svid.privateKey, leafPem: svid.leafPem, brokerIssuer: tb.config.issuer, audience: AUDIENCE, holderJwk: holder.publicJwk, route: ROUTE });
    const r = await call(tb.broker.socketPath, { body: { audience: AUDIENCE, route: ROUTE, holder_jwk: holder.publicJwk, svid_chain: svid.chainPem, pop } });
    assert.equal(r.status, 200, r.text);
    return r.json.passport as string;
  }

  it('allows a request signed under an SVID-attested passport on a route requiring attested_workload', async () => {
    const d = await decide(await attestedPassport(), tb.broker.trustEntry());
    assert.equal(d.reason, 'ok');
    assert.equal(d.identity?.subject, 'spiffe://example.org/ns/shop/sa/admin');
    assert.equal(d.identity?.keyBinding, 'attested_workload');
  });

  it('denies a software passport from the same broker there with key_binding_insufficient', async () => {
    const r = await call(tb.broker.socketPath, { body: { audience: AUDIENCE, route: ROUTE, holder_jwk: holder.publicJwk } });
    const d = await decide(r.json.passport as string, tb.broker.trustEntry());
    assert.equal(d.reason, 'key_binding_insufficient');
    assert.equal(d.httpStatus, 403);
  });

  it('denies an attested passport with key_binding_exceeds_issuer when the bundle trusts the broker key for software only', async () => {
    const d = await decide(await attestedPassport(), { ...tb.broker.trustEntry(), max_key_binding: 'software' });
    assert.equal(d.reason, 'key_binding_exceeds_issuer');
  });
});
