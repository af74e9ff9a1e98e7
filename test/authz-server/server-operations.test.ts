/**
 * The real server's operational behaviour, over its real ports: dry-run (global and per route),
 * the trusted body-hash filter header, readiness through grpc.health.v1 and /readyz, hot reload of
 * the bundle file (good and refused replacements), and a real redis-server going down and up.
 */
import assert from 'node:assert/strict';
import { sha256b64url } from '../../core/src/encoding.js';
import { generateSigningKey } from '../../core/src/keys.js';
import { assertAllow, assertDeny, headerMap } from '../support/check-assertions.js';
import { waitFor } from '../support/clock.js';
import { healthCheck, httpGet, makeCheckClient, metricValue, type CheckClient } from '../support/server-clients.js';
import { startInProcess, type InProcessServer } from '../support/server-harness.js';
import { checkBytes, signCheck } from '../support/signed-check.js';
import { defaultRoutes, makeTrust, type TrustSetup } from '../support/trust-setup.js';
import { structToPlain } from '../support/envoy-api.js';
import { RedisServer, redisBinaryOrSkip, seedGeneration } from '../support/redis-server.js';
import { route } from '../support/world.js';

async function metrics(srv: InProcessServer): Promise<string> {
  const r = await httpGet(srv.httpAddress, '/metrics');
  assert.equal(r.status, 200);
  return r.body;
}

