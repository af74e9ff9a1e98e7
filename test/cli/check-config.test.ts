/**
 * `trustplane --version`, `trustplane server --check-config`, and the one-line errors an operator
 * meets first: a missing configuration file, an unreadable key, a bad environment variable. Real
 * CLI child processes, real keys, a real signed bundle and real certificates.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../support/envoy-api.js';
import { createTestCa } from '../support/spiffe-ca.js';
import { cli, tempDir } from './cli-harness.js';

const ISSUER = 'https://issuer.check.test';
const TD = 'check.test';

describe('trustplane --version and server --check-config', function () {
  this.timeout(90_000);
  let t: ReturnType<typeof tempDir>;
  const p = (name: string): string => join(t.dir, name);
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) => cli(args, { cwd: t.dir, env });
  const base = ['server', '--check-config', '--bundle', 'bundle.json', '--signing-keys', 'signer.pub.jwk'];

  before(async () => {
    t = tempDir();
    for (const k of ['signer', 'other', 'issuer']) assert.equal((await run(['keygen', '--out', `${k}.jwk`, '--public-out', `${k}.pub.jwk`])).code, 0);
    const build = ['bundle', 'build', '--key-file', 'issuer.pub.jwk', '--issuer', ISSUER, '--trust-domain', TD, '--route', 'r:GET:/v1/*', '--audience', 'https://api.check.test', '--subject', 'spiffe://check.test/**', '--serial', '5', '--out', 'unsigned.json'];
    assert.equal((await run(build)).code, 0);
    assert.equal((await run(['bundle', 'sign', '--bundle', 'unsigned.json', '--key', 'signer.jwk', '--out', 'bundle.json'])).code, 0);
    const ca = await createTestCa({ trustDomain: TD });
    const a = await ca.issueSvid({ path: '/a' });
    const b = await ca.issueSvid({ path: '/b' });
    writeFileSync(p('tls.crt'), a.leafPem);
    writeFileSync(p('tls.key'), a.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    writeFileSync(p('wrong.key'), b.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    mkdirSync(p('a-directory'));
  });
  after(() => t?.dispose());

  it('--version prints the version in package.json, exit 0', async () => {
    const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = await run([flag]);
      assert.equal(r.code, 0);
      assert.equal(r.stdout, `trustplane ${version}\n`);
      assert.equal(r.stderr, '');
    }
  });

  it('accepts a good configuration and bundle: exit 0, starts nothing', async () => {
    writeFileSync(p('server.yaml'), 'bundle: { path: bundle.json, signing_keys: signer.pub.jwk, state_file: state.json }\nlisten: { grpc: "127.0.0.1:1" }\n');
    const started = Date.now();
    const r = await run(['server', '--check-config', '--config', 'server.yaml']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ok: configuration valid; bundle serial 5 \(sha256 [0-9a-f]{64}\) would be served\n$/);
    assert.equal(r.stderr, '');
    assert.ok(Date.now() - started < 30_000);
    assert.ok(!existsSync(p('state.json')), 'the state file is read, never written');
    const j = await run(['server', '--check-config', '--config', 'server.yaml', '--json']);
    assert.equal(j.code, 0);
    const out = JSON.parse(j.stdout) as { ok: boolean; problems: string[]; bundle_serial: number };
    assert.deepEqual([out.ok, out.problems, out.bundle_serial], [true, [], 5]);
  });

  it('prints every settings problem, one per line, naming the environment variable, exit 1', async () => {
    writeFileSync(p('bad.yaml'), 'lisen: { grpc: x }\nbundle: { path: bundle.json, signing_keys: signer.pub.jwk }\n');
    const r = await run(['server', '--check-config', '--config', 'bad.yaml'], { TRUSTPLANE_WORKERS: 'lots', TRUSTPLANE_REDIS_URL: 'http://user:secret@redis' });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trimEnd().split('\n');
    assert.deepEqual(lines.sort(), [
      'trustplane server: lisen: unknown setting',
      'trustplane server: replay.redis.url: must start with redis:// or rediss:// (from TRUSTPLANE_REDIS_URL)',
      'trustplane server: workers: must be an integer from 1 to 64 (from TRUSTPLANE_WORKERS)',
    ]);
    assert.ok(!r.stderr.includes('secret'), 'an environment value is never echoed');
  });

  it('checks the bundle as the first load would: signature, rollback against the state file', async () => {
    const wrongKey = await run([...base.slice(0, -1), 'other.pub.jwk']);
    assert.equal(wrongKey.code, 1);
    assert.match(wrongKey.stderr, /^trustplane server: bundle\.path bundle\.json: bundle_signing_key_unknown: [^\n]+\n$/);
    writeFileSync(p('ahead.json'), `${JSON.stringify({ serial: 9, sha256: 'a'.repeat(64) })}\n`);
    const before = readFileSync(p('ahead.json'), 'utf8');
    const rollback = await run(['server', '--check-config', '--config', 'server.yaml'], { TRUSTPLANE_BUNDLE_PATH: 'bundle.json' });
    assert.equal(rollback.code, 0, rollback.stderr);
    writeFileSync(p('rollback.yaml'), 'bundle: { path: bundle.json, signing_keys: signer.pub.jwk, state_file: ahead.json }\n');
    const r = await run(['server', '--check-config', '--config', 'rollback.yaml']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^trustplane server: bundle\.path bundle\.json: bundle_rollback: [^\n]+\n$/);
    assert.equal(readFileSync(p('ahead.json'), 'utf8'), before);
  });

  it('names each unusable file: signing keys, bundle, TLS key that is not the certificate\'s, audit folder', async () => {
    writeFileSync(p('files.yaml'), [
      'bundle: { path: missing-bundle.json, signing_keys: a-directory }',
      'tls: { cert_file: tls.crt, key_file: wrong.key }',
      'audit: { sink: file, file: no-such-dir/audit.log }',
      '',
    ].join('\n'));
    const r = await run(['server', '--check-config', '--config', 'files.yaml']);
    assert.equal(r.code, 1);
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 4, r.stderr);
    assert.equal(lines[0], 'trustplane server: bundle.signing_keys a-directory: is a directory');
    assert.match(lines[1]!, /^trustplane server: tls\.cert_file tls\.crt \/ tls\.key_file wrong\.key: .*key values mismatch/);
    assert.equal(lines[2], 'trustplane server: audit.file no-such-dir/audit.log: directory no-such-dir: no such file');
    assert.equal(lines[3], 'trustplane server: bundle.path missing-bundle.json: no such file');
    writeFileSync(p('tls.yaml'), 'bundle: { path: bundle.json, signing_keys: signer.pub.jwk }\ntls: { cert_file: tls.crt, key_file: tls.key }\n');
    assert.equal((await run(['server', '--check-config', '--config', 'tls.yaml'])).code, 0);
  });

  it('refuses --check-config with --dev and --json without --check-config (exit 2)', async () => {
    const dev = await run(['server', '--check-config', '--dev']);
    assert.equal(dev.code, 2);
    assert.equal(dev.stderr, 'trustplane server: --check-config checks a deployment configuration; --dev generates its own (drop one)\n');
    const json = await run(['server', '--json']);
    assert.equal(json.code, 2);
  });
});

describe('trustplane: one line naming the file or the variable', function () {
  this.timeout(60_000);
  let t: ReturnType<typeof tempDir>;
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) => cli(args, { cwd: t.dir, env });

  before(async () => {
    t = tempDir();
    mkdirSync(join(t.dir, 'dir.jwk'));
    writeFileSync(join(t.dir, 'garbage.jwk'), 'not json');
  });
  after(() => t?.dispose());

  const oneLine = (s: string): void => {
    assert.equal(s.split('\n').length, 2, s);
    assert.doesNotMatch(s, /\n\s+at |Error:/);
  };

  it('a missing configuration file, from --config or TRUSTPLANE_CONFIG (server and broker), exit 1', async () => {
    const flag = await run(['server', '--config', 'nope.yaml']);
    assert.equal(flag.code, 1);
    assert.equal(flag.stderr, 'trustplane server: --config nope.yaml: no such file\n');
    const env = await run(['server'], { TRUSTPLANE_CONFIG: 'nope.yaml' });
    assert.equal(env.code, 1);
    assert.equal(env.stderr, 'trustplane server: TRUSTPLANE_CONFIG nope.yaml: no such file\n');
    const broker = await run(['broker', '--config', 'nope.yaml']);
    assert.equal(broker.code, 1);
    assert.equal(broker.stderr, 'trustplane broker: nope.yaml: no such file\n');
  });

  it('a bad environment variable is named, in one line, exit 2', async () => {
    const r = await run(['server', '--bundle', 'b.json', '--allow-unsigned-bundle'], { TRUSTPLANE_MODE: 'loud', TRUSTPLANE_WORKERS: '0' });
    assert.equal(r.code, 2);
    oneLine(r.stderr);
    assert.equal(r.stderr, 'trustplane server: invalid configuration: mode: must be one of enforce, dry_run (from TRUSTPLANE_MODE); workers: must be an integer from 1 to 64 (from TRUSTPLANE_WORKERS)\n');
  });

  it('an unreadable key is one line naming the option and the file, exit 1', async () => {
    const server = await run(['server', '--bundle', 'b.json', '--signing-keys', 'dir.jwk']);
    assert.equal(server.code, 1);
    assert.equal(server.stderr, 'trustplane server: bundle.signing_keys dir.jwk: is a directory\n');
    const holder = await run(['sign', '--passport', 'a.b.c', '--holder-key', 'dir.jwk', '--route', 'r', 'https://x.example/']);
    assert.equal(holder.code, 1);
    assert.equal(holder.stderr, 'trustplane sign: --holder-key dir.jwk: is a directory\n');
    const garbage = await run(['bundle', 'sign', '--bundle', '-', '--key', 'garbage.jwk'], {});
    assert.equal(garbage.code, 1);
    oneLine(garbage.stderr);
    assert.match(garbage.stderr, /^trustplane bundle sign: --key garbage\.jwk: not valid JSON/);
    const demo = await run(['demo', '--target', 'http://127.0.0.1:1', '--lab-dir', 'no-lab']);
    assert.equal(demo.code, 1);
    assert.equal(demo.stdout, '');
    assert.equal(demo.stderr, 'trustplane demo: --lab-dir key no-lab/issuer-key.jwk.json: no such file\n');
  });
});
