/**
 * The middleware (middleware/src, docs/middleware.md) inside real Express and Fastify servers on
 * loopback, with requests signed by the SDK's signer and sent over real HTTP: every deny family
 * with its exact code and the ext_authz server's response shape, body binding with streamed
 * bodies, replay across two instances sharing a real redis-server, and hot reload.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { REASONS, type ReasonCode } from '../../core/src/reasons.js';
import { issuePassport } from '../../core/src/passport.js';
import { signRequest } from '../../core/src/sign-request.js';
import { fastifyTrustplane, trustplane, Verifier, type TrustPlaneRequestState } from '../../middleware/src/index.js';
import { afterStart, nextSecond, waitFor } from '../support/clock.js';
import { defaultRoutes, makeTrust, type TrustSetup } from '../support/trust-setup.js';
import { AUDIENCE, ISSUER, SUBJECT, TRUST_DOMAIN } from '../support/world.js';
import { RedisServer, redisBinaryOrSkip } from '../support/redis-server.js';
import { route } from '../support/world.js';

interface Sent {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string;
}

function sign(t: TrustSetup, authority: string, o: { method?: string; path?: string; body?: string; route?: string; passport?: string; bind?: string[]; headers?: Record<string, string> } = {}): Sent {
  const method = o.method ?? 'POST';
  const path = o.path ?? '/v1/payments';
  const body = o.body ?? (method === 'GET' ? '' : '{"amount":100}');
  const headers = o.headers ?? (method === 'GET' ? {} : { 'content-type': 'application/json' });
  const passport =
    o.passport ??
    // Dated the clock tolerance ahead: the replay store's generation began when the verifier
    // opened, and a passport that could have been accepted before that is replay_state_lost.
    issuePassport({ key: t.issuerKey, issuer: ISSUER, subject: SUBJECT, audience: AUDIENCE, trustDomain: TRUST_DOMAIN, holder: t.holder.publicJwk, keyBinding: 'software', lifetimeS: 60, ...afterStart() });
  const s = signRequest(
    { method, authority, pathAndQuery: path, headers, body },
    { passport, holder: t.holder, route: o.route ?? 'payments-create', bindHeaders: o.bind ?? (method === 'GET' ? [] : ['content-type']) },
  );
  return { method, path, headers: { ...headers, ...s.headers }, body };
}

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
}

/** One request over node:http, which (unlike fetch) lets a test set Host to what the proof signed. */
function send(base: string, s: Sent, over: Partial<Sent> = {}): Promise<Answer> {
  const x = { ...s, ...over };
  const url = new URL(`${base}${x.path}`);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, method: x.method, path: x.path, headers: x.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headers.set(k, v);
        resolve({ status: res.statusCode ?? 0, headers, text: Buffer.concat(chunks).toString('utf8') });
      });
    });
    req.on('error', reject);
    req.end(x.body === '' ? undefined : x.body);
  });
}

function assertDenied(r: Answer, reason: ReasonCode): void {
  assert.equal(r.headers.get('x-trustplane-reason'), reason, `expected ${reason}, got ${r.status} ${r.text}`);
  assert.equal(r.status, REASONS[reason].status);
  const body = JSON.parse(r.text) as { reason: string; status: number; decision_id: string };
  assert.deepEqual({ reason: body.reason, status: body.status }, { reason, status: REASONS[reason].status });
  assert.equal(body.decision_id, r.headers.get('x-trustplane-decision-id'));
  if (REASONS[reason].status === 401) assert.equal(r.headers.get('www-authenticate'), `TrustPlane error="${reason}"`);
}

type Handler = { trustplane?: TrustPlaneRequestState; body?: unknown; headers: Record<string, unknown> };

function echo(req: Handler): Record<string, unknown> {
  return {
    subject: req.trustplane?.identity?.subject ?? null,
    route: req.trustplane?.decision.routeId ?? null,
    bodyBytes: req.trustplane?.body.length ?? null,
    sawCredential: Object.keys(req.headers).some((h) => h.startsWith('x-trustplane-')),
  };
}

