/**
 * DPoP (RFC 9449) through the real server: startServer on loopback, a signed bundle file, the audit
 * log in a file, CheckRequests encoded with Envoy's official definitions over a real gRPC channel —
 * with proofs made by the third-party `dpop` client and access tokens signed by `jose`
 * (test/support/dpop-client.ts).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Route } from '../../core/src/bundle/types.js';
import { assertAllow, assertDeny, headerMap } from '../support/check-assertions.js';
import { makeCheckClient, type CheckClient } from '../support/server-clients.js';
import { startInProcess, type InProcessServer } from '../support/server-harness.js';
import { defaultRoutes, makeTrust, type TrustSetup } from '../support/trust-setup.js';
import { AUDIENCE, ISSUER, SUBJECT, TRUST_DOMAIN } from '../support/world.js';
import { envoyCheckRequest, type EnvoyCheckInput } from '../support/envoy-api.js';
import { accessToken, claimsOf, dpopClient, proof, type DpopClient } from '../support/dpop-client.js';
import { route } from '../support/world.js';
import { checkBytes, signCheck } from '../support/signed-check.js';
import { structToPlain, type OfficialCheckResponse as Response } from '../support/envoy-api.js';

const HOST = 'api.example.test';
const PATH = '/v1/orders/42';
const URI = `https://${HOST}${PATH}`;
/** What every allow removes (core/src/types.ts CREDENTIAL_HEADERS), spelled out so a change to it shows here. */
const TRANSCRIPT_CREDENTIALS = ['x-trustplane-passport', 'x-trustplane-proof', 'x-trustplane-body-sha256'];

