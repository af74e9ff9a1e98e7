/**
 * One naming style in every `--json` output (docs/cli.md, Conventions): each command whose usage
 * offers --json is run for real here, and every key of what it prints, at any depth, must be
 * snake_case. The first test makes sure no command with --json is left out.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { COMMANDS } from '../../cli/src/commands/index.js';
import { cli, spawnCli, tempDir } from './cli-harness.js';

const SNAKE = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/;
const ISSUER = 'https://issuer.json.test';
const TD = 'json.test';
const AUD = 'https://api.json.test';
const SUBJECT = 'spiffe://json.test/ns/a/sa/b';

/** Every key, with its path, of a parsed JSON value. */
function keysOf(v: unknown, path = '$'): string[] {
  if (Array.isArray(v)) return v.flatMap((x, i) => keysOf(x, `${path}[${i}]`));
  if (v !== null && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => [`${path}.${k}`, ...keysOf(x, `${path}.${k}`)]);
  return [];
}

function assertSnake(what: string, text: string): void {
  const value = JSON.parse(text) as unknown;
  const bad = keysOf(value).filter((p) => !SNAKE.test(p.slice(p.lastIndexOf('.') + 1)));
  assert.deepEqual(bad, [], `${what}: keys not in snake_case`);
}

describe('--json output: snake_case keys in every command', function () {
  this.timeout(180_000);
  let t: ReturnType<typeof tempDir>;
  let upstream: Server;
  const covered = new Set<string>();
  const run = async (args: string[], expectCode = 0): Promise<string> => {
    const r = await cli(args, { cwd: t.dir, timeoutMs: 90_000 });
    assert.equal(r.code, expectCode, `${args.join(' ')}: ${r.stderr}`);
    covered.add(args[0] === 'bundle' ? `bundle ${args[1]}` : args[0]!);
    assertSnake(args.slice(0, 2).join(' '), r.stdout);
    return r.stdout;
  };
  const mint = ['--issuer-key', 'issuer.jwk', '--issuer', ISSUER, '--subject', SUBJECT, '--trust-domain', TD, '--audience', AUD];

  before(async () => {
    t = tempDir();
    upstream = createServer((_req, res) => res.writeHead(200, { 'x-upstream-name': 'echo' }).end('{"ok":true}'));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  });
  after(() => {
    upstream?.close();
    t?.dispose();
  });

  it('covers every command and bundle subcommand whose usage offers --json', async () => {
    const withJson = (await Promise.all(COMMANDS.map((e) => e.load()))).filter((c) => c.usage.includes('--json')).map((c) => c.name);
    assert.deepEqual(withJson.sort(), ['bundle', 'demo', 'echo', 'issue', 'keygen', 'lab-init', 'request', 'server', 'sign', 'up', 'verify']);
  });

  it('keygen, issue, sign, request, verify', async () => {
    for (const k of ['issuer', 'holder', 'signer']) await run(['keygen', '--out', `${k}.jwk`, '--public-out', `${k}.pub.jwk`, '--json']);
    await cli(['bundle', 'build', '--key-file', 'issuer.pub.jwk', '--issuer', ISSUER, '--trust-domain', TD, '--route', 'r:GET:/v1/*', '--audience', AUD, '--subject', 'spiffe://json.test/**', '--out', 'u.json'], { cwd: t.dir });
    await cli(['bundle', 'sign', '--bundle', 'u.json', '--key', 'signer.jwk', '--out', 'b.json'], { cwd: t.dir });
    await run(['issue', ...mint, '--holder-key', 'holder.pub.jwk', '--json']);
    await run(['sign', ...mint, '--holder-key', 'holder.jwk', '--route', 'r', '--capture', 'cap.json', '--json', 'https://api.json.test/v1/x']);
    const { port } = upstream.address() as AddressInfo;
    await run(['request', ...mint, '--holder-key', 'holder.jwk', '--route', 'r', '--json', `http://127.0.0.1:${port}/v1/x`]);
    const allow = JSON.parse(await run(['verify', '--bundle', 'b.json', '--signing-keys', 'signer.pub.jwk', '--request', 'cap.json', '--json'])) as { identity: unknown };
    assert.ok(allow.identity, 'the identity object is there to be checked');
    writeFileSync(join(t.dir, 'stale.json'), JSON.stringify({ method: 'GET', authority: 'api.json.test', path: '/v1/x', headers: {} }));
    await run(['verify', '--bundle', 'b.json', '--signing-keys', 'signer.pub.jwk', '--request', 'stale.json', '--json'], 1);
  });

  it('bundle verify and inspect, server --check-config, lab-init', async () => {
    await run(['bundle', 'verify', '--bundle', 'b.json', '--signing-keys', 'signer.pub.jwk', '--json']);
    await run(['bundle', 'verify', '--bundle', 'b.json', '--signing-keys', 'holder.pub.jwk', '--json'], 1);
    await run(['bundle', 'inspect', '--bundle', 'b.json', '--json']);
    await run(['server', '--check-config', '--bundle', 'b.json', '--signing-keys', 'signer.pub.jwk', '--json']);
    await run(['server', '--check-config', '--bundle', 'missing.json', '--signing-keys', 'signer.pub.jwk', '--json'], 1);
    await run(['lab-init', '--out', 'lab', '--json']);
  });

  it('echo and up (their first line), demo (the whole tour)', async () => {
    for (const args of [['echo', '--listen', '127.0.0.1:0', '--json'], ['up', '--state-dir', join(t.dir, 'state'), '--json']]) {
      const lr = await spawnCli(args, { cwd: t.dir, readyTimeoutMs: 60_000 });
      try {
        assertSnake(args[0]!, lr.firstLine);
        covered.add(args[0]!);
      } finally {
        await lr.stop();
      }
    }
    const demo = await cli(['demo', '--json'], { cwd: t.dir, timeoutMs: 120_000, env: { TRUSTPLANE_STATE_DIR: join(t.dir, 'demo-state') } });
    assert.equal(demo.code, 0, demo.stderr);
    assertSnake('demo', demo.stdout);
    covered.add('demo');
  });

  it('ran every --json command above', () => {
    assert.deepEqual([...covered].sort(), ['bundle inspect', 'bundle verify', 'demo', 'echo', 'issue', 'keygen', 'lab-init', 'request', 'server', 'sign', 'up', 'verify']);
  });
});
