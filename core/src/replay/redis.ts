/**
 * Replay store shared by every server replica, on Redis through ioredis.
 *
 * Consume is one command, `SET <prefix><sha256(key)> 1 PX <ttl> NX`: Redis runs it atomically, so of
 * any number of concurrent consumes of one key, across any number of replicas, exactly one gets `OK`
 * (`consumed`) and the others get a null reply (`replayed`). The key is hashed so that whatever the
 * caller's jti contains (it is attacker-chosen, even if the core bounds its length) it can never
 * change the key's shape, its prefix or its cluster hash slot tag (`{...}`).
 *
 * Failing closed and failing fast: a replay decision is on the request path, so the client is set
 * up to answer "cannot tell" quickly rather than wait for Redis to come back:
 * - `enableOfflineQueue: false` — while disconnected, commands are rejected at once instead of
 *   being queued until a reconnect;
 * - `commandTimeout` — a Redis that accepted the connection but does not reply (paused, overloaded,
 *   partitioned) is bounded too;
 * - `maxRetriesPerRequest: 0` — a command caught by a connection drop is failed, not resent later.
 * Every failure becomes `unavailable`, never `consumed`, and never an exception out of `consume`.
 * A command that timed out may still be applied by Redis afterwards; that burns the jti of a
 * request that was denied, which is the safe direction, and it is reported through `onError`.
 * `consume` bounds its own wait (wait.ts) by the caller's deadline and tells a store that did not
 * answer (`unavailable`) from a server whose event loop held up the answer (`overloaded`).
 *
 * ioredis reports connection problems as `error` events; an EventEmitter without an `error`
 * listener throws, which would crash the server, so every client here has one. The errors go to
 * the injected `onError` hook (the server logs and counts them).
 *
 * RESP2 is pinned: SET NX PX needs nothing newer, and it works with Redis < 6 and with proxies
 * that do not speak HELLO.
 */
import { createRequire } from 'node:module';
import type { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis';

type IoRedis = typeof import('ioredis');
let ioredisModule: IoRedis | undefined;

/**
 * ioredis, loaded when the first Redis store is made rather than whenever this module is imported.
 * Loading it defines a subclass of String, and from then on V8 runs every `charCodeAt` loop in the
 * process three to four times slower (measured: bench/after-decision.ts); a server on the memory
 * store must not pay that for a client it never uses.
 */
function ioredis(): IoRedis {
  return (ioredisModule ??= createRequire(import.meta.url)('ioredis') as IoRedis);
}
import { sha256b64url } from '../encoding.js';
import type { ConsumeResult, ReplayStore } from './types.js';
import { boundedWait } from './wait.js';

export interface RedisAddress {
  readonly host: string;
  readonly port: number;
}

/** Exactly one topology: a URL (`redis://` or `rediss://`), a Sentinel group, or Cluster seed nodes. */
export type RedisTopology =
  | { readonly url: string }
  | { readonly sentinels: readonly RedisAddress[]; readonly name: string }
  | { readonly nodes: readonly RedisAddress[] };

export interface RedisReplayStoreOptions {
  readonly topology: RedisTopology;
  /** Bound on establishing a TCP (and TLS) connection. */
  readonly connectTimeoutMs: number;
  /** Bound on waiting for any one reply. */
  readonly commandTimeoutMs: number;
  readonly keyPrefix: string;
  /** For Sentinel and Cluster (a URL carries its own credentials). */
  readonly username?: string;
  readonly password?: string;
  /** TLS to Sentinel-resolved masters or Cluster nodes (a URL says it with `rediss://`). */
  readonly tls?: boolean;
  /** Called with every client error (connection refused, timeouts, …). Must not throw. */
  readonly onError?: (error: Error) => void;
}

export const DEFAULT_KEY_PREFIX = 'trustplane:jti:';

/** How long after the consume's own wait ioredis drops a command that never got a reply. */
const COMMAND_BACKSTOP_MS = 1000;

/** Reconnect backoff: fast at first, so a restarted Redis is used again within about a second. */
function reconnectDelayMs(attempt: number): number {
  return Math.min(50 * 2 ** Math.min(attempt, 5), 1000);
}

/** Problems with the options, every one of them; empty when valid. */
export function redisOptionsProblems(options: RedisReplayStoreOptions): string[] {
  const problems: string[] = [];
  const t = options.topology as Partial<{ url: unknown; sentinels: unknown; name: unknown; nodes: unknown }>;
  const kinds = [t.url !== undefined, t.sentinels !== undefined, t.nodes !== undefined].filter(Boolean).length;
  if (kinds !== 1) problems.push('redis: set exactly one of url, sentinels (with name), or nodes');
  if (t.url !== undefined) {
    if (typeof t.url !== 'string' || !/^rediss?:\/\/[^\s]+$/.test(t.url)) {
      problems.push('redis.url: must be a redis:// or rediss:// URL');
    }
  }
  if (t.sentinels !== undefined) {
    problems.push(...addressProblems('redis.sentinels', t.sentinels));
    if (typeof t.name !== 'string' || t.name.length === 0) problems.push('redis.name: the Sentinel master group name is required with sentinels');
  }
  if (t.nodes !== undefined) problems.push(...addressProblems('redis.nodes', t.nodes));
  if (!isPositiveInt(options.connectTimeoutMs)) problems.push('redis.connect_timeout_ms: must be a positive integer');
  if (!isPositiveInt(options.commandTimeoutMs)) problems.push('redis.command_timeout_ms: must be a positive integer');
  // Printable ASCII without spaces: the prefix is shown in `redis-cli` and must not need quoting.
  if (typeof options.keyPrefix !== 'string' || !/^[\x21-\x7e]{1,64}$/.test(options.keyPrefix)) {
    problems.push('redis.key_prefix: 1 to 64 printable ASCII characters without spaces');
  }
  return problems;
}

function isPositiveInt(v: unknown): boolean {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
}

function addressProblems(field: string, value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0) return [`${field}: a non-empty list of {host, port}`];
  const problems: string[] = [];
  value.forEach((a: unknown, i) => {
    const addr = a as Partial<RedisAddress> | null;
    if (addr === null || typeof addr !== 'object' || typeof addr.host !== 'string' || addr.host.length === 0) {
      problems.push(`${field}[${i}].host: a non-empty string`);
    }
    if (addr === null || typeof addr !== 'object' || !isPositiveInt(addr.port) || (addr.port as number) > 65535) {
      problems.push(`${field}[${i}].port: an integer 1..65535`);
    }
  });
  return problems;
}