async function expressApp(verifier: Verifier): Promise<{ base: string; close: () => Promise<void> }> {
  const app = express();
  app.use(trustplane(verifier));
  app.all('/{*rest}', (req, res) => {
    res.json({ ...echo(req as unknown as Handler), parsed: Buffer.isBuffer(req.body) && req.body.length > 0 ? JSON.parse(req.body.toString('utf8')) : null });
  });
  const server: Server = createServer(app);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(() => r())) };
}

async function fastifyApp(verifier: Verifier): Promise<{ base: string; close: () => Promise<void>; app: FastifyInstance }> {
  const app = Fastify();
  await app.register(fastifyTrustplane(verifier) as never);
  app.all('/*', async (req) => ({ ...echo(req as unknown as Handler), parsed: req.body ?? null }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { base: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, close: () => app.close(), app };
}

const FRAMEWORKS = [
  { name: 'Express', start: expressApp },
  { name: 'Fastify', start: fastifyApp },
] as const;

for (const fw of FRAMEWORKS) {
  describe(`middleware in ${fw.name}`, function () {
    this.timeout(30_000);
    let t: TrustSetup;
    let verifier: Verifier;
    let app: { base: string; close: () => Promise<void> };
    let authority: string;

    before(async () => {
      t = makeTrust('tp-mw-');
      t.writeBundle(t.bundle({ routes: [...defaultRoutes(), route('small-body', { match: { methods: ['POST'], path: '/v1/small' }, body: { mode: 'bound', max_bytes: 8 } })] }));
      verifier = await Verifier.open({ bundle: { path: t.bundlePath, signingKeys: t.jwksPath, pollIntervalMs: 100 }, maxBodyBytes: 64 * 1024 });
      app = await fw.start(verifier);
      authority = app.base.slice('http://'.length);
      await nextSecond();
    });

    after(async () => {
      await app?.close();
      await verifier?.close();
      t?.dispose();
    });

    it('allows a signed request, hands the handler the identity and the bound body, and hides every x-trustplane- header', async () => {
      const r = await send(app.base, sign(t, authority));
      assert.equal(r.status, 200, r.text);
      const got = JSON.parse(r.text) as Record<string, unknown>;
      assert.deepEqual(got, { subject: SUBJECT, route: 'payments-create', bodyBytes: 14, sawCredential: false, parsed: { amount: 100 } });
      const get = await send(app.base, sign(t, authority, { method: 'GET', path: '/v1/payments/42', route: 'payments-read' }));
      assert.equal(get.status, 200, get.text);
      assert.deepEqual(JSON.parse(get.text), { subject: SUBJECT, route: 'payments-read', bodyBytes: 0, sawCredential: false, parsed: null });
    });

    it('counts every decision in the same metrics as the ext_authz server, by reason', async () => {
      const text = await verifier.metrics.render();
      assert.match(text, /trustplane_decisions_total\{[^}]*reason="ok"[^}]*\} [1-9]/);
    });

    it('denies with the exact code, status, reason header and JSON body of the ext_authz server, for every deny family', async () => {
      const s = sign(t, authority);
      const { ['x-trustplane-passport']: _p, ...noPassport } = s.headers;
      assertDenied(await send(app.base, s, { headers: noPassport }), 'passport_missing');
      const { ['x-trustplane-proof']: _q, ...noProof } = s.headers;
      assertDenied(await send(app.base, s, { headers: noProof }), 'proof_missing');
      assertDenied(await send(app.base, s, { headers: { ...s.headers, 'x-trustplane-proof': 'v1.x.y' } }), 'proof_malformed');
      assertDenied(await send(app.base, s, { headers: { ...s.headers, 'x-trustplane-passport': 'a.b.c' } }), 'passport_malformed');
      assertDenied(await send(app.base, s, { body: '{"amount":999}' }), 'body_mismatch');
      assertDenied(await send(app.base, s, { headers: { ...s.headers, 'content-type': 'text/plain' } }), 'header_mismatch');
      assertDenied(await send(app.base, s, { path: '/v1/payments?x=1' }), 'query_mismatch');
      assertDenied(await send(app.base, s, { path: '/v1/nowhere' }), 'route_not_found');
      const wrongAud = issuePassport({ key: t.issuerKey, issuer: ISSUER, subject: SUBJECT, audience: 'https://other.example', trustDomain: TRUST_DOMAIN, holder: t.holder.publicJwk, keyBinding: 'software', lifetimeS: 60 });
      assertDenied(await send(app.base, sign(t, authority, { passport: wrongAud })), 'audience_mismatch');
      const expired = issuePassport({ key: t.issuerKey, issuer: ISSUER, subject: SUBJECT, audience: AUDIENCE, trustDomain: TRUST_DOMAIN, holder: t.holder.publicJwk, keyBinding: 'software', lifetimeS: 60, nowMs: Date.now() - 3_600_000 });
      assertDenied(await send(app.base, sign(t, authority, { passport: expired })), 'passport_expired');
      assertDenied(await send(app.base, sign(t, authority, { path: '/v1/small', route: 'small-body', body: '0123456789' })), 'body_too_large');
      // None of the tampered attempts burnt the jti: the genuine request is allowed, then it is a replay.
      assert.equal((await send(app.base, s)).status, 200);
      assertDenied(await send(app.base, s), 'jti_replay');
    });

    it('binds a body streamed in chunks, and denies the same stream with one byte changed', async () => {
      const chunks = Array.from({ length: 20 }, (_, i) => `{"part":${i},"pad":"${'x'.repeat(1000)}"}`);
      const body = `[${chunks.join(',')}]`;
      const s = sign(t, authority, { body });
      const stream = (text: string): ReadableStream<Uint8Array> => {
        const bytes = Buffer.from(text);
        let at = 0;
        return new ReadableStream({
          pull(c) {
            if (at >= bytes.length) return c.close();
            c.enqueue(bytes.subarray(at, at + 700));
            at += 700;
          },
        });
      };
      const post = async (text: string): Promise<Answer> => {
        const res = await fetch(`${app.base}${s.path}`, { method: 'POST', headers: s.headers, body: stream(text), duplex: 'half' } as RequestInit);
        return { status: res.status, headers: res.headers, text: await res.text() };
      };
      assertDenied(await post(`${body.slice(0, -1)} `), 'body_mismatch');
      const ok = await post(body);
      assert.equal(ok.status, 200, ok.text);
      assert.equal((JSON.parse(ok.text) as { bodyBytes: number }).bodyBytes, Buffer.byteLength(body));
    });

    it('binds the authority it received: X-Forwarded-Host is ignored unless trustForwardedHost is set', async () => {
      const s = sign(t, 'api.example.test');
      assertDenied(await send(app.base, s), 'authority_mismatch');
      // Untrusted, the header is one that makes upstreams act on another URL: denied unless bound.
      assertDenied(await send(app.base, s, { headers: { ...s.headers, 'x-forwarded-host': 'api.example.test' } }), 'override_header_not_bound');
      const trusting = await Verifier.open({ bundle: { path: t.bundlePath, signingKeys: t.jwksPath }, trustForwardedHost: true });
      const app2 = await fw.start(trusting);
      await nextSecond(); // a new verifier, a new replay generation: sign after it began
      const s2 = sign(t, 'api.example.test');
      try {
        assert.equal((await send(app2.base, s2, { headers: { ...s2.headers, 'x-forwarded-host': 'evil.example, api.example.test' } })).status, 200);
      } finally {
        await app2.close();
        await trusting.close();
      }
    });

    it('hot-reloads the bundle: a route added by a new serial is served without a restart', async () => {
      const s = sign(t, authority, { path: '/v1/refunds', route: 'refunds' });
      assertDenied(await send(app.base, s), 'route_not_found');
      t.writeBundle(t.bundle({ serial: 2, routes: [...defaultRoutes(), route('refunds', { match: { methods: ['POST'], path: '/v1/refunds' }, bound_headers: ['content-type'] })] }));
      await waitFor('the new bundle', () => verifier.bundle()?.serial === 2);
      const r = await send(app.base, s);
      assert.equal(r.status, 200, r.text);
    });
  });
}

