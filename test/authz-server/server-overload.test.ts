/**
 * Overload is not a store outage (docs/reason-codes.md, "Overload"), over real gRPC with a real
 * redis-server: Envoy's deadline (grpc-timeout) bounds the wait on the store, a check that arrives
 * with too little of it left or past the in-flight bound is shed as `overloaded` without touching
 * its jti, a store reply that arrived while the server's event loop was busy still counts, and a
 * busy loop is told apart from a paused Redis. Also the health side of a stop: the drain period
 * and Watch streams ending at shutdown, and the reload metric not counting the first load.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { RedisReplayStore } from '../../core/src/replay/redis.js';
import type { ConsumeResult } from '../../core/src/replay/types.js';
import { assertAllow, assertDeny } from '../support/check-assertions.js';
import { waitFor } from '../support/clock.js';
import { healthCheck, httpGet, makeCheckClient, metricValue, type CheckClient } from '../support/server-clients.js';
import { startInProcess, type InProcessServer } from '../support/server-harness.js';
import { checkBytes, signCheck } from '../support/signed-check.js';
import { makeTrust, type TrustSetup } from '../support/trust-setup.js';
import { RedisServer, redisBinaryOrSkip, seedGeneration } from '../support/redis-server.js';

/** Holds this process's event loop, the way a CPU-heavy moment does. */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin
  }
}

/** A real Redis store whose process goes busy right after each SET is on the wire. */
class BusyAfterSend extends RedisReplayStore {
  busyMs = 0;
  override consume(key: string, ttlMs: number, nowMs: number, acceptedFromMs: number, waitMs?: number): Promise<ConsumeResult> {
    const answer = super.consume(key, ttlMs, nowMs, acceptedFromMs, waitMs);
    busy(this.busyMs);
    return answer;
  }
}

