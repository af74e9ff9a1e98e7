/**
 * DPoP end to end through the development gateway (dev/gateway, which applies the CheckResponse as
 * Envoy does: headers, then headers_to_remove) in front of the real authz server over gRPC and the
 * echo upstream (gateway/src/echo.ts), with a proof from the third-party `dpop` client: what the
 * upstream receives on a DPoP allow has the identity headers and neither `Authorization` nor `DPoP`
 * (docs/dpop.md §5).
 */
import { strict as assert } from 'node:assert';
import { request } from 'node:http';
import { startGateway, type RunningGateway } from '../../dev/gateway/gateway.js';
import { startEcho, type EchoReply } from '../../gateway/src/echo.js';
import { accessToken, dpopClient, proof, type DpopClient } from '../support/dpop-client.js';
import { startInProcess, type InProcessServer } from '../support/server-harness.js';
import { defaultRoutes, makeTrust, type TrustSetup } from '../support/trust-setup.js';
import { AUDIENCE, ISSUER, SUBJECT, route } from '../support/world.js';

const HOST = 'api.example.test';

function get(url: string, path: string, headers: Record<string, string>): Promise<{ status: number; reason: string | undefined; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ hostname: u.hostname, port: u.port, method: 'GET', path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, reason: res.headers['x-trustplane-reason'] as string | undefined, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('end to end through the development gateway: DPoP credentials never reach the upstream', function () {
  this.timeout(30_000);
  let trust: TrustSetup;
  let srv: InProcessServer;
  let echo: Awaited<ReturnType<typeof startEcho>>;
  let gateway: RunningGateway;
  let es: DpopClient;

  before(async () => {
    trust = makeTrust('tp-gw-dpop-');
    trust.writeBundle(trust.bundle({ routes: [...defaultRoutes(), route('orders-dpop', { match: { methods: ['GET'], path: '/v1/orders/*' }, proof_kinds: ['dpop'], min_binding: ['method', 'authority', 'path'] })] }));
    srv = await startInProcess(trust);
    echo = await startEcho();
    gateway = await startGateway({
      listen: '127.0.0.1:0',
      authz: srv.grpcAddress,
      upstream: echo.url,
      routes: [{ prefix: '/v1/orders/', methods: ['GET'], wasm: false, extAuthz: true, contextExtensions: { trustplane_route: 'orders-dpop' } }],
      timeoutMs: 2000,
    });
    es = await dpopClient('ES256');
  });

  after(async () => {
    await gateway?.close();
    await echo?.close();
    await srv?.server.close();
    trust?.dispose();
  });

  it('forwards a DPoP-authorized request with the identity headers and without Authorization and DPoP', async () => {
    const t = await accessToken({ issuerKey: trust.issuerKey, issuer: ISSUER, subject: SUBJECT, audience: AUDIENCE, jkt: es.jkt });
    const headers = { host: HOST, authorization: `DPoP ${t}`, dpop: await proof(es, 'GET', `https://${HOST}/v1/orders/42`, t), accept: 'application/json' };
    const r = await get(gateway.url, '/v1/orders/42', headers);
    assert.equal(r.status, 200, r.body);
    const seen = JSON.parse(r.body) as EchoReply;
    assert.equal(seen.headers['x-trustplane-subject'], SUBJECT);
    assert.equal(seen.headers['x-trustplane-route'], 'orders-dpop');
    assert.equal(seen.headers['accept'], 'application/json');
    assert.equal(seen.headers['authorization'], undefined, 'the access token reached the upstream');
    assert.equal(seen.headers['dpop'], undefined, 'the DPoP proof reached the upstream');
    // The same proof again is a replay, answered by the gateway and never forwarded.
    const again = await get(gateway.url, '/v1/orders/42', headers);
    assert.equal(again.status, 401);
    assert.equal(again.reason, 'dpop_jti_replay');
  });
});
