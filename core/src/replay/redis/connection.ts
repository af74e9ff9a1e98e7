/**
 * The ioredis client of the Redis replay store (core/src/replay/redis.ts): loading ioredis, and the
 * connection settings for a URL, a Sentinel group or Cluster seed nodes.
 *
 * Failing closed and failing fast: a replay decision is on the request path, so the client is set
 * up to answer "cannot tell" quickly rather than wait for Redis to come back:
 * - `enableOfflineQueue: false` — while disconnected, commands are rejected at once instead of
 *   being queued until a reconnect;
 * - `commandTimeout` — a Redis that accepted the connection but does not reply (paused, overloaded,
 *   partitioned) is bounded too;
 * - `maxRetriesPerRequest: 0` — a command caught by a connection drop is failed, not resent later.
 * Every failure becomes `unavailable` in the store (core/src/replay/redis.ts), never `consumed`.
 *
 * RESP2 is pinned: SET NX PX needs nothing newer, and it works with Redis < 6 and with proxies
 * that do not speak HELLO.
 */
import { createRequire } from 'node:module';
import type { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import type { RedisReplayStoreOptions } from './options.js';

type IoRedis = typeof import('ioredis');
let ioredisModule: IoRedis | undefined;

/**
 * ioredis, loaded when the first Redis store is made rather than whenever this module is imported.
 * Loading it defines a subclass of String, and from then on V8 runs every `charCodeAt` loop in the
 * process three to four times slower (measured: bench/after-decision.ts); a server on the memory
 * store must not pay that for a client it never uses.
 */
export function ioredis(): IoRedis {
  return (ioredisModule ??= createRequire(import.meta.url)('ioredis') as IoRedis);
}

/** Reconnect backoff: fast at first, so a restarted Redis is used again within about a second. */
function reconnectDelayMs(attempt: number): number {
  return Math.min(50 * 2 ** Math.min(attempt, 5), 1000);
}

export function createClient(options: RedisReplayStoreOptions): Redis | Cluster {
  // What every connection shares, also each Cluster node connection.
  const perConnection = {
    connectTimeout: options.connectTimeoutMs,
    commandTimeout: options.commandTimeoutMs,
    maxRetriesPerRequest: 0,
    protocol: 2,
  } as const;
  const common: RedisOptions = {
    ...perConnection,
    enableOfflineQueue: false,
    // No INFO round trip before "ready": the store keeps no data a loading Redis could be missing.
    enableReadyCheck: false,
    retryStrategy: reconnectDelayMs,
  };
  const auth: RedisOptions = {
    ...(options.username !== undefined ? { username: options.username } : {}),
    ...(options.password !== undefined ? { password: options.password } : {}),
    ...(options.tls === true ? { tls: {} } : {}),
  };
  const { Redis, Cluster } = ioredis();
  const t = options.topology;
  if ('url' in t) return new Redis(t.url, common);
  if ('sentinels' in t) {
    return new Redis({
      ...common,
      ...auth,
      sentinels: t.sentinels.map((a) => ({ host: a.host, port: a.port })),
      name: t.name,
      sentinelRetryStrategy: reconnectDelayMs,
      sentinelCommandTimeout: options.commandTimeoutMs,
    });
  }
  const clusterOptions: ClusterOptions = {
    enableOfflineQueue: false,
    clusterRetryStrategy: reconnectDelayMs,
    slotsRefreshTimeout: options.commandTimeoutMs,
    redisOptions: { ...perConnection, ...auth },
  };
  return new Cluster(
    t.nodes.map((a) => ({ host: a.host, port: a.port })),
    clusterOptions,
  );
}
