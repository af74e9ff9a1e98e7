/**
 * `trustplane bundle …` as a child process: build from flags and from a YAML input, merge-source,
 * remove-source (with its safety flag), sign, verify and inspect; every edit writes a new document
 * and never its input unless --in-place; every refusal exits 1 (or 2 for usage) naming the problem.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BundleDocument } from '../../core/src/bundle/types.js';
import { cli, tempDir } from './cli-harness.js';

const ISSUER = 'https://issuer.bundle.test';
const TD = 'bundle.test';

describe('trustplane bundle', function () {
  this.timeout(60_000);
  let t: ReturnType<typeof tempDir>;
  const p = (name: string): string => join(t.dir, name);
  const run = (args: string[], input?: string) => cli(['bundle', ...args], { cwd: t.dir, ...(input !== undefined ? { input } : {}) });
  const doc = (name: string): BundleDocument => JSON.parse(readFileSync(p(name), 'utf8')) as BundleDocument;
  const buildFlags = [
    'build',
    '--key-file',
    'issuer.pub.jwk',
    '--issuer',
    ISSUER,
    '--trust-domain',
    TD,
    '--route',
    'orders-read:GET:/v1/orders/*',
    '--route',
    'orders-create:POST,PUT:/v1/orders',
    '--audience',
    'https://orders.bundle.test',
    '--subject',
    'spiffe://bundle.test/ns/shop/**',
  ];

  before(async () => {
    t = tempDir();
    for (const k of ['signer', 'other-signer', 'issuer', 'partner']) assert.equal((await cli(['keygen', '--out', `${k}.jwk`, '--public-out', `${k}.pub.jwk`], { cwd: t.dir })).code, 0);
    const b = await run([...buildFlags, '--out', 'b1.json']);
    assert.equal(b.code, 0, b.stderr);
    const s = await run(['sign', '--bundle', 'b1.json', '--key', 'signer.jwk', '--out', 'signed.json']);
    assert.equal(s.code, 0, s.stderr);
  });
  after(() => t?.dispose());

  it('build from flags makes an unsigned skeleton on stdout, summary on stderr', async () => {
    const r = await run(buildFlags);
    assert.equal(r.code, 0, r.stderr);
    const d = JSON.parse(r.stdout) as BundleDocument;
    assert.equal(d.signature, undefined);
    assert.equal(d.serial, 1);
    assert.deepEqual(d.routes.map((x) => [x.id, x.match.methods, x.match.path]), [
      ['orders-read', ['GET'], '/v1/orders/*'],
      ['orders-create', ['POST', 'PUT'], '/v1/orders'],
    ]);
    assert.equal(d.expires_at - d.issued_at, 30 * 86_400);
    assert.match(r.stderr, /^built serial 1: 1 key\(s\), 2 route\(s\), valid .* unsigned: review, then bundle sign\n$/);
  });

  it('build refuses an input that would make an invalid bundle, naming every problem (exit 1)', async () => {
    writeFileSync(
      p('bad.yaml'),
      [
        'valid_for: 1d',
        'keys:',
        `  - { jwk_file: issuer.pub.jwk, issuer: "${ISSUER}", trust_domain: ${TD}, max_key_binding: platinum }`,
        'routes:',
        '  - { id: Bad_Id, match: { path: "v1/x" }, audience: a, allowed_sources: [], required_key_binding: software, freshness_class: bounded, bound_headers: [] }',
        '',
      ].join('\n'),
    );
    const r = await run(['build', '--input', 'bad.yaml']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    const line = r.stderr;
    assert.ok(line.startsWith('trustplane bundle build: bundle_invalid: '), line);
    assert.equal(line.split('\n').length, 2, 'one line');
    for (const where of ['/keys/0/max_key_binding', '/routes/0/id', '/routes/0/match/path', '/routes/0/allowed_sources']) assert.ok(line.includes(where), `${where} in ${line}`);
  });

  it('sign, then verify prints serial, times and signer; inspect summarises keys and routes', async () => {
    const v = await run(['verify', '--bundle', 'signed.json', '--signing-keys', 'signer.pub.jwk']);
    assert.equal(v.code, 0, v.stderr);
    const signerKid = JSON.parse(readFileSync(p('signer.pub.jwk'), 'utf8')).kid as string;
    assert.equal(v.stdout.split('\n')[0], `ok: serial 1, signed by kid ${signerKid} (EdDSA)`);
    // Signed in before(): 30 days less the seconds since, so 29d 23h, or 30d 0h within the same second.
    assert.match(v.stdout, /\nexpires \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(in (29d 23h|30d 0h)\)\n/);
    const i = await run(['inspect', '--bundle', 'signed.json']);
    assert.equal(i.code, 0, i.stderr);
    const issuerKid = JSON.parse(readFileSync(p('issuer.pub.jwk'), 'utf8')).kid as string;
    assert.ok(i.stdout.includes(`keys (1):\n  ${issuerKid}\n    issuer ${ISSUER}  trust_domain ${TD}  max software  Ed25519\n`), i.stdout);
    assert.ok(i.stdout.includes('  orders-create: POST,PUT /v1/orders  audience https://orders.bundle.test\n'), i.stdout);
    assert.ok(i.stdout.includes(`    source: ${ISSUER}  ${TD}  subject spiffe://bundle.test/ns/shop/**\n`), i.stdout);
    const j = JSON.parse((await run(['inspect', '--bundle', 'signed.json', '--json'])).stdout);
    assert.deepEqual(j.signature, { kid: signerKid, alg: 'EdDSA' });
    assert.equal(j.keys[0].kid, issuerKid);
  });

  it('verify refuses with the code: tampered, wrong signing key, unsigned, rolled back (exit 1)', async () => {
    const signed = doc('signed.json');
    writeFileSync(p('tampered.json'), JSON.stringify({ ...signed, expires_at: signed.expires_at + 86_400 }));
    const cases: [string[], string][] = [
      [['--bundle', 'tampered.json', '--signing-keys', 'signer.pub.jwk'], 'bundle_signature_invalid'],
      [['--bundle', 'signed.json', '--signing-keys', 'other-signer.pub.jwk'], 'bundle_signing_key_unknown'],
      [['--bundle', 'b1.json', '--signing-keys', 'signer.pub.jwk'], 'bundle_unsigned'],
      [['--bundle', 'signed.json', '--signing-keys', 'signer.pub.jwk', '--min-serial', '2'], 'bundle_rollback'],
    ];
    for (const [args, code] of cases) {
      const r = await run(['verify', ...args, '--json']);
      assert.equal(r.code, 1, code);
      assert.equal(JSON.parse(r.stdout).code, code);
      assert.ok(r.stderr.startsWith(`trustplane bundle verify: ${code}: `), r.stderr);
    }
    const dev = await run(['verify', '--bundle', 'b1.json', '--allow-unsigned']);
    assert.equal(dev.code, 0);
    assert.match(dev.stdout, /^ok: serial 1, UNSIGNED/);
  });

  it('merge-source adds the key and the rule, changes nothing else, and is idempotent', async () => {
    const args = ['merge-source', '--bundle', 'signed.json', '--key-file', 'partner.jwk', '--issuer', 'https://issuer.partner.test', '--trust-domain', 'partner.test', '--route', 'orders-read', '--subject', 'spiffe://partner.test/ns/etl/sa/*'];
    const r = await run([...args, '--out', 'merged.json']);
    assert.equal(r.code, 0, r.stderr);
    const before = doc('signed.json');
    const after = doc('merged.json');
    assert.equal(after.serial, 2);
    assert.equal(after.signature, undefined);
    assert.equal(after.keys.length, 2);
    assert.deepEqual(after.keys[0], before.keys[0]);
    assert.equal(after.keys[1]!.issuer, 'https://issuer.partner.test');
    assert.equal((after.keys[1]!.jwk as { d?: string }).d, undefined, 'only the public part of a private JWK is written');
    assert.deepEqual(after.routes[1], before.routes[1]);
    assert.deepEqual(after.routes[0]!.allowed_sources.at(-1), { issuer: 'https://issuer.partner.test', trust_domain: 'partner.test', subject: 'spiffe://partner.test/ns/etl/sa/*' });
    assert.deepEqual(doc('signed.json'), before, 'the input is untouched');
    const again = await run([...args.map((a) => (a === 'signed.json' ? 'merged.json' : a))]);
    assert.equal(again.code, 0);
    assert.deepEqual(JSON.parse(again.stdout), after);
    assert.match(again.stderr, /^nothing to merge: /);
  });

  it('merge-source refuses an unknown route and a kid clash, naming them (exit 1)', async () => {
    const base = ['merge-source', '--bundle', 'signed.json', '--key-file', 'partner.pub.jwk', '--issuer', 'https://issuer.partner.test', '--trust-domain', 'partner.test', '--subject', 'spiffe://partner.test/**'];
    const unknown = await run([...base, '--route', 'orders-read', '--route', 'nope']);
    assert.equal(unknown.code, 1);
    assert.equal(unknown.stdout, '');
    assert.equal(unknown.stderr, 'trustplane bundle merge-source: bundle_route_unknown: route "nope" is not in the bundle\n');
    const issuerKid = JSON.parse(readFileSync(p('issuer.pub.jwk'), 'utf8')).kid as string;
    const clash = await run([...base, '--route', 'orders-read', '--kid', issuerKid]);
    assert.equal(clash.code, 1);
    assert.equal(clash.stderr, `trustplane bundle merge-source: bundle_key_conflict: kid "${issuerKid}" is already trusted with a different key, issuer, trust domain or binding\n`);
  });

  it('remove-source needs --confirm-remove (exit 2), refuses to empty a route (exit 1), and with --revoke lists the kid', async () => {
    const partnerKid = JSON.parse(readFileSync(p('partner.pub.jwk'), 'utf8')).kid as string;
    const issuerKid = JSON.parse(readFileSync(p('issuer.pub.jwk'), 'utf8')).kid as string;
    const unconfirmed = await run(['remove-source', '--bundle', 'merged.json', '--kid', partnerKid]);
    assert.equal(unconfirmed.code, 2);
    assert.equal(unconfirmed.stderr, `trustplane bundle remove-source: bundle_confirm_required: removing kid "${partnerKid}" drops trust; pass --confirm-remove (nothing was written)\n`);
    const emptied = await run(['remove-source', '--bundle', 'merged.json', '--kid', issuerKid, '--confirm-remove']);
    assert.equal(emptied.code, 1);
    assert.equal(emptied.stderr, 'trustplane bundle remove-source: bundle_invalid: route "orders-create" would have no allowed source left; edit or remove it first\n');
    const r = await run(['remove-source', '--bundle', 'merged.json', '--kid', partnerKid, '--confirm-remove', '--revoke', '--out', 'removed.json']);
    assert.equal(r.code, 0, r.stderr);
    const d = doc('removed.json');
    assert.deepEqual(d.keys.map((k) => k.kid), [issuerKid]);
    assert.deepEqual(d.revocations.kids, [partnerKid]);
    assert.deepEqual(d.routes, doc('signed.json').routes);
    assert.equal(d.serial, 3);
  });

  it('never edits its input unless --in-place; --in-place replaces it', async () => {
    const same = await run(['sign', '--bundle', 'merged.json', '--key', 'signer.jwk', '--out', 'merged.json']);
    assert.equal(same.code, 2);
    assert.equal(same.stderr, 'trustplane bundle sign: --out merged.json is the input file; pass --in-place to replace it\n');
    const r = await run(['sign', '--bundle', 'merged.json', '--key', 'signer.jwk', '--in-place']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(doc('merged.json').signature);
    assert.equal((await run(['verify', '--bundle', 'merged.json', '--signing-keys', 'signer.pub.jwk'])).code, 0);
  });

  it('sign refuses an expired bundle unless re-stamped with --valid-for, which raises a signed serial', async () => {
    const now = Math.floor(Date.now() / 1000);
    writeFileSync(p('old.json'), JSON.stringify({ ...doc('signed.json'), issued_at: now - 7200, expires_at: now - 3600 }));
    const r = await run(['sign', '--bundle', 'old.json', '--key', 'signer.jwk']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^trustplane bundle sign: bundle_expired: expires_at .* has passed; re-stamp with --valid-for DUR\n$/);
    const ok = await run(['sign', '--bundle', 'old.json', '--key', 'signer.jwk', '--valid-for', '2h']);
    assert.equal(ok.code, 0, ok.stderr);
    const d = JSON.parse(ok.stdout) as BundleDocument;
    assert.equal(d.serial, 2);
    assert.equal(d.expires_at - d.issued_at, 7200);
  });

  it('reads the bundle from standard input for pipelines', async () => {
    const r = await run(['inspect', '--bundle', '-', '--json'], readFileSync(p('signed.json'), 'utf8'));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).serial, 1);
    const inPlace = await run(['sign', '--bundle', '-', '--key', 'signer.jwk', '--in-place'], '{}');
    assert.equal(inPlace.code, 2);
    assert.equal(inPlace.stderr, 'trustplane bundle sign: --in-place needs a file input, not standard input\n');
  });
});
