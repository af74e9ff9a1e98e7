/**
 * Malformed input never crashes the real server and never allows: garbage on the gRPC port (raw
 * TCP, and HTTP/2 with broken gRPC frames), empty and partial CheckRequests, 1 MiB header values,
 * invalid UTF-8 in raw header values, duplicated credentials, and random CheckRequests (fast-check)
 * encoded with Envoy's official definitions. After each storm the server still answers a good check.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http2 from 'node:http2';
import net from 'node:net';
import fc from 'fast-check';
import { assertAllow, assertDeny } from '../support/check-assertions.js';
import { healthCheck, httpGet, makeCheckClient, metricValue, type CheckClient } from '../support/server-clients.js';
import { type InProcessServer, startInProcess } from '../support/server-harness.js';
import { checkBytes, signCheck } from '../support/signed-check.js';
import { makeTrust, type TrustSetup } from '../support/trust-setup.js';
import { CHECK_PATH, decodeOfficialCheckResponse, encodeOfficialCheckRequest, structToPlain } from '../support/envoy-api.js';
import { grpcFrame } from '../support/grpc-raw.js';

const MIB = 1024 * 1024;

/** Writes `bytes` on a fresh TCP connection and waits until the server closes it (or 1 s passes). */
function tcpGarbage(address: string, bytes: Buffer): Promise<void> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    };
    const timer = setTimeout(done, 1000);
    socket.on('error', done);
    socket.on('close', done);
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', () => {});
  });
}

interface H2Outcome {
  readonly grpcStatus: number | undefined;
  readonly body: Buffer;
}

