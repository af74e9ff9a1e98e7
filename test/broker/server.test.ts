import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import fc from 'fast-check';
import { startBroker } from '../../broker/src/broker.js';
import { parseBrokerConfig } from '../../broker/src/config.js';
import { BrokerSocketError } from '../../broker/src/socket.js';
import { generateSigningKey } from '../../core/src/keys.js';
import { AUDIENCE, call, startTestBroker, type TestBroker } from './harness.js';
import { createLogger } from '../../service/src/log.js';

const quiet = createLogger('error', () => {});

/** A process that listens on `path` and is killed with SIGKILL, leaving its socket file behind. */
async function leaveStaleSocket(path: string): Promise<void> {
  const child = spawn(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(path)}, () => console.log('ready'))`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

function rawExchange(socketPath: string, bytes: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(socketPath);
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => resolve(Buffer.concat(chunks).toString('latin1')));
    s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    s.write(bytes, () => s.end());
    setTimeout(() => s.destroy(), 2000).unref();
  });
}

describe('broker HTTP surface', () => {
  let tb: TestBroker;
  const holder = generateSigningKey('EdDSA');
  before(async () => {
    tb = await startTestBroker({ raw: { http_listen: '127.0.0.1:0' } });
  });
  after(() => tb.close());

  it('creates its socket as a 0600 socket owned by the broker user', () => {
    const st = lstatSync(tb.broker.socketPath);
    assert.ok(st.isSocket());
    assert.equal((st.mode & 0o777).toString(8), '600');
    if (process.getuid) assert.equal(st.uid, process.getuid());
  });

  it('answers /healthz, /v1/jwks and /v1/trust-entry', async () => {
    const h = await call(tb.broker.socketPath, { method: 'GET', path: '/healthz' });
    assert.deepEqual([h.status, h.json.status], [200, 'ok']);
    const jwks = await call(tb.broker.socketPath, { method: 'GET', path: '/v1/jwks' });
    const keys = jwks.json.keys as Record<string, unknown>[];
    assert.equal(keys.length, 1);
    assert.equal(keys[0]!.kid, tb.broker.trustEntry().kid);
    assert.equal(keys[0]!.d, undefined);
    const entry = await call(tb.broker.socketPath, { method: 'GET', path: '/v1/trust-entry' });
    assert.deepEqual(entry.json, JSON.parse(JSON.stringify(tb.broker.trustEntry())));
    assert.equal(entry.json.max_key_binding, 'attested_workload');
    assert.equal(entry.json.issuer, 'https://broker.trustplane.local');
  });

  it('refuses a body larger than max_body_bytes with 413 request_too_large, declared or streamed', async () => {
    const big = JSON.stringify({ audience: AUDIENCE, holder_jwk: holder.publicJwk, pad: 'x'.repeat(70_000) });
    const declared = await call(tb.broker.socketPath, { body: big });
    assert.deepEqual([declared.status, declared.json.error], [413, 'request_too_large']);
    const streamed = await new Promise<{ status: number; error: unknown }>((resolve, reject) => {
      const req = request({ socketPath: tb.broker.socketPath, method: 'POST', path: '/v1/passports', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, error: (JSON.parse(Buffer.concat(chunks).toString()) as { error: unknown }).error }));
      });
      req.on('error', reject);
      for (let i = 0; i < 10; i++) req.write('x'.repeat(10_000));
      req.end();
    });
    assert.deepEqual(streamed, { status: 413, error: 'request_too_large' });
  });

  it('refuses malformed JSON, non-objects and non-UTF-8 with 400 request_invalid', async () => {
    for (const body of ['{"audience":', '[1,2]', '"x"', 'null', Buffer.from([0x7b, 0xff, 0x7d])]) {
      const r = await call(tb.broker.socketPath, { body });
      assert.deepEqual([r.status, r.json.error], [400, 'request_invalid'], String(body));
    }
  });

  it('names every problem of an invalid request at once', async () => {
    const r = await call(tb.broker.socketPath, { body: { holder_jwk: { kty: 'RSA' }, lifetime_s: 99999, colour: 'red', route: 'Bad Route' } });
    assert.equal(r.status, 400);
    assert.equal(r.json.error, 'request_invalid');
    const problems = r.json.problems as string[];
    for (const member of ['colour', 'audience', 'route', 'holder_jwk', 'lifetime_s']) {
      assert.ok(problems.some((p) => p.startsWith(`${member}:`)), `${member} not named in ${JSON.stringify(problems)}`);
    }
    assert.ok(!String(r.json.message).includes('\n'));
  });

  it('refuses a private key sent as holder_jwk without echoing it', async () => {
    const { exportPrivateJwk } = await import('../../core/src/keys.js');
    const priv = exportPrivateJwk(holder);
    const r = await call(tb.broker.socketPath, { body: { audience: AUDIENCE, holder_jwk: priv } });
    assert.deepEqual([r.status, r.json.error], [400, 'holder_jwk_invalid']);
    assert.ok(!r.text.includes(priv.d));
  });

  it('refuses every hostile holder_jwk with holder_jwk_invalid, and still issues for the genuine key after', async () => {
    const { smallOrderEncodings, trailingBitSpellings, otherSpellings, edNotOnCurve, be32 } = await import('../support/hostile-keys.js');
    const ec = generateSigningKey('ES256').publicJwk;
    const ed = { kty: 'OKP', crv: 'Ed25519', x: holder.publicJwk.x };
    const hostile: Array<Record<string, unknown>> = [
      ...trailingBitSpellings(ed.x).map((x) => ({ ...ed, x })),
      ...otherSpellings(ed.x).map((x) => ({ ...ed, x })),
      ...smallOrderEncodings().map((s) => ({ kty: 'OKP', crv: 'Ed25519', x: s.x })),
      { kty: 'OKP', crv: 'Ed25519', x: edNotOnCurve().x },
      { kty: 'EC', crv: 'P-256', x: ec.x, y: be32(5n) },
      { kty: 'EC', crv: 'P-256', x: be32(0n), y: be32(0n) },
      { ...ed, kid: 'x', k: 'c2VjcmV0' },
      { ...ed, ext: true },
      { ...ed, alg: 'ES256' },
    ];
    for (const jwk of hostile) {
      const r = await call(tb.broker.socketPath, { body: { audience: AUDIENCE, holder_jwk: jwk } });
      assert.deepEqual([r.status, r.json.error], [400, 'holder_jwk_invalid'], JSON.stringify(jwk));
      assert.ok((r.json.problems as string[]).every((p) => p.startsWith('holder_jwk: ')));
    }
    const ok = await call(tb.broker.socketPath, { body: { audience: AUDIENCE, holder_jwk: { ...holder.publicJwk, use: 'sig', key_ops: ['verify'] } } });
    assert.equal(ok.status, 200);
    // The passport carries the canonical bare key, never the members as sent.
    const claims = JSON.parse(Buffer.from((ok.json.passport as string).split('.')[1]!, 'base64url').toString('utf8')) as { cnf: unknown };
    assert.deepEqual(claims.cnf, { jwk: ed });
  });

  it('answers 415, 404 and 405 with their codes', async () => {
    const t = await call(tb.broker.socketPath, { body: 'audience=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.deepEqual([t.status, t.json.error], [415, 'unsupported_media_type']);
    const n = await call(tb.broker.socketPath, { method: 'GET', path: '/v1/nothing' });
    assert.deepEqual([n.status, n.json.error], [404, 'not_found']);
    const m = await call(tb.broker.socketPath, { method: 'GET', path: '/v1/passports' });
    assert.deepEqual([m.status, m.json.error, m.headers.allow], [405, 'method_not_allowed', 'POST']);
  });

  it('keeps serving after random bytes and broken HTTP on the socket', async () => {
    const answers: string[] = [];
    for (let i = 0; i < 20; i++) answers.push(await rawExchange(tb.broker.socketPath, Buffer.from(fc.sample(fc.uint8Array({ minLength: 1, maxLength: 512 }), { numRuns: 1, seed: i })[0]!)));
    answers.push(await rawExchange(tb.broker.socketPath, Buffer.from('POST /v1/passports HTTP/1.1\r\nContent-Length: abc\r\n\r\n')));
    answers.push(await rawExchange(tb.broker.socketPath, Buffer.from(`GET /healthz HTTP/1.1\r\nX: ${'a'.repeat(20_000)}\r\n\r\n`)));
    assert.ok(answers.some((a) => a.startsWith('HTTP/1.1 400')));
    assert.ok(answers.some((a) => a.startsWith('HTTP/1.1 431')));
    const h = await call(tb.broker.socketPath, { method: 'GET', path: '/healthz' });
    assert.equal(h.status, 200);
  });

  it('answers arbitrary JSON bodies with a registered 4xx code and never a 500', async () => {
    const jsonish = fc.oneof(
      fc.json(),
      fc.record(
        {
          audience: fc.oneof(fc.string(), fc.constant(AUDIENCE), fc.integer()),
          holder_jwk: fc.oneof(fc.constant(holder.publicJwk), fc.object(), fc.constant(null)),
          lifetime_s: fc.oneof(fc.integer(), fc.double(), fc.string()),
          svid_chain: fc.array(fc.string(), { maxLength: 3 }),
          pop: fc.record({ iat: fc.integer(), nonce: fc.string(), signature: fc.string() }),
          subject: fc.string(),
        },
        { requiredKeys: [] },
      ).map((o) => JSON.stringify(o)),
    );
    await fc.assert(
      fc.asyncProperty(jsonish, async (body) => {
        const r = await call(tb.broker.socketPath, { body });
        if (r.status === 200) return typeof r.json.passport === 'string';
        return r.status >= 400 && r.status < 500 && typeof r.json.error === 'string' && typeof r.json.message === 'string';
      }),
      { numRuns: 150 },
    );
    assert.equal((await call(tb.broker.socketPath, { method: 'GET', path: '/healthz' })).status, 200);
  });

  it('serves health and metrics, and only those, on the http_listen TCP port', async () => {
    const addr = tb.broker.httpAddress!;
    const get = (path: string): Promise<{ status: number; text: string }> =>
      new Promise((resolve, reject) => {
        request({ host: addr.host, port: addr.port, path, method: 'GET' }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
        })
          .on('error', reject)
          .end();
      });
    assert.equal((await get('/healthz')).status, 200);
    const metrics = await get('/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /^trustplane_broker_refused_total\{reason="request_too_large"\} 2$/m);
    assert.match(metrics.text, /^trustplane_broker_refused_total\{reason="unsupported_media_type"\} 1$/m);
    assert.equal((await get('/v1/trust-entry')).status, 404);
    assert.equal((await get('/v1/passports')).status, 404);
  });
});

describe('broker socket lifecycle', () => {
  it('replaces a stale socket file, refuses a live one, and removes its socket on close', async () => {
    const first = await startTestBroker({ spiffe: false });
    try {
      const again = parseBrokerConfig({ socket_path: first.broker.socketPath });
      await assert.rejects(startBroker(again, { logger: quiet }), (e: unknown) => e instanceof BrokerSocketError && /in use/.test((e as Error).message));
      await first.broker.close();
      assert.throws(() => lstatSync(first.broker.socketPath), /ENOENT/);

      // A socket file nobody listens on (a crashed broker) is stale: the next start takes its place.
      await leaveStaleSocket(first.broker.socketPath);
      assert.ok(lstatSync(first.broker.socketPath).isSocket());
      const second = await startBroker(again, { logger: quiet });
      assert.equal((await call(second.socketPath, { method: 'GET', path: '/healthz' })).status, 200);
      await second.close();
    } finally {
      await first.close();
    }
  });

  it('refuses to remove a regular file at the socket path', async () => {
    const tb = await startTestBroker({ spiffe: false });
    try {
      const path = join(tb.dir, 'not-a-socket');
      writeFileSync(path, 'keep me');
      await assert.rejects(startBroker(parseBrokerConfig({ socket_path: path }), { logger: quiet }), /not a socket/);
      assert.equal(lstatSync(path).isFile(), true);
    } finally {
      await tb.close();
    }
  });

  it('refuses a world-writable socket folder without the sticky bit', async () => {
    const tb = await startTestBroker({ spiffe: false });
    try {
      const open = join(tb.dir, 'open');
      mkdirSync(open);
      chmodSync(open, 0o777);
      await assert.rejects(startBroker(parseBrokerConfig({ socket_path: join(open, 'b.sock') }), { logger: quiet }), /world-writable/);
      chmodSync(open, 0o1777);
      const ok = await startBroker(parseBrokerConfig({ socket_path: join(open, 'b.sock') }), { logger: quiet });
      assert.equal((lstatSync(ok.socketPath).mode & 0o777).toString(8), '600');
      await ok.close();
    } finally {
      await tb.close();
    }
  });
});
