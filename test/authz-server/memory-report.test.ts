/**
 * The soak's memory reports (authz-server/src/cluster.ts, memoryReports; docs/configuration.md,
 * "Environment variables"; docs/performance.md, "Soak"), on the real server as a real process with
 * two workers and the memory replay store held by the primary: with TRUSTPLANE_MEMORY_REPORT_MS
 * set, every process logs `memory` lines, and on SIGUSR2 one after a full garbage collection
 * (--expose-gc), the primary's with the replay store's entries. Workers run with the primary's
 * Node flags and V8's own young generation (docs/performance.md, "A worker's young generation, V8's again").
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
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
    // Each worker runs with the primary's flags (the soak's --expose-gc) and nothing that fixes V8's young generation.
    const argv = (pid: number): string[] => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const workers = [...new Set(roles.filter((l) => l.role === 'worker').map((l) => l.pid))];
    assert.equal(workers.length, 2);
    for (const pid of [...workers, p.pid]) {
      const flags = argv(pid);
      assert.ok(flags.includes('--expose-gc'), `${pid}: ${flags.join(' ')}`);
      assert.ok(!flags.some((f) => f.includes('semi-space') || f.includes('semi_space')), `${pid}: ${flags.join(' ')}`);
    }

    process.kill(p.pid, 'SIGUSR2');
    await waitFor('a report after a full GC from the primary', () => memoryLines(p).some((l) => l.after_gc && l.pid === p.pid));
    const afterGc = memoryLines(p).find((l) => l.after_gc && l.pid === p.pid)!;
    assert.equal(afterGc.role, 'primary');
    assert.equal(afterGc.replay_entries, 1, 'the one consumed jti');
    assert.ok(afterGc.heap_used > 0 && afterGc.rss > afterGc.heap_used);
  });
});
