import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../core/src/package-root.js';
import fc from 'fast-check';
import { issuePassport } from '../../core/src/passport.js';
import { signRequest } from '../../core/src/sign-request.js';
import { startGateway, type RunningGateway } from '../../dev/gateway/gateway.js';
import { DEV } from '../../cli/src/dev-state.js';
import { BUFFER_LIMIT_BYTES, MAX_BODY_BYTES, WASM_CONFIGURATION, WASM_PATH, startLocalStack, type LocalStack } from '../../dev/stack.js';
import { runTour } from '../../cli/src/tour.js';

interface Answer {
  status: number;
  reason: string | null;
  body: string;
}

/** Plain node:http, so the Host header (the signed authority) can be set for any gateway port. */
function send(url: string, method: string, path: string, headers: Record<string, string>, body?: Uint8Array | string): Promise<Answer> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ hostname: u.hostname, port: u.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, reason: (res.headers['x-trustplane-reason'] as string | undefined) ?? null, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('end to end through the development gateway (real wasm filter, real gRPC authz server)', function () {
  this.timeout(60_000);
  let stack: LocalStack;
  let buffered: RunningGateway;
  const AUTHORITY = 'api.dev.trustplane.local';

  before(async () => {
    stack = await startLocalStack();
    // The same POST /v1/payments route, but as Envoy's with_request_body path: no wasm, raw body in the check.
    buffered = await startGateway({
      listen: '127.0.0.1:0',
      authz: stack.server.grpcAddress,
      upstream: stack.upstreamUrl,
      routes: [
        {
          prefix: '/v1/payments',
          methods: ['POST'],
          wasm: false,
          extAuthz: true,
          contextExtensions: { trustplane_route: 'payments-create', trustplane_body: 'buffered' },
          withRequestBody: { maxRequestBytes: MAX_BODY_BYTES, allowPartialMessage: false, packAsBytes: true },
        },
      ],
      bufferLimitBytes: BUFFER_LIMIT_BYTES,
    });
  });
  after(async () => {
    await buffered?.close();
    await stack?.close();
  });

  const signed = (body: Uint8Array | string, contentType = 'application/json'): Record<string, string> => {
    const passport = issuePassport({
      key: stack.state.issuerKey,
      issuer: DEV.issuer,
      subject: DEV.subject,
      audience: DEV.audience,
      trustDomain: DEV.trustDomain,
      holder: stack.state.holderKey.publicJwk,
      keyBinding: 'software',
    });
    const headers = { host: AUTHORITY, 'content-type': contentType };
    const s = signRequest({ method: 'POST', authority: AUTHORITY, pathAndQuery: '/v1/payments', headers, body }, { passport, holder: stack.state.holderKey, route: 'payments-create', bindHeaders: ['content-type'] });
    return { ...headers, ...s.headers };
  };

  it('runs the whole tour with the expected status and reason at every step', async () => {
    const results = await runTour({ target: stack.gateway.url, issuerKey: stack.state.issuerKey, holderKey: stack.state.holderKey, brokerSocket: stack.brokerSocket, adminRoute: true });
    assert.deepEqual(
      results.filter((r) => !r.ok).map((r) => `${r.name}: got ${r.status} ${r.reason}`),
      [],
    );
    assert.equal(results.length, 13);
  });

  it('gives the upstream identity headers and never the credential headers, even client-sent identity copies', async () => {
    const headers = { ...signed('{"a":1}'), 'x-trustplane-subject': 'spiffe://evil/forged', 'x-trustplane-body-sha256': 'A'.repeat(43) };
    const r = await send(stack.gateway.url, 'POST', '/v1/payments', headers, '{"a":1}');
    assert.equal(r.status, 200, r.body);
    const echo = JSON.parse(r.body) as { headers: Record<string, string> };
    assert.equal(echo.headers['x-trustplane-subject'], DEV.subject);
    assert.equal(echo.headers['x-trustplane-issuer'], DEV.issuer);
    assert.equal(echo.headers['x-trustplane-route'], 'payments-create');
    assert.equal(echo.headers['x-trustplane-key-binding'], 'software');
    for (const h of ['x-trustplane-passport', 'x-trustplane-proof', 'x-trustplane-body-sha256']) assert.equal(echo.headers[h], undefined, `${h} reached the upstream`);
  });

  it('removes every client-sent x-trustplane-* header on allow, not only the credential and identity ones', async () => {
    const headers = { ...signed('{"a":1}'), 'x-trustplane-reason': 'ok', 'X-TrustPlane-Whatever': 'client' };
    const r = await send(stack.gateway.url, 'POST', '/v1/payments', headers, '{"a":1}');
    assert.equal(r.status, 200, r.body);
    const echo = JSON.parse(r.body) as { headers: Record<string, string> };
    const leaked = Object.keys(echo.headers).filter((h) => h.startsWith('x-trustplane-') && !['x-trustplane-subject', 'x-trustplane-issuer', 'x-trustplane-trust-domain', 'x-trustplane-key-binding', 'x-trustplane-route', 'x-trustplane-decision-id'].includes(h));
    assert.deepEqual(leaked, []);
  });

  it('sends payments-read only one segment (a deeper path is 404) and answers a ";" path parameter with 400, as envoy/envoy.yaml does', async () => {
    const passport = issuePassport({ key: stack.state.issuerKey, issuer: DEV.issuer, subject: DEV.subject, audience: DEV.audience, trustDomain: DEV.trustDomain, holder: stack.state.holderKey.publicJwk, keyBinding: 'software' });
    const get = (path: string): Record<string, string> => ({ host: AUTHORITY, ...signRequest({ method: 'GET', authority: AUTHORITY, pathAndQuery: path, headers: {}, body: '' }, { passport, holder: stack.state.holderKey, route: 'payments-read', bindHeaders: [] }).headers });
    assert.equal((await send(stack.gateway.url, 'GET', '/v1/payments/42/refunds/7', get('/v1/payments/42/refunds/7'), '')).status, 404);
    assert.equal((await send(stack.gateway.url, 'GET', '/public/..;/v1/admin/users', {}, '')).status, 400);
    assert.equal((await send(stack.gateway.url, 'GET', '/v1/payments/42;jsessionid=1', get('/v1/payments/42'), '')).status, 400);
    const ok = await send(stack.gateway.url, 'GET', '/v1/payments/42', get('/v1/payments/42'), '');
    assert.equal(ok.status, 200, ok.body);
  });

  it('answers each deny with its status, reason header and JSON body naming the reason', async () => {
    const headers = signed('{"a":1}');
    const r = await send(stack.gateway.url, 'POST', '/v1/payments', headers, '{"a":2}');
    assert.equal(r.status, 401);
    assert.equal(r.reason, 'body_mismatch');
    assert.equal((JSON.parse(r.body) as { reason: string }).reason, 'body_mismatch');
  });

  it('makes the same decisions on the wasm route and the with_request_body route, tampered bodies included', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 0, maxLength: 4096 }),
        fc.boolean(),
        fc.nat({ max: 4095 }),
        async (body, tamper, at) => {
          const sent = new Uint8Array(body);
          if (tamper && sent.length > 0) sent[at % sent.length]! ^= 0xff;
          const viaWasm = await send(stack.gateway.url, 'POST', '/v1/payments', signed(body, 'application/octet-stream'), sent);
          const viaBuffer = await send(buffered.url, 'POST', '/v1/payments', signed(body, 'application/octet-stream'), sent);
          assert.equal(viaWasm.status, viaBuffer.status);
          assert.equal(viaWasm.reason, viaBuffer.reason);
          assert.equal(viaWasm.status, tamper && body.length > 0 ? 401 : 200);
          if (tamper && body.length > 0) assert.equal(viaWasm.reason, 'body_mismatch');
        },
      ),
      { numRuns: 40 },
    );
  });

  it('turns a large body away in the filter with 413 body_too_large, and in Envoy buffering with a bare 413', async () => {
    const big = new Uint8Array(MAX_BODY_BYTES + 1);
    const viaWasm = await send(stack.gateway.url, 'POST', '/v1/payments', signed(big), big);
    assert.equal(viaWasm.status, 413);
    assert.equal(viaWasm.reason, 'body_too_large');
    const viaBuffer = await send(buffered.url, 'POST', '/v1/payments', signed(big), big);
    assert.equal(viaBuffer.status, 413);
    assert.equal(viaBuffer.reason, null);
  });

  it('serves a public route without any check, and 404s an unlisted path', async () => {
    const open = await send(stack.gateway.url, 'GET', '/public/status', {});
    assert.equal(open.status, 200);
    const none = await send(stack.gateway.url, 'GET', '/nowhere', {});
    assert.equal(none.status, 404);
  });

  it('runs the filter with the plugin configuration and buffer limit envoy/envoy.yaml gives Envoy', () => {
    const envoy = readFileSync(join(PACKAGE_ROOT, 'envoy', 'envoy.yaml'), 'utf8');
    const plugin = /value: '(\{"header":[^']*\})'/.exec(envoy);
    assert.ok(plugin, 'no wasm plugin configuration in envoy/envoy.yaml');
    assert.deepEqual(JSON.parse(plugin[1]!), WASM_CONFIGURATION);
    assert.match(envoy, new RegExp(`per_connection_buffer_limit_bytes: ${BUFFER_LIMIT_BYTES}\\b`));
    assert.ok(existsSync(WASM_PATH), WASM_PATH);
  });
});
