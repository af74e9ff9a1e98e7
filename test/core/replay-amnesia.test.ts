/**
 * Exactly once under faults (docs/configuration.md, "Replay store"): a replay record outlives the
 * acceptance window of its passport, at millisecond resolution, on both stores and for every clock
 * tolerance; a store that forgot (Redis restarted empty, flushed, failed over to a different
 * marker; a memory store's process restarted) denies what it cannot vouch for as
 * `replay_state_lost` until that window has passed; a Redis that may evict is refused. Real
 * redis-servers started here, real keys and signatures; the engine clock is injected.
 */
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { REPLAY_RECORD_MARGIN_MS } from '../../core/src/engine/acceptance.js';
import { DEFAULT_ENGINE_OPTIONS, type EngineOptions } from '../../core/src/engine/options.js';
import { verifyRequest } from '../../core/src/engine/verify.js';
import type { ReasonCode } from '../../core/src/reasons.js';
import { MemoryReplayStore, RedisReplayStore, createReplayStore, type ReplayStore } from '../../core/src/replay/index.js';
import { RedisServer, redisBinaryOrSkip, seedGeneration } from '../support/redis-server.js';
import { ISSUER, NOW_MS, NOW_S, makeWorld, passport, signed, view, type World } from '../support/world.js';

const w: World = makeWorld();

async function reasonAt(store: ReplayStore, pp: string, nowMs: number, options: EngineOptions = DEFAULT_ENGINE_OPTIONS): Promise<ReasonCode> {
  // A fresh proof signed at the moment of presentation: only the passport is shared.
  const d = await verifyRequest({ view: view(signed(w, {}, { passport: pp, nowMs })), bundle: w.bundle, store, nowMs, options });
  return d.reason;
}

function redisStore(server: RedisServer, clock: () => number, extra: Record<string, unknown> = {}): RedisReplayStore {
  const store = createReplayStore(
    { store: 'redis', redis: { url: server.url, connect_timeout_ms: 500, command_timeout_ms: 1000, ...extra } },
    { onError: () => {}, clock },
  );
  assert.ok(store instanceof RedisReplayStore);
  return store;
}

/** A random acceptance window: tolerance 0–600 s, lifetime 1–300 s, and a consume moment inside the window. */
const windowArb = fc
  .record({ tol: fc.integer({ min: 0, max: 600 }), lifetime: fc.integer({ min: 1, max: 300 }), at: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), later: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }) })
  .map(({ tol, lifetime, at, later }) => {
    const fromMs = (NOW_S - tol) * 1000;
    const untilMs = (NOW_S + lifetime + tol) * 1000;
    const t1 = fromMs + Math.floor(at * (untilMs - fromMs));
    const t2 = t1 + Math.floor(later * (untilMs - t1));
    return { tol, lifetime, fromMs, untilMs, t1, t2 };
  });