describe('middleware: two instances sharing one redis-server', function () {
  this.timeout(30_000);
  let redis: RedisServer;
  let t: TrustSetup;
  const verifiers: Verifier[] = [];
  const apps: { base: string; close: () => Promise<void> }[] = [];

  before(async function () {
    const bin = redisBinaryOrSkip(this);
    redis = await RedisServer.create(bin);
    t = makeTrust('tp-mw-redis-');
    t.writeBundle(t.bundle());
    for (const start of [expressApp, fastifyApp]) {
      const v = await Verifier.open({ bundle: { path: t.bundlePath, signingKeys: t.jwksPath }, replay: { store: 'redis', redis: { url: redis.url, connect_timeout_ms: 1000, command_timeout_ms: 1000 } } });
      verifiers.push(v);
      apps.push(await start(v));
    }
    await nextSecond();
  });

  after(async () => {
    for (const a of apps) await a.close();
    for (const v of verifiers) await v.close();
    await redis?.stop();
    t?.dispose();
  });

  it('allows a signed request exactly once across both, however the duplicates are spread', async () => {
    const results = await Promise.all(
      Array.from({ length: 3 }, () => sign(t, 'api.example.test')).flatMap((s) =>
        Array.from({ length: 10 }, (_, i) => send(apps[i % 2]!.base, s, { headers: { ...s.headers, host: 'api.example.test' } })),
      ),
    );
    assert.equal(results.filter((r) => r.status === 200).length, 3);
    for (const r of results.filter((x) => x.status !== 200)) assertDenied(r, 'jti_replay');
  });

  it('fails closed with replay_store_unavailable while Redis is down, and recovers', async () => {
    await redis.stop();
    const s = sign(t, 'api.example.test');
    assertDenied(await send(apps[0]!.base, s, { headers: { ...s.headers, host: 'api.example.test' } }), 'replay_store_unavailable');
    await redis.start();
    // Redis came back empty: a new replay generation, and passports that could have been accepted
    // before it are replay_state_lost (503) until its window passes. Fresh passports, dated the
    // clock tolerance ahead once the generation exists, are allowed; nothing in between is.
    const seen = new Set<string>();
    await waitFor('an allow once Redis is back', async () => {
      const again = sign(t, 'api.example.test');
      const r = await send(apps[0]!.base, again, { headers: { ...again.headers, host: 'api.example.test' } });
      if (r.status === 200) return true;
      seen.add(r.headers.get('x-trustplane-reason') ?? String(r.status));
      return false;
    }, 15_000, 250);
    for (const reason of seen) assert.ok(reason === 'replay_store_unavailable' || reason === 'replay_state_lost', reason);
  });
});

