import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { RedisReplayStore, createReplayStore } from '../../core/src/replay/index.js';
import type { ReplayStore } from '../../core/src/replay/index.js';
import { RedisSentinel, RedisServer, redisBinaryOrSkip } from '../support/redis-server.js';

const READY_MS = 5000;

function storeFor(server: RedisServer, errors: Error[] = [], commandTimeoutMs = 250): RedisReplayStore {
  const store = createReplayStore(
    { store: 'redis', redis: { url: server.url, connect_timeout_ms: 500, command_timeout_ms: commandTimeoutMs } },
    { onError: (e) => errors.push(e) },
  );
  assert.ok(store instanceof RedisReplayStore);
  return store;
}

async function ready(store: RedisReplayStore): Promise<void> {
  assert.equal(await store.waitUntilReady(READY_MS), true, `store not ready within ${READY_MS} ms`);
}

async function timed<T>(f: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = process.hrtime.bigint();
  const value = await f();
  return { value, ms: Number(process.hrtime.bigint() - start) / 1e6 };
}

/** Collects unhandled rejections during a test; the store must never leak one. */
function watchUnhandled(): { stop: () => unknown[] } {
  const seen: unknown[] = [];
  const onRejection = (reason: unknown): void => void seen.push(reason);
  process.on('unhandledRejection', onRejection);
  return {
    stop: () => {
      process.off('unhandledRejection', onRejection);
      return seen;
    },
  };
}