describe('replay record vs acceptance window: the expiry edge', function () {
  it('memory store: consumed anywhere in the window, the passport is jti_replay up to its last accepted millisecond and passport_expired from the next (any tolerance)', async () => {
    await fc.assert(
      fc.asyncProperty(windowArb, async ({ tol, lifetime, fromMs, untilMs, t1, t2 }) => {
        const options = { ...DEFAULT_ENGINE_OPTIONS, clockToleranceS: tol };
        const store = new MemoryReplayStore({ maxEntries: 8, generationStartMs: -Infinity });
        const pp = passport(w, { lifetimeS: lifetime });
        assert.equal(await reasonAt(store, pp, fromMs - 1, options), 'passport_not_yet_valid');
        assert.equal(await reasonAt(store, pp, t1, options), 'ok');
        assert.equal(await reasonAt(store, pp, t2, options), 'jti_replay');
        assert.equal(await reasonAt(store, pp, untilMs - 1, options), 'jti_replay');
        assert.equal(await reasonAt(store, pp, untilMs, options), 'passport_expired');
        // The record itself outlives the window by the margin, on the engine clock.
        assert.equal(await store.consume(`${ISSUER}\n${jtiOf(pp)}`, 1, untilMs + REPLAY_RECORD_MARGIN_MS - 1, -Infinity), 'replayed');
      }),
      { numRuns: 150 },
    );
  });

  describe('on a real redis-server', function () {
    let server: RedisServer;
    before(async function () {
      server = await RedisServer.create(redisBinaryOrSkip(this));
      await seedGeneration(server);
    });
    after(async () => {
      await server?.dispose();
    });

    it('Redis: the PX written covers the rest of the window plus the margin, and the last accepted millisecond is jti_replay (any tolerance)', async () => {
      const store = redisStore(server, () => NOW_MS);
      try {
        assert.equal(await store.waitUntilReady(5000), true);
        await fc.assert(
          fc.asyncProperty(windowArb, async ({ tol, lifetime, untilMs, t1, t2 }) => {
            const options = { ...DEFAULT_ENGINE_OPTIONS, clockToleranceS: tol };
            const pp = passport(w, { lifetimeS: lifetime });
            const sent = Date.now();
            assert.equal(await reasonAt(store, pp, t1, options), 'ok');
            const pttl = (await server.command(['PTTL', store.redisKey(`${ISSUER}\n${jtiOf(pp)}`)])) as number;
            const elapsed = Date.now() - sent;
            const wanted = untilMs - t1 + REPLAY_RECORD_MARGIN_MS;
            assert.ok(pttl <= wanted && pttl >= wanted - elapsed - 1, `PTTL ${pttl}, wanted ${wanted} (−${elapsed} ms elapsed)`);
            assert.equal(await reasonAt(store, pp, t2, options), 'jti_replay');
            assert.equal(await reasonAt(store, pp, untilMs - 1, options), 'jti_replay');
            assert.equal(await reasonAt(store, pp, untilMs, options), 'passport_expired');
          }),
          { numRuns: 40 },
        );
      } finally {
        await store.close();
      }
    });

    it('Redis, real time: presented again and again until the window closes, it is jti_replay every time and then passport_expired, never allowed', async () => {
      const store = redisStore(server, Date.now);
      try {
        assert.equal(await store.waitUntilReady(5000), true);
        for (const tol of [0, 1, 3]) {
          // exp + tol lands on the next whole second at least 200 ms away.
          const untilS = Math.ceil((Date.now() + 200) / 1000);
          const exp = untilS - tol;
          const pp = passport(w, { nowMs: (exp - 10) * 1000, lifetimeS: 10 });
          // The test world's bundle was issued on its frozen clock; its age is not under test here.
          const bounded = { proofMaxAgeS: 120, bundleMaxAgeS: Number.POSITIVE_INFINITY };
          const options = { ...DEFAULT_ENGINE_OPTIONS, clockToleranceS: tol, freshness: { ...DEFAULT_ENGINE_OPTIONS.freshness, bounded } };
          const seen: ReasonCode[] = [await reasonAt(store, pp, Date.now(), options)];
          let lastReplayMs = 0;
          // The longest step between two presentations: on a loaded machine a round trip can take
          // tens of milliseconds, so "reached the edge" means the last step straddled it.
          let prevAt = Date.now();
          let longestStepMs = 0;
          for (;;) {
            const at = Date.now();
            longestStepMs = Math.max(longestStepMs, at - prevAt);
            prevAt = at;
            const r = await reasonAt(store, pp, at, options);
            seen.push(r);
            if (r === 'jti_replay') lastReplayMs = at;
            if (r !== 'jti_replay') break;
          }
          assert.equal(seen[0], 'ok');
          assert.equal(seen.at(-1), 'passport_expired', `tolerance ${tol}: ${seen.slice(-3).join(',')}`);
          assert.deepEqual(new Set(seen.slice(1, -1)), new Set(['jti_replay']));
          assert.ok(untilS * 1000 - lastReplayMs <= longestStepMs, `the walk reached the edge (last replay ${untilS * 1000 - lastReplayMs} ms before it, longest step ${longestStepMs} ms)`);
          // And the record is still there when the window has closed.
          assert.ok(((await server.command(['PTTL', store.redisKey(`${ISSUER}\n${jtiOf(pp)}`)])) as number) > 0);
        }
      } finally {
        await store.close();
      }
    });
  });
});

