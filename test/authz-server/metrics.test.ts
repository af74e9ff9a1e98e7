import assert from 'node:assert/strict';
import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { Histogram, Registry, register as globalRegistry } from 'prom-client';
import { CHECK_DURATION_BUCKETS, CHECK_DURATION_HELP, ClusterMetrics, ServerMetrics } from '../../authz-server/src/metrics.js';
import type { ReasonCode } from '../../core/src/reasons.js';

const T0 = 1_700_000_100_000;

function manualClock(): { now: () => number; advance: (ms: number) => void } {
  let t = T0;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

/** Sample lines only (no HELP/TYPE, no blank lines). */
async function samples(m: ServerMetrics | string): Promise<string[]> {
  const text = typeof m === 'string' ? m : await m.render();
  return text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
}

async function linesOf(m: ServerMetrics | string, name: string): Promise<string[]> {
  return (await samples(m)).filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

const ZERO_HISTOGRAM = [
  'trustplane_check_duration_seconds_bucket{le="0.0001"} 0',
  'trustplane_check_duration_seconds_bucket{le="0.00025"} 0',
  'trustplane_check_duration_seconds_bucket{le="0.0005"} 0',
  'trustplane_check_duration_seconds_bucket{le="0.001"} 0',
  'trustplane_check_duration_seconds_bucket{le="0.0025"} 0',
  'trustplane_check_duration_seconds_bucket{le="0.005"} 0',
  'trustplane_check_duration_seconds_bucket{le="0.01"} 0',
  'trustplane_check_duration_seconds_bucket{le="0.025"} 0',
  'trustplane_check_duration_seconds_bucket{le="0.05"} 0',
  'trustplane_check_duration_seconds_bucket{le="0.1"} 0',
  'trustplane_check_duration_seconds_bucket{le="0.25"} 0',
  'trustplane_check_duration_seconds_bucket{le="0.5"} 0',
  'trustplane_check_duration_seconds_bucket{le="1"} 0',
  'trustplane_check_duration_seconds_bucket{le="+Inf"} 0',
  'trustplane_check_duration_seconds_sum 0',
  'trustplane_check_duration_seconds_count 0',
];

describe('ServerMetrics', () => {
  it('exposes every metric, with no samples for labelled ones and zeros otherwise, before anything happens', async () => {
    const m = new ServerMetrics({ processMetrics: false });
    assert.deepEqual(await samples(m), [
      ...ZERO_HISTOGRAM,
      'trustplane_bundle_serial 0',
      'trustplane_bundle_age_seconds 0',
      'trustplane_replay_store_errors_total 0',
      'trustplane_internal_errors_total 0',
    ]);
    const text = await m.render();
    for (const [name, type] of [
      ['trustplane_decisions_total', 'counter'],
      ['trustplane_check_duration_seconds', 'histogram'],
      ['trustplane_bundle_serial', 'gauge'],
      ['trustplane_bundle_age_seconds', 'gauge'],
      ['trustplane_bundle_reloads_total', 'counter'],
      ['trustplane_replay_store_errors_total', 'counter'],
      ['trustplane_internal_errors_total', 'counter'],
    ] as const) {
      assert.ok(text.includes(`# TYPE ${name} ${type}\n`), `${name} is a ${type}`);
    }
  });

  it('counts decisions by verdict, reason, bundle route and mode; unknown routes collapse to "unknown"', async () => {
    const m = new ServerMetrics({ processMetrics: false });
    m.setBundle({ serial: 3, issuedAt: T0 / 1000, routeIds: ['orders-read', 'orders-write'] });
    m.observeDecision({ reason: 'ok', routeId: 'orders-read', dryRun: false });
    m.observeDecision({ reason: 'ok', routeId: 'orders-read', dryRun: false });
    m.observeDecision({ reason: 'jti_replay', routeId: 'orders-write', dryRun: false });
    m.observeDecision({ reason: 'source_not_allowed', routeId: 'orders-write', dryRun: true });
    m.observeDecision({ reason: 'route_not_found', routeId: 'made-up-by-client', dryRun: false });
    m.observeDecision({ reason: 'route_not_found', routeId: 'another-made-up-one', dryRun: false });
    m.observeDecision({ reason: 'passport_missing', routeId: null, dryRun: false });
    m.observeDecision({ reason: 'not a reason' as ReasonCode, dryRun: false });
    assert.deepEqual(await linesOf(m, 'trustplane_decisions_total'), [
      'trustplane_decisions_total{decision="allow",reason="ok",route="orders-read",mode="enforce"} 2',
      'trustplane_decisions_total{decision="deny",reason="jti_replay",route="orders-write",mode="enforce"} 1',
      'trustplane_decisions_total{decision="deny",reason="source_not_allowed",route="orders-write",mode="dry_run"} 1',
      'trustplane_decisions_total{decision="deny",reason="route_not_found",route="unknown",mode="enforce"} 2',
      'trustplane_decisions_total{decision="deny",reason="passport_missing",route="unknown",mode="enforce"} 1',
      'trustplane_decisions_total{decision="deny",reason="internal_error",route="unknown",mode="enforce"} 1',
    ]);
  });

  it('keeps counting a route series across reloads that drop the route and bring it back', async () => {
    const m = new ServerMetrics({ processMetrics: false });
    m.setBundle({ serial: 1, issuedAt: 0, routeIds: ['a'] });
    m.observeDecision({ reason: 'ok', routeId: 'a', dryRun: false });
    m.observeDecision({ reason: 'ok', routeId: 'a', dryRun: false });
    m.setBundle({ serial: 2, issuedAt: 0, routeIds: ['b'] });
    m.observeDecision({ reason: 'ok', routeId: 'a', dryRun: false });
    m.observeDecision({ reason: 'ok', routeId: 'b', dryRun: true });
    m.setBundle({ serial: 3, issuedAt: 0, routeIds: ['a', 'b'] });
    m.observeDecision({ reason: 'ok', routeId: 'a', dryRun: false });
    assert.deepEqual(await linesOf(m, 'trustplane_decisions_total'), [
      'trustplane_decisions_total{decision="allow",reason="ok",route="a",mode="enforce"} 3',
      'trustplane_decisions_total{decision="allow",reason="ok",route="unknown",mode="enforce"} 1',
      'trustplane_decisions_total{decision="allow",reason="ok",route="b",mode="dry_run"} 1',
    ]);
    // A scrape does not disturb the counts.
    assert.deepEqual(await linesOf(m, 'trustplane_decisions_total'), await linesOf(m, 'trustplane_decisions_total'));
  });

  it('renders and merges the check-duration histogram as a prom-client Histogram with the documented buckets and help', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(fc.double({ min: 0, max: 3, noNaN: true }), fc.constantFrom(...CHECK_DURATION_BUCKETS, 0)), { maxLength: 60 }), async (durations) => {
        const ours = new ServerMetrics({ processMetrics: false });
        const reference = new Registry();
        const histogram = new Histogram({
          name: 'trustplane_check_duration_seconds',
          help: CHECK_DURATION_HELP,
          buckets: [...CHECK_DURATION_BUCKETS],
          registers: [reference],
        });
        for (const s of durations) {
          ours.observeDecision({ reason: 'ok', dryRun: false }, s);
          histogram.observe(s);
        }
        const section = (text: string): string => (text.split('\n\n').find((block) => block.includes('# TYPE trustplane_check_duration_seconds histogram')) ?? '').trimEnd();
        assert.equal(section(await ours.render()), section(await reference.metrics()));
        const merged = await ServerMetrics.aggregate([ours.registry, ours.registry]);
        const mergedReference = await ServerMetrics.aggregate([reference, reference]);
        assert.equal(section(merged), section(mergedReference));
      }),
      { numRuns: 100 },
    );
  });

  it('follows the route ids of the bundle in use after a reload', () => {
    const m = new ServerMetrics({ processMetrics: false });
    assert.equal(m.routeLabel('a'), 'unknown');
    m.setBundle({ serial: 1, issuedAt: 0, routeIds: ['a'] });
    assert.equal(m.routeLabel('a'), 'a');
    m.setBundle({ serial: 2, issuedAt: 0, routeIds: new Set(['b']) });
    assert.equal(m.routeLabel('a'), 'unknown');
    assert.equal(m.routeLabel('b'), 'b');
    assert.equal(m.routeLabel(undefined), 'unknown');
  });

  it('puts check durations in sub-millisecond to one-second buckets', async () => {
    const m = new ServerMetrics({ processMetrics: false });
    for (const s of [0.00005, 0.0002, 0.0002, 0.0008, 0.003, 0.2, 2]) m.observeDecision({ reason: 'ok', dryRun: false }, s);
    m.observeDecision({ reason: 'ok', dryRun: false }, Number.NaN);
    m.observeDecision({ reason: 'ok', dryRun: false }, -1);
    const lines = await linesOf(m, 'trustplane_check_duration_seconds_bucket');
    assert.deepEqual(lines, [
      'trustplane_check_duration_seconds_bucket{le="0.0001"} 1',
      'trustplane_check_duration_seconds_bucket{le="0.00025"} 3',
      'trustplane_check_duration_seconds_bucket{le="0.0005"} 3',
      'trustplane_check_duration_seconds_bucket{le="0.001"} 4',
      'trustplane_check_duration_seconds_bucket{le="0.0025"} 4',
      'trustplane_check_duration_seconds_bucket{le="0.005"} 5',
      'trustplane_check_duration_seconds_bucket{le="0.01"} 5',
      'trustplane_check_duration_seconds_bucket{le="0.025"} 5',
      'trustplane_check_duration_seconds_bucket{le="0.05"} 5',
      'trustplane_check_duration_seconds_bucket{le="0.1"} 5',
      'trustplane_check_duration_seconds_bucket{le="0.25"} 6',
      'trustplane_check_duration_seconds_bucket{le="0.5"} 6',
      'trustplane_check_duration_seconds_bucket{le="1"} 6',
      'trustplane_check_duration_seconds_bucket{le="+Inf"} 7',
    ]);
    assert.deepEqual(await linesOf(m, 'trustplane_check_duration_seconds_count'), ['trustplane_check_duration_seconds_count 7']);
    // Nine decisions were counted even though two durations were unusable.
    assert.deepEqual(await linesOf(m, 'trustplane_decisions_total'), [
      'trustplane_decisions_total{decision="allow",reason="ok",route="unknown",mode="enforce"} 9',
    ]);
  });

  it('reports the bundle serial, and its age computed at each scrape', async () => {
    const clock = manualClock();
    const m = new ServerMetrics({ processMetrics: false, clock: clock.now });
    m.setBundle({ serial: 42, issuedAt: T0 / 1000 - 100, routeIds: [] });
    assert.deepEqual(await linesOf(m, 'trustplane_bundle_serial'), ['trustplane_bundle_serial 42']);
    assert.deepEqual(await linesOf(m, 'trustplane_bundle_age_seconds'), ['trustplane_bundle_age_seconds 100']);
    clock.advance(60_500);
    assert.deepEqual(await linesOf(m, 'trustplane_bundle_age_seconds'), ['trustplane_bundle_age_seconds 160.5']);
    m.setBundle({ serial: 43, issuedAt: T0 / 1000 + 60, routeIds: [] });
    assert.deepEqual(await linesOf(m, 'trustplane_bundle_serial'), ['trustplane_bundle_serial 43']);
    assert.deepEqual(await linesOf(m, 'trustplane_bundle_age_seconds'), ['trustplane_bundle_age_seconds 0.5']);
  });

  it('counts bundle reloads by result and bounded code, and the two error counters', async () => {
    const m = new ServerMetrics({ processMetrics: false });
    m.observeBundleReload('ok');
    m.observeBundleReload('refused', 'bundle_rollback');
    m.observeBundleReload('refused', 'bundle_rollback');
    m.observeBundleReload('refused', 'bundle_signature_invalid');
    m.observeBundleReload('refused', 'Something "else"' as never);
    m.replayStoreError();
    m.replayStoreError();
    m.internalError();
    assert.deepEqual(await linesOf(m, 'trustplane_bundle_reloads_total'), [
      'trustplane_bundle_reloads_total{result="ok",code="none"} 1',
      'trustplane_bundle_reloads_total{result="refused",code="bundle_rollback"} 2',
      'trustplane_bundle_reloads_total{result="refused",code="bundle_signature_invalid"} 1',
      'trustplane_bundle_reloads_total{result="refused",code="other"} 1',
    ]);
    assert.deepEqual(await linesOf(m, 'trustplane_replay_store_errors_total'), ['trustplane_replay_store_errors_total 2']);
    assert.deepEqual(await linesOf(m, 'trustplane_internal_errors_total'), ['trustplane_internal_errors_total 1']);
  });

  it('includes default process metrics in its own registry, and registers nothing globally', async () => {
    const m = new ServerMetrics();
    const names = new Set((await samples(m)).map((l) => l.split(/[{ ]/, 1)[0]));
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds']) {
      assert.ok(names.has(name), `${name} present`);
    }
    assert.equal(m.contentType, 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(globalRegistry.getSingleMetric('trustplane_decisions_total'), undefined);
  });

  it('has every metric it exposes documented in docs/metrics.md, and documents none it lacks', async () => {
    const docs = readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../docs/metrics.md'), 'utf8');
    const m = new ServerMetrics();
    const exposed = new Set((await m.render()).split('\n').filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2] ?? ''));
    for (const name of exposed) {
      const pattern = name.startsWith('trustplane_') ? `| \`${name}\` |` : `\`${name}\``;
      assert.ok(docs.includes(pattern), `${name} documented`);
    }
    const documented = new Set([...docs.matchAll(/^\| `(trustplane_[a-z_]+)` \|/gm)].map((x) => x[1]));
    assert.deepEqual([...documented].sort(), [...exposed].filter((n) => n.startsWith('trustplane_')).sort());
  });

  it('merges worker registries: counters and histograms summed, serial min, age max', async () => {
    const clock = manualClock();
    const a = new ServerMetrics({ processMetrics: false, clock: clock.now });
    const b = new ServerMetrics({ processMetrics: false, clock: clock.now });
    a.setBundle({ serial: 9, issuedAt: T0 / 1000 - 30, routeIds: ['r'] });
    b.setBundle({ serial: 8, issuedAt: T0 / 1000 - 90, routeIds: ['r'] });
    a.observeDecision({ reason: 'ok', routeId: 'r', dryRun: false }, 0.0002);
    b.observeDecision({ reason: 'ok', routeId: 'r', dryRun: false }, 0.0002);
    b.observeDecision({ reason: 'jti_replay', routeId: 'r', dryRun: false }, 0.0003);
    b.replayStoreError();
    const merged = await ServerMetrics.aggregate([a.registry, b.registry]);
    assert.deepEqual(await linesOf(merged, 'trustplane_decisions_total'), [
      'trustplane_decisions_total{decision="allow",reason="ok",route="r",mode="enforce"} 2',
      'trustplane_decisions_total{decision="deny",reason="jti_replay",route="r",mode="enforce"} 1',
    ]);
    assert.deepEqual(await linesOf(merged, 'trustplane_check_duration_seconds_count'), ['trustplane_check_duration_seconds_count 3']);
    assert.deepEqual(await linesOf(merged, 'trustplane_bundle_serial'), ['trustplane_bundle_serial 8']);
    assert.deepEqual(await linesOf(merged, 'trustplane_bundle_age_seconds'), ['trustplane_bundle_age_seconds 90']);
    assert.deepEqual(await linesOf(merged, 'trustplane_replay_store_errors_total'), ['trustplane_replay_store_errors_total 1']);
  });
});

