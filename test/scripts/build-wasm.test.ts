/**
 * `npm start` and `npm run demo` skip the wasm build when nothing it depends on changed, and
 * `npm test` still builds everything (README). The real scripts/build-wasm.mjs runs on a copy of
 * the filter sources in a temp folder: one real build, then `--check` answers for each change.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../support/envoy-api.js';

describe('scripts/build-wasm.mjs: skipped when its inputs are unchanged', function () {
  this.timeout(240_000);
  let dir: string;
  const script = (): string => join(dir, 'scripts', 'build-wasm.mjs');
  const check = (): number | null => spawnSync(process.execPath, [script(), '--check'], { cwd: dir }).status;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tp-wasm-build-'));
    mkdirSync(join(dir, 'scripts'));
    cpSync(join(REPO_ROOT, 'scripts', 'build-wasm.mjs'), script());
    cpSync(join(REPO_ROOT, 'wasm-filter', 'assembly'), join(dir, 'wasm-filter', 'assembly'), { recursive: true });
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'));
    execFileSync(process.execPath, [script()], { cwd: dir, stdio: 'pipe' });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a second run builds nothing, even when only modification times changed', () => {
    const out = execFileSync(process.execPath, [script()], { cwd: dir, encoding: 'utf8' });
    assert.equal(out, 'build-wasm: up to date (inputs unchanged; --force rebuilds)\n');
    utimesSync(join(dir, 'wasm-filter', 'assembly', 'filter.ts'), new Date(), new Date());
    assert.equal(check(), 0);
  });

  it('a changed source, a changed or missing output, or a changed build script makes a build due', () => {
    const src = join(dir, 'wasm-filter', 'assembly', 'sha256.ts');
    const original = readFileSync(src);
    appendFileSync(src, '\n// changed\n');
    assert.equal(check(), 1);
    writeFileSync(src, original);
    assert.equal(check(), 0);
    const wasm = join(dir, 'wasm-filter', 'build', 'trustplane_filter.wasm');
    const built = readFileSync(wasm);
    writeFileSync(wasm, Buffer.concat([built, Buffer.from([0])]));
    assert.equal(check(), 1);
    rmSync(wasm);
    assert.equal(check(), 1);
    writeFileSync(wasm, built);
    assert.equal(check(), 0);
    const flags = readFileSync(script(), 'utf8');
    writeFileSync(script(), flags.replace("'-O3'", "'-O2'"));
    assert.equal(check(), 1);
    writeFileSync(script(), flags);
    assert.equal(check(), 0);
  });

  it('npm test builds everything; npm start and npm run demo build only what changed', () => {
    const { scripts } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.equal(scripts.test, 'npm run build:all && mocha');
    assert.equal(scripts['build:all'], 'tsc -b --force tsconfig.json && node scripts/build-wasm.mjs --force');
    assert.equal(scripts['build:ts'], 'tsc -b tsconfig.json');
    for (const s of ['start', 'demo']) assert.match(scripts[s]!, /^npm run build && /);
  });
});