describe('authz server under overload (real gRPC, real redis-server)', function () {
  this.timeout(60_000);
  let trust: TrustSetup;
  let redis: RedisServer | undefined;
  let store: BusyAfterSend | undefined;
  const servers: InProcessServer[] = [];
  const clients: CheckClient[] = [];

  const start = async (over: Record<string, unknown>, withStore?: BusyAfterSend): Promise<{ srv: InProcessServer; client: CheckClient }> => {
    const srv = await startInProcess(trust, over, withStore ? { store: withStore } : {});
    servers.push(srv);
    const client = makeCheckClient(srv.grpcAddress, { ownConnection: true });
    clients.push(client);
    return { srv, client };
  };

  /** A real redis-server, and a server whose replay store is a BusyAfterSend on it, SERVING. */
  const startBusy = async (ctx: Mocha.Context): Promise<{ client: CheckClient; store: BusyAfterSend; redis: RedisServer }> => {
    redis = await RedisServer.create(redisBinaryOrSkip(ctx));
    await seedGeneration(redis); // a Redis that has forgotten nothing: these tests are about overload, not amnesia
    await seedGeneration(redis, 0, 'tp:busy:');
    const busy = (store = new BusyAfterSend({ topology: { url: redis.url }, connectTimeoutMs: 500, commandTimeoutMs: 100, keyPrefix: 'tp:busy:' }));
    const { srv, client } = await start({}, busy);
    await waitFor('SERVING with Redis', async () => (await healthCheck(srv.grpcAddress)) === 'SERVING', 5000);
    return { client, store: busy, redis };
  };

  const redisConfig = (commandTimeoutMs: number): Record<string, unknown> => ({
    replay: { store: 'redis', redis: { url: redis!.url, command_timeout_ms: commandTimeoutMs, connect_timeout_ms: 500 } },
  });

  beforeEach(function () {
    trust = makeTrust('tp-overload-');
    trust.writeBundle(trust.bundle({ serial: 1 }));
  });

  afterEach(async () => {
    redis?.resume();
    for (const c of clients.splice(0)) c.close();
    for (const s of servers.splice(0)) await s.server.close();
    await store?.close();
    store = undefined;
    await redis?.dispose();
    redis = undefined;
    trust.dispose();
  });

  it('answers a check that arrives with less than the answer margin of its deadline left `overloaded` at once, and its jti stays unused', async () => {
    const { client } = await start({ overload: { answer_margin_ms: 300 } });
    // A first check opens the connection, so that the timed one measures only the answer.
    assertAllow(await client.check(checkBytes(signCheck(trust)), 5000), 'payments-create');
    const bytes = checkBytes(signCheck(trust));
    const t0 = performance.now();
    assertDeny(await client.check(bytes, 250), 'overloaded');
    assert.ok(performance.now() - t0 < 100, `answered in ${(performance.now() - t0).toFixed(0)} ms, at once`);
    // The same passport, presented in time, is still good: the shed check never reached the store.
    assertAllow(await client.check(bytes, 5000), 'payments-create');
    assertDeny(await client.check(bytes, 5000), 'jti_replay');
  });

  it('sheds the check past overload.max_in_flight `overloaded` at once while the others wait on a paused Redis, then the shed passport is still good', async function () {
    redis = await RedisServer.create(redisBinaryOrSkip(this));
    await seedGeneration(redis); // a Redis that has forgotten nothing: these tests are about overload, not amnesia
    const { srv, client } = await start({ ...redisConfig(1500), overload: { max_in_flight: 3 } });
    await waitFor('SERVING with Redis', async () => (await healthCheck(srv.grpcAddress)) === 'SERVING', 5000);
    redis.pause();
    const held = Array.from({ length: 3 }, () => client.check(checkBytes(signCheck(trust)), 10_000));
    await waitFor('three checks in flight', () => srv.server.check.inFlight === 3, 5000, 10);
    const shedBytes = checkBytes(signCheck(trust));
    const t0 = performance.now();
    assertDeny(await client.check(shedBytes, 10_000), 'overloaded');
    assert.ok(performance.now() - t0 < 250, `shed in ${(performance.now() - t0).toFixed(0)} ms`);
    for (const r of await Promise.all(held)) assertDeny(r, 'replay_store_unavailable');
    redis.resume();
    assertAllow(await client.check(shedBytes, 5000), 'payments-create');
    const m = (await httpGet(srv.httpAddress, '/metrics')).body;
    assert.equal(metricValue(m, 'trustplane_decisions_total', { reason: 'overloaded' }), 1);
  });

  it('bounds the wait on a paused Redis by the deadline Envoy sent, answering replay_store_unavailable before it, not a gRPC DEADLINE_EXCEEDED', async function () {
    redis = await RedisServer.create(redisBinaryOrSkip(this));
    await seedGeneration(redis); // a Redis that has forgotten nothing: these tests are about overload, not amnesia
    const { srv, client } = await start({ ...redisConfig(5000), overload: { answer_margin_ms: 20 } });
    await waitFor('SERVING with Redis', async () => (await healthCheck(srv.grpcAddress)) === 'SERVING', 5000);
    redis.pause();
    const s = signCheck(trust);
    const t0 = performance.now();
    assertDeny(await client.check(checkBytes(s), 400), 'replay_store_unavailable');
    const took = performance.now() - t0;
    assert.ok(took >= 300 && took < 400, `answered after ${took.toFixed(0)} ms, within the 400 ms deadline`);
    // The truth about a timed-out consume: Redis applies the SET once it runs again, the jti is
    // consumed although the check was denied, and the server says so.
    redis.resume();
    await waitFor('the late consume reported', () => srv.log.some((l) => l.includes('applied afterwards')), 3000);
    assertDeny(await client.check(checkBytes(s), 5000), 'jti_replay');
  });

  it('counts a Redis reply that arrived while the event loop was busy past the store timeout: the check is allowed, not replay_store_unavailable', async function () {
    const { client, store } = await startBusy(this);
    store.busyMs = 350;
    const bytes = checkBytes(signCheck(trust));
    assertAllow(await client.check(bytes, 5000), 'payments-create');
    assertDeny(await client.check(bytes, 5000), 'jti_replay');
  });

  it('answers `overloaded` when the busy event loop, not the store, used up the wait, and replay_store_unavailable when a paused Redis did', async function () {
    const { client, store, redis } = await startBusy(this);
    redis.pause();
    store.busyMs = 350;
    assertDeny(await client.check(checkBytes(signCheck(trust)), 5000), 'overloaded');
    store.busyMs = 0;
    assertDeny(await client.check(checkBytes(signCheck(trust)), 5000), 'replay_store_unavailable');
  });

  it('drains: NOT_SERVING on grpc.health.v1 and /readyz while it still answers checks, for the drain period', async () => {
    const { srv, client } = await start({});
    assert.equal(await healthCheck(srv.grpcAddress), 'SERVING');
    const t0 = performance.now();
    const draining = srv.server.drain(800);
    assert.equal(await healthCheck(srv.grpcAddress), 'NOT_SERVING');
    assert.equal((await httpGet(srv.httpAddress, '/readyz')).status, 503);
    assertAllow(await client.check(checkBytes(signCheck(trust))), 'payments-create');
    await draining;
    assert.ok(performance.now() - t0 >= 790, 'the drain lasted its period');
    assertAllow(await client.check(checkBytes(signCheck(trust))), 'payments-create');
  });

  it('ends open grpc.health.v1 Watch streams at shutdown instead of waiting out the grace period', async () => {
    const { srv } = await start({ shutdown_grace_ms: 10_000 });
    const watcher = new grpc.Client(srv.grpcAddress, grpc.credentials.createInsecure());
    const statuses: number[] = [];
    const stream = watcher.makeServerStreamRequest<Buffer, Buffer>('/grpc.health.v1.Health/Watch', (m) => m, (r) => r, Buffer.alloc(0));
    stream.on('data', (b: Buffer) => {
      const r = protobuf.Reader.create(b);
      let status = 0;
      while (r.pos < r.len) {
        const tag = r.uint32();
        if (tag >>> 3 === 1) status = r.int32();
        else r.skipType(tag & 7);
      }
      statuses.push(status);
    });
    const ended = new Promise<number>((resolve) => stream.on('status', (s: grpc.StatusObject) => resolve(s.code)));
    stream.on('error', () => {});
    await waitFor('the first Watch answer', () => statuses.length > 0, 3000, 10);
    assert.deepEqual(statuses, [1]);
    const t0 = performance.now();
    await srv.server.close();
    servers.splice(servers.indexOf(srv), 1);
    assert.ok(performance.now() - t0 < 2000, `close took ${(performance.now() - t0).toFixed(0)} ms`);
    assert.equal(await ended, grpc.status.OK);
    assert.equal(statuses.at(-1), 2, 'the last status seen is NOT_SERVING');
    watcher.close();
  });

  it('counts reloads, not the first load, in trustplane_bundle_reloads_total{result="ok"} (docs/metrics.md)', async () => {
    const { srv } = await start({});
    const reloads = async (): Promise<number> => metricValue((await httpGet(srv.httpAddress, '/metrics')).body, 'trustplane_bundle_reloads_total', { result: 'ok' });
    assert.equal(await reloads(), 0);
    trust.writeBundle(trust.bundle({ serial: 2 }));
    await waitFor('serial 2 in use', () => srv.server.bundle()?.serial === 2, 5000);
    assert.equal(await reloads(), 1);
  });
});