describe('ClusterMetrics with real node:cluster workers', function () {
  let dir: string;
  const workers: Worker[] = [];

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'trustplane-metrics-'));
  });

  after(async () => {
    await Promise.all(
      workers.splice(0).map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.isDead()) return resolve();
            const timer = setTimeout(() => w.process.kill('SIGKILL'), 5000);
            w.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            w.kill();
          }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  });

  it('renders in the primary the sum of what two workers counted', async () => {
    const metricsModule = pathToFileURL(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../authz-server/src/metrics.js')).href;
    const script = path.join(dir, 'worker.mjs');
    writeFileSync(
      script,
      `import { ServerMetrics } from ${JSON.stringify(metricsModule)};
const m = new ServerMetrics({ processMetrics: false });
m.setBundle({ serial: Number(process.env.SERIAL), issuedAt: 0, routeIds: ['r1'] });
for (let i = 0; i < Number(process.env.ALLOWS); i++) m.observeDecision({ reason: 'ok', routeId: 'r1', dryRun: false }, 0.0002);
m.serveToPrimary();
process.send({ type: 'trustplane-test-ready' });
`,
    );
    cluster.setupPrimary({ exec: script, silent: true });
    const ready = (w: Worker): Promise<void> =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('worker not ready within 10 s')), 10_000);
        w.on('message', (msg: { type?: string }) => {
          if (msg?.type === 'trustplane-test-ready') {
            clearTimeout(timer);
            resolve();
          }
        });
        w.once('exit', (code) => reject(new Error(`worker exited with ${code}`)));
      });
    const primary = new ClusterMetrics();
    const w1 = cluster.fork({ SERIAL: '5', ALLOWS: '3' });
    const w2 = cluster.fork({ SERIAL: '6', ALLOWS: '4' });
    workers.push(w1, w2);
    await Promise.all([ready(w1), ready(w2)]);
    const text = await primary.render();
    assert.deepEqual(await linesOf(text, 'trustplane_decisions_total'), [
      'trustplane_decisions_total{decision="allow",reason="ok",route="r1",mode="enforce"} 7',
    ]);
    assert.deepEqual(await linesOf(text, 'trustplane_bundle_serial'), ['trustplane_bundle_serial 5']);
    assert.deepEqual(await linesOf(text, 'trustplane_check_duration_seconds_count'), ['trustplane_check_duration_seconds_count 7']);
    assert.equal(primary.contentType, 'text/plain; version=0.0.4; charset=utf-8');
  });
});