/** One HTTP/2 POST to the Check method with `payload` as the (broken) gRPC message stream. */
function h2Check(address: string, payload: Buffer, headers: Record<string, string> = {}): Promise<H2Outcome> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${address}`);
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error('no HTTP/2 answer within 3 s'));
    }, 3000);
    session.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    const req = session.request({ ':method': 'POST', ':path': CHECK_PATH, 'content-type': 'application/grpc', te: 'trailers', ...headers });
    const chunks: Buffer[] = [];
    let status: number | undefined;
    req.on('response', (h) => {
      if (h['grpc-status'] !== undefined) status = Number(h['grpc-status']);
    });
    req.on('trailers', (t) => {
      if (t['grpc-status'] !== undefined) status = Number(t['grpc-status']);
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      clearTimeout(timer);
      session.close();
      resolve({ grpcStatus: status, body: Buffer.concat(chunks) });
    });
    req.on('error', (e) => {
      clearTimeout(timer);
      session.destroy();
      reject(e);
    });
    req.end(payload);
  });
}

const frame = grpcFrame;

/** The CheckResponse carried in a gRPC body (one length-prefixed message). */
function messageOf(body: Buffer): Buffer {
  return body.subarray(5, 5 + body.readUInt32BE(1));
}

describe('authz server over gRPC: malformed input', function () {
  this.timeout(60_000);
  let trust: TrustSetup;
  let srv: InProcessServer;
  let client: CheckClient;

  before(async () => {
    trust = makeTrust();
    trust.writeBundle(trust.bundle({ serial: 1 }));
    srv = await startInProcess(trust);
    client = makeCheckClient(srv.grpcAddress);
  });

  after(async () => {
    client?.close();
    await srv?.server.close();
    trust?.dispose();
  });

  /** The server is up, ready, answers a good check, and never hit its last-resort catch. */
  async function stillGood(): Promise<void> {
    assert.equal(await healthCheck(srv.grpcAddress), 'SERVING');
    assertAllow(await client.check(checkBytes(signCheck(trust))), 'payments-create');
    const m = (await httpGet(srv.httpAddress, '/metrics')).body;
    assert.equal(metricValue(m, 'trustplane_internal_errors_total'), 0);
    assert.equal(metricValue(m, 'trustplane_decisions_total', { reason: 'internal_error' }), 0);
  }

  describe('garbage on the gRPC port', () => {
    it('survives raw TCP garbage, a truncated HTTP/2 preface and a preface followed by junk, and answers the next good check', async () => {
      const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
      const inputs = [
        randomBytes(1),
        randomBytes(64),
        randomBytes(64 * 1024),
        Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
        preface.subarray(0, 10),
        Buffer.concat([preface, randomBytes(4096)]),
        // A SETTINGS frame header claiming 16 MiB of payload, then nothing.
        Buffer.concat([preface, Buffer.from([0xff, 0xff, 0xff, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00])]),
      ];
      for (let i = 0; i < 20; i++) inputs.push(randomBytes(1 + Math.floor(Math.random() * 2048)));
      await Promise.all(inputs.map((b) => tcpGarbage(srv.grpcAddress, b)));
      await stillGood();
    });

    it('answers broken gRPC frames over HTTP/2 with an error status or a deny, never an allow, and keeps serving', async () => {
      // A well-formed CheckRequest the server denies (its body was changed after signing): a frame
      // that grpc-js still manages to decode must come back as a deny.
      const good = checkBytes(signCheck(trust), { body: 'changed after signing' });
      const cases: Array<[string, Buffer, Record<string, string>?]> = [
        ['a length prefix longer than the data', frame(randomBytes(10), 0, 1000)],
        ['a compressed flag without grpc-encoding', frame(good, 1)],
        ['a compressed flag with gzip and non-gzip data', frame(randomBytes(100), 1), { 'grpc-encoding': 'gzip' }],
        ['random bytes as the message', frame(randomBytes(300))],
        ['two messages on a unary call', Buffer.concat([frame(good), frame(good)])],
        ['half a length prefix', Buffer.from([0x00, 0x00])],
        ['no message at all', Buffer.alloc(0)],
      ];
      for (const [title, payload, headers] of cases) {
        const out = await h2Check(srv.grpcAddress, payload, headers);
        assert.notEqual(out.grpcStatus, undefined, `${title}: a gRPC status`);
        if (out.grpcStatus === 0) {
          const r = decodeOfficialCheckResponse(messageOf(out.body));
          assert.equal(r.http_response, 'denied_response', `${title}: a successful RPC must be a deny`);
        }
      }
      await stillGood();
    });

    it('answers a well-framed message that is not a CheckRequest with a request_malformed deny, not a gRPC error', async () => {
      const cases: Array<[string, Buffer]> = [
        ['an invalid protobuf wire type', Buffer.from([0x0f, 0xff, 0xff, 0xff])],
        ['a field length running past the message', Buffer.from([0x0a, 0xff, 0xff, 0x03, 0x01])],
        ['a group', Buffer.from([0x0b, 0x0c])],
      ];
      for (const [title, message] of cases) {
        const out = await h2Check(srv.grpcAddress, frame(message));
        assert.equal(out.grpcStatus, 0, `${title}: a successful RPC`);
        const r = decodeOfficialCheckResponse(messageOf(out.body));
        assert.deepEqual(r.status, { code: 3, message: 'request_malformed' }, title);
        assert.equal(r.denied_response?.status?.code, 'BadRequest', title);
      }
      await stillGood();
    });
  });

  describe('CheckRequests Envoy would never send', () => {
    const cases: Array<[string, Record<string, unknown>]> = [
      ['an empty CheckRequest', {}],
      ['attributes without request', { attributes: { source: { address: { socket_address: { address: '10.0.0.1', port_value: 1 } } } } }],
      ['request without http', { attributes: { request: { time: { seconds: '1' } } } }],
      ['http without method, path or host', { attributes: { request: { http: { headers: { 'x-trustplane-passport': 'a.b.c' } } } } }],
      ['http without a method', { attributes: { request: { http: { path: '/v1/payments', host: 'api.example.test' } } } }],
      ['http without an authority', { attributes: { request: { http: { method: 'POST', path: '/v1/payments' } } } }],
    ];
    for (const [title, object] of cases) {
      it(`${title} → request_malformed (400)`, async () => {
        assertDeny(await client.check(encodeOfficialCheckRequest(object)), 'request_malformed');
      });
    }

    it('zero bytes on the wire → request_malformed (400)', async () => {
      assertDeny(await client.check(Buffer.alloc(0)), 'request_malformed');
    });

    it('an empty header map with method, path and authority → passport_missing (401)', async () => {
      assertDeny(await client.check(encodeOfficialCheckRequest({ attributes: { request: { http: { method: 'POST', path: '/v1/payments', host: 'api.example.test' } } } })), 'passport_missing');
    });
  });

  describe('1 MiB header values', () => {
    it('a 1 MiB passport → passport_malformed (401)', async () => {
      const s = signCheck(trust);
      s.headers.set('x-trustplane-passport', 'a'.repeat(MIB));
      assertDeny(await client.check(checkBytes(s)), 'passport_malformed');
    });

    it('a 1 MiB proof → proof_malformed (401)', async () => {
      const s = signCheck(trust);
      s.headers.set('x-trustplane-proof', `v1.${'a'.repeat(MIB)}`);
      assertDeny(await client.check(checkBytes(s)), 'proof_malformed');
    });

    it('a 1 MiB value in a bound header → header_mismatch (401)', async () => {
      const s = signCheck(trust);
      s.headers.set('content-type', 'x'.repeat(MIB));
      assertDeny(await client.check(checkBytes(s)), 'header_mismatch');
    });

    it('a 1 MiB path → route_not_found (403)', async () => {
      assertDeny(await client.check(checkBytes(signCheck(trust), { path: `/v1/${'p'.repeat(MIB)}` })), 'route_not_found');
    });

    it('a 1 MiB header the proof does not bind does not stop a good request', async () => {
      const s = signCheck(trust);
      s.headers.set('x-large', 'z'.repeat(MIB));
      assertAllow(await client.check(checkBytes(s)), 'payments-create');
    });
  });

  describe('invalid UTF-8 in raw header values (encode_raw_headers)', () => {
    const raw = (s: ReturnType<typeof signCheck>, name: string, value: Buffer): Buffer =>
      checkBytes(s, { encodeRawHeaders: true, headers: [...s.headers.entries()].map(([k, v]) => [k, k === name ? value : v] as const) });

    it('a good request presented as header_map with raw_value is allowed', async () => {
      assertAllow(await client.check(checkBytes(signCheck(trust), { encodeRawHeaders: true })), 'payments-create');
    });

    it('an invalid byte inside the passport → passport_malformed (401)', async () => {
      const s = signCheck(trust);
      const bytes = Buffer.from(s.passport);
      bytes[20] = 0xff;
      assertDeny(await client.check(raw(s, 'x-trustplane-passport', bytes)), 'passport_malformed');
    });

    it('an invalid byte inside the proof → proof_malformed (401)', async () => {
      const s = signCheck(trust);
      const bytes = Buffer.from(s.proof);
      bytes[10] = 0xc3; // a lead byte with no continuation
      assertDeny(await client.check(raw(s, 'x-trustplane-proof', bytes)), 'proof_malformed');
    });

    it('invalid bytes in a bound header → header_mismatch (401)', async () => {
      const s = signCheck(trust);
      assertDeny(await client.check(raw(s, 'content-type', Buffer.concat([Buffer.from('application/json'), Buffer.from([0xfe, 0xff])]))), 'header_mismatch');
    });
  });

  describe('duplicated credential headers', () => {
    const cases: Array<[string, 'x-trustplane-passport' | 'x-trustplane-proof', boolean]> = [
      ['two passport entries in header_map', 'x-trustplane-passport', true],
      ['two proof entries in header_map', 'x-trustplane-proof', true],
      ['two passports comma-joined in the headers map', 'x-trustplane-passport', false],
      ['two proofs comma-joined in the headers map', 'x-trustplane-proof', false],
    ];
    for (const [title, name, rawHeaders] of cases) {
      it(`${title} → credential_duplicated (401), and the jti is not burnt`, async () => {
        const s = signCheck(trust);
        const other = signCheck(trust);
        const value = name === 'x-trustplane-passport' ? other.passport : other.proof;
        const headers = [...s.headers.entries(), [name, value] as const];
        assertDeny(await client.check(checkBytes(s, { headers, encodeRawHeaders: rawHeaders })), 'credential_duplicated');
        assertAllow(await client.check(checkBytes(s)), 'payments-create');
      });
    }

    it('the same passport twice, identical, → credential_duplicated (401)', async () => {
      const s = signCheck(trust);
      const headers = [...s.headers.entries(), ['x-trustplane-passport', s.passport] as const];
      assertDeny(await client.check(checkBytes(s, { headers, encodeRawHeaders: true })), 'credential_duplicated');
      assertDeny(await client.check(checkBytes(s, { headers })), 'credential_duplicated');
    });
  });

  describe('random CheckRequests (fast-check)', () => {
    it('never allows and never answers with a gRPC error', async () => {
      // A real, already consumed request supplies credentials that get past parsing and signatures,
      // so random requests reach the deep phases; a full match can only be a replay.
      const used = signCheck(trust);
      assertAllow(await client.check(checkBytes(used)), 'payments-create');
      const str = (c: readonly string[]): fc.Arbitrary<string> => fc.oneof(fc.constantFrom(...c), fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 20 }));
      const headerName = str(['x-trustplane-passport', 'x-trustplane-proof', 'content-type', 'x-trustplane-body-sha256', ':path', ':authority', ':method', 'x-envoy-auth-partial-body', '__proto__']);
      const headerValue = str([used.passport, used.proof, 'application/json', '', 'true', 'false', `${used.passport},${used.passport}`]);
      const http = fc.record(
        {
          id: fc.string({ maxLength: 20 }),
          method: str(['POST', 'GET', '']),
          path: str(['/v1/payments', '/v1/payments/1?x=1', '/', '//', '/v1/payments/%2e%2e/x']),
          host: str(['api.example.test', 'API.EXAMPLE.TEST:443', '[::1]:8080', '']),
          scheme: str(['http', 'https']),
          headers: fc.dictionary(headerName, headerValue, { maxKeys: 8 }),
          body: str(['{"amount":100}']),
          raw_body: fc.uint8Array({ maxLength: 64 }),
          header_map: fc.record({ headers: fc.array(fc.record({ key: headerName, value: headerValue, raw_value: fc.uint8Array({ maxLength: 32 }) }, { requiredKeys: ['key'] }), { maxLength: 6 }) }),
          size: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String),
          protocol: str(['HTTP/1.1', 'HTTP/2']),
        },
        { requiredKeys: [] },
      );
      const attributes = fc.record(
        {
          source: fc.record({ address: fc.record({ socket_address: fc.record({ address: fc.string({ maxLength: 40 }), port_value: fc.nat(65535) }) }), principal: fc.string({ maxLength: 40 }) }, { requiredKeys: [] }),
          request: fc.record({ http }, { requiredKeys: [] }),
          // `dry_run` is left out on purpose: it would turn a would-be deny into an allow by design.
          context_extensions: fc.dictionary(fc.constantFrom('trustplane_route', 'trustplane_mode', 'trustplane_body', 'other'), str(['payments-create', 'payments-read', 'enforce', 'filter', 'buffered', '']), { maxKeys: 4 }),
        },
        { requiredKeys: [] },
      );
      const checkRequest = fc.record({ attributes }, { requiredKeys: [] });
      let runs = 0;
      await fc.assert(
        fc.asyncProperty(checkRequest, async (object) => {
          runs++;
          const r = await client.check(encodeOfficialCheckRequest(object as Record<string, unknown>));
          assert.equal(r.http_response, 'denied_response', `allowed: ${JSON.stringify(structToPlain(r.dynamic_metadata))}`);
          assert.notEqual(r.status?.code ?? 0, 0);
          assert.notEqual(structToPlain(r.dynamic_metadata)['reason'], 'internal_error');
        }),
        { numRuns: 400 },
      );
      assert.equal(runs >= 400, true);
      await stillGood();
    });

    it('random bytes as the message are denied, never allowed and never answered with a gRPC error, and the server keeps serving', async () => {
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), async (bytes) => {
          // client.check rejects on a gRPC error: the decoder turns bytes it cannot read into a deny.
          const response = await client.check(bytes);
          assert.equal(response.http_response, 'denied_response');
          assert.notEqual(response.status?.code ?? 0, 0);
          assertDeny(response, 'request_malformed');
        }),
        { numRuns: 300 },
      );
      await stillGood();
    });
  });
});