describe('middleware: the verifier\'s own denies say why (detail, for the audit line)', function () {
  this.timeout(30_000);
  let t: TrustSetup;

  before(() => {
    t = makeTrust('tp-mw-detail-');
    t.writeBundle(t.bundle());
  });
  after(() => t?.dispose());

  it('body_too_large over maxBodyBytes and an internal error carry a detail; the client sees only the code', async () => {
    const thrown = new Error('boom');
    const verifier = await Verifier.open({ bundle: { path: t.bundlePath, signingKeys: t.jwksPath }, maxBodyBytes: 16 });
    const seen: { reason: string; detail: string | undefined }[] = [];
    const server = createServer((req, res) => {
      const broken = req.url === '/broken';
      if (broken) Object.defineProperty(req, 'rawHeaders', { get: () => { throw thrown; } });
      void verifier.verify(req).then((v) => {
        seen.push({ reason: v.decision.reason, detail: v.decision.detail });
        res.statusCode = v.deny?.status ?? 200;
        for (const [k, val] of Object.entries(v.deny?.headers ?? {})) res.setHeader(k, val);
        res.end(v.deny?.body ?? '');
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const s = sign(t, 'api.example.test', { body: `{"amount":${'1'.repeat(40)}}` });
      const big = await send(base, s, { headers: { ...s.headers, host: 'api.example.test' } });
      assertDenied(big, 'body_too_large');
      assert.doesNotMatch(big.text, /maxBodyBytes/);
      const small = sign(t, 'api.example.test', { body: '{}', path: '/broken' });
      assertDenied(await send(base, small, { headers: { ...small.headers, host: 'api.example.test' } }), 'internal_error');
      assert.deepEqual(seen, [
        { reason: 'body_too_large', detail: 'body longer than maxBodyBytes 16; the rest not read' },
        { reason: 'internal_error', detail: 'unexpected error in the middleware verifier (passed to onInternalError)' },
      ]);
    } finally {
      server.close();
      await verifier.close();
    }
  });
});