describe('amnesia: a store that may have forgotten denies replay_state_lost until the window has passed', function () {
  let server: RedisServer;
  let engineNow = NOW_MS;
  const clock = (): number => engineNow;
  const stores: ReplayStore[] = [];

  before(async function () {
    server = await RedisServer.create(redisBinaryOrSkip(this));
  });
  beforeEach(async () => {
    engineNow = NOW_MS;
    if (!server.running) await server.start();
    await seedGeneration(server);
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });
  after(async () => {
    await server?.dispose();
  });

  async function ready(extra: Record<string, unknown> = {}): Promise<RedisReplayStore> {
    const store = redisStore(server, clock, extra);
    stores.push(store);
    assert.equal(await store.waitUntilReady(5000), true);
    return store;
  }

  const forgettings: [string, () => Promise<void>][] = [
    ['Redis restarted without persistence', async () => {
      await server.stop();
      await server.start();
    }],
    ['FLUSHALL', async () => void assert.equal(await server.command(['FLUSHALL']), 'OK')],
    ['FLUSHDB', async () => void assert.equal(await server.command(['FLUSHDB']), 'OK')],
    // A failover to a replica that lost writes, marker included: the marker is not the one this store knows.
    ['a failover to a replica with another marker', async () => void (await server.command(['SET', 'trustplane:jti:generation', `${'a'.repeat(32)}:${NOW_MS + 5000}`]))],
  ];

  for (const [what, forget] of forgettings) {
    it(`after ${what}: a passport consumed before is replay_state_lost (nothing recorded), a passport issued after is allowed once`, async () => {
      const store = await ready();
      const pp = passport(w, { lifetimeS: 300 });
      assert.equal(await reasonAt(store, pp, NOW_MS), 'ok');
      engineNow = NOW_MS + 10_000;
      await forget();
      if (!(await store.waitUntilReady(5000))) assert.fail('store not ready after the forgetting');
      const keys = await server.command(['DBSIZE']);
      assert.equal(await reasonAt(store, pp, engineNow), 'replay_state_lost');
      assert.equal(await server.command(['DBSIZE']), keys, 'the deny wrote nothing');
      const start = store.generationStartMs!;
      assert.ok(start >= NOW_MS + 5000 && start <= engineNow, `new generation start ${start}`);
      // First acceptable at the new generation's start: vouched for.
      const fresh = passport(w, { nowMs: start + 30_000 + 999 });
      assert.equal(await reasonAt(store, fresh, engineNow), 'ok');
      assert.equal(await reasonAt(store, fresh, engineNow + 1), 'jti_replay');
    });
  }

  it('the window ends: a passport acceptable before the flush is replay_state_lost to its last accepted millisecond, then expired; after start + max lifetime + 2 × tolerance all is normal', async () => {
    const options = { ...DEFAULT_ENGINE_OPTIONS, maxPassportLifetimeS: 300 };
    const store = await ready();
    await server.command(['FLUSHALL']);
    engineNow = NOW_MS;
    assert.equal(await store.ping(), true);
    assert.equal(store.generationStartMs, NOW_MS);
    // Dated 29 s after the start by a fast issuer clock, valid 300 s: the longest-lived passport under the guard.
    const guarded = passport(w, { nowMs: NOW_MS + 29_000, lifetimeS: 300 });
    const lastMs = (NOW_S + 29 + 300 + 30) * 1000 - 1;
    assert.equal(await reasonAt(store, guarded, lastMs, options), 'replay_state_lost');
    assert.equal(await reasonAt(store, guarded, lastMs + 1, options), 'passport_expired');
    const after = NOW_MS + (300 + 2 * 30) * 1000;
    assert.ok(lastMs < after);
    const normal = passport(w, { nowMs: after, lifetimeS: 300 });
    assert.equal(await reasonAt(store, normal, after, options), 'ok');
    assert.equal(await reasonAt(store, normal, after + 1, options), 'jti_replay');
  });

  it('two replicas that find the marker missing at once agree on one new generation', async () => {
    const a = await ready();
    let bNow = NOW_MS + 7;
    const b = redisStore(server, () => bNow);
    stores.push(b);
    assert.equal(await b.waitUntilReady(5000), true);
    await server.command(['FLUSHALL']);
    engineNow = NOW_MS + 22_000;
    bNow = NOW_MS + 22_007;
    // Each replica presents passports first acceptable at NOW + 22 s: the marker it would write.
    const later = () => passport(w, { nowMs: NOW_MS + 52_000 });
    const results = await Promise.all([reasonAt(a, later(), engineNow), reasonAt(b, later(), bNow), reasonAt(a, later(), engineNow), reasonAt(b, later(), bNow)]);
    assert.ok(results.every((r) => r === 'ok' || r === 'replay_state_lost'), results.join(','));
    assert.equal(a.generationStartMs, b.generationStartMs);
    const marker = (await server.command(['GET', a.generationKey])) as string;
    assert.equal(Number(marker.split(':')[1]), a.generationStartMs);
  });

  it('a memory store in a restarted process denies what the last one consumed as replay_state_lost, and serves new passports', async () => {
    const before = new MemoryReplayStore({ maxEntries: 8, generationStartMs: NOW_MS - 3_600_000 });
    const pp = passport(w, { lifetimeS: 300 });
    assert.equal(await reasonAt(before, pp, NOW_MS), 'ok');
    await before.close();
    // The next process starts 5 s later: its store begins then.
    const restarted = new MemoryReplayStore({ maxEntries: 8, clock: () => NOW_MS + 5000 });
    assert.equal(await reasonAt(restarted, pp, NOW_MS + 6000), 'replay_state_lost');
    assert.equal(restarted.size, 0);
    const fresh = passport(w, { nowMs: NOW_MS + 35_000 });
    assert.equal(await reasonAt(restarted, fresh, NOW_MS + 6000), 'ok');
    assert.equal(await reasonAt(restarted, fresh, NOW_MS + 6001), 'jti_replay');
  });
});

