/**
 * The CLI as a user runs it: a child process per command, in a temp folder, asserting exit codes
 * and the exact error line. Covers help and usage errors for every command, keygen, issue, sign
 * (with --capture) and the offline verify of captured requests, tampered or not.
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readPassportClaims } from '../../core/src/sign-request.js';
import { jwkThumbprint } from '../../core/src/keys.js';
import { COMMANDS } from '../../cli/src/commands/index.js';
import { cli, tempDir } from './cli-harness.js';
import { smallOrderEncodings, trailingBitSpellings } from '../support/hostile-keys.js';

const ISSUER = 'https://issuer.cli.test';
const TD = 'cli.test';
const AUD = 'https://api.cli.test';
const SUBJECT = 'spiffe://cli.test/ns/shop/sa/checkout';

describe('trustplane CLI: help and usage errors', function () {
  this.timeout(60_000);

  it('prints the command list for --help (exit 0) and for no command (exit 2)', async () => {
    const help = await cli(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^usage: trustplane <command> \[options\]/);
    for (const c of COMMANDS) assert.ok(help.stdout.includes(`  ${c.name} `), c.name);
    const none = await cli([]);
    assert.equal(none.code, 2);
  });

  it('answers --help for every command with its usage, exit 0', async () => {
    for (const c of COMMANDS) {
      const r = await cli([c.name, '--help']);
      assert.equal(r.code, 0, `${c.name}: ${r.stderr}`);
      assert.ok(r.stdout.startsWith(`trustplane ${c.name}`), `${c.name}: ${r.stdout.slice(0, 80)}`);
      assert.equal(r.stderr, '');
    }
    const sub = await cli(['bundle', 'merge-source', '--help']);
    assert.equal(sub.code, 0);
    assert.match(sub.stdout, /^trustplane bundle merge-source --bundle FILE --key-file FILE/);
    // Only that subcommand's options, plus the common ones: not the whole bundle usage.
    assert.doesNotMatch(sub.stdout, /remove-source|--signing-keys|--confirm-remove/);
    assert.match(sub.stdout, /Common: --out FILE \(an existing file is refused unless --force\), --in-place/);
    for (const name of ['build', 'merge-source', 'remove-source', 'sign', 'verify', 'inspect']) {
      const r = await cli(['bundle', name, '-h']);
      assert.equal(r.code, 0, name);
      assert.ok(r.stdout.startsWith(`trustplane bundle ${name}`), `${name}: ${r.stdout.slice(0, 60)}`);
    }
    const whole = await cli(['bundle', '--help']);
    for (const name of ['build', 'merge-source', 'remove-source', 'sign', 'verify', 'inspect']) assert.match(whole.stdout, new RegExp(`\\n  ${name} `));
  });

  it('exits 2 with one line for an unknown command, option or subcommand', async () => {
    const cmd = await cli(['frobnicate']);
    assert.equal(cmd.code, 2);
    assert.equal(cmd.stderr.split('\n')[0], 'trustplane: unknown command "frobnicate"');
    const flag = await cli(['keygen', '--out', 'x', '--bogus']);
    assert.equal(flag.code, 2);
    assert.equal(flag.stderr, 'trustplane keygen: unknown option --bogus\n');
    const sub = await cli(['bundle', 'shred']);
    assert.equal(sub.code, 2);
    assert.equal(sub.stderr, 'trustplane bundle: unknown subcommand "shred" (build, merge-source, import-jwks, remove-source, sign, verify, inspect)\n');
    const missing = await cli(['verify', '--bundle', 'b.json']);
    assert.equal(missing.code, 2);
    assert.equal(missing.stderr, 'trustplane verify: option --request is required\n');
  });
});

describe('trustplane keygen / issue / sign / verify', function () {
  this.timeout(60_000);
  let t: ReturnType<typeof tempDir>;
  const p = (name: string): string => join(t.dir, name);
  const run = (args: string[], input?: string) => cli(args, { cwd: t.dir, ...(input !== undefined ? { input } : {}) });
  const mint = ['--issuer-key', 'issuer.jwk', '--issuer', ISSUER, '--subject', SUBJECT, '--trust-domain', TD, '--audience', AUD];

  before(async () => {
    t = tempDir();
    for (const k of ['signer', 'issuer', 'holder', 'stranger']) {
      const r = await run(['keygen', '--out', `${k}.jwk`, '--public-out', `${k}.pub.jwk`]);
      assert.equal(r.code, 0, r.stderr);
    }
    writeFileSync(
      p('input.yaml'),
      [
        'valid_for: 1d',
        'keys:',
        `  - { jwk_file: issuer.pub.jwk, issuer: "${ISSUER}", trust_domain: ${TD}, max_key_binding: software }`,
        'routes:',
        '  - id: payments-create',
        '    match: { methods: [POST], path: /v1/payments }',
        `    audience: "${AUD}"`,
        `    allowed_sources: [{ issuer: "${ISSUER}", trust_domain: ${TD}, subject: "spiffe://cli.test/ns/shop/sa/*" }]`,
        '    required_key_binding: software',
        '    freshness_class: bounded',
        '    bound_headers: [content-type]',
        '',
      ].join('\n'),
    );
    assert.equal((await run(['bundle', 'build', '--input', 'input.yaml', '--out', 'unsigned.json'])).code, 0);
    const s = await run(['bundle', 'sign', '--bundle', 'unsigned.json', '--key', 'signer.jwk', '--out', 'bundle.json']);
    assert.equal(s.code, 0, s.stderr);
  });
  after(() => t?.dispose());

  it('keygen writes a 0600 private JWK, a public JWK without "d", and prints the kid (the RFC 7638 thumbprint)', async () => {
    const r = await run(['keygen', '--alg', 'ES256', '--out', 'p256.jwk', '--public-out', 'p256.pub.jwk', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(r.stdout) as { kid: string; thumbprint: string; alg: string };
    assert.equal(statSync(p('p256.jwk')).mode & 0o777, 0o600);
    const pub = JSON.parse(readFileSync(p('p256.pub.jwk'), 'utf8'));
    assert.equal(pub.d, undefined);
    assert.equal(pub.crv, 'P-256');
    assert.equal(info.alg, 'ES256');
    assert.equal(info.kid, jwkThumbprint(pub));
    assert.equal(info.thumbprint, info.kid);
    assert.ok(!r.stdout.includes(JSON.parse(readFileSync(p('p256.jwk'), 'utf8')).d), 'the private key is not printed');
  });

  it('keygen refuses to overwrite a key (exit 1) and a bad --alg (exit 2)', async () => {
    const again = await run(['keygen', '--out', 'holder.jwk']);
    assert.equal(again.code, 1);
    assert.equal(again.stderr, 'trustplane keygen: --out holder.jwk exists already; refusing to replace it (pass --force to replace it)\n');
    const alg = await run(['keygen', '--out', 'rsa.jwk', '--alg', 'RS256']);
    assert.equal(alg.code, 2);
    assert.equal(alg.stderr, 'trustplane keygen: --alg must be EdDSA or ES256\n');
  });

  it('issue prints a passport for the holder key (a public JWK is enough)', async () => {
    const r = await run(['issue', ...mint, '--holder-key', 'holder.pub.jwk', '--lifetime', '120']);
    assert.equal(r.code, 0, r.stderr);
    const claims = readPassportClaims(r.stdout.trim());
    const holder = JSON.parse(readFileSync(p('holder.pub.jwk'), 'utf8'));
    assert.equal(claims.iss, ISSUER);
    assert.equal(claims.sub, SUBJECT);
    assert.equal(claims.aud, AUD);
    assert.equal(claims.trust_domain, TD);
    assert.equal(claims.key_binding, 'software');
    assert.equal(claims.exp - claims.iat, 120);
    assert.equal(jwkThumbprint(claims.cnf.jwk), jwkThumbprint(holder));
  });

  it('issue --reusable prints a reusable passport; without it there is no reusable claim', async () => {
    const r = await run(['issue', ...mint, '--holder-key', 'holder.pub.jwk', '--lifetime', '900', '--reusable']);
    assert.equal(r.code, 0, r.stderr);
    const claims = readPassportClaims(r.stdout.trim());
    assert.equal(claims.reusable, true);
    assert.equal(claims.exp - claims.iat, 900);
    const plain = await run(['issue', ...mint, '--holder-key', 'holder.pub.jwk']);
    assert.equal(readPassportClaims(plain.stdout.trim()).reusable, undefined);
  });

  it('issue refuses a missing flag (exit 2) and an unreadable key (exit 1), one line each', async () => {
    const missing = await run(['issue', '--issuer-key', 'issuer.jwk', '--audience', AUD, '--holder-key', 'holder.jwk', '--subject', SUBJECT, '--trust-domain', TD]);
    assert.equal(missing.code, 2);
    assert.equal(missing.stderr, 'trustplane issue: option --issuer is required\n');
    const publicOnly = await run(['issue', ...mint.map((a) => (a === 'issuer.jwk' ? 'issuer.pub.jwk' : a)), '--holder-key', 'holder.jwk']);
    assert.equal(publicOnly.code, 1);
    assert.equal(publicOnly.stderr, 'trustplane issue: --issuer-key issuer.pub.jwk: a private JWK is needed, this one has no "d"\n');
    const absent = await run(['issue', ...mint, '--holder-key', 'nope.jwk']);
    assert.equal(absent.code, 1);
    assert.equal(absent.stderr, 'trustplane issue: --holder-key nope.jwk: no such file\n');
  });

  it('refuses hostile key files with one line naming the flag, the file and the problem (exit 1)', async () => {
    const holderPub = JSON.parse(readFileSync(p('holder.pub.jwk'), 'utf8')) as Record<string, string>;
    const issuerPriv = JSON.parse(readFileSync(p('issuer.jwk'), 'utf8')) as Record<string, string>;
    const strangerPub = JSON.parse(readFileSync(p('stranger.pub.jwk'), 'utf8')) as Record<string, string>;
    writeFileSync(p('holder.spelt.jwk'), JSON.stringify({ ...holderPub, x: trailingBitSpellings(holderPub.x!)[0] }));
    writeFileSync(p('holder.torsion.jwk'), JSON.stringify({ kty: 'OKP', crv: 'Ed25519', x: smallOrderEncodings()[0]!.x }));
    writeFileSync(p('issuer.mismatch.jwk'), JSON.stringify({ ...issuerPriv, x: strangerPub.x }));
    writeFileSync(p('signing.private.jwks'), JSON.stringify({ keys: [issuerPriv] }));
    const cases: Array<[string[], string]> = [
      [['issue', ...mint, '--holder-key', 'holder.spelt.jwk'], 'trustplane issue: --holder-key holder.spelt.jwk: "x" must be 32 bytes of canonical base64url (43 characters of A-Z a-z 0-9 - _, no padding, unused bits zero)\n'],
      [['issue', ...mint, '--holder-key', 'holder.torsion.jwk'], 'trustplane issue: --holder-key holder.torsion.jwk: "x" is an Ed25519 point of small order (refused: one signature would verify for every message)\n'],
      [['issue', ...mint.map((a) => (a === 'issuer.jwk' ? 'issuer.mismatch.jwk' : a)), '--holder-key', 'holder.pub.jwk'], 'trustplane issue: --issuer-key issuer.mismatch.jwk: "x"/"y" are not the public key of "d"\n'],
      [['bundle', 'verify', '--bundle', 'bundle.json', '--signing-keys', 'signing.private.jwks'], 'trustplane bundle verify: --signing-keys signing.private.jwks: key 0: a public key must not carry the private member "d"\n'],
    ];
    for (const [args, stderr] of cases) {
      const r = await run(args);
      assert.deepEqual([r.code, r.stderr], [1, stderr], args.join(' '));
    }
  });

  const signArgs = (capture: string, extra: string[] = []): string[] => [
    'sign',
    ...mint,
    '--holder-key',
    'holder.jwk',
    '--route',
    'payments-create',
    '-X',
    'POST',
    '-H',
    'content-type: application/json',
    '--bind-header',
    'content-type',
    '--data-file',
    '-',
    '--capture',
    capture,
    ...extra,
    'https://api.cli.test/v1/payments',
  ];
  const verify = (capture: string, extra: string[] = []) => run(['verify', '--bundle', 'bundle.json', '--signing-keys', 'signer.pub.jwk', '--request', capture, ...extra]);

  it('sign prints the passport and proof headers; verify allows the captured request (exit 0)', async () => {
    const r = await run(signArgs('ok.json'), '{"amount":100}');
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.deepEqual(lines.map((l) => l.split(': ')[0]), ['x-trustplane-passport', 'x-trustplane-proof']);
    const captured = JSON.parse(readFileSync(p('ok.json'), 'utf8'));
    assert.equal(statSync(p('ok.json')).mode & 0o777, 0o600);
    assert.equal(Buffer.from(captured.body_base64, 'base64').toString(), '{"amount":100}');
    const v = await verify('ok.json');
    assert.equal(v.code, 0, v.stderr);
    assert.equal(v.stdout, `allow ok (HTTP 200) route payments-create subject ${SUBJECT} issuer ${ISSUER} key_binding software\n`);
    const json = await verify('ok.json', ['--json']);
    assert.equal(JSON.parse(json.stdout).decision, 'allow');
  });

  it('verify denies a tampered path, body, bound header or authority with its reason code (exit 1)', async () => {
    assert.equal((await run(signArgs('base.json'), '{"amount":100}')).code, 0);
    const base = JSON.parse(readFileSync(p('base.json'), 'utf8'));
    const cases: [string, (c: Record<string, unknown>) => Record<string, unknown>, string][] = [
      ['path', (c) => ({ ...c, path: '/v1/payments?admin=1' }), 'query_mismatch'],
      ['body', (c) => ({ ...c, body_base64: Buffer.from('{"amount":999}').toString('base64') }), 'body_mismatch'],
      ['header', (c) => ({ ...c, headers: (c.headers as [string, string][]).map(([k, v]) => [k, k === 'content-type' ? 'text/plain' : v]) }), 'header_mismatch'],
      ['authority', (c) => ({ ...c, authority: 'evil.cli.test' }), 'authority_mismatch'],
    ];
    for (const [name, change, reason] of cases) {
      writeFileSync(p(`t-${name}.json`), JSON.stringify(change(base)));
      const v = await verify(`t-${name}.json`, ['--json']);
      assert.equal(v.code, 1, `${name}: ${v.stderr}`);
      assert.equal(JSON.parse(v.stdout).reason, reason, name);
    }
  });

  it('verify denies a passport from a key the bundle does not trust (passport_kid_unknown)', async () => {
    const r = await run(signArgs('stranger.json', []).map((a) => (a === 'issuer.jwk' ? 'stranger.jwk' : a)), '{}');
    assert.equal(r.code, 0, r.stderr);
    const v = await verify('stranger.json');
    assert.equal(v.code, 1);
    assert.match(v.stdout, /^deny passport_kid_unknown \(HTTP 401\)/);
  });

  it('verify refuses an unsigned bundle without --allow-unsigned, and a malformed capture, naming the problem', async () => {
    const unsigned = await run(['verify', '--bundle', 'unsigned.json', '--signing-keys', 'signer.pub.jwk', '--request', 'ok.json']);
    assert.equal(unsigned.code, 1);
    assert.equal(unsigned.stderr, 'trustplane verify: bundle refused: bundle_unsigned: the bundle has no signature and unsigned bundles are not allowed\n');
    const dev = await run(['verify', '--bundle', 'unsigned.json', '--allow-unsigned', '--request', 'ok.json']);
    assert.equal(dev.code, 0, dev.stderr);
    writeFileSync(p('bad.json'), JSON.stringify({ method: 'GET', path: '/', headers: { a: 1 }, extra: true }));
    const bad = await verify('bad.json');
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, 'trustplane verify: --request bad.json: unknown member "extra"; "authority" must be a non-empty string; "headers.a" must be a string\n');
  });

  it('sign refuses to bind a header the request does not carry, and needs exactly one passport source', async () => {
    const r = await run(['sign', ...mint, '--holder-key', 'holder.jwk', '--route', 'payments-create', '--bind-header', 'x-idempotency-key', 'https://api.cli.test/v1/payments']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'trustplane sign: cannot sign: header "x-idempotency-key" is to be bound but the request does not carry it\n');
    const none = await run(['sign', '--holder-key', 'holder.jwk', '--route', 'r', 'https://api.cli.test/']);
    assert.equal(none.code, 2);
    assert.equal(none.stderr, 'trustplane sign: a passport source is required: --passport, --issuer-key or --broker\n');
    const two = await run(['sign', '--passport', 'a.b.c', '--broker', '/nope', '--holder-key', 'holder.jwk', '--route', 'r', 'https://api.cli.test/']);
    assert.equal(two.code, 2);
    assert.equal(two.stderr, 'trustplane sign: give one passport source, not --passport and --broker\n');
  });

  it('sign with --passport @FILE reuses a passport issued by `issue`', async () => {
    const issued = await run(['issue', ...mint, '--holder-key', 'holder.jwk']);
    writeFileSync(p('passport.jwt'), issued.stdout);
    const r = await run(['sign', '--passport', '@passport.jwt', '--holder-key', 'holder.jwk', '--route', 'payments-create', '-X', 'POST', '-H', 'content-type: application/json', '--bind-header', 'content-type', '--data', '{}', '--capture', 'pp.json', '--json', 'https://api.cli.test/v1/payments']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).passport, issued.stdout.trim());
    assert.equal((await verify('pp.json')).code, 0);
  });
});
