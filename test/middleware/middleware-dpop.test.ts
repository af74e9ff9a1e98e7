/**
 * DPoP (RFC 9449, docs/dpop.md) through the middleware (docs/middleware.md) inside real Express and
 * Fastify servers on loopback, over real HTTP: proofs from the third-party `dpop` client, access
 * tokens from `jose` (test/support/dpop-client.ts). The `htu` is the URI the client called — the
 * `Host` the service received and the request target — and on allow the handler sees neither the
 * access token nor the proof, as the ext_authz server's allow removes them (docs/dpop.md §5).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createServer, request as httpRequest, type Server } from 'node:http';
import express from 'express';
import Fastify from 'fastify';
import { REASONS, type ReasonCode } from '../../core/src/reasons.js';
import { MemoryReplayStore } from '../../core/src/replay/memory.js';
import { fastifyTrustplane, trustplane, Verifier, type TrustPlaneRequestState } from '../../middleware/src/index.js';
import { accessToken, dpopClient, proof, type DpopClient } from '../support/dpop-client.js';
import { defaultRoutes, makeTrust, type TrustSetup } from '../support/trust-setup.js';
import { AUDIENCE, ISSUER, SUBJECT, route } from '../support/world.js';

interface Answer {
  readonly status: number;
  readonly reason: string | undefined;
  readonly text: string;
}

function get(base: string, path: string, headers: Record<string, string>): Promise<Answer> {
  const url = new URL(`${base}${path}`);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, method: 'GET', path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, reason: res.headers['x-trustplane-reason'] as string | undefined, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

function assertDenied(r: Answer, reason: ReasonCode): void {
  assert.equal(r.reason, reason, `expected ${reason}, got ${r.status} ${r.text}`);
  assert.equal(r.status, REASONS[reason].status);
  assert.equal((JSON.parse(r.text) as { reason: string }).reason, reason);
}

type Handler = { trustplane?: TrustPlaneRequestState; headers: Record<string, unknown> };

/** What the handler saw: the decision's kind and identity, and the request's header names. */
function echo(req: Handler): Record<string, unknown> {
  return {
    subject: req.trustplane?.identity?.subject ?? null,
    route: req.trustplane?.decision.routeId ?? null,
    kind: req.trustplane?.decision.audit.credential_kind ?? null,
    headers: Object.keys(req.headers).sort(),
  };
}

async function expressApp(verifier: Verifier): Promise<{ base: string; close: () => Promise<void> }> {
  const app = express();
  app.use(trustplane(verifier));
  app.all('/{*rest}', (req, res) => void res.json(echo(req as unknown as Handler)));
  const server: Server = createServer(app);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(() => r())) };
}

async function fastifyApp(verifier: Verifier): Promise<{ base: string; close: () => Promise<void> }> {
  const app = Fastify();
  await app.register(fastifyTrustplane(verifier) as never);
  app.all('/*', async (req) => echo(req as unknown as Handler));
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { base: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, close: () => app.close() };
}

for (const fw of [
  { name: 'Express', start: expressApp },
  { name: 'Fastify', start: fastifyApp },
] as const) {
  describe(`middleware in ${fw.name}: DPoP with proofs from the dpop client`, function () {
    this.timeout(30_000);
    let t: TrustSetup;
    let verifier: Verifier;
    let app: { base: string; close: () => Promise<void> };
    let es: DpopClient;

    before(async () => {
      t = makeTrust('tp-mw-dpop-');
      t.writeBundle(
        t.bundle({
          routes: [
            ...defaultRoutes(),
            route('orders-dpop', { match: { methods: ['GET'], path: '/v1/orders/*' }, proof_kinds: ['dpop'], min_binding: ['method', 'authority', 'path'] }),
            // Lists dpop, but keeps the default minimum binding (every part): DPoP is never enough here.
            route('orders-strict', { match: { methods: ['GET'], path: '/v1/strict' }, proof_kinds: ['transcript-v1', 'dpop'] }),
          ],
        }),
      );
      // The dpop client dates its proofs now; a replay generation that began when the verifier opened
      // would count them as acceptable before it (replay_state_lost, docs/middleware.md). Amnesia has
      // its own tests (test/core/replay-amnesia.test.ts), so this store's generation predates them.
      verifier = await Verifier.open({ bundle: { path: t.bundlePath, signingKeys: t.jwksPath }, store: new MemoryReplayStore({ maxEntries: 10_000, generationStartMs: -Infinity }) });
      app = await fw.start(verifier);
      es = await dpopClient('ES256');
    });

    after(async () => {
      await app?.close();
      await verifier?.close();
      t?.dispose();
    });

    const token = (): Promise<string> => accessToken({ issuerKey: t.issuerKey, issuer: ISSUER, subject: SUBJECT, audience: AUDIENCE, jkt: es.jkt });
    /** The headers of a DPoP request for `path` on the app, with a proof made for `htuPath` (default: the same). */
    const dpopHeaders = async (tok: string, htuPath: string): Promise<Record<string, string>> => ({
      authorization: `DPoP ${tok}`,
      dpop: await proof(es, 'GET', `${app.base}${htuPath}`, tok),
      accept: 'application/json',
    });

    it('allows a DPoP request on a route that accepts DPoP; the handler sees the identity and neither Authorization nor DPoP', async () => {
      const tok = await token();
      const r = await get(app.base, '/v1/orders/42?page=2', await dpopHeaders(tok, '/v1/orders/42'));
      assert.equal(r.status, 200, r.text);
      const seen = JSON.parse(r.text) as { headers: string[] };
      assert.deepEqual({ ...seen, headers: undefined }, { subject: SUBJECT, route: 'orders-dpop', kind: 'dpop', headers: undefined });
      assert.deepEqual(seen.headers.filter((h) => h === 'authorization' || h === 'dpop' || h.startsWith('x-trustplane-')), []);
      assert.ok(seen.headers.includes('accept'), 'other headers reach the handler');
    });

    it('denies the same proof a second time as dpop_jti_replay, and allows the token again with a fresh proof', async () => {
      const tok = await token();
      const headers = await dpopHeaders(tok, '/v1/orders/7');
      assert.equal((await get(app.base, '/v1/orders/7', headers)).status, 200);
      assertDenied(await get(app.base, '/v1/orders/7', headers), 'dpop_jti_replay');
      assert.equal((await get(app.base, '/v1/orders/7', await dpopHeaders(tok, '/v1/orders/7'))).status, 200);
    });

    it('denies a proof made for another URI as dpop_htu_mismatch: the htu is built from the Host and target received', async () => {
      const tok = await token();
      assertDenied(await get(app.base, '/v1/orders/8', await dpopHeaders(tok, '/v1/orders/9')), 'dpop_htu_mismatch');
      const elsewhere = { authorization: `DPoP ${tok}`, dpop: await proof(es, 'GET', 'http://api.example.test/v1/orders/8', tok) };
      assertDenied(await get(app.base, '/v1/orders/8', elsewhere), 'dpop_htu_mismatch');
    });

    it('denies DPoP on a route whose min_binding it does not meet as proof_binding_insufficient', async () => {
      const tok = await token();
      assertDenied(await get(app.base, '/v1/strict', await dpopHeaders(tok, '/v1/strict')), 'proof_binding_insufficient');
      // A route that does not list dpop at all.
      assertDenied(await get(app.base, '/v1/payments/1', await dpopHeaders(tok, '/v1/payments/1')), 'proof_kind_not_allowed');
    });
  });
}