describe('Redis eviction policy: anything but noeviction is refused', function () {
  const policies = ['noeviction', 'volatile-lru', 'volatile-lfu', 'volatile-random', 'volatile-ttl', 'allkeys-lru', 'allkeys-lfu', 'allkeys-random'];
  for (const policy of policies) {
    it(`maxmemory-policy ${policy}: ${policy === 'noeviction' ? 'ready, consumes' : 'not ready, says why, consumes answer misconfigured'}`, async function () {
      const server = await RedisServer.create(redisBinaryOrSkip(this), { config: { 'maxmemory-policy': policy } });
      await seedGeneration(server);
      const store = redisStore(server, () => NOW_MS);
      try {
        const ok = policy === 'noeviction';
        assert.equal(await store.waitUntilReady(ok ? 5000 : 600), ok);
        if (ok) {
          assert.equal(store.problem(), undefined);
          assert.equal(await reasonAt(store, passport(w), NOW_MS), 'ok');
        } else {
          assert.match(store.problem() ?? '', new RegExp(`maxmemory-policy is "${policy}"`));
          const pp = passport(w);
          assert.equal(await reasonAt(store, pp, NOW_MS), 'replay_store_misconfigured');
          assert.equal(await server.command(['EXISTS', store.redisKey(`${ISSUER}\n${jtiOf(pp)}`)]), 0);
        }
      } finally {
        await store.close();
        await server.dispose();
      }
    });
  }

  it('a policy changed at run time is caught by the next readiness ping, and its repair too', async function () {
    const server = await RedisServer.create(redisBinaryOrSkip(this));
    await seedGeneration(server);
    const store = redisStore(server, () => NOW_MS);
    try {
      assert.equal(await store.waitUntilReady(5000), true);
      await server.command(['CONFIG', 'SET', 'maxmemory-policy', 'volatile-ttl']);
      assert.equal(await store.ping(), false);
      assert.equal(await reasonAt(store, passport(w), NOW_MS), 'replay_store_misconfigured');
      await server.command(['CONFIG', 'SET', 'maxmemory-policy', 'noeviction']);
      assert.equal(await store.ping(), true);
      assert.equal(await reasonAt(store, passport(w), NOW_MS), 'ok');
    } finally {
      await store.close();
      await server.dispose();
    }
  });

  it('CONFIG disabled: refused with a message naming replay.redis.assume_noeviction; with it set, served', async function () {
    const server = await RedisServer.create(redisBinaryOrSkip(this), { config: { 'rename-command': 'CONFIG ""' } });
    await seedGeneration(server);
    const refused = redisStore(server, () => NOW_MS);
    const assumed = redisStore(server, () => NOW_MS, { assume_noeviction: true });
    try {
      assert.equal(await refused.waitUntilReady(600), false);
      assert.match(refused.problem() ?? '', /cannot read maxmemory-policy .*replay\.redis\.assume_noeviction/);
      assert.equal(await reasonAt(refused, passport(w), NOW_MS), 'replay_store_misconfigured');
      assert.equal(await assumed.waitUntilReady(5000), true);
      assert.equal(await reasonAt(assumed, passport(w), NOW_MS), 'ok');
    } finally {
      await refused.close();
      await assumed.close();
      await server.dispose();
    }
  });

  it('a generation marker this server did not write is refused, not guessed at', async function () {
    const server = await RedisServer.create(redisBinaryOrSkip(this));
    await server.command(['SET', 'trustplane:jti:generation', 'not-a-marker']);
    const store = redisStore(server, () => NOW_MS);
    try {
      assert.equal(await store.waitUntilReady(600), false);
      assert.match(store.problem() ?? '', /generation marker trustplane:jti:generation holds something this server did not write/);
      assert.equal(await reasonAt(store, passport(w), NOW_MS), 'replay_store_misconfigured');
      await server.command(['DEL', 'trustplane:jti:generation']);
      assert.equal(await store.waitUntilReady(5000), true);
    } finally {
      await store.close();
      await server.dispose();
    }
  });
});

function jtiOf(pp: string): string {
  return (JSON.parse(Buffer.from(pp.split('.')[1]!, 'base64url').toString('utf8')) as { jti: string }).jti;
}
