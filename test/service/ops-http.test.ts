import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { request, type Server } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Counter, Registry } from 'prom-client';
import { closeServer, createOpsServer, listen, type OpsSource } from '../../service/src/ops-http.js';

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
}

function call(address: string, path: string, method = 'GET'): Promise<Answer> {
  const target = address.startsWith('unix:') ? { socketPath: address.slice(5) } : { host: address.slice(0, address.lastIndexOf(':')), port: Number(address.slice(address.lastIndexOf(':') + 1)) };
  return new Promise((resolve, reject) => {
    request({ ...target, path, method }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString() }));
    })
      .on('error', reject)
      .end();
  });
}

function raw(address: string, bytes: string): Promise<string> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const s = connect(port, host, () => s.end(bytes));
    let out = '';
    s.on('data', (b: Buffer) => (out += b.toString()));
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

describe('service: the operations HTTP port', () => {
  const registry = new Registry();
  new Counter({ name: 'ops_test_total', help: 'A counter for this test.', registers: [registry] }).inc(3);
  let ready = true;
  let failMetrics = false;
  const source: OpsSource = {
    metrics: { contentType: registry.contentType, render: () => (failMetrics ? Promise.reject(new Error('registry broken\nsecond line')) : registry.metrics()) },
    readiness: () => ({ ready, detail: { bundle_serial: 7 } }),
  };
  let server: Server;
  let address: string;
  before(async () => {
    server = createOpsServer(source);
    address = await listen(server, '127.0.0.1:0');
  });
  after(() => closeServer(server));

  it('answers /healthz, /readyz (200 or 503 with the detail) and /metrics', async () => {
    const h = await call(address, '/healthz');
    assert.deepEqual([h.status, h.headers['content-type'], JSON.parse(h.text)], [200, 'application/json', { status: 'ok' }]);
    assert.deepEqual([(await call(address, '/readyz')).status, JSON.parse((await call(address, '/readyz?verbose')).text)], [200, { ready: true, bundle_serial: 7 }]);
    ready = false;
    const r = await call(address, '/readyz');
    assert.deepEqual([r.status, JSON.parse(r.text)], [503, { ready: false, bundle_serial: 7 }]);
    const m = await call(address, '/metrics');
    assert.equal(m.status, 200);
    assert.equal(m.headers['content-type'], registry.contentType);
    assert.match(m.text, /^ops_test_total 3$/m);
    assert.equal((await call(address, '/healthz', 'HEAD')).status, 200);
  });

  it('refuses other methods with 405 and other paths with 404, in JSON', async () => {
    const post = await call(address, '/metrics', 'POST');
    assert.deepEqual([post.status, post.headers.allow, JSON.parse(post.text).error], [405, 'GET', 'method_not_allowed']);
    const other = await call(address, '/v1/passports');
    assert.deepEqual([other.status, JSON.parse(other.text)], [404, { error: 'not_found', message: 'no endpoint /v1/passports' }]);
  });

  it('says why metrics are unavailable, in one line, with 500', async () => {
    failMetrics = true;
    try {
      const m = await call(address, '/metrics');
      assert.deepEqual([m.status, JSON.parse(m.text)], [500, { error: 'metrics_unavailable', message: 'registry broken' }]);
    } finally {
      failMetrics = false;
    }
  });

  it('answers what the HTTP parser refuses with 400 or 431 and keeps serving', async () => {
    assert.match(await raw(address, 'GET /healthz HTTP/1.1\r\nContent-Length: abc\r\n\r\n'), /^HTTP\/1\.1 400 /);
    assert.match(await raw(address, `GET /healthz HTTP/1.1\r\nX: ${'a'.repeat(20_000)}\r\n\r\n`), /^HTTP\/1\.1 431 /);
    assert.equal((await call(address, '/healthz')).status, 200);
  });

  it('does not serve /readyz without a readiness, and listens on a Unix socket', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tp-ops-'));
    const plain = createOpsServer({ metrics: source.metrics });
    try {
      const at = await listen(plain, `unix:${join(dir, 'ops.sock')}`);
      assert.equal(at, `unix:${join(dir, 'ops.sock')}`);
      assert.equal((await call(at, '/readyz')).status, 404);
      assert.equal((await call(at, '/healthz')).status, 200);
    } finally {
      await closeServer(plain);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails to listen on a port in use with the error, and the port answered by the first', async () => {
    const second = createOpsServer(source);
    await assert.rejects(listen(second, address), (e: NodeJS.ErrnoException) => e.code === 'EADDRINUSE');
    assert.equal((await call(address, '/healthz')).status, 200);
  });
});
