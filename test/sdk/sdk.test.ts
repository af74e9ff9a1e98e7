/**
 * The SDK against the real thing: `signer.fetch` through the development gateway (the real wasm
 * filter hashing the body, real gRPC ext_authz to the real authz server, an echo upstream), with
 * passports from a local issuer key, from the broker on its Unix socket, and from a SPIFFE-configured
 * broker given a test X.509-SVID. And the SDK's `sign()` output presented directly to the server as
 * an Envoy CheckRequest. Everything it produces is allowed; everything tampered is denied with the
 * reason code the change deserves.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createLogger, parseBrokerConfig, startBroker, type RunningBroker } from '../../broker/src/index.js';
import { DEV } from '../../cli/src/dev-state.js';
import { startLocalStack, type LocalStack } from '../../dev/stack.js';
import { createSigner, generateSigningKey, type SignerOptions } from '../../sdk/src/index.js';
import { headerMap } from '../support/check-assertions.js';
import { envoyCheckRequest, makeRawCheckClient, type RawCheckClient } from '../support/envoy-api.js';
import { createTestCa, type TestSvid } from '../support/spiffe-ca.js';
import { tempDir } from '../cli/cli-harness.js';

interface Echoed {
  method: string;
  path: string;
  headers: Record<string, string>;
  body_bytes: number;
  body_sha256: string;
}

const sha = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('base64url');

describe('SDK against the authz server (development gateway, real wasm, real gRPC)', function () {
  this.timeout(60_000);
  let t: ReturnType<typeof tempDir>;
  let stack: LocalStack;
  let spiffeBroker: RunningBroker;
  let svid: TestSvid;
  let raw: RawCheckClient;
  const holder = generateSigningKey('EdDSA');
  const url = (path: string): string => `${stack.gateway.url}${path}`;

  const viaIssuer = (over: Partial<SignerOptions> = {}) =>
    createSigner({
      key: holder,
      passport: { kind: 'issuer', key: stack.state.issuerKey, issuer: DEV.issuer, subject: DEV.subject, trustDomain: DEV.trustDomain },
      audience: DEV.audience,
      route: 'payments-create',
      bindHeaders: ['content-type'],
      ...over,
    });
  const viaBroker = (route: string) => createSigner({ key: holder, passport: { kind: 'broker', socketPath: stack.brokerSocket }, audience: DEV.audience, route });

  const expectAllowed = async (res: Response, body: Uint8Array | string): Promise<Echoed> => {
    const text = await res.text();
    assert.equal(res.status, 200, `${res.status} ${res.headers.get('x-trustplane-reason')} ${text}`);
    const echoed = JSON.parse(text) as Echoed;
    assert.equal(echoed.body_sha256, sha(body), 'the upstream got the bytes that were signed');
    assert.equal(echoed.headers['x-trustplane-passport'], undefined, 'credentials are stripped before the upstream');
    assert.equal(echoed.headers['x-trustplane-proof'], undefined);
    return echoed;
  };
  const reasonOf = async (res: Response): Promise<string | null> => {
    await res.arrayBuffer();
    return res.headers.get('x-trustplane-reason');
  };

  before(async () => {
    t = tempDir('tp-sdk-');
    stack = await startLocalStack({ stateDir: join(t.dir, 'state') });
    raw = makeRawCheckClient(stack.server.grpcAddress);
    // A second broker with the SPIFFE path, signing with the broker key the dev bundle trusts up to attested_workload.
    const ca = await createTestCa({ trustDomain: DEV.trustDomain });
    writeFileSync(join(t.dir, 'spiffe-roots.pem'), ca.rootPem);
    spiffeBroker = await startBroker(
      parseBrokerConfig({
        socket_path: join(t.dir, 'spiffe', 'broker.sock'),
        issuer: DEV.brokerIssuer,
        trust_domain: DEV.trustDomain,
        key_file: join(stack.state.dir, 'broker-key.jwk.json'),
        software: { enabled: false },
        spiffe: { trust_domain: DEV.trustDomain, bundle_file: join(t.dir, 'spiffe-roots.pem'), attested_trust_entry: true },
      }),
      { logger: createLogger('error', () => {}) },
    );
    svid = await ca.issueSvid({ path: '/ns/ops/sa/rotator' });
  });

  after(async () => {
    raw?.close();
    await spiffeBroker?.close();
    await stack?.close();
    t?.dispose();
  });

  describe('bodies', () => {
    const payment = '{"amount":100,"currency":"EUR"}';

    it('string body with a bound header (issuer passport): allowed, the upstream sees the subject', async () => {
      const echoed = await expectAllowed(
        await viaIssuer().fetch(url('/v1/payments'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: payment }),
        payment,
      );
      assert.equal(echoed.headers['x-trustplane-subject'], DEV.subject);
      assert.equal(echoed.headers['x-trustplane-route'], 'payments-create');
    });

    it('Uint8Array body on the buffered route (Envoy sends the bytes, no wasm): allowed', async () => {
      const bytes = new Uint8Array(200_000).map((_, i) => (i * 7) & 0xff);
      await expectAllowed(await viaIssuer({ route: 'uploads-create', bindHeaders: [] }).fetch(url('/v1/uploads'), { method: 'POST', body: bytes }), bytes);
    });

    it('ReadableStream body (hashed by the wasm filter): allowed', async () => {
      const parts = ['{"amount":', '250,', '"currency":"EUR"}'];
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          for (const p of parts) c.enqueue(Buffer.from(p));
          c.close();
        },
      });
      await expectAllowed(await viaIssuer().fetch(url('/v1/payments'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: stream }), parts.join(''));
    });

    it('async-iterable (Node Readable) body: allowed', async () => {
      const chunks = [Buffer.from('{"amount":'), Buffer.from('7}')];
      await expectAllowed(
        await viaIssuer().fetch(url('/v1/payments'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: Readable.from(chunks) }),
        Buffer.concat(chunks),
      );
    });

    it('no body on a GET route that takes none: allowed', async () => {
      await expectAllowed(await viaIssuer({ route: 'payments-read', bindHeaders: [] }).fetch(url('/v1/payments/42?expand=items')), '');
    });
  });

  describe('passport sources', () => {
    it('broker (software path): each request gets a fresh passport, so two requests are two allows', async () => {
      const signer = viaBroker('payments-read');
      for (const id of ['1', '2']) {
        const echoed = await expectAllowed(await signer.fetch(url(`/v1/payments/${id}`)), '');
        assert.equal(echoed.headers['x-trustplane-issuer'], DEV.brokerIssuer);
        assert.equal(echoed.headers['x-trustplane-key-binding'], 'software');
      }
    });

    it('SPIFFE broker path with a valid SVID: an attested_workload passport the attested route accepts', async () => {
      const signer = createSigner({
        key: holder,
        passport: { kind: 'broker', socketPath: spiffeBroker.socketPath, svid: { chainPem: svid.chainPem, key: svid.privateKey, brokerIssuer: DEV.brokerIssuer } },
        audience: DEV.audience,
        route: 'admin',
      });
      const echoed = await expectAllowed(await signer.fetch(url('/v1/admin/rotate'), { method: 'POST', body: 'now' }), 'now');
      assert.equal(echoed.headers['x-trustplane-key-binding'], 'attested_workload');
      assert.equal(echoed.headers['x-trustplane-subject'], svid.spiffeId);
    });

    it('a software passport from the same broker key is refused on that route: key_binding_insufficient (403)', async () => {
      const res = await viaBroker('admin').fetch(url('/v1/admin/rotate'), { method: 'POST', body: 'now' });
      assert.equal(res.status, 403);
      assert.equal(await reasonOf(res), 'key_binding_insufficient');
    });

    it('a passport minted by an issuer key the bundle does not trust: passport_kid_unknown (401)', async () => {
      const signer = viaIssuer({
        route: 'payments-read',
        bindHeaders: [],
        passport: { kind: 'issuer', key: generateSigningKey(), issuer: DEV.issuer, subject: DEV.subject, trustDomain: DEV.trustDomain },
      });
      const res = await signer.fetch(url('/v1/payments/5'));
      assert.equal(res.status, 401);
      assert.equal(await reasonOf(res), 'passport_kid_unknown');
    });
  });

  describe('tampering after signing', () => {
    const json = { 'content-type': 'application/json' };
    const body = '{"amount":100}';
    const signed = async (o: { path?: string; route?: string; bind?: string[] } = {}) =>
      viaIssuer({ route: o.route ?? 'payments-create', bindHeaders: o.bind ?? ['content-type'] }).sign({
        method: o.route === 'payments-read' ? 'GET' : 'POST',
        url: url(o.path ?? '/v1/payments'),
        headers: json,
        ...(o.route === 'payments-read' ? {} : { body }),
      });
    const send = (path: string, init: { method?: string; headers: Record<string, string>; body?: string }) =>
      fetch(url(path), { method: init.method ?? 'POST', headers: init.headers, ...(init.body !== undefined ? { body: init.body } : {}) });

    it('changed path: path_mismatch; changed query: query_mismatch', async () => {
      const a = await signed({ route: 'payments-read', path: '/v1/payments/123', bind: [] });
      assert.equal(await reasonOf(await send('/v1/payments/456', { method: 'GET', headers: a })), 'path_mismatch');
      const b = await signed({ route: 'payments-read', path: '/v1/payments/123?expand=none', bind: [] });
      assert.equal(await reasonOf(await send('/v1/payments/123?expand=all', { method: 'GET', headers: b })), 'query_mismatch');
    });

    it('changed body: body_mismatch; changed bound header: header_mismatch', async () => {
      const a = await signed();
      assert.equal(await reasonOf(await send('/v1/payments', { headers: { ...json, ...a }, body: '{"amount":9999}' })), 'body_mismatch');
      const b = await signed();
      assert.equal(await reasonOf(await send('/v1/payments', { headers: { 'content-type': 'text/plain', ...b }, body })), 'header_mismatch');
    });

    it('the same signed request twice: allowed, then jti_replay', async () => {
      const a = await signed();
      const first = await send('/v1/payments', { headers: { ...json, ...a }, body });
      assert.equal(first.status, 200);
      await first.arrayBuffer();
      assert.equal(await reasonOf(await send('/v1/payments', { headers: { ...json, ...a }, body })), 'jti_replay');
    });

    it('a passport for another audience: audience_mismatch (403)', async () => {
      const res = await viaIssuer({ audience: 'https://other.dev.trustplane.local' }).fetch(url('/v1/payments'), { method: 'POST', headers: json, body });
      assert.equal(res.status, 403);
      assert.equal(await reasonOf(res), 'audience_mismatch');
    });
  });

  describe('sign() presented straight to the server as Envoy CheckRequests (raw_body, official definitions)', () => {
    const check = async (headers: Record<string, string>, over: { path?: string; body?: string } = {}): Promise<string> => {
      const r = await raw.check(
        envoyCheckRequest({
          method: 'POST',
          authority: 'api.dev.trustplane.local',
          path: over.path ?? '/v1/uploads',
          headers: Object.entries(headers),
          body: over.body ?? 'id,amount\n1,100\n',
          withRequestBody: { maxRequestBytes: 1024 * 1024, packAsBytes: true },
          contextExtensions: { trustplane_route: 'uploads-create', trustplane_body: 'buffered' },
        }),
      );
      return (r.status?.code ?? 0) === 0 ? 'ok' : (headerMap(r.denied_response?.headers)['x-trustplane-reason'] ?? '?');
    };
    const sign = () =>
      viaIssuer({ route: 'uploads-create', bindHeaders: [] }).sign({ method: 'POST', url: 'http://api.dev.trustplane.local/v1/uploads', body: 'id,amount\n1,100\n' });

    it('allows what the SDK signed, and names the change in what it did not', async () => {
      assert.equal(await check(await sign()), 'ok');
      assert.equal(await check(await sign(), { body: 'id,amount\n1,999\n' }), 'body_mismatch');
      assert.equal(await check(await sign(), { path: '/v1/uploads?x=1' }), 'query_mismatch');
      const h = await sign();
      const proof = h['x-trustplane-proof']!;
      const at = proof.lastIndexOf('.') + 5;
      const forged = `${proof.slice(0, at)}${proof[at] === 'A' ? 'B' : 'A'}${proof.slice(at + 1)}`;
      assert.equal(await check({ ...h, 'x-trustplane-proof': forged }), 'transcript_mismatch');
    });
  });
});

describe('SDK key handling', () => {
  it('refuses a hostile holder or issuer JWK with one line naming the option', async () => {
    const { exportPrivateJwk } = await import('../../sdk/src/index.js');
    const { trailingBitSpellings } = await import('../support/hostile-keys.js');
    const holder = exportPrivateJwk(generateSigningKey('EdDSA'));
    const issuer = exportPrivateJwk(generateSigningKey('ES256'));
    const passport = { kind: 'issuer', key: issuer, issuer: 'https://issuer.example.test', subject: 'spiffe://example.test/x', trustDomain: 'example.test' } as const;
    const base = { audience: 'https://api.example.test', route: 'r' };
    assert.throws(() => createSigner({ ...base, key: { ...holder, x: trailingBitSpellings(holder.x)[0]! }, passport }), {
      name: 'TypeError',
      message: 'createSigner key: "x" must be 32 bytes of canonical base64url (43 characters of A-Z a-z 0-9 - _, no padding, unused bits zero)',
    });
    assert.throws(() => createSigner({ ...base, key: holder, passport: { ...passport, key: { ...issuer, d: `${issuer.d}=` } } }), {
      message: /^createSigner passport\.key: "d" must be 32 bytes of canonical base64url/,
    });
    assert.throws(() => createSigner({ ...base, key: { ...holder, oth: [] } as never, passport }), { message: 'createSigner key: "oth" is not a member of an OKP private key' });
    assert.ok(createSigner({ ...base, key: holder, passport }).holder.publicJwk.x === holder.x);
  });
});