describe('authz server over gRPC: operations', function () {
  this.timeout(30_000);
  let trust: TrustSetup;
  const servers: InProcessServer[] = [];
  const clients: CheckClient[] = [];

  const start = async (over: Record<string, unknown> = {}): Promise<{ srv: InProcessServer; client: CheckClient }> => {
    const srv = await startInProcess(trust, over);
    servers.push(srv);
    const client = makeCheckClient(srv.grpcAddress);
    clients.push(client);
    return { srv, client };
  };

  beforeEach(() => {
    trust = makeTrust();
    trust.writeBundle(trust.bundle({ serial: 1 }));
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const s of servers.splice(0)) await s.server.close();
    trust.dispose();
  });

  describe('dry-run', () => {
    it('global mode dry_run allows a would-be deny without forwarding identity, reports the would-deny reason and counts a dry_run deny', async () => {
      const { srv, client } = await start({ mode: 'dry_run' });
      const r = await client.check(checkBytes(signCheck(trust), { body: '{"amount":5}' }));
      assert.equal(r.http_response, 'ok_response');
      assert.equal(r.status?.code ?? 0, 0);
      const headers = headerMap(r.ok_response?.headers);
      assert.deepEqual(Object.keys(headers).sort(), ['x-trustplane-decision-id', 'x-trustplane-route']);
      assert.deepEqual(r.ok_response?.headers_to_remove, [
        'x-trustplane-passport',
        'x-trustplane-proof',
        'x-trustplane-body-sha256',
        'x-trustplane-subject',
        'x-trustplane-issuer',
        'x-trustplane-trust-domain',
        'x-trustplane-key-binding',
      ]);
      const md = structToPlain(r.dynamic_metadata);
      assert.equal(md['dry_run'], true);
      assert.equal(md['reason'], 'body_mismatch');
      assert.equal(md['would_deny_reason'], 'body_mismatch');
      const m = await metrics(srv);
      assert.equal(metricValue(m, 'trustplane_decisions_total', { decision: 'deny', reason: 'body_mismatch', route: 'payments-create', mode: 'dry_run' }), 1);
      assert.equal(metricValue(m, 'trustplane_decisions_total', { decision: 'allow' }), 0);
    });

    it('global mode dry_run never consumes a jti: the same request is ok twice', async () => {
      const { client } = await start({ mode: 'dry_run' });
      const bytes = checkBytes(signCheck(trust));
      for (let i = 0; i < 2; i++) {
        const r = await client.check(bytes);
        assertAllow(r, 'payments-create');
        assert.equal(structToPlain(r.dynamic_metadata)['reason'], 'ok');
        assert.equal(structToPlain(r.dynamic_metadata)['dry_run'], true);
      }
    });

    it('a per-route trustplane_mode=dry_run context extension lets a would-be deny through on an enforcing server', async () => {
      const { srv, client } = await start();
      const r = await client.check(checkBytes(signCheck(trust), { body: '{"amount":6}', contextExtensions: { trustplane_mode: 'dry_run' } }));
      assert.equal(r.http_response, 'ok_response');
      const md = structToPlain(r.dynamic_metadata);
      assert.equal(md['would_deny_reason'], 'body_mismatch');
      assert.equal(md['dry_run'], true);
      // Without the extension the same server enforces.
      assertDeny(await client.check(checkBytes(signCheck(trust), { body: '{"amount":6}' })), 'body_mismatch');
      const m = await metrics(srv);
      assert.equal(metricValue(m, 'trustplane_decisions_total', { decision: 'deny', reason: 'body_mismatch', mode: 'dry_run' }), 1);
      assert.equal(metricValue(m, 'trustplane_decisions_total', { decision: 'deny', reason: 'body_mismatch', mode: 'enforce' }), 1);
    });

    it('a bundle route in dry_run mode lets a would-be deny through, and trustplane_mode=enforce overrides it', async () => {
      const { client } = await start();
      const s = () => signCheck(trust, { path: '/v1/shadow', route: 'payments-shadow' });
      const r = await client.check(checkBytes(s(), { body: 'tampered' }));
      assert.equal(r.http_response, 'ok_response');
      assert.equal(structToPlain(r.dynamic_metadata)['would_deny_reason'], 'body_mismatch');
      assertDeny(await client.check(checkBytes(s(), { body: 'tampered', contextExtensions: { trustplane_mode: 'enforce' } })), 'body_mismatch');
    });

    it('a trustplane_mode value that is neither enforce nor dry_run is request_malformed (a config typo fails closed)', async () => {
      const { client } = await start();
      assertDeny(await client.check(checkBytes(signCheck(trust), { contextExtensions: { trustplane_mode: 'dryrun' } })), 'request_malformed');
    });
  });

  describe('trusted body-hash filter header', () => {
    it('binds the filter header when trusted and Envoy did not buffer, and strips it on allow', async () => {
      const { client } = await start({ body: { filter_header: { trusted: true } } });
      const s = signCheck(trust);
      s.headers.set('x-trustplane-body-sha256', sha256b64url(Buffer.from(s.body)));
      s.headers.set('x-trustplane-body-length', String(Buffer.byteLength(s.body)));
      const r = await client.check(checkBytes(s, { withRequestBody: undefined }));
      assertAllow(r, 'payments-create');
      assert.ok(r.ok_response?.headers_to_remove?.includes('x-trustplane-body-sha256'));
    });

    it('denies body_mismatch when the trusted header names another body, and body_hash_invalid when it is no digest', async () => {
      const { client } = await start({ body: { filter_header: { trusted: true } } });
      const a = signCheck(trust);
      a.headers.set('x-trustplane-body-sha256', sha256b64url(Buffer.from('other')));
      a.headers.set('x-trustplane-body-length', '5');
      assertDeny(await client.check(checkBytes(a, { withRequestBody: undefined })), 'body_mismatch');
      const b = signCheck(trust);
      b.headers.set('x-trustplane-body-sha256', 'not-a-digest');
      b.headers.set('x-trustplane-body-length', '5');
      assertDeny(await client.check(checkBytes(b, { withRequestBody: undefined })), 'body_hash_invalid');
    });

    it('prefers bytes Envoy buffered over the header', async () => {
      const { client } = await start({ body: { filter_header: { trusted: true } } });
      const s = signCheck(trust);
      s.headers.set('x-trustplane-body-sha256', sha256b64url(Buffer.from('other')));
      assertAllow(await client.check(checkBytes(s)), 'payments-create');
    });
  });

  describe('health', () => {
    it('is SERVING on grpc.health.v1 (overall and for the Authorization service) and /readyz says why', async () => {
      const { srv } = await start();
      assert.equal(await healthCheck(srv.grpcAddress), 'SERVING');
      assert.equal(await healthCheck(srv.grpcAddress, 'envoy.service.auth.v3.Authorization'), 'SERVING');
      await assert.rejects(healthCheck(srv.grpcAddress, 'no.such.Service'), (e: { code?: number }) => e.code === 5);
      const ready = await httpGet(srv.httpAddress, '/readyz');
      assert.equal(ready.status, 200);
      assert.deepEqual(JSON.parse(ready.body), { ready: true, bundle_serial: 1, replay_store: true });
      assert.equal((await httpGet(srv.httpAddress, '/healthz')).status, 200);
    });

    it('goes NOT_SERVING and denies bundle_unavailable (503) once the bundle expires, and SERVING again after a good replacement', async () => {
      trust.writeBundle(trust.bundle({ serial: 1, expiresInS: 2 }));
      const { srv, client } = await start();
      assert.equal(await healthCheck(srv.grpcAddress), 'SERVING');
      await waitFor('NOT_SERVING after expiry', async () => (await healthCheck(srv.grpcAddress)) === 'NOT_SERVING', 6000);
      const ready = await httpGet(srv.httpAddress, '/readyz');
      assert.equal(ready.status, 503);
      assert.deepEqual(JSON.parse(ready.body), { ready: false, bundle_serial: null, replay_store: true });
      assertDeny(await client.check(checkBytes(signCheck(trust))), 'bundle_unavailable');

      trust.writeBundle(trust.bundle({ serial: 2 }));
      await waitFor('SERVING after a good bundle', async () => (await healthCheck(srv.grpcAddress)) === 'SERVING', 6000);
      assert.equal((await httpGet(srv.httpAddress, '/readyz')).status, 200);
      assertAllow(await client.check(checkBytes(signCheck(trust))), 'payments-create');
    });
  });

  describe('hot reload', () => {
    const refundRoute = () => [...defaultRoutes(), route('payments-refund', { match: { methods: ['POST'], path: '/v1/refunds' }, bound_headers: ['content-type'] })];
    const refund = () => signCheck(trust, { path: '/v1/refunds', route: 'payments-refund' });

    it('serves a new route after a good replacement with a higher serial, and refuses corrupt, unsigned, tampered, foreign-signed and rolled-back ones while the last good bundle keeps serving', async () => {
      const { srv, client } = await start();
      assertDeny(await client.check(checkBytes(refund())), 'route_not_found');

      trust.writeBundle(trust.bundle({ serial: 2, routes: refundRoute() }));
      await waitFor('serial 2 in use', () => srv.server.bundle()?.serial === 2, 5000);
      assertAllow(await client.check(checkBytes(refund())), 'payments-refund');
      let m = await metrics(srv);
      assert.equal(metricValue(m, 'trustplane_bundle_serial'), 2);
      assert.equal(metricValue(m, 'trustplane_bundle_reloads_total', { result: 'ok', code: 'none' }), 1, 'the reload; the first load is not one (docs/metrics.md)');

      const tampered = JSON.parse(JSON.stringify(trust.bundle({ serial: 3, routes: refundRoute() }))) as { routes: { audience: string }[] };
      tampered.routes[0]!.audience = 'https://attacker.example.test';
      const refusals: Array<[string, string]> = [
        ['bundle_invalid', '{"format": "trustplane-bundle-v1", "serial": '],
        ['bundle_unsigned', JSON.stringify(trust.bundle({ serial: 3, signer: null }))],
        ['bundle_signature_invalid', JSON.stringify(tampered)],
        ['bundle_signing_key_unknown', JSON.stringify(trust.bundle({ serial: 3, signer: generateSigningKey('EdDSA') }))],
        ['bundle_rollback', JSON.stringify(trust.bundle({ serial: 1 }))],
      ];
      for (const [code, content] of refusals) {
        const before = metricValue(await metrics(srv), 'trustplane_bundle_reloads_total', { result: 'refused', code });
        trust.writeBundle(content);
        await waitFor(`refusal counted as ${code}`, async () => metricValue(await metrics(srv), 'trustplane_bundle_reloads_total', { result: 'refused', code }) === before + 1, 5000);
        m = await metrics(srv);
        assert.equal(metricValue(m, 'trustplane_bundle_serial'), 2, `serial gauge unchanged after ${code}`);
        assert.equal(srv.server.bundle()?.serial, 2);
        assert.equal(await healthCheck(srv.grpcAddress), 'SERVING');
        assertAllow(await client.check(checkBytes(refund())), 'payments-refund');
      }
      assert.ok(srv.log.some((l) => l.includes('bundle replacement refused') && l.includes('bundle_rollback')));
      assert.equal(metricValue(m, 'trustplane_bundle_reloads_total', { result: 'refused' }), refusals.length);
    });
  });

  describe('replay store on a real redis-server', () => {
    let redis: RedisServer | undefined;
    afterEach(async () => {
      await redis?.dispose();
      redis = undefined;
    });

    it('denies replay_store_unavailable (503) and reports NOT_SERVING while Redis is down, then allows and is SERVING once it is back', async function () {
      redis = await RedisServer.create(redisBinaryOrSkip(this));
      await seedGeneration(redis);
      // A one-second tolerance keeps the window after the empty restart below short (see the end).
      const { srv, client } = await start({
        replay: { store: 'redis', redis: { url: redis.url, connect_timeout_ms: 200, command_timeout_ms: 200 } },
        engine: { clock_tolerance_s: 1 },
      });
      await waitFor('SERVING with Redis', async () => (await healthCheck(srv.grpcAddress)) === 'SERVING', 5000);
      const bytes = checkBytes(signCheck(trust));
      assertAllow(await client.check(bytes), 'payments-create');
      assertDeny(await client.check(bytes), 'jti_replay');

      await redis.stop();
      assertDeny(await client.check(checkBytes(signCheck(trust))), 'replay_store_unavailable');
      await waitFor('NOT_SERVING without Redis', async () => (await healthCheck(srv.grpcAddress)) === 'NOT_SERVING', 5000);
      const ready = await httpGet(srv.httpAddress, '/readyz');
      assert.equal(ready.status, 503);
      assert.equal((JSON.parse(ready.body) as { replay_store: boolean }).replay_store, false);

      const issuedBefore = checkBytes(signCheck(trust));
      await redis.start();
      await waitFor('SERVING after Redis returns', async () => (await healthCheck(srv.grpcAddress)) === 'SERVING', 8000);
      // Restarted empty: a passport acceptable before the new generation began cannot be vouched for.
      assertDeny(await client.check(issuedBefore), 'replay_state_lost');
      const detail = JSON.parse((await httpGet(srv.httpAddress, '/readyz')).body) as { replay_generation_start?: string };
      assert.ok(Date.parse(detail.replay_generation_start ?? '') > Date.now() - 10_000, 'readyz names the new generation');
      let last: string | undefined;
      await waitFor(
        'an allow after Redis returns',
        async () => {
          const r = await client.check(checkBytes(signCheck(trust)));
          last = String(structToPlain(r.dynamic_metadata)['reason']);
          return r.http_response === 'ok_response';
        },
        5000,
        100,
      );
      assert.equal(last, 'ok');
      const m = await metrics(srv);
      assert.ok(metricValue(m, 'trustplane_decisions_total', { reason: 'replay_store_unavailable', route: 'payments-create' }) >= 1);
      assert.ok(metricValue(m, 'trustplane_replay_store_errors_total') >= 1);
    });

    it('with maxmemory-policy allkeys-lru: NOT_SERVING, /readyz names the policy, checks denied replay_store_misconfigured; noeviction set live makes it SERVING', async function () {
      redis = await RedisServer.create(redisBinaryOrSkip(this), { config: { 'maxmemory-policy': 'allkeys-lru' } });
      await seedGeneration(redis);
      const { srv, client } = await start({ replay: { store: 'redis', redis: { url: redis.url, connect_timeout_ms: 200, command_timeout_ms: 200 } } });
      assert.equal(await healthCheck(srv.grpcAddress), 'NOT_SERVING');
      // The first readiness probe may come before the connection; the next ones read the policy.
      let problem = '';
      await waitFor(
        '/readyz naming the policy',
        async () => {
          const ready = await httpGet(srv.httpAddress, '/readyz');
          assert.equal(ready.status, 503);
          problem = (JSON.parse(ready.body) as { replay_store_problem?: string }).replay_store_problem ?? '';
          return problem !== '';
        },
        5000,
      );
      assert.match(problem, /maxmemory-policy is "allkeys-lru"/);
      assert.equal(await healthCheck(srv.grpcAddress), 'NOT_SERVING');
      const bytes = checkBytes(signCheck(trust));
      assertDeny(await client.check(bytes), 'replay_store_misconfigured');
      assert.equal(await redis.command(['DBSIZE']), 1, 'only the generation marker: no jti written');
      await redis.command(['CONFIG', 'SET', 'maxmemory-policy', 'noeviction']);
      await waitFor('SERVING once the policy is noeviction', async () => (await healthCheck(srv.grpcAddress)) === 'SERVING', 5000);
      // The request denied while misconfigured burnt nothing: it is allowed now.
      assertAllow(await client.check(bytes), 'payments-create');
    });
  });
});
