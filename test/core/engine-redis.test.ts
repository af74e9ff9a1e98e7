/**
 * The decision engine on the shared replay store: a real redis-server from the test harness, the
 * real RedisReplayStore, real signed requests. Skipped without redis-server unless REQUIRE_REDIS=1.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { b64url } from '../../core/src/encoding.js';
import { verifyRequest } from '../../core/src/engine/verify.js';
import type { ReasonCode } from '../../core/src/reasons.js';
import { RedisReplayStore, createReplayStore } from '../../core/src/replay/index.js';
import { HEADER, type Decision, type RequestView } from '../../core/src/types.js';
import { RedisServer, redisBinaryOrSkip, seedGeneration } from '../support/redis-server.js';
import { ISSUER, NOW_MS, makeWorld, passport, signed, view, type World } from '../support/world.js';

const READY_MS = 5000;

function redisStore(server: RedisServer, errors: Error[] = []): RedisReplayStore {
  const store = createReplayStore(
    { store: 'redis', redis: { url: server.url, connect_timeout_ms: 500, command_timeout_ms: 1000 } },
    // The engine clock of this world: a generation the store begins starts at NOW_MS.
    { onError: (e) => errors.push(e), clock: () => NOW_MS },
  );
  assert.ok(store instanceof RedisReplayStore);
  return store;
}

async function decide(w: World, v: RequestView, store: RedisReplayStore): Promise<Decision> {
  return verifyRequest({ view: v, bundle: w.bundle, store, nowMs: NOW_MS });
}

function expect(d: Decision, reason: ReasonCode, allow: boolean, httpStatus: number): void {
  assert.deepEqual({ reason: d.reason, allow: d.allow, httpStatus: d.httpStatus }, { reason, allow, httpStatus });
}

describe('decision engine with the Redis replay store', function () {
  let server: RedisServer;
  let w: World;
  const stores: RedisReplayStore[] = [];

  before(async function () {
    const bin = redisBinaryOrSkip(this);
    server = await RedisServer.create(bin);
    // This Redis has remembered every consume since long before the world's frozen clock.
    await seedGeneration(server);
    w = makeWorld();
  });

  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    if (server && !server.running) await server.start();
    // A test may have begun a new generation (an empty restart); the next one starts from the old world again.
    if (server) await seedGeneration(server);
  });

  after(async () => {
    await server?.dispose();
  });

  async function readyStore(errors: Error[] = []): Promise<RedisReplayStore> {
    const store = redisStore(server, errors);
    stores.push(store);
    assert.equal(await store.waitUntilReady(READY_MS), true, `store not ready within ${READY_MS} ms`);
    return store;
  }

  it('allows a request once and denies its replay as jti_replay (401)', async () => {
    const store = await readyStore();
    const p = signed(w);
    expect(await decide(w, view(p), store), 'ok', true, 200);
    expect(await decide(w, view(p), store), 'jti_replay', false, 401);
  });

  it('denies a replay seen by another replica (a second client on the same Redis) as jti_replay', async () => {
    const a = await readyStore();
    const b = await readyStore();
    const pp = passport(w);
    expect(await decide(w, view(signed(w, {}, { passport: pp })), a), 'ok', true, 200);
    expect(await decide(w, view(signed(w, {}, { passport: pp })), b), 'jti_replay', false, 401);
  });

  it('of 200 concurrent presentations of one passport, exactly one is allowed and 199 are jti_replay', async () => {
    const store = await readyStore();
    const pp = passport(w);
    // 200 distinct proofs (each its own nonce) over the same passport, all in flight at once.
    const views = Array.from({ length: 200 }, () => view(signed(w, {}, { passport: pp })));
    const decisions = await Promise.all(views.map((v) => decide(w, v, store)));
    const counts = new Map<string, number>();
    for (const d of decisions) counts.set(d.reason, (counts.get(d.reason) ?? 0) + 1);
    assert.deepEqual(Object.fromEntries(counts), { ok: 1, jti_replay: 199 });
    assert.equal(decisions.filter((d) => d.allow).length, 1);
    assert.equal(store.errorCount, 0);
  });

  it('of 200 concurrent presentations spread over 4 replicas, exactly one is allowed', async () => {
    const replicas = await Promise.all([readyStore(), readyStore(), readyStore(), readyStore()]);
    const pp = passport(w);
    const decisions = await Promise.all(Array.from({ length: 200 }, (_, i) => decide(w, view(signed(w, {}, { passport: pp })), replicas[i % 4]!)));
    assert.equal(decisions.filter((d) => d.reason === 'ok' && d.allow).length, 1);
    assert.equal(decisions.filter((d) => d.reason === 'jti_replay' && !d.allow).length, 199);
  });

  it('a junk request carrying a valid passport does not consume its jti; the genuine request is then allowed', async () => {
    const store = await readyStore();
    const p = signed(w);
    const [a, b] = p.headers.get(HEADER.proof)!.split('.').slice(0, 2);
    const junk = new Map(p.headers).set(HEADER.proof, `${a!}.${b!}.${b64url(randomBytes(64))}`);
    expect(await decide(w, view({ request: p.request, headers: junk }), store), 'transcript_mismatch', false, 401);
    expect(await decide(w, view(p, { body: { kind: 'bytes', bytes: Buffer.from('{}'), partial: false } }), store), 'body_mismatch', false, 401);
    expect(await decide(w, view(p), store), 'ok', true, 200);
    expect(await decide(w, view(p), store), 'jti_replay', false, 401);
  });

  it('denies with replay_store_unavailable (503) when the store points at a stopped redis-server', async () => {
    const errors: Error[] = [];
    const store = await readyStore(errors);
    await server.stop();
    const d = await decide(w, view(signed(w)), store);
    expect(d, 'replay_store_unavailable', false, 503);
    assert.equal(d.grpcStatus, 14);
    assert.ok(errors.length > 0, 'the store reported the failure to its error hook');
  });

  it('denies while Redis is stopped mid-test; after an empty restart denies what it forgot as replay_state_lost', async () => {
    const store = await readyStore();
    expect(await decide(w, view(signed(w)), store), 'ok', true, 200);
    await server.stop();
    const p = signed(w);
    // Several requests during the outage: every one fails closed, none hangs.
    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      expect(await decide(w, view(p), store), 'replay_store_unavailable', false, 503);
      assert.ok(Date.now() - started < 2000, 'a down store answers within the command timeout');
    }
    await server.start();
    assert.equal(await store.waitUntilReady(READY_MS), true, 'the store reconnects to the restarted server');
    // Restarted without persistence: Redis forgot every jti, so none acceptable before now can be vouched for.
    expect(await decide(w, view(p), store), 'replay_state_lost', false, 503);
    assert.equal(store.generationStartMs, NOW_MS, 'the new generation began on the engine clock');
    // A passport first acceptable at the new generation's start is consumed exactly once.
    const fresh = passport(w, { nowMs: NOW_MS + 30_000 });
    const later = (): RequestView => view(signed(w, {}, { passport: fresh, nowMs: NOW_MS + 1000 }));
    expect(await verifyRequest({ view: later(), bundle: w.bundle, store, nowMs: NOW_MS + 1000 }), 'ok', true, 200);
    expect(await verifyRequest({ view: later(), bundle: w.bundle, store, nowMs: NOW_MS + 1000 }), 'jti_replay', false, 401);
  });

  it('in dry-run never writes the jti to Redis', async () => {
    const store = await readyStore();
    const p = signed(w);
    const d = await decide(w, view(p, { mode: 'dry_run' }), store);
    assert.deepEqual({ reason: d.reason, allow: d.allow, dryRun: d.dryRun }, { reason: 'ok', allow: true, dryRun: true });
    const key = store.redisKey(`${ISSUER}\n${d.identity!.jti}`);
    assert.equal(await server.command(['EXISTS', key]), 0);
    expect(await decide(w, view(p), store), 'ok', true, 200);
    assert.equal(await server.command(['EXISTS', key]), 1);
  });
});
