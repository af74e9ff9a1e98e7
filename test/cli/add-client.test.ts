/**
 * Adding a client without redeploying: a running `trustplane server` (a real child process) serves
 * a signed bundle file; a new client's passports are unknown to it; one `bundle merge-source`, one
 * `bundle sign` and an atomic rename later, the same server accepts the client's request — no restart,
 * no config change. Everything the operator and the client do goes through the CLI.
 */
import assert from 'node:assert/strict';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { headerMap } from '../support/check-assertions.js';
import { makeCheckClient, type CheckClient } from '../support/server-clients.js';
import { spawnServerProcess, type ServerProcess } from '../support/server-harness.js';
import { envoyCheckRequest, type OfficialCheckResponse } from '../support/envoy-api.js';
import { cli, tempDir } from './cli-harness.js';

const AUD = 'https://orders.add.test';

describe('adding a client to a running server with merge-source + sign + rename', function () {
  this.timeout(90_000);
  let t: ReturnType<typeof tempDir>;
  let server: ServerProcess | undefined;
  let client: CheckClient | undefined;
  const run = async (args: string[], input?: string): Promise<string> => {
    const r = await cli(args, { cwd: t.dir, ...(input !== undefined ? { input } : {}) });
    assert.equal(r.code, 0, `trustplane ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    t = tempDir('tp-add-client-');
    for (const k of ['signer', 'issuer', 'newco', 'newco-holder']) await run(['keygen', '--out', `${k}.jwk`, '--public-out', `${k}.pub.jwk`]);
    await run([
      'bundle', 'build', '--key-file', 'issuer.pub.jwk', '--issuer', 'https://issuer.add.test', '--trust-domain', 'add.test',
      '--route', 'orders-read:GET:/v1/orders/*', '--audience', AUD, '--subject', 'spiffe://add.test/**', '--valid-for', '1d', '--out', 'unsigned.json',
    ]);
    await run(['bundle', 'sign', '--bundle', 'unsigned.json', '--key', 'signer.jwk', '--out', 'bundle.json']);
    server = await spawnServerProcess(
      t.dir,
      {
        bundle: { path: join(t.dir, 'bundle.json'), signing_keys: join(t.dir, 'signer.pub.jwk'), poll_interval_ms: 200 },
        audit: { sink: 'none' },
        log_level: 'warn',
        workers: 1,
        // With no tolerance, a passport issued from the next whole second on postdates the server's
        // replay generation (docs/configuration.md, "Replay store"); the test is not about amnesia.
        engine: { clock_tolerance_s: 0 },
      },
      { name: 'add-client' },
    );
    client = makeCheckClient(server.grpcAddress);
    await new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 10));
  });

  after(async () => {
    client?.close();
    if (server) assert.equal(await server.stop(), 0, 'the server stops cleanly');
    t?.dispose();
  });

  /** The captured request, as the CheckRequest Envoy sends for it (GET, no body). */
  const checkFor = (capturePath: string): Buffer => {
    const c = JSON.parse(readFileSync(join(t.dir, capturePath), 'utf8')) as { method: string; authority: string; path: string; headers: [string, string][] };
    return envoyCheckRequest({ method: c.method, authority: c.authority, path: c.path, headers: c.headers, contextExtensions: { trustplane_route: 'orders-read', trustplane_body: 'buffered' } });
  };
  const reasonOf = (r: OfficialCheckResponse): string => (r.status?.code ?? 0) === 0 ? 'ok' : headerMap(r.denied_response?.headers)['x-trustplane-reason'] ?? '?';

  it('denies the new client with passport_kid_unknown, then allows it after the replace, without a restart', async () => {
    const pid = server!.pid;
    // The new client: its own issuer key and holder key, a passport valid long enough for the test.
    await run([
      'sign', '--issuer-key', 'newco.jwk', '--issuer', 'https://issuer.newco.test', '--subject', 'spiffe://newco.test/ns/etl/sa/loader',
      '--trust-domain', 'newco.test', '--audience', AUD, '--lifetime', '240', '--holder-key', 'newco-holder.jwk',
      '--route', 'orders-read', '--capture', 'newco.json', 'https://orders.add.test/v1/orders/42',
    ]);
    const check = checkFor('newco.json');
    assert.equal(reasonOf(await client!.check(check)), 'passport_kid_unknown');

    // The operator: merge the client's public key and rule, review, sign, replace the file atomically.
    await run([
      'bundle', 'merge-source', '--bundle', 'bundle.json', '--key-file', 'newco.pub.jwk', '--issuer', 'https://issuer.newco.test',
      '--trust-domain', 'newco.test', '--route', 'orders-read', '--subject', 'spiffe://newco.test/ns/etl/**', '--out', 'next.unsigned.json',
    ]);
    await run(['bundle', 'sign', '--bundle', 'next.unsigned.json', '--key', 'signer.jwk', '--out', 'bundle.json.next']);
    await run(['bundle', 'verify', '--bundle', 'bundle.json.next', '--signing-keys', 'signer.pub.jwk', '--min-serial', '2']);
    renameSync(join(t.dir, 'bundle.json.next'), join(t.dir, 'bundle.json'));

    // The same request (a deny never consumes its jti) is allowed once the server has reloaded.
    const deadline = Date.now() + 15_000;
    let reason = '';
    while (Date.now() < deadline) {
      reason = reasonOf(await client!.check(check));
      if (reason !== 'passport_kid_unknown') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(reason, 'ok', 'allowed after the bundle replace');
    assert.equal(reasonOf(await client!.check(check)), 'jti_replay', 'and consumed exactly once');
    assert.equal(server!.pid, pid);
    assert.equal(server!.child.exitCode, null, 'the server never restarted');
  });

  it('keeps serving the last good bundle when a bad file replaces it', async () => {
    writeFileSync(join(t.dir, 'broken.json'), '{"format": "trustplane-bundle-v1"');
    renameSync(join(t.dir, 'broken.json'), join(t.dir, 'bundle.json'));
    await new Promise((r) => setTimeout(r, 600));
    await run([
      'sign', '--issuer-key', 'newco.jwk', '--issuer', 'https://issuer.newco.test', '--subject', 'spiffe://newco.test/ns/etl/sa/loader',
      '--trust-domain', 'newco.test', '--audience', AUD, '--holder-key', 'newco-holder.jwk', '--route', 'orders-read', '--capture', 'again.json',
      'https://orders.add.test/v1/orders/43',
    ]);
    assert.equal(reasonOf(await client!.check(checkFor('again.json'))), 'ok');
  });
});