describe('RedisReplayStore against a real redis-server', function () {
  let server: RedisServer;
  const stores: ReplayStore[] = [];

  before(async function () {
    const bin = redisBinaryOrSkip(this);
    server = await RedisServer.create(bin);
  });

  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    if (server && !server.running) await server.start();
  });

  after(async () => {
    await server?.dispose();
  });

  function track<T extends ReplayStore>(store: T): T {
    stores.push(store);
    return store;
  }

  it('consumes a key once; later consumes are replays', async () => {
    const store = track(storeFor(server));
    await ready(store);
    assert.equal(await store.consume('jti-a', 60_000, Date.now(), Date.now()), 'consumed');
    assert.equal(await store.consume('jti-a', 60_000, Date.now(), Date.now()), 'replayed');
    assert.equal(await store.consume('jti-b', 60_000, Date.now(), Date.now()), 'consumed');
    assert.equal(store.errorCount, 0);
  });

  it('stores the SHA-256 of the key under the prefix with SET NX PX, never the raw key', async () => {
    const store = track(storeFor(server));
    await ready(store);
    const jti = 'evil}{slot} key\r\nDEL *';
    assert.equal(await store.consume(jti, 30_000, Date.now(), Date.now()), 'consumed');
    const expectedKey = 'trustplane:jti:' + createHash('sha256').update(jti, 'utf8').digest('base64url');
    assert.equal(store.redisKey(jti), expectedKey);
    assert.equal(expectedKey.length, 'trustplane:jti:'.length + 43);
    assert.equal(await server.command(['GET', expectedKey]), '1');
    const pttl = await server.command(['PTTL', expectedKey]);
    assert.ok(typeof pttl === 'number' && pttl > 29_000 && pttl <= 30_000, `PTTL ${String(pttl)}`);
    assert.deepEqual(await server.command(['KEYS', '*evil*']), []);
  });

  it('forgets a key after its TTL (PX) and consumes it again', async () => {
    const store = track(storeFor(server));
    await ready(store);
    assert.equal(await store.consume('short-lived', 150, Date.now(), Date.now()), 'consumed');
    assert.equal(await store.consume('short-lived', 150, Date.now(), Date.now()), 'replayed');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await store.consume('short-lived', 150, Date.now(), Date.now()), 'consumed');
  });

  it('rounds a fractional TTL up to whole milliseconds', async () => {
    const store = track(storeFor(server));
    await ready(store);
    assert.equal(await store.consume('fractional', 0.2, Date.now(), Date.now()), 'consumed');
    const pttl = await server.command(['PTTL', store.redisKey('fractional')]);
    assert.ok(pttl === 1 || pttl === 0 || pttl === -2, `PTTL ${String(pttl)}`);
  });

  it('of 200 concurrent consumes of one key, exactly one is consumed and 199 are replays', async () => {
    const store = track(storeFor(server));
    await ready(store);
    const results = await Promise.all(Array.from({ length: 200 }, () => store.consume('contended', 60_000, Date.now(), Date.now())));
    assert.equal(results.filter((r) => r === 'consumed').length, 1);
    assert.equal(results.filter((r) => r === 'replayed').length, 199);
  });

  it('two stores (two replicas) racing on one key: exactly one consumed across both', async () => {
    const a = track(storeFor(server));
    const b = track(storeFor(server));
    await ready(a);
    await ready(b);
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? a : b).consume('shared', 60_000, Date.now(), Date.now())));
    assert.equal(results.filter((r) => r === 'consumed').length, 1);
    assert.equal(results.filter((r) => r === 'replayed').length, 199);
  });

  it('answers unavailable promptly while Redis is stopped, and consumes again once it is back', async () => {
    const unhandled = watchUnhandled();
    const errors: Error[] = [];
    const store = track(storeFor(server, errors));
    await ready(store);
    assert.equal(await store.consume('before-outage', 60_000, Date.now(), Date.now()), 'consumed');

    await server.stop();
    for (let i = 0; i < 5; i++) {
      const { value, ms } = await timed(() => store.consume(`during-outage-${i}`, 60_000, Date.now(), Date.now()));
      assert.equal(value, 'unavailable');
      assert.ok(ms < 2000, `consume took ${ms} ms while Redis was down`);
    }
    const concurrent = await timed(() => Promise.all(Array.from({ length: 50 }, (_, i) => store.consume(`burst-${i}`, 60_000, Date.now(), Date.now()))));
    assert.deepEqual(new Set(concurrent.value), new Set(['unavailable']));
    assert.ok(concurrent.ms < 2000, `50 concurrent consumes took ${concurrent.ms} ms`);
    assert.equal(await store.ping(), false);
    assert.ok(errors.length > 0, 'client errors reach the onError hook');
    assert.equal(store.errorCount >= errors.length, true);

    await server.start();
    await ready(store);
    assert.equal(await store.consume('after-outage', 60_000, Date.now(), Date.now()), 'consumed');
    assert.equal(await store.consume('after-outage', 60_000, Date.now(), Date.now()), 'replayed');
    assert.deepEqual(unhandled.stop(), []);
  });

  it('answers unavailable within the command timeout when Redis hangs (SIGSTOP), and recovers on resume', async () => {
    const unhandled = watchUnhandled();
    const store = track(storeFor(server, [], 200));
    await ready(store);
    server.pause();
    try {
      const { value, ms } = await timed(() => store.consume('while-frozen', 60_000, Date.now(), Date.now()));
      assert.equal(value, 'unavailable');
      assert.ok(ms >= 150 && ms < 1000, `consume took ${ms} ms with a 200 ms command timeout`);
      assert.equal(await store.ping(), false);
    } finally {
      server.resume();
    }
    assert.equal(await store.consume('after-resume', 60_000, Date.now(), Date.now()), 'consumed');
    assert.deepEqual(unhandled.stop(), []);
  });

  it('answers unavailable (not an exception) when Redis was never reachable', async () => {
    const errors: Error[] = [];
    const store = track(
      createReplayStore(
        // Port 1 on loopback: connection refused at once.
        { store: 'redis', redis: { url: 'redis://127.0.0.1:1', connect_timeout_ms: 200, command_timeout_ms: 200 } },
        { onError: (e) => errors.push(e) },
      ),
    );
    const { value, ms } = await timed(() => store.consume('x', 1000, Date.now(), Date.now()));
    assert.equal(value, 'unavailable');
    assert.ok(ms < 500, `took ${ms} ms`);
    assert.equal(await store.ping(), false);
  });

  it('answers unavailable after close', async () => {
    const store = storeFor(server);
    await ready(store);
    await store.close();
    assert.equal(await store.consume('closed', 1000, Date.now(), Date.now()), 'unavailable');
    assert.equal(await store.ping(), false);
    await store.close();
  });
});

