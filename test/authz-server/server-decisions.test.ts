/**
 * The real server (startServer on loopback port 0, a signed bundle file, audit to a file) answering
 * Envoy-shaped CheckRequests encoded with Envoy's OFFICIAL definitions over a real gRPC channel.
 * Every assertion reads the CheckResponse the way Envoy's definitions decode it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { b64url, sha256b64url } from '../../core/src/encoding.js';
import { generateSigningKey } from '../../core/src/keys.js';
import { REASONS, type ReasonCode } from '../../core/src/reasons.js';
import { CREDENTIAL_HEADERS } from '../../core/src/types.js';
import { IDENTITY_HEADER_NAMES, UUID, assertAllow, assertDeny, headerMap } from '../support/check-assertions.js';
import { httpGet, makeCheckClient, metricValue, type CheckClient } from '../support/server-clients.js';
import { startInProcess, type InProcessServer } from '../support/server-harness.js';
import { checkBytes, signCheck, type SignedCheck } from '../support/signed-check.js';
import { BROKER_ISSUER, makeTrust, type TrustSetup } from '../support/trust-setup.js';
import { SUBJECT, ISSUER, TRUST_DOMAIN } from '../support/world.js';
import { structToPlain, type OfficialCheckResponse as Response } from '../support/envoy-api.js';
import type { EnvoyCheckInput } from '../support/envoy-api.js';

describe('authz server over gRPC: decisions', function () {
  this.timeout(20_000);
  let trust: TrustSetup;
  let srv: InProcessServer;
  let client: CheckClient;
  let auditPath: string;
  /** Every token that reached the server: none may appear in the audit file. */
  const secrets: string[] = [];
  let decisions = 0;

  const send = async (bytes: Uint8Array): Promise<Response> => {
    const r = await client.check(bytes);
    decisions++;
    return r;
  };
  const present = (s: SignedCheck, over: Partial<EnvoyCheckInput> = {}): Promise<Response> => {
    secrets.push(s.passport, s.proof);
    return send(checkBytes(s, over));
  };

  before(async () => {
    trust = makeTrust();
    trust.writeBundle(trust.bundle({ serial: 1 }));
    auditPath = join(trust.dir, 'audit.jsonl');
    srv = await startInProcess(trust, { audit: { sink: 'file', file: auditPath } });
    client = makeCheckClient(srv.grpcAddress);
  });

  after(async () => {
    client?.close();
    await srv?.server.close();
    trust?.dispose();
  });

  describe('allow', () => {
    it('answers status 0 with identity headers (OVERWRITE_IF_EXISTS_OR_ADD, append unset), credential headers removed, and decision metadata', async () => {
      const s = signCheck(trust);
      const r = await present(s);
      assertAllow(r, 'payments-create');
      const headers = headerMap(r.ok_response?.headers);
      assert.deepEqual(Object.keys(headers).sort(), [...IDENTITY_HEADER_NAMES].sort());
      assert.equal(headers['x-trustplane-subject'], SUBJECT);
      assert.equal(headers['x-trustplane-issuer'], ISSUER);
      assert.equal(headers['x-trustplane-trust-domain'], TRUST_DOMAIN);
      assert.equal(headers['x-trustplane-key-binding'], 'software');
      assert.match(headers['x-trustplane-decision-id']!, UUID);
      assert.deepEqual(r.ok_response?.headers_to_remove, [...CREDENTIAL_HEADERS]);
      assert.deepEqual(r.ok_response?.headers_to_remove, ['x-trustplane-passport', 'x-trustplane-proof', 'x-trustplane-body-sha256']);
      assert.equal(r.ok_response?.dynamic_metadata, undefined, 'the deprecated ok_response.dynamic_metadata would override the real one');
      const jti = (JSON.parse(Buffer.from(s.passport.split('.')[1]!, 'base64url').toString('utf8')) as { jti: string }).jti;
      assert.deepEqual(structToPlain(r.dynamic_metadata), {
        decision_id: headers['x-trustplane-decision-id']!,
        reason: 'ok',
        route_id: 'payments-create',
        subject: SUBJECT,
        issuer: ISSUER,
        trust_domain: TRUST_DOMAIN,
        key_binding: 'software',
        jti,
        dry_run: false,
      });
    });

    it('allows a GET on a route that takes no body, with Envoy not buffering', async () => {
      const r = await present(signCheck(trust, { method: 'GET', path: '/v1/payments/42', route: 'payments-read' }));
      assertAllow(r, 'payments-read');
    });

    it('allows an attested_workload passport from the broker key on the attested route', async () => {
      const s = signCheck(trust, {
        path: '/v1/admin/rotate',
        route: 'attested-admin',
        passport: { key: trust.attestedKey, issuer: BROKER_ISSUER, keyBinding: 'attested_workload' },
      });
      const r = await present(s);
      assertAllow(r, 'attested-admin');
      assert.equal(headerMap(r.ok_response?.headers)['x-trustplane-key-binding'], 'attested_workload');
    });

    it('allows with the route id taken from Envoy context_extensions', async () => {
      const r = await present(signCheck(trust), { contextExtensions: { trustplane_route: 'payments-create' } });
      assertAllow(r, 'payments-create');
    });
  });

  describe('replay', () => {
    it('allows a signed request once and answers every later presentation jti_replay (401)', async () => {
      const s = signCheck(trust);
      const bytes = checkBytes(s);
      secrets.push(s.passport, s.proof);
      assertAllow(await send(bytes), 'payments-create');
      assertDeny(await send(bytes), 'jti_replay');
      assertDeny(await send(bytes), 'jti_replay');
    });

    it('does not burn the jti of a request denied before the replay phase', async () => {
      const s = signCheck(trust);
      assertDeny(await present(s, { body: '{"amount":999}' }), 'body_mismatch');
      assertAllow(await present(s), 'payments-create');
    });
  });

  describe('every deny family, with its exact status, reason header and body', () => {
    const cases: Array<[string, ReasonCode, () => Promise<Response>]> = [
      ['parse: no passport header', 'passport_missing', () => {
        const s = signCheck(trust);
        s.headers.delete('x-trustplane-passport');
        return present(s);
      }],
      ['parse: no proof header', 'proof_missing', () => {
        const s = signCheck(trust);
        s.headers.delete('x-trustplane-proof');
        return present(s);
      }],
      ['parse: a proof that is not transcript-v1', 'proof_malformed', () => {
        const s = signCheck(trust);
        s.headers.set('x-trustplane-proof', 'v1.bm90LWpzb24.AAAA');
        return present(s);
      }],
      ['parse: a passport that is not a JWS', 'passport_malformed', () => {
        const s = signCheck(trust);
        s.headers.set('x-trustplane-passport', 'not-a-jws');
        return present(s);
      }],
      ['parse: an HMAC passport', 'passport_alg_not_allowed', () => {
        const s = signCheck(trust);
        const [, payload, sig] = s.passport.split('.');
        s.headers.set('x-trustplane-passport', `${b64url(Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'tp-passport+jwt', kid: trust.issuerKey.kid })))}.${payload}.${sig}`);
        return present(s);
      }],
      ['parse: a passport carrying its own key', 'passport_key_in_header', () => {
        const s = signCheck(trust);
        const [, payload, sig] = s.passport.split('.');
        const header = { alg: 'EdDSA', typ: 'tp-passport+jwt', kid: trust.issuerKey.kid, jwk: trust.issuerKey.publicJwk };
        s.headers.set('x-trustplane-passport', `${b64url(Buffer.from(JSON.stringify(header)))}.${payload}.${sig}`);
        return present(s);
      }],
      ['signature: a passport signed by a key the bundle does not hold', 'passport_kid_unknown', () =>
        present(signCheck(trust, { passport: { key: generateSigningKey('EdDSA') } }))],
      ['signature: a passport whose signature was altered', 'passport_signature_invalid', () => {
        const s = signCheck(trust);
        const [h, p, sig] = s.passport.split('.') as [string, string, string];
        const i = 10;
        const altered = `${sig.slice(0, i)}${sig[i] === 'A' ? 'B' : 'A'}${sig.slice(i + 1)}`;
        s.headers.set('x-trustplane-passport', `${h}.${p}.${altered}`);
        return present(s);
      }],
      ['claims: an expired passport', 'passport_expired', () =>
        present(signCheck(trust, { passport: { nowMs: Date.now() - 600_000 } }))],
      ['route: a passport living longer than the server cap', 'passport_lifetime_exceeded', () =>
        present(signCheck(trust, { passport: { lifetimeS: 7200 } }))],
      ['trust: an issuer the key is not for', 'issuer_untrusted', () =>
        present(signCheck(trust, { passport: { issuer: 'https://evil.example.test' } }))],
      ['trust: a trust domain the key is not for', 'trust_domain_mismatch', () =>
        present(signCheck(trust, { passport: { trustDomain: 'evil.test' } }))],
      ['trust: a software key claiming attested_workload', 'key_binding_exceeds_issuer', () =>
        present(signCheck(trust, { passport: { keyBinding: 'attested_workload' } }))],
      ['route: no route matches', 'route_not_found', () =>
        present(signCheck(trust, { path: '/v1/unknown' }))],
      ['route: an unknown route id from context_extensions', 'route_not_found', () =>
        present(signCheck(trust), { contextExtensions: { trustplane_route: 'no-such-route' } })],
      ['route: the proof names another route than Envoy says', 'route_mismatch', () =>
        present(signCheck(trust, { method: 'GET', path: '/v1/payments/42' }), { contextExtensions: { trustplane_route: 'payments-read' } })],
      ['route: Envoy names a route that does not cover the request', 'route_request_mismatch', () =>
        present(signCheck(trust, { route: 'payments-read' }), { contextExtensions: { trustplane_route: 'payments-read' } })],
      ['route: an unbound method-override header', 'override_header_not_bound', () => {
        const s = signCheck(trust);
        s.headers.set('x-http-method-override', 'DELETE');
        return present(s);
      }],
      ['route: another audience', 'audience_mismatch', () =>
        present(signCheck(trust, { passport: { audience: 'https://other.example.test' } }))],
      ['route: a subject the route does not allow', 'source_not_allowed', () =>
        present(signCheck(trust, { passport: { subject: 'spiffe://example.test/ns/other/sa/x' } }))],
      ['route: a key binding below the route minimum', 'key_binding_insufficient', () =>
        present(signCheck(trust, { path: '/v1/admin/rotate', route: 'attested-admin', passport: { key: trust.attestedKey, issuer: BROKER_ISSUER, keyBinding: 'hardware_local' } }))],
      ['route: a required header left unbound', 'header_not_bound', () =>
        present(signCheck(trust, { bindHeaders: [] }))],
      ['transcript: another body than signed', 'body_mismatch', () =>
        present(signCheck(trust), { body: '{"amount":1000000}' })],
      ['transcript: another bound header value', 'header_mismatch', () => {
        const s = signCheck(trust);
        s.headers.set('content-type', 'text/plain');
        return present(s);
      }],
      ['transcript: another path under the same route', 'path_mismatch', () =>
        present(signCheck(trust, { method: 'GET', path: '/v1/payments/1', route: 'payments-read' }), { path: '/v1/payments/2' })],
      ['transcript: another query', 'query_mismatch', () =>
        present(signCheck(trust, { method: 'GET', path: '/v1/payments/1?x=1', route: 'payments-read' }), { path: '/v1/payments/1?x=2' })],
      ['transcript: another authority', 'authority_mismatch', () =>
        present(signCheck(trust), { authority: 'other.example.test' })],
      ['transcript: a change without the field-digest table', 'transcript_mismatch', () =>
        present(signCheck(trust, { sign: { fieldDigests: false } }), { body: '{"amount":7}' })],
      ['route: an ambiguous path', 'path_not_canonical', () =>
        present(signCheck(trust, { method: 'GET', path: '/v1/payments/1', route: 'payments-read' }), { path: '/v1/payments/../payments/1' })],
      ['freshness: a proof older than the route window', 'proof_expired', () => {
        const then = Date.now() - 200_000;
        return present(signCheck(trust, { passport: { nowMs: then, lifetimeS: 300 }, sign: { nowMs: then } }));
      }],
      ['freshness: a proof from the future', 'proof_not_yet_valid', () =>
        present(signCheck(trust, { sign: { nowMs: Date.now() + 300_000 } }))],
    ];
    for (const [title, reason, run] of cases) {
      it(`${title} → ${reason} (${REASONS[reason].status})`, async () => {
        assertDeny(await run(), reason);
      });
    }
  });

  describe('body sources', () => {
    it('hashes raw_body (pack_as_bytes) and allows', async () => {
      assertAllow(await present(signCheck(trust)), 'payments-create');
    });

    it('hashes body (a string, pack_as_bytes off) and allows', async () => {
      const s = signCheck(trust);
      assertAllow(await present(s, { withRequestBody: { maxRequestBytes: 1 << 20, packAsBytes: false } }), 'payments-create');
    });

    it('denies body_partial (413) when Envoy sent only part of the body', async () => {
      const s = signCheck(trust);
      assertDeny(await present(s, { withRequestBody: { maxRequestBytes: 4, allowPartialMessage: true, packAsBytes: true } }), 'body_partial');
    });

    it('denies body_unavailable (401) when Envoy did not buffer and no trusted filter header is configured', async () => {
      const s = signCheck(trust);
      assertDeny(await present(s, { withRequestBody: undefined }), 'body_unavailable');
    });

    it('ignores a client-sent body-hash header when the filter header is not trusted', async () => {
      const s = signCheck(trust);
      s.headers.set('x-trustplane-body-sha256', sha256b64url(Buffer.from(s.body)));
      assertDeny(await present(s, { withRequestBody: undefined }), 'body_unavailable');
    });
  });

  describe('audit and metrics', () => {
    it('exposes decisions by reason and route on /metrics', async () => {
      const { status, body } = await httpGet(srv.httpAddress, '/metrics');
      assert.equal(status, 200);
      assert.ok(metricValue(body, 'trustplane_decisions_total', { decision: 'allow', reason: 'ok', route: 'payments-create', mode: 'enforce' }) >= 5);
      assert.equal(metricValue(body, 'trustplane_decisions_total', { decision: 'allow', reason: 'ok', route: 'attested-admin', mode: 'enforce' }), 1);
      assert.equal(metricValue(body, 'trustplane_decisions_total', { decision: 'deny', reason: 'jti_replay', route: 'payments-create', mode: 'enforce' }), 2);
      assert.equal(metricValue(body, 'trustplane_decisions_total', { decision: 'deny', reason: 'route_not_found', route: 'unknown' }), 2);
      assert.equal(metricValue(body, 'trustplane_decisions_total', { decision: 'deny', reason: 'passport_missing' }), 1);
      assert.equal(metricValue(body, 'trustplane_decisions_total'), decisions);
      assert.equal(metricValue(body, 'trustplane_check_duration_seconds_count'), decisions);
      assert.equal(metricValue(body, 'trustplane_bundle_serial'), 1);
    });

    it('wrote one redacted audit line per decision, flushed by close(), with no passport or proof in it', async () => {
      await srv.server.close();
      const text = readFileSync(auditPath, 'utf8');
      const lines = text.split('\n').filter((l) => l !== '');
      assert.equal(lines.length, decisions);
      const events = lines.map((l) => JSON.parse(l) as { schema: string; reason_code: ReasonCode; phase: string; detail: string | null; decision: string; jti: string | null });
      for (const e of events) {
        assert.equal(e.schema, 'trustplane-auth-audit-event-v0.2');
        // Every deny case above, through the real server: the phase the registry names, and a detail.
        assert.equal(e.phase, REASONS[e.reason_code].phase, `${e.reason_code}: ${e.detail}`);
        if (e.decision === 'allow') assert.equal(e.detail, null);
        else assert.ok(typeof e.detail === 'string' && e.detail.length > 0, `${e.reason_code} has a detail`);
      }
      assert.ok(events.some((e) => e.reason_code === 'path_not_canonical' && e.phase === 'route' && e.detail === 'dot segment in path'));
      assert.ok(events.some((e) => e.reason_code === 'jti_replay'));
      assert.ok(events.some((e) => e.decision === 'allow' && typeof e.jti === 'string'));
      assert.ok(secrets.length > 40);
      for (const token of secrets) {
        assert.equal(text.includes(token), false, 'a credential reached the audit file');
        // Neither the signature part alone.
        assert.equal(text.includes(token.slice(token.lastIndexOf('.') + 1)), false, 'a signature reached the audit file');
      }
    });
  });
});
