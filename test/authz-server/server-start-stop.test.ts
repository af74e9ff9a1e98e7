/**
 * Start and stop of `trustplane server` as real processes (docs/configuration.md, `workers`,
 * `shutdown_drain_ms`): a server that cannot start ends at once, non-zero, with its cause on one
 * line — with the default two workers as with one — and SIGTERM drains (NOT_SERVING while still
 * answering) before it stops.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { assertAllow } from '../support/check-assertions.js';
import { afterStart, nextSecond, waitFor } from '../support/clock.js';
import { healthCheck, httpGet, makeCheckClient, type CheckClient } from '../support/server-clients.js';
import { CLI_MAIN, baseConfig, spawnServerProcess, type ServerProcess } from '../support/server-harness.js';
import { checkBytes, signCheck } from '../support/signed-check.js';
import { makeTrust, type TrustSetup } from '../support/trust-setup.js';
import { freePort } from '../support/redis-server.js';

/** Runs `trustplane server --config` until it exits (SIGKILL after `limitMs`); code, stderr lines, time taken. */
async function runToExit(dir: string, config: Record<string, unknown>, limitMs = 15_000): Promise<{ code: number | string; lines: string[]; ms: number }> {
  const configPath = join(dir, `start-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(configPath, JSON.stringify(config));
  const t0 = performance.now();
  const child = spawn(process.execPath, [CLI_MAIN, 'server', '--config', configPath], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TRUSTPLANE_CONFIG: '' } });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const kill = setTimeout(() => child.kill('SIGKILL'), limitMs);
  const code = await new Promise<number | string>((resolve) => child.once('exit', (c, s) => resolve(c ?? s ?? 'unknown')));
  clearTimeout(kill);
  return { code, lines: stderr.split('\n').filter((l) => l !== ''), ms: performance.now() - t0 };
}

/** The lines a human reads (not the JSON operational log). */
const plain = (lines: readonly string[]): string[] => lines.filter((l) => !l.startsWith('{'));

describe('authz server start and stop (real processes)', function () {
  this.timeout(90_000);
  let trust: TrustSetup;
  const procs: ServerProcess[] = [];
  const clients: CheckClient[] = [];
  let blocker: Server | undefined;

  beforeEach(() => {
    trust = makeTrust('tp-start-stop-');
    trust.writeBundle(trust.bundle({ serial: 1 }));
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await Promise.all(procs.splice(0).map((p) => p.stop(5000)));
    await new Promise<void>((resolve) => (blocker ? blocker.close(() => resolve()) : resolve()));
    blocker = undefined;
    trust.dispose();
  });

  const listen = async (over: Record<string, unknown> = {}): Promise<Record<string, unknown>> => ({
    listen: { grpc: `127.0.0.1:${await freePort()}`, http: `127.0.0.1:${await freePort()}` },
    ...over,
  });

  for (const workers of [2, 1]) {
    it(`with ${workers} worker(s), a missing bundle ends the process promptly, exit 1, the cause on one line, and no "last good bundle" claim`, async () => {
      const r = await runToExit(trust.dir, { ...baseConfig(trust, { workers, log_level: 'info' }), bundle: { path: join(trust.dir, 'absent.json'), signing_keys: trust.jwksPath }, ...(await listen()) });
      assert.equal(r.code, 1, r.lines.join('\n'));
      assert.ok(r.ms < 8000, `exited after ${r.ms.toFixed(0)} ms`);
      const human = plain(r.lines);
      assert.equal(human.length, 1, human.join('\n'));
      assert.match(human[0]!, /^trustplane server: cannot start: .*absent\.json.*ENOENT/);
      assert.ok(!r.lines.some((l) => l.includes('last good bundle')), r.lines.join('\n'));
    });

    it(`with ${workers} worker(s), a gRPC port in use ends the process promptly, exit 1, the cause on one line`, async () => {
      blocker = createServer();
      const port = await freePort();
      await new Promise<void>((resolve) => blocker!.listen(port, '127.0.0.1', () => resolve()));
      const r = await runToExit(trust.dir, { ...baseConfig(trust, { workers }), listen: { grpc: `127.0.0.1:${port}`, http: `127.0.0.1:${await freePort()}` } });
      assert.equal(r.code, 1, r.lines.join('\n'));
      assert.ok(r.ms < 8000, `exited after ${r.ms.toFixed(0)} ms`);
      const human = plain(r.lines);
      assert.equal(human.length, 1, human.join('\n'));
      assert.match(human[0]!, new RegExp(`^trustplane server: cannot start: .*listen\\.grpc 127\\.0\\.0\\.1:${port}`));
    });
  }

  it('with 2 workers, an HTTP port in use ends the process before any worker starts, exit 1, one line', async () => {
    blocker = createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => blocker!.listen(port, '127.0.0.1', () => resolve()));
    const r = await runToExit(trust.dir, { ...baseConfig(trust, { workers: 2 }), listen: { grpc: `127.0.0.1:${await freePort()}`, http: `127.0.0.1:${port}` } });
    assert.equal(r.code, 1, r.lines.join('\n'));
    assert.deepEqual(plain(r.lines).map((l) => l.replace(/EADDRINUSE.*/, 'EADDRINUSE')), [`trustplane server: cannot start: listen.http 127.0.0.1:${port}: listen EADDRINUSE`]);
  });

  it('on SIGTERM with 2 workers: /readyz 503 and grpc.health.v1 NOT_SERVING at once, checks still allowed during shutdown_drain_ms, then exit 0', async () => {
    const proc = await spawnServerProcess(trust.dir, baseConfig(trust, { workers: 2, shutdown_drain_ms: 2000 }));
    procs.push(proc);
    const client = makeCheckClient(proc.grpcAddress, { ownConnection: true });
    clients.push(client);
    // The memory store's replay generation began with the process: passports are dated past it.
    await nextSecond();
    assertAllow(await client.check(checkBytes(signCheck(trust, { passport: afterStart() }))), 'payments-create');
    const t0 = performance.now();
    process.kill(proc.pid, 'SIGTERM');
    await waitFor('/readyz 503', async () => (await httpGet(proc.httpAddress, '/readyz')).status === 503, 1000, 20);
    await waitFor('NOT_SERVING', async () => (await healthCheck(proc.grpcAddress)) === 'NOT_SERVING', 1500, 20);
    assertAllow(await client.check(checkBytes(signCheck(trust, { passport: afterStart() }))), 'payments-create');
    assert.ok(performance.now() - t0 < 1900, 'all of that happened within the drain period');
    assert.equal(await proc.exited, 0);
    assert.ok(performance.now() - t0 >= 2000, `stopped after ${(performance.now() - t0).toFixed(0)} ms, not before the drain ended`);
  });
});
