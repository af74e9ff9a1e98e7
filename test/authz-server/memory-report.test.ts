/**
 * The soak's memory reports (authz-server/src/cluster.ts, memoryReports; docs/configuration.md,
 * "Environment variables"; docs/performance.md, "Soak"), on the real server as a real process with
 * two workers and the memory replay store held by the primary: with TRUSTPLANE_MEMORY_REPORT_MS
 * set, every process logs `memory` lines, and on SIGUSR2 one after a full garbage collection
 * (--expose-gc), the primary's with the replay store's entries. And the workers' fixed young
 * generation (workerExecArgv), which keeps a worker's RSS from following V8's resizing of it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { WORKER_SEMI_SPACE_MB, workerExecArgv } from '../../authz-server/src/cluster.js';
import { assertAllow, assertDeny } from '../support/check-assertions.js';
import { afterStart, nextSecond, waitFor } from '../support/clock.js';
import { makeCheckClient } from '../support/server-clients.js';
import { baseConfig, requireBuiltCli, spawnServerProcess, type ServerProcess } from '../support/server-harness.js';
import { checkBytes, signCheck } from '../support/signed-check.js';
import { makeTrust, type TrustSetup } from '../support/trust-setup.js';

interface MemoryLine {
  pid: number;
  msg: string;
  role: string;
  after_gc: boolean;
  rss: number;
  heap_used: number;
  replay_entries?: number;
}

const memoryLines = (p: ServerProcess): MemoryLine[] =>
  p.log.filter((l) => l.includes('"msg":"memory"')).map((l) => JSON.parse(l) as MemoryLine);

describe('authz server memory reports (TRUSTPLANE_MEMORY_REPORT_MS, real processes)', function () {
  this.timeout(60_000);
  let trust: TrustSetup;
  let proc: ServerProcess | undefined;
  const saved = process.env['TRUSTPLANE_MEMORY_REPORT_MS'];

  before(function () {
    requireBuiltCli();
  });

  beforeEach(() => {
    trust = makeTrust('tp-memory-report-');
    trust.writeBundle(trust.bundle({ serial: 1 }));
  });

  afterEach(async () => {
    if (saved === undefined) delete process.env['TRUSTPLANE_MEMORY_REPORT_MS'];
    else process.env['TRUSTPLANE_MEMORY_REPORT_MS'] = saved;
    await proc?.stop(5000);
    proc = undefined;
    trust.dispose();
  });

  it('logs memory from the primary and both workers, and on SIGUSR2 the heap after a full GC with the primary store’s entries', async () => {
    process.env['TRUSTPLANE_MEMORY_REPORT_MS'] = '200';
    proc = await spawnServerProcess(trust.dir, baseConfig(trust, { workers: 2, replay: { store: 'memory' }, log_level: 'info' }), { nodeArgs: ['--expose-gc'] });
    const p = proc;
    const client = makeCheckClient(p.grpcAddress, { ownConnection: true });
    try {
      await nextSecond();
      const bytes = checkBytes(signCheck(trust, { passport: afterStart() }));
      assertAllow(await client.check(bytes), 'payments-create');
      assertDeny(await client.check(bytes), 'jti_replay');
    } finally {
      client.close();
    }
    await waitFor('a periodic report from every process', () => new Set(memoryLines(p).filter((l) => !l.after_gc).map((l) => l.pid)).size === 3);
    const roles = memoryLines(p).filter((l) => !l.after_gc);
    assert.deepEqual([...new Set(roles.map((l) => l.role))].sort(), ['primary', 'worker']);
    assert.ok(roles.every((l) => l.role === 'primary' || l.replay_entries === undefined), 'only the primary holds the store');
    // Each worker runs with the primary's flags and a fixed young generation; the primary keeps its own.
    const argv = (pid: number): string[] => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const workers = [...new Set(roles.filter((l) => l.role === 'worker').map((l) => l.pid))];
    assert.equal(workers.length, 2);
    for (const pid of workers) {
      const flags = argv(pid);
      for (const f of ['--expose-gc', `--min-semi-space-size=${WORKER_SEMI_SPACE_MB}`, `--max-semi-space-size=${WORKER_SEMI_SPACE_MB}`]) assert.ok(flags.includes(f), `worker ${pid}: ${flags.join(' ')}`);
    }
    assert.ok(!argv(p.pid).some((f) => f.includes('semi-space')), `primary: ${argv(p.pid).join(' ')}`);

    process.kill(p.pid, 'SIGUSR2');
    await waitFor('a report after a full GC from the primary', () => memoryLines(p).some((l) => l.after_gc && l.pid === p.pid));
    const afterGc = memoryLines(p).find((l) => l.after_gc && l.pid === p.pid)!;
    assert.equal(afterGc.role, 'primary');
    assert.equal(afterGc.replay_entries, 1, 'the one consumed jti');
    assert.ok(afterGc.heap_used > 0 && afterGc.rss > afterGc.heap_used);
  });
});

describe('a worker\'s young generation (workerExecArgv)', () => {
  const fixed = [`--min-semi-space-size=${WORKER_SEMI_SPACE_MB}`, `--max-semi-space-size=${WORKER_SEMI_SPACE_MB}`];

  it('is fixed at 16 MB semi-spaces, after the primary\'s own flags', () => {
    assert.equal(WORKER_SEMI_SPACE_MB, 16, 'the size docs/configuration.md and the chart\'s memory request assume');
    assert.deepEqual(workerExecArgv([], undefined), fixed);
    assert.deepEqual(workerExecArgv(['--expose-gc'], '--max-old-space-size=400'), ['--expose-gc', ...fixed]);
  });

  it('takes its size from an operator\'s --max-semi-space-size, in any spelling V8 takes, the last one counting', () => {
    assert.deepEqual(workerExecArgv(['--max-semi-space-size=32'], undefined), ['--max-semi-space-size=32', '--min-semi-space-size=32']);
    assert.deepEqual(workerExecArgv([], '--max-semi-space-size=8'), ['--min-semi-space-size=8']);
    assert.deepEqual(workerExecArgv(['--max_semi_space_size', '64'], undefined), ['--max_semi_space_size', '64', '--min-semi-space-size=64']);
    assert.deepEqual(workerExecArgv(['--max-semi-space-size=4'], '--max-semi-space-size=8'), ['--max-semi-space-size=4', '--min-semi-space-size=4'], 'the command line after NODE_OPTIONS');
    assert.deepEqual(workerExecArgv(['--max-semi-space-size=0'], undefined), ['--max-semi-space-size=0', ...fixed], '0 is V8\'s own choice: fixed over it');
    assert.deepEqual(workerExecArgv([], '--max-semi-space-size=lots'), fixed);
    assert.deepEqual(workerExecArgv(['--expose-gc'], '--max-semi-space-size'), ['--expose-gc', ...fixed], 'a flag without its value takes none from the command line');
  });

  it('is left to an operator who sets --min-semi-space-size', () => {
    assert.deepEqual(workerExecArgv(['--min-semi-space-size=2'], undefined), ['--min-semi-space-size=2']);
    assert.deepEqual(workerExecArgv(['--min_semi_space_size=2', '--max-semi-space-size=4'], undefined), ['--min_semi_space_size=2', '--max-semi-space-size=4']);
  });
});
