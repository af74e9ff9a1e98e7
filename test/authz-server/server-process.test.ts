/**
 * The server as real processes (`node dist/cli/src/main.js server --config FILE`): graceful SIGTERM
 * with checks in flight, two processes sharing one real redis-server, and the cluster's IPC memory
 * store shared by two workers. Every process and redis-server started here is stopped in `after`.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ReasonCode } from '../../core/src/reasons.js';
import { assertAllow, assertDeny, tally } from '../support/check-assertions.js';
import { afterStart, nextSecond, sleep } from '../support/clock.js';
import { httpGet, makeCheckClient, type CheckClient } from '../support/server-clients.js';
import { baseConfig, requireBuiltCli, spawnServerProcess, type ServerProcess } from '../support/server-harness.js';
import { checkBytes, signCheck } from '../support/signed-check.js';
import { makeTrust, type TrustSetup } from '../support/trust-setup.js';
import type { OfficialCheckResponse } from '../support/envoy-api.js';
import { RedisServer, redisBinaryOrSkip, seedGeneration } from '../support/redis-server.js';

describe('authz server as real processes', function () {
  this.timeout(90_000);
  let trust: TrustSetup;
  let redis: RedisServer | undefined;
  const procs: ServerProcess[] = [];
  const clients: CheckClient[] = [];

  const client = (p: ServerProcess): CheckClient => {
    const c = makeCheckClient(p.grpcAddress, { ownConnection: true });
    clients.push(c);
    return c;
  };

  before(function () {
    requireBuiltCli();
  });

  beforeEach(() => {
    trust = makeTrust('tp-server-proc-');
    trust.writeBundle(trust.bundle({ serial: 1 }));
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    redis?.resume();
    await Promise.all(procs.splice(0).map((p) => p.stop(5000)));
    await redis?.dispose();
    redis = undefined;
    trust.dispose();
  });

  it('on SIGTERM answers every check in flight with a CheckResponse, flushes one audit line per answered check, and exits 0', async function () {
    redis = await RedisServer.create(redisBinaryOrSkip(this));
    await seedGeneration(redis);
    const auditPath = join(trust.dir, 'audit.jsonl');
    const proc = await spawnServerProcess(
      trust.dir,
      baseConfig(trust, {
        workers: 2,
        replay: { store: 'redis', redis: { url: redis.url, command_timeout_ms: 1500, connect_timeout_ms: 500 } },
        audit: { sink: 'file', file: auditPath },
        shutdown_grace_ms: 10_000,
      }),
    );
    procs.push(proc);
    const cs = Array.from({ length: 6 }, () => client(proc));
    // Warm up every connection (the cluster hands whole connections to workers, round robin).
    const warm = await Promise.all(cs.map((c) => c.check(checkBytes(signCheck(trust)))));
    assert.deepEqual(tally(warm), { 'allow:ok': cs.length });

    // A frozen Redis holds every check in the replay phase until the command timeout.
    redis.pause();
    const started = Date.now();
    const inFlight = Array.from({ length: 30 }, (_, i) => cs[i % cs.length]!.check(checkBytes(signCheck(trust)), 20_000));
    await sleep(300);
    process.kill(proc.pid, 'SIGTERM');

    const settled = await Promise.allSettled(inFlight);
    const failures = settled.filter((s) => s.status === 'rejected').map((s) => String((s as PromiseRejectedResult).reason));
    assert.deepEqual(failures, [], 'every in-flight check gets a CheckResponse, not a transport error');
    const answers = settled.map((s) => (s as PromiseFulfilledResult<OfficialCheckResponse>).value);
    for (const r of answers) assertDeny(r, 'replay_store_unavailable');
    assert.ok(Date.now() - started >= 1000, 'the checks really were held in flight past the SIGTERM');
    redis.resume();

    assert.equal(await proc.exited, 0);
    const lines = readFileSync(auditPath, 'utf8').split('\n').filter((l) => l !== '');
    assert.equal(lines.length, warm.length + answers.length, 'one audit line per answered check');
    const reasons = lines.map((l) => (JSON.parse(l) as { reason_code: ReasonCode }).reason_code);
    assert.equal(reasons.filter((r) => r === 'replay_store_unavailable').length, answers.length);
  });

  it('two processes sharing one redis-server: 500 concurrent presentations of one signed request → exactly one allow, 499 jti_replay', async function () {
    redis = await RedisServer.create(redisBinaryOrSkip(this));
    // An established store (the marker of a generation begun long ago), as in production after the first start.
    await seedGeneration(redis);
    const config = baseConfig(trust, { workers: 1, replay: { store: 'redis', redis: { url: redis.url, command_timeout_ms: 3000 } } });
    const [a, b] = await Promise.all([spawnServerProcess(trust.dir, config, { name: 'a' }), spawnServerProcess(trust.dir, config, { name: 'b' })]);
    procs.push(a!, b!);
    const cs = [...Array.from({ length: 4 }, () => client(a!)), ...Array.from({ length: 4 }, () => client(b!))];
    const bytes = checkBytes(signCheck(trust));
    const answers = await Promise.all(Array.from({ length: 500 }, (_, i) => cs[i % cs.length]!.check(bytes, 30_000)));
    assert.deepEqual(tally(answers), { 'allow:ok': 1, jti_replay: 499 });
    for (const r of answers) if (r.http_response === 'denied_response') assertDeny(r, 'jti_replay');
    // Each process answered half of them.
    const perServer = [answers.filter((_, i) => i % cs.length < 4).length, answers.filter((_, i) => i % cs.length >= 4).length];
    assert.deepEqual(perServer, [252, 248]);
  });

  it('two processes on an empty redis-server agree on one new generation: 200 concurrent presentations → one allow, 199 jti_replay', async function () {
    redis = await RedisServer.create(redisBinaryOrSkip(this));
    const config = baseConfig(trust, { workers: 1, replay: { store: 'redis', redis: { url: redis.url, command_timeout_ms: 3000 } } });
    const [a, b] = await Promise.all([spawnServerProcess(trust.dir, config, { name: 'a' }), spawnServerProcess(trust.dir, config, { name: 'b' })]);
    procs.push(a!, b!);
    const marker = (await redis.command(['GET', 'trustplane:jti:generation'])) as string;
    assert.match(marker, /^[0-9a-f]{32}:[0-9]+$/);
    const detail = async (p: ServerProcess) => (JSON.parse((await httpGet(p.httpAddress, '/readyz')).body) as { replay_generation_start: string }).replay_generation_start;
    const startIso = new Date(Number(marker.split(':')[1])).toISOString();
    assert.deepEqual([await detail(a!), await detail(b!)], [startIso, startIso]);
    await nextSecond();
    assertDeny(await client(a!).check(checkBytes(signCheck(trust))), 'replay_state_lost');
    const cs = [...Array.from({ length: 4 }, () => client(a!)), ...Array.from({ length: 4 }, () => client(b!))];
    const bytes = checkBytes(signCheck(trust, { passport: afterStart() }));
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => cs[i % cs.length]!.check(bytes, 30_000)));
    assert.deepEqual(tally(answers), { 'allow:ok': 1, jti_replay: 199 });
  });

  it('memory store, process restarted: a request consumed before the restart is replay_state_lost after it, and a new passport is allowed', async () => {
    const config = baseConfig(trust, { workers: 1, replay: { store: 'memory' } });
    const first = await spawnServerProcess(trust.dir, config, { name: 'before-restart' });
    procs.push(first);
    await nextSecond();
    const bytes = checkBytes(signCheck(trust, { passport: afterStart() }));
    assertAllow(await client(first).check(bytes), 'payments-create');
    assertDeny(await client(first).check(bytes), 'jti_replay');
    assert.equal(await first.stop(), 0);
    const second = await spawnServerProcess(trust.dir, config, { name: 'after-restart' });
    procs.push(second);
    await nextSecond();
    assertDeny(await client(second).check(bytes), 'replay_state_lost');
    assert.ok(second.log.some((l) => l.includes('replay store generation began recently')), 'the start log names the window');
    const fresh = checkBytes(signCheck(trust, { passport: afterStart() }));
    assertAllow(await client(second).check(fresh), 'payments-create');
    assertDeny(await client(second).check(fresh), 'jti_replay');
  });

  it('one process with two workers and the memory store: 200 concurrent presentations → exactly one allow (the IPC store)', async () => {
    const proc = await spawnServerProcess(trust.dir, baseConfig(trust, { workers: 2, replay: { store: 'memory' } }));
    procs.push(proc);
    const cs = Array.from({ length: 8 }, () => client(proc));
    await nextSecond();
    // The primary's store began with the process: only a passport first acceptable after that is vouched for.
    assertDeny(await cs[0]!.check(checkBytes(signCheck(trust))), 'replay_state_lost');
    const bytes = checkBytes(signCheck(trust, { passport: afterStart() }));
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => cs[i % cs.length]!.check(bytes, 30_000)));
    assert.deepEqual(tally(answers), { 'allow:ok': 1, jti_replay: 199 });
    // A second signed request is still served normally afterwards.
    const again = await cs[0]!.check(checkBytes(signCheck(trust, { passport: afterStart() })));
    assert.equal(again.http_response, 'ok_response');
    assert.equal(await proc.stop(), 0);
  });
});
