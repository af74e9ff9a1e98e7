/**
 * docs/sdk.md's quick-start example is real: this test takes the first ```js block out of the doc,
 * writes it to a file inside the package (so `import … from 'trustplane-auth/sdk'` resolves through
 * package.json "exports", as it does for a user), and runs it with Node against a local stack.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startLocalStack, type LocalStack } from '../../dev/stack.js';
import { REPO_ROOT } from '../support/envoy-api.js';
import { cli, tempDir } from '../cli/cli-harness.js';

export function exampleFrom(markdown: string): string {
  const m = /## Quick start[\s\S]*?```js\n([\s\S]*?)```/.exec(markdown);
  if (!m) throw new Error('docs/sdk.md has no ```js block under "## Quick start"');
  return m[1]!;
}

describe('docs/sdk.md quick start', function () {
  this.timeout(60_000);
  let stack: LocalStack;
  let t: ReturnType<typeof tempDir>;
  let scratch: string;

  before(async () => {
    t = tempDir('tp-sdk-doc-');
    stack = await startLocalStack({ stateDir: join(t.dir, 'state') });
    // Inside the package root: self-reference by package name needs a file within the package.
    scratch = mkdtempSync(join(REPO_ROOT, 'dist', '.sdk-doc-example-'));
  });
  after(async () => {
    await stack?.close();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
    t?.dispose();
  });

  it('is at most a dozen lines and runs as written: the signed POST is allowed', async () => {
    const code = exampleFrom(readFileSync(join(REPO_ROOT, 'docs', 'sdk.md'), 'utf8'));
    assert.ok(code.trim().split('\n').length <= 12, 'a short example');
    assert.match(code, /from 'trustplane-auth\/sdk'/, 'it imports the package the way users do');
    const file = join(scratch, 'example.mjs');
    writeFileSync(file, code);
    assert.equal((await cli(['keygen', '--out', join(t.dir, 'holder.jwk')])).code, 0);
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [file],
        {
          timeout: 20_000,
          env: { ...process.env, HOLDER_KEY: join(t.dir, 'holder.jwk'), TRUSTPLANE_BROKER_SOCKET: stack.brokerSocket, API_URL: stack.gateway.url },
        },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, '200 allowed\n');
  });

  it('names a route and audience the development bundle has', () => {
    const code = exampleFrom(readFileSync(join(REPO_ROOT, 'docs', 'sdk.md'), 'utf8'));
    const route = /route: '([^']+)'/.exec(code)?.[1];
    const audience = /audience: '([^']+)'/.exec(code)?.[1];
    const r = stack.state.bundle.routes.find((x) => x.id === route);
    assert.ok(r, `route ${route} is in the development bundle`);
    assert.equal(r.audience, audience);
  });
});