export class RedisReplayStore implements ReplayStore {
  readonly kind = 'redis' as const;
  readonly keyPrefix: string;
  readonly #client: Redis | Cluster;
  readonly #onError: (error: Error) => void;
  readonly #commandTimeoutMs: number;
  #errors = 0;
  #closed = false;

  constructor(options: RedisReplayStoreOptions) {
    const problems = redisOptionsProblems(options);
    if (problems.length > 0) throw new TypeError(`invalid Redis replay store options: ${problems.join('; ')}`);
    this.keyPrefix = options.keyPrefix;
    this.#onError = options.onError ?? (() => {});
    this.#commandTimeoutMs = options.commandTimeoutMs;
    this.#client = createClient(options);
    const report = (error: unknown): void => this.#report(error);
    this.#client.on('error', report);
    // Cluster reports per-node failures separately; they are the same kind of trouble.
    if (this.#client instanceof ioredis().Cluster) this.#client.on('node error', report);
  }

  /** Client errors seen so far (connection and command failures). */
  get errorCount(): number {
    return this.#errors;
  }

  /** The Redis key that records `key`: prefix + base64url(SHA-256(key)). */
  redisKey(key: string): string {
    return this.keyPrefix + sha256b64url(key);
  }

  async consume(key: string, ttlMs: number, waitMs?: number): Promise<ConsumeResult> {
    if (typeof key !== 'string') throw new TypeError('replay key must be a string');
    if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new TypeError(`ttlMs must be a positive number, got ${String(ttlMs)}`);
    if (this.#closed) return 'unavailable';
    // PX takes whole milliseconds; rounding up never shortens the protection.
    const px = Math.ceil(ttlMs);
    try {
      // The wait is ours (wait.ts), bounded by the caller's deadline: ioredis's own command timer
      // would fire before a reply already buffered is read, and drop it. Its timer is set first with
      // a longer backstop (ioredis keeps the first one set), so it only ever reaps a command whose
      // wait already ended.
      const command = new (ioredis().Command)('set', [this.redisKey(key), '1', 'PX', px, 'NX'], { replyEncoding: 'utf8' });
      command.setTimeout(this.#commandTimeoutMs + COMMAND_BACKSTOP_MS);
      const sent = this.#client.sendCommand(command) as Promise<unknown>;
      const reply = await boundedWait(sent, waitMs === undefined ? this.#commandTimeoutMs : Math.min(waitMs, this.#commandTimeoutMs));
      if (reply === 'timeout' || reply === 'overloaded') {
        // The SET may still run: then the jti is consumed although its check was denied. Say so.
        sent.then(
          (late) => {
            if (late === 'OK') this.#report(new Error(`a consume the server stopped waiting for (${reply}) was applied afterwards: its jti is consumed although the check was denied`));
          },
          () => {},
        );
        return reply === 'overloaded' ? 'overloaded' : 'unavailable';
      }
      if (reply === 'OK') return 'consumed';
      if (reply === null) return 'replayed';
      this.#report(new Error(`unexpected SET NX reply: ${String(reply)}`));
      return 'unavailable';
    } catch (error) {
      this.#report(error);
      return 'unavailable';
    }
  }

  async ping(): Promise<boolean> {
    if (this.#closed) return false;
    try {
      return (await this.#client.ping()) === 'PONG';
    } catch {
      // Readiness polls this; the failure itself already reached onError via the client.
      return false;
    }
  }

  /**
   * Resolves true once the client is connected and ready, false when `timeoutMs` passes first.
   * Lets a server wait for Redis at boot before declaring itself ready.
   */
  async waitUntilReady(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#closed) {
      if (this.#client.status === 'ready' && (await this.ping())) return true;
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise((resolve) => setTimeout(resolve, Math.min(25, left)));
    }
    return false;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      // QUIT lets Redis finish replies in flight; bounded by commandTimeout, rejected at once if offline.
      if (this.#client.status === 'ready') await this.#client.quit();
    } catch {
      // Closing anyway.
    } finally {
      this.#client.disconnect();
    }
  }

  #report(error: unknown): void {
    this.#errors++;
    try {
      this.#onError(error instanceof Error ? error : new Error(String(error)));
    } catch {
      // A failing hook must not turn a store error into a crash.
    }
  }
}

function createClient(options: RedisReplayStoreOptions): Redis | Cluster {
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
