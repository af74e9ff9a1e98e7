/**
 * The Python and Go signers' own tests and their run of every transcript-v1 vector
 * (docs/conformance.md), run from `npm test` so CI runs them. Skipped without the toolchains unless
 * REQUIRE_CONFORMANCE=1 (set by .ci/run), where a missing toolchain fails the run.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../core/src/package-root.js';
import { toolchains } from './toolchains.js';

const PY_DIR = join(PACKAGE_ROOT, 'conformance', 'python');
const GO_DIR = join(PACKAGE_ROOT, 'conformance', 'go');
const VECTORS = join(PACKAGE_ROOT, 'test', 'vectors', 'transcript-v1.json');

function run(cmd: string, args: string[], cwd: string): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, GOCACHE: process.env.GOCACHE ?? join(tmpdir(), 'tp-go-cache'), TRUSTPLANE_VECTORS: VECTORS },
    maxBuffer: 16 * 1024 * 1024,
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('conformance: the Python and Go signers', function () {
  this.timeout(240_000);
  const tools = toolchains();
  const positives = (JSON.parse(readFileSync(VECTORS, 'utf8')) as { positive: unknown[] }).positive.length;

  before(function () {
    if (tools.missing.length > 0) {
      if (process.env.REQUIRE_CONFORMANCE === '1') throw new Error(`conformance: missing ${tools.missing.join('; ')}`);
      this.skip();
    }
  });

  it('python: its unit tests pass', () => {
    const r = run(tools.python!, ['-m', 'unittest', 'discover', '-s', 'tests'], PY_DIR);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /\nOK\b/);
  });

  it(`python: every positive vector passes, reported per vector (${positives})`, () => {
    const r = run(tools.python!, ['run_vectors.py', VECTORS], PY_DIR);
    assert.equal(r.status, 0, r.out);
    assert.equal((r.out.match(/^ok {3}positive /gm) ?? []).length, positives, r.out);
    assert.match(r.out, new RegExp(`^python: ${positives} passed, 0 failed`, 'm'));
  });

  it(`go: go vet and go test pass, with every positive vector as its own subtest (${positives})`, () => {
    const vet = run(tools.go!, ['vet', './...'], GO_DIR);
    assert.equal(vet.status, 0, vet.out);
    const r = run(tools.go!, ['test', '-count=1', '-v', './...'], GO_DIR);
    assert.equal(r.status, 0, r.out);
    assert.equal((r.out.match(/^ {4}--- PASS: TestVectors\//gm) ?? []).length, positives, r.out);
  });
});
