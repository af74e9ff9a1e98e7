/**
 * The caller SDK as a package a caller installs (packages/sdk, docs/sdk.md "Installing"): built,
 * packed with `npm pack`, installed into an empty project, and used there to sign a request that the
 * real server then allows. The packed package must depend on nothing: no server dependency (grpc-js,
 * ioredis, prom-client, @peculiar/x509, jose, yaml) may reach a caller.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportPrivateJwk } from '../../core/src/keys.js';
import { PACKAGE_ROOT } from '../../core/src/package-root.js';
import { duBytes, packAndInstall, type InstalledPackage } from '../support/packed.js';
import { envoyCheckRequest } from '../support/envoy-api.js';
import { assertAllow } from '../support/check-assertions.js';
import { nextSecond } from '../support/clock.js';
import { makeCheckClient } from '../support/server-clients.js';
import { startInProcess } from '../support/server-harness.js';
import { makeTrust } from '../support/trust-setup.js';
import { AUDIENCE, ISSUER, SUBJECT, TRUST_DOMAIN } from '../support/world.js';

const SDK_DIR = join(PACKAGE_ROOT, 'packages', 'sdk');
const SERVER_DEPENDENCIES = Object.keys((JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies);


describe('the caller SDK as its own package (npm pack, installed into an empty project)', function () {
  this.timeout(180_000);
  let installed: InstalledPackage;
  let project: string;

  before(() => {
    installed = packAndInstall(SDK_DIR, { offline: true });
    project = installed.project;
  });

  after(() => installed?.dispose());

  it('installs with no dependency at all, none of the server\'s (prints its install size and dependency list)', () => {
    const installed = JSON.parse(readFileSync(join(project, 'node_modules', '@trustplane', 'sdk', 'package.json'), 'utf8')) as Record<string, unknown>;
    const deps = { ...(installed['dependencies'] as object | undefined), ...(installed['peerDependencies'] as object | undefined), ...(installed['optionalDependencies'] as object | undefined) };
    const tree = readdirSync(join(project, 'node_modules')).filter((n) => !n.startsWith('.'));
    const size = duBytes(join(project, 'node_modules'));
    console.log(`      @trustplane/sdk installed: ${(size / 1024).toFixed(1)} KiB in node_modules; dependencies: ${JSON.stringify(Object.keys(deps))}; node_modules holds ${JSON.stringify(tree)}`);
    assert.deepEqual(Object.keys(deps), []);
    assert.deepEqual(tree, ['@trustplane']);
    for (const d of SERVER_DEPENDENCIES) assert.ok(!tree.includes(d), d);
    assert.ok(size < 512 * 1024, `install size ${size} bytes`);
  });

  it('signs a request in that project that the real server allows over gRPC', async () => {
    const t = makeTrust('tp-sdk-pack-server-');
    t.writeBundle(t.bundle());
    const server = await startInProcess(t, { log_level: 'warn' });
    const client = makeCheckClient(server.grpcAddress);
    try {
      await nextSecond();
      const script = `
        import { createSigner } from '@trustplane/sdk';
        const input = JSON.parse(process.argv[2]);
        const signer = createSigner({
          key: input.holder,
          audience: input.audience,
          route: 'payments-create',
          bindHeaders: ['content-type'],
          // Dated the clock tolerance ahead: the server's replay generation began moments ago.
          clock: () => Date.now() + 30_000,
          passport: { kind: 'issuer', key: input.issuer, issuer: input.iss, subject: input.sub, trustDomain: input.td },
        });
        const headers = await signer.sign({ method: 'POST', url: 'https://api.example.test/v1/payments', headers: { 'content-type': 'application/json' }, body: '{"amount":100}' });
        process.stdout.write(JSON.stringify(headers));
      `;
      writeFileSync(join(project, 'sign.mjs'), script);
      const out = execFileSync(
        process.execPath,
        ['sign.mjs', JSON.stringify({ holder: exportPrivateJwk(t.holder), issuer: exportPrivateJwk(t.issuerKey), audience: AUDIENCE, iss: ISSUER, sub: SUBJECT, td: TRUST_DOMAIN })],
        { cwd: project, encoding: 'utf8' },
      );
      const headers = JSON.parse(out) as Record<string, string>;
      const r = await client.check(
        envoyCheckRequest({
          method: 'POST',
          authority: 'api.example.test',
          path: '/v1/payments',
          scheme: 'https',
          headers: [['content-type', 'application/json'], ...Object.entries(headers)],
          body: '{"amount":100}',
          withRequestBody: { maxRequestBytes: 1 << 20, packAsBytes: true },
        }),
      );
      assertAllow(r, 'payments-create');
    } finally {
      client.close();
      await server.server.close();
      t.dispose();
    }
  });
});
