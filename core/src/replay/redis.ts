/**
 * Replay store shared by every server replica, on Redis through ioredis.
 *
 * Consume is one round trip, a Lua script (`CONSUME_LUA`) that checks the generation marker and
 * then runs `SET <prefix><sha256(key)> 1 PX <ttl> NX`. Redis runs a script atomically, so of any
 * number of concurrent consumes of one key, across any number of replicas, exactly one is
 * `consumed` and the others `replayed`. The key is hashed so that whatever the caller's jti
 * contains (it is attacker-chosen, even if the core bounds its length) it can never change the
 * key's shape, its prefix or its cluster hash slot tag (`{...}`).
 *
 * Amnesia. A Redis restarted without persistence, flushed, or failed over to a replica that missed
 * the last writes has forgotten consumed jtis that are still acceptable. The marker key
 * `<prefix>generation` (no TTL) holds `<random id>:<start ms>`; it is created when missing, by
 * whichever replica notices first, inside the same atomic script, so every replica adopts the one
 * value. A store that finds the marker missing or different from the one it knows has seen the
 * state change under it: it adopts the current marker and answers `state_lost` for every passport
 * that could have been accepted before that generation began (../engine/acceptance.ts), without
 * writing the jti. Forgetting the marker is forgetting everything, so losing both together is
 * exactly what it detects. Persistence (`appendonly yes`, `appendfsync always`) keeps the marker
 * through a restart, so no new generation begins (docs/deployment.md, "Redis").
 *
 * Eviction. Under any `maxmemory-policy` but `noeviction`, Redis may drop a key with a TTL before
 * it expires, silently re-opening its replay. The policy is read (`CONFIG GET`) when the client
 * becomes ready, on every reconnect and on each readiness ping; anything but `noeviction` makes
 * `ping` false and every consume `misconfigured`. Where `CONFIG` is disabled (managed Redis), the
 * operator states the policy with `assumeNoEviction`; without it the store refuses to serve.
 *
 * Cluster: a script may only touch keys of one hash slot, so there the prefix must carry a hash
 * tag (default `{trustplane}:jti:`), which puts the marker and every replay key on one shard.
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
import { randomBytes } from 'node:crypto';
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
  /**
   * The operator's word that the policy is `noeviction` where `CONFIG GET` is refused (managed
   * Redis services often rename or disable CONFIG). A policy that CONFIG does report still wins.
   */
  readonly assumeNoEviction?: boolean;
  /** Engine clock for the start of a generation this store creates from `ping`. Defaults to `Date.now`. */
  readonly clock?: () => number;
  /** Called when the store learns of a generation other than the one it knew (the first one too). Must not throw. */
  readonly onGeneration?: (startMs: number) => void;
}

