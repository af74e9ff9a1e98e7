/**
 * `trustplane sign` and `request` over the broker's SPIFFE path (--svid-chain, --svid-key,
 * --broker-issuer): a real broker on a Unix socket trusting a throw-away SPIFFE CA, real
 * certificates, the CLI as a child process. The passport must be the attested_workload one the SDK
 * gets for the same SVID; a wrong key, an untrusted chain and misplaced options are named.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { readPassportClaims } from '../../core/src/sign-request.js';
import { jwkThumbprint } from '../../core/src/keys.js';
import { AUDIENCE, startTestBroker, type TestBroker } from '../broker/harness.js';
import { createTestCa, type TestSvid } from '../support/spiffe-ca.js';
import { cli, tempDir } from './cli-harness.js';

describe('trustplane sign / request: the SPIFFE X.509-SVID path', function () {
  this.timeout(60_000);
  let t: ReturnType<typeof tempDir>;
  let tb: TestBroker;
  let svid: TestSvid;
  let upstream: Server;
  let seen: IncomingHttpHeaders | undefined;
  const run = (args: string[]) => cli(args, { cwd: t.dir });
  const pem = (k: TestSvid['privateKey']): string => k.export({ type: 'pkcs8', format: 'pem' }) as string;

  before(async () => {
    t = tempDir();
    tb = await startTestBroker({ intermediate: true });
    svid = await tb.ca.issueSvid({ path: '/ns/ops/sa/rotator' });
    writeFileSync(join(t.dir, 'svid.pem'), svid.chainPem.join(''));
    writeFileSync(join(t.dir, 'svid_key.pem'), pem(svid.privateKey));
    const other = await tb.ca.issueSvid({ path: '/ns/ops/sa/other' });
    writeFileSync(join(t.dir, 'other_key.pem'), pem(other.privateKey));
    const stranger = await (await createTestCa({ trustDomain: 'example.org' })).issueSvid();
    writeFileSync(join(t.dir, 'stranger.pem'), stranger.chainPem.join(''));
    writeFileSync(join(t.dir, 'stranger_key.pem'), pem(stranger.privateKey));
    assert.equal((await run(['keygen', '--out', 'holder.jwk', '--public-out', 'holder.pub.jwk'])).code, 0);
    upstream = createServer((req, res) => {
      seen = req.headers;
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  });
  after(async () => {
    upstream?.close();
    await tb?.close();
    t?.dispose();
  });

  const spiffeArgs = (chain = 'svid.pem', key = 'svid_key.pem'): string[] => ['--broker', tb.broker.socketPath, '--audience', AUDIENCE, '--svid-chain', chain, '--svid-key', key, '--holder-key', 'holder.jwk', '--route', 'orders-read'];

  it('sign gets an attested_workload passport whose sub is the SVID and whose cnf is the holder key', async () => {
    const r = await run(['sign', ...spiffeArgs(), '--json', 'https://orders.example.org/v1/orders/1']);
    assert.equal(r.code, 0, r.stderr);
    const headers = JSON.parse(r.stdout) as { passport: string };
    const claims = readPassportClaims(headers.passport) as unknown as { sub: string; key_binding: string; iss: string; cnf: { jwk: Record<string, string> } };
    assert.equal(claims.sub, svid.spiffeId);
    assert.equal(claims.key_binding, 'attested_workload');
    assert.equal(claims.iss, tb.config.issuer);
    const holder = JSON.parse(readFileSync(join(t.dir, 'holder.pub.jwk'), 'utf8'));
    assert.equal(jwkThumbprint(claims.cnf.jwk as never), jwkThumbprint(holder));
  });

  it('request sends the SPIFFE-path passport; --broker-issuer given explicitly works the same', async () => {
    const { port } = upstream.address() as AddressInfo;
    const r = await run(['request', ...spiffeArgs(), '--broker-issuer', tb.config.issuer, `http://127.0.0.1:${port}/v1/orders/1`]);
    assert.equal(r.code, 0, r.stderr);
    const claims = readPassportClaims(String(seen?.['x-trustplane-passport']));
    assert.equal(claims.sub, svid.spiffeId);
  });

  it('names a key that is not the leaf’s before asking the broker (exit 1)', async () => {
    const r = await run(['sign', ...spiffeArgs('svid.pem', 'other_key.pem'), 'https://orders.example.org/v1/orders/1']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'trustplane sign: --svid-key other_key.pem: not the key of the leaf certificate in --svid-chain svid.pem\n');
  });

  it('passes the broker’s refusal of an untrusted chain through as one line', async () => {
    const r = await run(['sign', ...spiffeArgs('stranger.pem', 'stranger_key.pem'), 'https://orders.example.org/v1/orders/1']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^trustplane sign: broker refused: svid_chain_untrusted: [^\n]*\n$/);
  });

  it('a wrong --broker-issuer is refused by the broker as svid_pop_invalid', async () => {
    const r = await run(['sign', ...spiffeArgs(), '--broker-issuer', 'https://not-the-broker.example', 'https://orders.example.org/v1/orders/1']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^trustplane sign: broker refused: svid_pop_invalid: [^\n]*\n$/);
  });

  it('refuses misplaced SPIFFE options as usage errors (exit 2) and unreadable files in one line', async () => {
    const noBroker = await run(['sign', '--passport', 'a.b.c', '--svid-chain', 'svid.pem', '--svid-key', 'svid_key.pem', '--holder-key', 'holder.jwk', '--route', 'r', 'https://x.example/']);
    assert.equal(noBroker.code, 2);
    assert.equal(noBroker.stderr, "trustplane sign: --svid-chain and --svid-key need --broker SOCKET (the SPIFFE path is the broker's)\n");
    const half = await run(['sign', '--broker', tb.broker.socketPath, '--audience', AUDIENCE, '--svid-chain', 'svid.pem', '--holder-key', 'holder.jwk', '--route', 'r', 'https://x.example/']);
    assert.equal(half.code, 2);
    assert.equal(half.stderr, 'trustplane sign: give --svid-chain FILE and --svid-key FILE together\n');
    const missing = await run(['sign', ...spiffeArgs('nope.pem'), 'https://x.example/']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'trustplane sign: --svid-chain nope.pem: no such file\n');
    const notPem = await run(['sign', ...spiffeArgs('holder.jwk'), 'https://x.example/']);
    assert.equal(notPem.code, 1);
    assert.equal(notPem.stderr, 'trustplane sign: --svid-chain holder.jwk: no PEM CERTIFICATE block\n');
  });
});
