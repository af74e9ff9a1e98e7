/**
 * The middleware as a package a service installs (packages/middleware, docs/middleware.md
 * "Installing"): built, packed with `npm pack`, installed into an empty project, and run there in a
 * node:http service that allows a signed request and denies a tampered one. Its dependencies must be
 * prom-client (its metrics) and nothing else of the server's: no grpc-js, no proto-loader, no
 * @peculiar/x509, no jose, no yaml; ioredis is an optional peer, for the Redis replay store only.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { issuePassport } from '../../core/src/passport.js';
import { PACKAGE_ROOT } from '../../core/src/package-root.js';
import { duBytes, packAndInstall, type InstalledPackage } from '../support/packed.js';
import { signRequest } from '../../core/src/sign-request.js';
import { afterStart, nextSecond } from '../support/clock.js';
import { makeTrust, type TrustSetup } from '../support/trust-setup.js';
import { AUDIENCE, ISSUER, SUBJECT, TRUST_DOMAIN } from '../support/world.js';

const PKG_DIR = join(PACKAGE_ROOT, 'packages', 'middleware');


function post(port: number, headers: Record<string, string>, body: string): Promise<{ status: number; reason: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/v1/payments', headers: { ...headers, host: 'api.example.test' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, reason: res.headers['x-trustplane-reason'] as string | undefined }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('the middleware as its own package (npm pack, installed into an empty project)', function () {
  this.timeout(240_000);
  let installed: InstalledPackage;
  let project: string;

  before(() => {
    installed = packAndInstall(PKG_DIR, { offline: false });
    project = installed.project;
  });

  after(() => installed?.dispose());

  it('depends on prom-client only, with ioredis an optional peer (prints its install size and dependency list)', () => {
    const manifest = JSON.parse(readFileSync(join(project, 'node_modules', '@trustplane', 'middleware', 'package.json'), 'utf8')) as Record<string, Record<string, unknown> | undefined>;
    const tree = readdirSync(join(project, 'node_modules')).filter((n) => !n.startsWith('.'));
    const size = duBytes(join(project, 'node_modules'));
    console.log(`      @trustplane/middleware installed: ${(size / 1024).toFixed(1)} KiB in node_modules; dependencies: ${JSON.stringify(Object.keys(manifest['dependencies'] ?? {}))}; optional peers: ${JSON.stringify(Object.keys(manifest['peerDependencies'] ?? {}))}; node_modules holds ${JSON.stringify(tree)}`);
    assert.deepEqual(Object.keys(manifest['dependencies'] ?? {}), ['prom-client']);
    for (const server of ['@grpc', '@peculiar', 'jose', 'yaml', 'ioredis', 'protobufjs']) assert.ok(!tree.includes(server), `${server} was installed`);
  });

  it('runs in that project: a node:http service allows a signed request and denies a tampered one', async () => {
    const t: TrustSetup = makeTrust('tp-mw-pack-trust-');
    t.writeBundle(t.bundle());
    writeFileSync(
      join(project, 'service.mjs'),
      `
      import { createServer } from 'node:http';
      import { Verifier, trustplane } from '@trustplane/middleware';
      const verifier = await Verifier.open({ bundle: { path: process.argv[2], signingKeys: process.argv[3] } });
      const mw = trustplane(verifier);
      const server = createServer((req, res) => mw(req, res, () => res.end('ok')));
      server.listen(0, '127.0.0.1', () => console.log(server.address().port));
      `,
    );
    const child = spawn(process.execPath, ['service.mjs', t.bundlePath, t.jwksPath], { cwd: project, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
        child.once('exit', (code) => reject(new Error(`service exited (${code})`)));
      });
      await nextSecond(); // the service's replay generation began at its start
      const passport = issuePassport({ key: t.issuerKey, issuer: ISSUER, subject: SUBJECT, audience: AUDIENCE, trustDomain: TRUST_DOMAIN, holder: t.holder.publicJwk, keyBinding: 'software', lifetimeS: 60, ...afterStart() });
      const body = '{"amount":100}';
      const s = signRequest({ method: 'POST', authority: 'api.example.test', pathAndQuery: '/v1/payments', headers: { 'content-type': 'application/json' }, body }, { passport, holder: t.holder, route: 'payments-create', bindHeaders: ['content-type'] });
      const headers = { 'content-type': 'application/json', ...s.headers };
      assert.deepEqual(await post(port, headers, '{"amount":999}'), { status: 401, reason: 'body_mismatch' });
      assert.deepEqual(await post(port, headers, body), { status: 200, reason: undefined });
    } finally {
      child.kill();
      t.dispose();
    }
  });
});