export const DEFAULT_KEY_PREFIX = 'trustplane:jti:';
/** With Redis Cluster: the hash tag keeps the generation marker and the replay keys in one slot. */
export const DEFAULT_CLUSTER_KEY_PREFIX = '{trustplane}:jti:';

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
  } else if (t.nodes !== undefined && !/^[^{]*\{[^}]+\}/.test(options.keyPrefix)) {
    problems.push('redis.key_prefix: with Redis Cluster it must carry a hash tag such as {trustplane}, so the generation marker and the replay keys share a slot');
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

/**
 * KEYS[1] the generation marker, KEYS[2] the replay key; ARGV[1] the marker value this client
 * knows ('' when none yet), ARGV[2] the TTL in ms, ARGV[3] the value to create a missing marker
 * with. Returns 1 consumed, 0 replayed, or the current marker (a string) when it is not the known
 * one, having written nothing but a missing marker.
 */
const CONSUME_LUA = `
local g = redis.call('GET', KEYS[1])
if g ~= ARGV[1] then
  if not g then
    redis.call('SET', KEYS[1], ARGV[3])
    return ARGV[3]
  end
  return g
end
if redis.call('SET', KEYS[2], '1', 'PX', ARGV[2], 'NX') then return 1 end
return 0
`;

/** KEYS[1] the generation marker; ARGV[1] the value to create it with. Returns the current marker. */
const GENERATION_LUA = `
local g = redis.call('GET', KEYS[1])
if not g then
  redis.call('SET', KEYS[1], ARGV[1])
  return ARGV[1]
end
return g
`;

/** `<32 hex id>:<start ms>`, the marker's only form. */
const MARKER = /^[0-9a-f]{32}:([0-9]{1,16})$/;

interface Generation {
  readonly marker: string;
  readonly startMs: number;
}

type ScriptClient = {
  tpGeneration(marker: string, candidate: string): Promise<unknown>;
};

export class RedisReplayStore implements ReplayStore {
  readonly kind = 'redis' as const;
  readonly keyPrefix: string;
  /** The generation marker's key. */
  readonly generationKey: string;
  readonly #client: Redis | Cluster;
  readonly #onError: (error: Error) => void;
  readonly #onGeneration: (startMs: number) => void;
  readonly #clock: () => number;
  readonly #assumeNoEviction: boolean;
  /** Random per store: a marker it creates is told apart from any other replica's. */
  readonly #markerId = randomBytes(16).toString('hex');
  #generation: Generation | undefined;
  /** The eviction policy was read and found safe on the current connection. */
  #policyChecked = false;
  /** Why the store refuses to serve although Redis answers; undefined when nothing is wrong. */
  #problem: string | undefined;
  readonly #commandTimeoutMs: number;
  #errors = 0;
  #closed = false;

  constructor(options: RedisReplayStoreOptions) {
    const problems = redisOptionsProblems(options);
    if (problems.length > 0) throw new TypeError(`invalid Redis replay store options: ${problems.join('; ')}`);
    this.keyPrefix = options.keyPrefix;
    this.generationKey = `${options.keyPrefix}generation`;
    this.#onError = options.onError ?? (() => {});
    this.#clock = options.clock ?? Date.now;
    this.#onGeneration = options.onGeneration ?? (() => {});
    this.#assumeNoEviction = options.assumeNoEviction === true;
    this.#commandTimeoutMs = options.commandTimeoutMs;
    this.#client = createClient(options);
    this.#client.defineCommand('tpGeneration', { numberOfKeys: 1, lua: GENERATION_LUA });
    const report = (error: unknown): void => this.#report(error);
    this.#client.on('error', report);
    // Cluster reports per-node failures separately; they are the same kind of trouble.
    if (this.#client instanceof ioredis().Cluster) this.#client.on('node error', report);
    // Every (re)connection may reach another server (a restart, a failover): check it again, and
    // until that is done, answer `unavailable`.
    this.#client.on('ready', () => {
      this.#policyChecked = false;
      void this.#refresh();
    });
  }

  /** Client errors seen so far (connection and command failures). */
  get errorCount(): number {
    return this.#errors;
  }

  /** Engine instant (ms) the generation this store knows began; undefined before it learnt one. */
  get generationStartMs(): number | undefined {
    return this.#generation?.startMs;
  }

  /** Why the store refuses to serve (eviction policy, unreadable marker), or undefined. */
  problem(): string | undefined {
    return this.#problem;
  }

  /** The Redis key that records `key`: prefix + base64url(SHA-256(key)). */
  redisKey(key: string): string {
    return this.keyPrefix + sha256b64url(key);
  }

  /**
   * The consume script (CONSUME_LUA), sent as a command of our own so that its ioredis timer can be
   * set first, with a longer backstop (ioredis keeps the first one set): it then only ever reaps a
   * command whose bounded wait already ended. Plain EVAL, one round trip whatever Redis has cached:
   * an EVALSHA that meets NOSCRIPT (after a restart or SCRIPT FLUSH) would need a second one, and a
   * wait bounded by Envoy's deadline has no room for it.
   */
  #consumeScript(redisKey: string, known: string, px: number, candidate: string): Promise<unknown> {
    const command = new (ioredis().Command)('eval', [CONSUME_LUA, 2, this.generationKey, redisKey, known, px, candidate], { replyEncoding: 'utf8' });
    command.setTimeout(this.#commandTimeoutMs + COMMAND_BACKSTOP_MS);
    return this.#client.sendCommand(command) as Promise<unknown>;
  }

  async consume(key: string, ttlMs: number, nowMs: number, acceptedFromMs: number, waitMs?: number): Promise<ConsumeResult> {
    if (typeof key !== 'string') throw new TypeError('replay key must be a string');
    if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new TypeError(`ttlMs must be a positive number, got ${String(ttlMs)}`);
    if (!Number.isFinite(nowMs)) throw new TypeError(`nowMs must be a finite number, got ${String(nowMs)}`);
    if (!(acceptedFromMs >= Number.NEGATIVE_INFINITY)) throw new TypeError('acceptedFromMs must be a number');
    if (this.#closed) return 'unavailable';
    if (this.#problem !== undefined) return 'misconfigured';
    if (!this.#policyChecked) return 'unavailable';
    // PX takes whole milliseconds; rounding up never shortens the protection.
    const px = Math.ceil(ttlMs);
    const redisKey = this.redisKey(key);
    // The wait is ours (wait.ts), bounded by the caller's deadline: ioredis's own command timer
    // would fire before a reply already buffered is read, and drop it.
    const waitFor = waitMs === undefined ? this.#commandTimeoutMs : Math.min(waitMs, this.#commandTimeoutMs);
    // At most two rounds: the second only after learning of a new generation the passport postdates.
    for (let round = 0; round < 2; round++) {
      const known = this.#generation;
      if (known !== undefined && acceptedFromMs < known.startMs) return 'state_lost';
      let reply: unknown;
      try {
        const sent = this.#consumeScript(redisKey, known?.marker ?? '', px, this.#candidate(nowMs));
        reply = await boundedWait(sent, waitFor);
        if (reply === 'timeout' || reply === 'overloaded') {
          // The script may still run: then the jti is consumed although its check was denied. Say so.
          const gaveUp = reply;
          sent.then(
            (late) => {
              if (late === 1) this.#report(new Error(`a consume the server stopped waiting for (${gaveUp}) was applied afterwards: its jti is consumed although the check was denied`));
            },
            () => {},
          );
          return gaveUp === 'overloaded' ? 'overloaded' : 'unavailable';
        }
      } catch (error) {
        this.#report(error);
        return 'unavailable';
      }
      if (reply === 1) return 'consumed';
      if (reply === 0) return 'replayed';
      if (typeof reply !== 'string') {
        this.#report(new Error(`unexpected consume reply: ${String(reply)}`));
        return 'unavailable';
      }
      // A marker this server did not write: refused (see #adopt), not guessed at.
      if (!this.#adopt(reply)) return 'misconfigured';
    }
    return 'unavailable';
  }

  async ping(): Promise<boolean> {
    if (this.#closed) return false;
    try {
      if ((await this.#client.ping()) !== 'PONG') return false;
    } catch {
      // Readiness polls this; the failure itself already reached onError via the client.
      return false;
    }
    await this.#refresh();
    return this.#problem === undefined && this.#policyChecked && this.#generation !== undefined;
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

  /** The marker this store would create now. */
  #candidate(nowMs: number): string {
    return `${this.#markerId}:${Math.floor(nowMs)}`;
  }

  /** Take `marker` as the current generation; false (and a problem) when it is not a marker. */
  #adopt(marker: string): boolean {
    const m = MARKER.exec(marker);
    if (m === null) {
      this.#problem = `the generation marker ${this.generationKey} holds something this server did not write; delete it to begin a new generation`;
      return false;
    }
    if (this.#generation?.marker !== marker) {
      this.#generation = { marker, startMs: Number(m[1]) };
      try {
        this.#onGeneration(this.#generation.startMs);
      } catch {
        // A failing hook must not change the answer.
      }
    }
    return true;
  }

  /**
   * Learn the current generation (creating it when missing) and read the eviction policy. A Redis
   * that does not answer leaves the state as it was: that is an outage, which consumes report as
   * `unavailable` on their own.
   */
  async #refresh(): Promise<void> {
    if (this.#closed) return;
    try {
      const marker = await (this.#client as unknown as ScriptClient).tpGeneration(this.generationKey, this.#candidate(this.#clock()));
      if (typeof marker !== 'string' || !this.#adopt(marker)) return;
      this.#problem = await this.#policyProblem();
      this.#policyChecked = this.#problem === undefined;
    } catch (error) {
      this.#report(error);
    }
  }

  /** Why the eviction policy is unsafe (or cannot be read), or undefined when it is `noeviction` on every node. */
  async #policyProblem(): Promise<string | undefined> {
    const { Cluster } = ioredis();
    const nodes: (Redis | Cluster)[] = this.#client instanceof Cluster ? this.#client.nodes('master') : [this.#client];
    for (const node of nodes) {
      let reply: unknown;
      try {
        reply = await (node as Redis).config('GET', 'maxmemory-policy');
      } catch (error) {
        // Only Redis refusing the command (renamed, disabled, not permitted) is about the policy.
        if (!(error instanceof ioredis().ReplyError)) throw error;
        if (this.#assumeNoEviction) continue;
        const why = (error as Error).message;
        return `cannot read maxmemory-policy (CONFIG GET: ${why}); set replay.redis.assume_noeviction: true only if the policy is noeviction`;
      }
      const policy = Array.isArray(reply) ? reply[1] : undefined;
      if (policy === undefined && this.#assumeNoEviction) continue;
      if (policy !== 'noeviction') {
        return `Redis maxmemory-policy is ${JSON.stringify(policy ?? null)}: it can evict replay records before they expire and re-open replay; set it to noeviction`;
      }
    }
    return undefined;
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
