/**
 * No command replaces a file it was not told it may replace (docs/cli.md, "Files a command
 * writes"): every command that writes is run against existing files, two outputs naming one file
 * (directly, through `..`, through a symlink, through a hard link) and an output naming an input;
 * each refusal is exact and leaves every file as it was, and `--force` / `--in-place` replace.
 */
import assert from 'node:assert/strict';
import { linkSync, lstatSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, tempDir } from './cli-harness.js';

const ISSUER = 'https://issuer.outputs.test';
const TD = 'outputs.test';
const AUD = 'https://api.outputs.test';
const SUBJECT = 'spiffe://outputs.test/ns/shop/sa/checkout';

describe('trustplane: files a command writes', function () {
  this.timeout(120_000);
  let t: ReturnType<typeof tempDir>;
  const p = (name: string): string => join(t.dir, name);
  const run = (args: string[]) => cli(args, { cwd: t.dir });
  const text = (name: string): string => readFileSync(p(name), 'utf8');
  const build = ['bundle', 'build', '--key-file', 'issuer.pub.jwk', '--issuer', ISSUER, '--trust-domain', TD, '--route', 'r:GET:/v1/*', '--audience', AUD, '--subject', 'spiffe://outputs.test/**'];
  const signArgs = ['sign', '--issuer-key', 'issuer.jwk', '--issuer', ISSUER, '--subject', SUBJECT, '--trust-domain', TD, '--audience', AUD, '--holder-key', 'holder.jwk', '--route', 'r', 'https://api.outputs.test/v1/x'];

  before(async () => {
    t = tempDir();
    for (const k of ['issuer', 'holder', 'signer']) assert.equal((await run(['keygen', '--out', `${k}.jwk`, '--public-out', `${k}.pub.jwk`])).code, 0);
    assert.equal((await run([...build, '--out', 'unsigned.json'])).code, 0);
  });
  after(() => t?.dispose());

  it('keygen --out z --public-out z is refused before anything is written (exit 2)', async () => {
    const r = await run(['keygen', '--out', 'z', '--public-out', 'z']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'trustplane keygen: --public-out z is the same file as --out; give --public-out another path\n');
    assert.ok(!readdirSync(t.dir).some((f) => f === 'z' || f.startsWith('.z.')));
    const dotted = await run(['keygen', '--out', 'sub/../y', '--public-out', './y']);
    assert.equal(dotted.code, 2, dotted.stderr);
    assert.ok(!readdirSync(t.dir).includes('y'));
  });

  it('keygen refuses a --public-out that is a symlink or a hard link to --out', async () => {
    symlinkSync('target.jwk', p('link.jwk'));
    const sym = await run(['keygen', '--out', 'target.jwk', '--public-out', 'link.jwk']);
    assert.equal(sym.code, 2);
    assert.equal(sym.stderr, 'trustplane keygen: --public-out link.jwk is the same file as --out; give --public-out another path\n');
    assert.ok(!readdirSync(t.dir).includes('target.jwk'));
    writeFileSync(p('h1'), 'one');
    linkSync(p('h1'), p('h2'));
    const hard = await run(['keygen', '--out', 'h1', '--public-out', 'h2', '--force']);
    assert.equal(hard.code, 2);
    assert.equal(text('h1'), 'one');
  });

  it('keygen refuses an existing --public-out (exit 1) and then writes no private key either', async () => {
    writeFileSync(p('keep.pub.jwk'), 'precious');
    const r = await run(['keygen', '--out', 'fresh.jwk', '--public-out', 'keep.pub.jwk']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'trustplane keygen: --public-out keep.pub.jwk exists already; refusing to replace it (pass --force to replace it)\n');
    assert.equal(text('keep.pub.jwk'), 'precious');
    assert.ok(!readdirSync(t.dir).includes('fresh.jwk'));
  });

  it('keygen refuses an existing --out, even a dangling symlink, and writes no --public-out', async () => {
    symlinkSync('nowhere.jwk', p('dangling.jwk'));
    const r = await run(['keygen', '--out', 'dangling.jwk', '--public-out', 'dangling.pub.jwk']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'trustplane keygen: --out dangling.jwk exists already; refusing to replace it (pass --force to replace it)\n');
    assert.ok(!readdirSync(t.dir).includes('nowhere.jwk'));
    assert.ok(!readdirSync(t.dir).includes('dangling.pub.jwk'));
  });

  it('keygen --force replaces both files, the private one with mode 0600', async () => {
    writeFileSync(p('old.jwk'), 'old', { mode: 0o644 });
    writeFileSync(p('old.pub.jwk'), 'old');
    const r = await run(['keygen', '--out', 'old.jwk', '--public-out', 'old.pub.jwk', '--force', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(statSync(p('old.jwk')).mode & 0o777, 0o600);
    assert.ok(JSON.parse(text('old.jwk')).d);
    assert.equal(JSON.parse(text('old.pub.jwk')).d, undefined);
    assert.ok(!readdirSync(t.dir).some((f) => f.endsWith('.tmp')));
  });

  it('sign --capture refuses an existing file, an input file even with --force, and --force replaces (mode 0600)', async () => {
    writeFileSync(p('cap.json'), 'keep');
    const r = await run([...signArgs.slice(0, -1), '--capture', 'cap.json', signArgs.at(-1)!]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'trustplane sign: --capture cap.json exists already; refusing to replace it (pass --force to replace it)\n');
    assert.equal(text('cap.json'), 'keep');
    const key = text('holder.jwk');
    const onKey = await run([...signArgs.slice(0, -1), '--capture', 'holder.jwk', '--force', signArgs.at(-1)!]);
    assert.equal(onKey.code, 2);
    assert.equal(onKey.stderr, 'trustplane sign: --capture holder.jwk is the same file as --holder-key; give --capture another path\n');
    assert.equal(text('holder.jwk'), key);
    const forced = await run([...signArgs.slice(0, -1), '--capture', 'cap.json', '--force', signArgs.at(-1)!]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(JSON.parse(text('cap.json')).route_id, 'r');
    assert.equal(statSync(p('cap.json')).mode & 0o777, 0o600);
  });

  it('bundle build / sign / merge-source / remove-source / import-jwks --out refuse an existing file unless --force, and never a key file', async () => {
    writeFileSync(p('taken.json'), 'keep');
    const b = await run([...build, '--out', 'taken.json']);
    assert.equal(b.code, 1);
    assert.equal(b.stderr, 'trustplane bundle build: --out taken.json exists already; refusing to replace it (pass --force to replace it)\n');
    assert.equal(text('taken.json'), 'keep');
    const s = await run(['bundle', 'sign', '--bundle', 'unsigned.json', '--key', 'signer.jwk', '--out', 'taken.json']);
    assert.equal(s.code, 1);
    assert.equal(text('taken.json'), 'keep');
    const m = await run(['bundle', 'merge-source', '--bundle', 'unsigned.json', '--key-file', 'holder.pub.jwk', '--issuer', ISSUER, '--trust-domain', TD, '--route', 'r', '--subject', SUBJECT, '--out', 'taken.json']);
    assert.equal(m.code, 1);
    assert.equal(text('taken.json'), 'keep');
    const rm = await run(['bundle', 'remove-source', '--bundle', 'unsigned.json', '--kid', 'any', '--confirm-remove', '--out', 'taken.json']);
    assert.equal(rm.code, 1);
    assert.equal(rm.stderr, 'trustplane bundle remove-source: --out taken.json exists already; refusing to replace it (pass --force to replace it)\n');
    writeFileSync(p('set.json'), JSON.stringify({ keys: [JSON.parse(text('holder.pub.jwk'))] }));
    const imp = await run(['bundle', 'import-jwks', '--bundle', 'unsigned.json', '--jwks', 'set.json', '--issuer', ISSUER, '--trust-domain', TD, '--out', 'taken.json']);
    assert.equal(imp.code, 1);
    assert.equal(imp.stderr, 'trustplane bundle import-jwks: --out taken.json exists already; refusing to replace it (pass --force to replace it)\n');
    const onJwks = await run(['bundle', 'import-jwks', '--bundle', 'unsigned.json', '--jwks', 'set.json', '--issuer', ISSUER, '--trust-domain', TD, '--out', 'set.json', '--force']);
    assert.equal(onJwks.code, 2);
    assert.equal(onJwks.stderr, 'trustplane bundle import-jwks: --out set.json is the same file as --jwks; give --out another path\n');
    assert.equal(text('taken.json'), 'keep');
    const key = text('signer.jwk');
    const onKey = await run(['bundle', 'sign', '--bundle', 'unsigned.json', '--key', 'signer.jwk', '--out', 'signer.jwk', '--force']);
    assert.equal(onKey.code, 2);
    assert.equal(onKey.stderr, 'trustplane bundle sign: --out signer.jwk is the same file as --key; give --out another path\n');
    assert.equal(text('signer.jwk'), key);
    const forced = await run(['bundle', 'sign', '--bundle', 'unsigned.json', '--key', 'signer.jwk', '--out', 'taken.json', '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.ok(JSON.parse(text('taken.json')).signature);
  });

  it('bundle --in-place through a symlink replaces the file it names and keeps the link', async () => {
    writeFileSync(p('real.json'), text('unsigned.json'));
    symlinkSync('real.json', p('current.json'));
    const r = await run(['bundle', 'sign', '--bundle', 'current.json', '--key', 'signer.jwk', '--in-place']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(lstatSync(p('current.json')).isSymbolicLink());
    assert.ok(JSON.parse(text('real.json')).signature);
    const viaLink = await run(['bundle', 'sign', '--bundle', 'real.json', '--key', 'signer.jwk', '--out', 'current.json', '--force']);
    assert.equal(viaLink.code, 2);
    assert.equal(viaLink.stderr, 'trustplane bundle sign: --out current.json is the input file; pass --in-place to replace it\n');
  });

  it('lab-init keeps the keys already in its folder and re-issues only the files its contract names', async () => {
    assert.equal((await run(['lab-init', '--out', 'lab'])).code, 0);
    const keys = readdirSync(p('lab')).filter((f) => f.endsWith('.jwk.json') || f === 'broker-key.json');
    const before = keys.map((f) => text(join('lab', f)));
    assert.equal((await run(['lab-init', '--out', 'lab'])).code, 0);
    assert.deepEqual(keys.map((f) => text(join('lab', f))), before);
  });
});