describe('RedisReplayStore with Sentinel', function () {
  let sentinel: RedisSentinel;

  before(async function () {
    const bin = redisBinaryOrSkip(this);
    sentinel = await RedisSentinel.create(bin);
  });

  after(async () => {
    await sentinel?.dispose();
  });

  it('finds the master through Sentinel and consumes once', async () => {
    const store = createReplayStore({
      store: 'redis',
      redis: {
        sentinels: [{ host: sentinel.sentinel.host, port: sentinel.sentinel.port }],
        name: sentinel.masterName,
        connect_timeout_ms: 500,
        command_timeout_ms: 250,
      },
    });
    try {
      assert.ok(store instanceof RedisReplayStore);
      await ready(store);
      assert.equal(await store.consume('via-sentinel', 60_000, Date.now(), Date.now()), 'consumed');
      assert.equal(await store.consume('via-sentinel', 60_000, Date.now(), Date.now()), 'replayed');
      // The write landed on the master Sentinel named.
      assert.equal(await sentinel.master.command(['GET', store.redisKey('via-sentinel')]), '1');
    } finally {
      await store.close();
    }
  });
});

describe('RedisReplayStore with Cluster', function () {
  let server: RedisServer;

  before(async function () {
    const bin = redisBinaryOrSkip(this);
    server = await RedisServer.create(bin, { cluster: true });
  });

  after(async () => {
    await server?.dispose();
  });

  it('consumes once on a single-node cluster, with 200 concurrent consumes giving one consumed', async () => {
    const store = createReplayStore({
      store: 'redis',
      redis: { nodes: [{ host: server.host, port: server.port }], connect_timeout_ms: 500, command_timeout_ms: 250 },
    });
    try {
      assert.ok(store instanceof RedisReplayStore);
      await ready(store);
      const results = await Promise.all(Array.from({ length: 200 }, () => store.consume('via-cluster', 60_000, Date.now(), Date.now())));
      assert.equal(results.filter((r) => r === 'consumed').length, 1);
      assert.equal(results.filter((r) => r === 'replayed').length, 199);
    } finally {
      await store.close();
    }
  });
});

describe('createReplayStore redis configuration', () => {
  it('reports every problem at once', () => {
    assert.throws(
      () =>
        createReplayStore({
          store: 'redis',
          redis: { url: 'http://x', nodes: [{ host: '', port: 70000 }], connect_timeout_ms: 0, command_timeout_ms: 1.5, key_prefix: 'has space' } as never,
        }),
      {
        name: 'TypeError',
        message:
          'invalid replay store configuration: redis: set exactly one of url, sentinels (with name), or nodes; ' +
          'redis.url: must be a redis:// or rediss:// URL; redis.nodes[0].host: a non-empty string; ' +
          'redis.nodes[0].port: an integer 1..65535; redis.connect_timeout_ms: must be a positive integer; ' +
          'redis.command_timeout_ms: must be a positive integer; redis.key_prefix: 1 to 64 printable ASCII characters without spaces',
      },
    );
  });

  it('requires the master name with sentinels, and some topology', () => {
    assert.throws(() => createReplayStore({ store: 'redis', redis: { sentinels: [{ host: 'a', port: 26379 }] } as never }), {
      message: 'invalid replay store configuration: redis.name: the Sentinel master group name is required with sentinels',
    });
    assert.throws(() => createReplayStore({ store: 'redis', redis: {} as never }), {
      message: 'invalid replay store configuration: redis: set exactly one of url, sentinels (with name), or nodes',
    });
  });

  it('refuses a Cluster key prefix without a hash tag, and gives Cluster a tagged default', async () => {
    assert.throws(() => createReplayStore({ store: 'redis', redis: { nodes: [{ host: '127.0.0.1', port: 1 }], key_prefix: 'tp:jti:' } }), {
      message: 'invalid replay store configuration: redis.key_prefix: with Redis Cluster it must carry a hash tag such as {trustplane}, so the generation marker and the replay keys share a slot',
    });
    const store = createReplayStore({ store: 'redis', redis: { nodes: [{ host: '127.0.0.1', port: 1 }] } }, { onError: () => {} });
    try {
      assert.ok(store instanceof RedisReplayStore);
      assert.equal(store.generationKey, '{trustplane}:jti:generation');
    } finally {
      await store.close();
    }
  });

  it('accepts rediss:// and a custom key prefix', async () => {
    const store = createReplayStore({
      store: 'redis',
      // Nothing listens on port 1: construction must not depend on reachability.
      redis: { url: 'rediss://127.0.0.1:1', key_prefix: 'tenant-a:jti:' },
    }, { onError: () => {} });
    try {
      assert.ok(store instanceof RedisReplayStore);
      assert.equal(store.keyPrefix, 'tenant-a:jti:');
      assert.equal(store.redisKey('j').startsWith('tenant-a:jti:'), true);
    } finally {
      await store.close();
    }
  });
});