describe('authz server over gRPC: DPoP (RFC 9449) with proofs from the dpop client', function () {
  this.timeout(20_000);
  let trust: TrustSetup;
  let srv: InProcessServer;
  let client: CheckClient;
  let auditPath: string;
  let es: DpopClient;
  const secrets: string[] = [];

  before(async () => {
    trust = makeTrust('tp-dpop-test-');
    const routes: Route[] = [
      ...defaultRoutes(),
      route('orders-dpop', { match: { methods: ['GET'], path: '/v1/orders/*' }, proof_kinds: ['dpop'], min_binding: ['method', 'authority', 'path'], max_passport_lifetime_s: 600 }),
      // Lists dpop, but keeps the default minimum binding (every part): DPoP is never enough here.
      route('orders-strict', { match: { methods: ['GET'], path: '/v1/strict' }, proof_kinds: ['transcript-v1', 'dpop'] }),
      // Dry run: a would-be deny is allowed, and what reaches the upstream is decided as for any allow.
      route('orders-shadow', { match: { methods: ['GET'], path: '/v1/shadow-orders/*' }, proof_kinds: ['dpop'], min_binding: ['method', 'authority', 'path'], mode: 'dry_run' }),
    ];
    trust.writeBundle(trust.bundle({ serial: 1, routes }));
    auditPath = join(trust.dir, 'audit.jsonl');
    srv = await startInProcess(trust, { audit: { sink: 'file', file: auditPath } });
    client = makeCheckClient(srv.grpcAddress);
    es = await dpopClient('ES256');
  });

  after(async () => {
    client?.close();
    await srv?.server.close();
    trust?.dispose();
  });

  const token = (c: DpopClient = es): Promise<string> =>
    accessToken({ issuerKey: trust.issuerKey, issuer: ISSUER, subject: SUBJECT, audience: AUDIENCE, jkt: c.jkt });

  function send(t: string, dpop: string, over: Partial<EnvoyCheckInput> = {}): Promise<Response> {
    secrets.push(t, dpop);
    return client.check(
      envoyCheckRequest({
        method: 'GET',
        scheme: 'https',
        authority: HOST,
        path: PATH,
        headers: [
          ['authorization', `DPoP ${t}`],
          ['dpop', dpop],
          ['accept', 'application/json'],
        ],
        source: { address: '10.0.0.7', port: 51234 },
        time: new Date(),
        ...over,
      }),
    );
  }

  it('allows a DPoP request on a route that accepts DPoP, with the access token as the identity', async () => {
    const t = await token();
    const r = await send(t, await proof(es, 'GET', URI, t));
    assertAllow(r, 'orders-dpop');
    const h = headerMap(r.ok_response?.headers);
    assert.equal(h['x-trustplane-subject'], SUBJECT);
    assert.equal(h['x-trustplane-issuer'], ISSUER);
    assert.equal(h['x-trustplane-trust-domain'], TRUST_DOMAIN);
    assert.equal(h['x-trustplane-key-binding'], 'software');
    // The access token and the proof are the verifier's: the upstream gets neither (docs/dpop.md §5).
    assert.deepEqual(r.ok_response?.headers_to_remove, [...TRANSCRIPT_CREDENTIALS, 'authorization', 'dpop']);
    assert.equal(h['authorization'], undefined);
  });

  it('removes the DPoP credentials before the client-sent x-trustplane-* names, and still every one of those', async () => {
    const t = await token();
    const p = await proof(es, 'GET', URI, t);
    const headers: [string, string][] = [
      ['authorization', `DPoP ${t}`],
      ['x-trustplane-whatever', 'client'],
      ['dpop', p],
    ];
    const r = await send(t, p, { headers });
    assertAllow(r, 'orders-dpop');
    assert.deepEqual(r.ok_response?.headers_to_remove, [...TRANSCRIPT_CREDENTIALS, 'authorization', 'dpop', 'x-trustplane-whatever']);
  });

  it('removes the DPoP credentials on a dry-run allow of a would-be deny too', async () => {
    const t = await token();
    // Made for another path: dpop_htu_mismatch, allowed only because the route is in dry run.
    const p = await proof(es, 'GET', `https://${HOST}/v1/shadow-orders/other`, t);
    const r = await send(t, p, { path: '/v1/shadow-orders/1' });
    assert.equal(r.status?.code ?? 0, 0);
    assert.equal(structToPlain(r.dynamic_metadata)['would_deny_reason'], 'dpop_htu_mismatch');
    assert.deepEqual(r.ok_response?.headers_to_remove, [...TRANSCRIPT_CREDENTIALS, 'authorization', 'dpop', 'x-trustplane-subject', 'x-trustplane-issuer', 'x-trustplane-trust-domain', 'x-trustplane-key-binding']);
  });

  it('leaves a transcript-v1 allow as it was: its own credentials removed, an Authorization header for the upstream kept', async () => {
    const s = signCheck(trust, { headers: { 'content-type': 'application/json', authorization: 'Bearer for-the-upstream' } });
    const r = await client.check(checkBytes(s));
    assertAllow(r, 'payments-create');
    assert.deepEqual(r.ok_response?.headers_to_remove, ['x-trustplane-passport', 'x-trustplane-proof', 'x-trustplane-body-sha256']);
  });

  it('denies the same proof a second time as dpop_jti_replay', async () => {
    const t = await token();
    const p = await proof(es, 'GET', URI, t);
    assertAllow(await send(t, p), 'orders-dpop');
    assertDeny(await send(t, p), 'dpop_jti_replay');
    // One access token serves many requests, each with a fresh proof.
    assertAllow(await send(t, await proof(es, 'GET', URI, t)), 'orders-dpop');
  });

  it('denies a proof made for another URI as dpop_htu_mismatch, and for another access token as dpop_ath_mismatch', async () => {
    const t = await token();
    assertDeny(await send(t, await proof(es, 'GET', `https://${HOST}/v1/orders/43`, t)), 'dpop_htu_mismatch');
    assertDeny(await send(t, await proof(es, 'GET', URI, await token())), 'dpop_ath_mismatch');
    assertDeny(await send(t, await proof(es, 'POST', URI, t)), 'dpop_htm_mismatch');
  });

  it('denies two DPoP headers (Envoy header_map, encode_raw_headers) as dpop_proof_duplicated', async () => {
    const t = await token();
    const p = await proof(es, 'GET', URI, t);
    const headers: [string, string][] = [
      ['authorization', `DPoP ${t}`],
      ['dpop', p],
      ['dpop', p],
    ];
    assertDeny(await send(t, p, { headers, encodeRawHeaders: true }), 'dpop_proof_duplicated');
    assertDeny(await send(t, p, { headers }), 'dpop_proof_duplicated');
  });

  it('denies DPoP on a route whose min_binding it does not meet as proof_binding_insufficient, and on a route that does not list it as proof_kind_not_allowed', async () => {
    const t = await token();
    const strict = await proof(es, 'GET', `https://${HOST}/v1/strict`, t);
    assertDeny(await send(t, strict, { path: '/v1/strict' }), 'proof_binding_insufficient');
    const read = await proof(es, 'GET', `https://${HOST}/v1/payments/7`, t);
    assertDeny(await send(t, read, { path: '/v1/payments/7' }), 'proof_kind_not_allowed');
  });

  it('writes the kind and what was bound to the audit log, and no token or proof', async () => {
    const t = await token();
    const p = await proof(es, 'GET', URI, t);
    assertAllow(await send(t, p), 'orders-dpop');
    await srv.server.close();
    const lines = readFileSync(auditPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const mine = lines.find((l) => l.dpop_jti === claimsOf(p).jti);
    assert.ok(mine, 'the decision is in the audit log');
    assert.equal(mine.reason_code, 'ok');
    assert.equal(mine.credential_kind, 'dpop');
    assert.equal(mine.bound, 'method authority path');
    assert.equal(mine.jti, claimsOf(t).jti);
    const strict = lines.find((l) => l.reason_code === 'proof_binding_insufficient');
    assert.equal(strict?.bound, 'method authority path');
    const text = readFileSync(auditPath, 'utf8');
    for (const s of secrets) assert.equal(text.includes(s), false, 'a token or proof reached the audit log');
  });
});
