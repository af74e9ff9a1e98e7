/**
 * The long-running commands as real processes: `up` (the whole local stack, then requests through
 * it with `trustplane request`), `broker` and `echo`; each prints where it listens, serves, and
 * exits 0 on SIGTERM or SIGINT. Refusals exit with their code before anything listens.
 */
import assert from 'node:assert/strict';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fetchTrustEntry } from '../../broker/src/client.js';
import { DEV } from '../../cli/src/dev-state.js';
import { freePort } from '../support/redis-server.js';
import { cli, spawnCli, tempDir, type LongRunning } from './cli-harness.js';

describe('trustplane up, request, broker, echo (long-running processes)', function () {
  this.timeout(90_000);
  let t: ReturnType<typeof tempDir>;
  const running: LongRunning[] = [];
  before(() => {
    t = tempDir('tp-cli-long-');
  });
  after(async () => {
    for (const r of running) await r.stop('SIGKILL', 2000);
    t?.dispose();
  });

  describe('up', () => {
    let up: LongRunning;
    let info: { gateway: string; broker_socket: string; state_dir: string; audience: string; grpc: string };
    before(async () => {
      up = await spawnCli(['up', '--state-dir', join(t.dir, 'state'), '--json'], { cwd: t.dir, readyTimeoutMs: 30_000 });
      running.push(up);
      info = JSON.parse(up.firstLine);
    });

    const holder = (): string => join(info.state_dir, 'holder-key.jwk.json');
    const viaIssuer = (): string[] => [
      '--issuer-key', join(info.state_dir, 'issuer-key.jwk.json'), '--issuer', DEV.issuer, '--subject', DEV.subject,
      '--trust-domain', DEV.trustDomain, '--audience', DEV.audience, '--holder-key', holder(),
    ];

    it('prints its addresses and serves the gateway with the real wasm filter and ext_authz', async () => {
      assert.equal(info.audience, DEV.audience);
      assert.match(info.gateway, /^http:\/\/127\.0\.0\.1:\d+$/);
      const open = await fetch(`${info.gateway}/public/hello`);
      assert.equal(open.status, 200);
      const closed = await fetch(`${info.gateway}/v1/payments/1`);
      assert.equal(closed.status, 401);
      assert.equal(closed.headers.get('x-trustplane-reason'), 'passport_missing');
    });

    it('request sends a signed POST (issuer key) and a signed GET (broker) that the stack allows, printing status, headers and body', async () => {
      const post = await cli(['request', ...viaIssuer(), '--route', 'payments-create', '-H', 'content-type: application/json', '--bind-header', 'content-type', '--data', '{"amount":5}', `${info.gateway}/v1/payments`]);
      assert.equal(post.code, 0, post.stderr);
      assert.match(post.stdout, /^HTTP 200 OK\n/);
      assert.ok(post.stdout.includes(`"x-trustplane-subject":"${DEV.subject}"`), post.stdout);
      const get = await cli(['request', '--broker', info.broker_socket, '--audience', DEV.audience, '--holder-key', holder(), '--route', 'payments-read', '--json', `${info.gateway}/v1/payments/9`]);
      assert.equal(get.code, 0, get.stderr);
      const j = JSON.parse(get.stdout) as { status: number; body: string };
      assert.equal(j.status, 200);
      assert.equal(JSON.parse(j.body).headers['x-trustplane-key-binding'], 'software');
    });

    it('request exits 1 on a deny and names the reason (wrong route for the path: route_mismatch)', async () => {
      const r = await cli(['request', ...viaIssuer(), '--route', 'payments-read', `${info.gateway}/v1/payments`, '-X', 'POST', '-H', 'content-type: text/plain', '--data', 'x']);
      assert.equal(r.code, 1);
      assert.match(r.stdout, /^HTTP 403 Forbidden\n/);
      assert.equal(r.stderr, 'trustplane request: HTTP 403 (route_mismatch)\n');
    });

    it('request exits 1 with one line when nothing listens', async () => {
      const port = await freePort();
      const r = await cli(['request', ...viaIssuer(), '--route', 'payments-read', '--timeout', '3000', `http://127.0.0.1:${port}/v1/payments/1`]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `trustplane request: GET http://127.0.0.1:${port}/v1/payments/1 failed: connect ECONNREFUSED 127.0.0.1:${port}\n`);
    });

    it('stops everything and exits 0 on SIGTERM', async () => {
      assert.equal(await up.stop('SIGTERM'), 0, up.stderr());
      assert.ok(!existsSync(info.broker_socket), 'the broker socket is gone');
    });
  });

  it('broker --config runs the broker on an owner-only socket until SIGINT, then exits 0', async () => {
    const socket = join(t.dir, 'b', 'broker.sock');
    writeFileSync(join(t.dir, 'broker.yaml'), `socket_path: ${socket}\nissuer: https://broker.cli.test\ntrust_domain: cli.test\n`);
    const b = await spawnCli(['broker', '--config', 'broker.yaml'], { cwd: t.dir });
    running.push(b);
    assert.match(b.firstLine, new RegExp(`^broker ready on ${socket} \\(kid [A-Za-z0-9_-]{43}, issuer https://broker.cli.test, max software\\)$`));
    assert.equal(statSync(socket).mode & 0o777, 0o600);
    const entry = await fetchTrustEntry(socket);
    assert.equal(entry.issuer, 'https://broker.cli.test');
    assert.equal(await b.stop('SIGINT'), 0, b.stderr());
    assert.ok(!existsSync(socket), 'the broker removed its socket');
  });

  it('broker refuses a bad configuration with exit 2, naming every problem', async () => {
    writeFileSync(join(t.dir, 'bad-broker.yaml'), 'socket_path: /tmp/x.sock\nsocket_group: tp-no-such-group\nissuer: not a uri\ncolour: blue\n');
    const r = await cli(['broker', '--config', 'bad-broker.yaml'], { cwd: t.dir });
    assert.equal(r.code, 2);
    assert.equal(r.stderr.split('\n').length, 2, 'one line');
    assert.ok(r.stderr.startsWith('trustplane broker: bad-broker.yaml: '), r.stderr);
    assert.ok(r.stderr.includes('colour') && r.stderr.includes('issuer'), r.stderr);
    assert.ok(r.stderr.includes('socket_group: no group named "tp-no-such-group"'), r.stderr);
  });

  it('echo --listen answers with what reached it and exits 0 on SIGTERM', async () => {
    const e = await spawnCli(['echo', '--listen', '127.0.0.1:0', '--json'], { cwd: t.dir });
    running.push(e);
    const { url } = JSON.parse(e.firstLine) as { url: string };
    const res = await fetch(`${url}/some/path?q=1`, { method: 'POST', body: 'hello', headers: { 'x-probe': 'yes' } });
    const j = (await res.json()) as { method: string; path: string; headers: Record<string, string>; body_bytes: number };
    assert.deepEqual([j.method, j.path, j.headers['x-probe'], j.body_bytes], ['POST', '/some/path?q=1', 'yes', 5]);
    assert.equal(await e.stop('SIGTERM'), 0);
    const bad = await cli(['echo', '--listen', 'nowhere']);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, 'trustplane echo: --listen nowhere must be host:port, e.g. 127.0.0.1:8080\n');
  });
});
