/**
 * Replay stores: the interface, the two implementations, and one factory from configuration.
 *
 * The configuration is the snake_case shape of the server's config file (`replay:` section);
 * the server's config parser checks unknown keys and types, and `createReplayStore` checks the
 * values and reports every problem in one TypeError.
 */
import { MemoryReplayStore } from './memory.js';
import { DEFAULT_CLUSTER_KEY_PREFIX, DEFAULT_KEY_PREFIX, RedisReplayStore, redisOptionsProblems } from './redis.js';
import type { RedisAddress, RedisReplayStoreOptions, RedisTopology } from './redis.js';
import type { ReplayStore } from './types.js';

export type { ConsumeResult, ReplayStore } from './types.js';
export { MemoryReplayStore } from './memory.js';
export type { MemoryReplayStoreOptions } from './memory.js';
export { DEFAULT_CLUSTER_KEY_PREFIX, DEFAULT_KEY_PREFIX, RedisReplayStore } from './redis.js';
export type { RedisAddress, RedisReplayStoreOptions, RedisTopology } from './redis.js';

interface RedisCommonConfig {
  readonly connect_timeout_ms?: number;
  readonly command_timeout_ms?: number;
  readonly key_prefix?: string;
  readonly username?: string;
  readonly password?: string;
  readonly tls?: boolean;
  /** Where CONFIG GET is refused: the operator states that maxmemory-policy is noeviction. */
  readonly assume_noeviction?: boolean;
}

/** One of: `url`; `sentinels` + `name`; `nodes` (Cluster seeds). */
export type RedisConfig = RedisCommonConfig &
  (
    | { readonly url: string }
    | { readonly sentinels: readonly RedisAddress[]; readonly name: string }
    | { readonly nodes: readonly RedisAddress[] }
  );

export type ReplayStoreConfig =
  | { readonly store: 'memory'; readonly max_entries?: number }
  | { readonly store: 'redis'; readonly redis: RedisConfig };

const REPLAY_DEFAULTS = Object.freeze({
  /** Peak consumes per second × longest passport lifetime should fit; 100k keys ≈ 10 MB. */
  max_entries: 100_000,
  connect_timeout_ms: 1000,
  /**
   * A healthy Redis answers in well under a millisecond; this only bounds a sick one. Below Envoy's
   * default ext_authz timeout (200 ms, `GrpcService.timeout`), so the server answers a hung store
   * with its own reason code before Envoy gives up on the check.
   */
  command_timeout_ms: 100,
  key_prefix: DEFAULT_KEY_PREFIX,
});

export interface ReplayStoreHooks {
  /** Redis client errors (the server logs and counts them). */
  readonly onError?: (error: Error) => void;
  /** The engine clock, read for the start of a generation the store begins; defaults to `Date.now`. */
  readonly clock?: () => number;
  /** Redis: the store learnt of a generation (at first contact, and after Redis forgot). */
  readonly onGeneration?: (startMs: number) => void;
}

export function createReplayStore(config: ReplayStoreConfig, hooks: ReplayStoreHooks = {}): ReplayStore {
  if (config.store === 'memory') {
    const maxEntries = config.max_entries ?? REPLAY_DEFAULTS.max_entries;
    return new MemoryReplayStore({ maxEntries, ...(hooks.clock !== undefined ? { clock: hooks.clock } : {}) });
  }
  if (config.store === 'redis') {
    const options = redisStoreOptions(config.redis, hooks);
    const problems = redisOptionsProblems(options);
    if (problems.length > 0) throw new TypeError(`invalid replay store configuration: ${problems.join('; ')}`);
    return new RedisReplayStore(options);
  }
  throw new TypeError(`replay.store must be "memory" or "redis", got ${JSON.stringify((config as { store?: unknown }).store)}`);
}

function redisStoreOptions(redis: RedisConfig, hooks: ReplayStoreHooks): RedisReplayStoreOptions {
  const r = redis as Partial<{ url: string; sentinels: readonly RedisAddress[]; name: string; nodes: readonly RedisAddress[] }>;
  // The shape is checked by redisOptionsProblems; an invalid mix is passed through for it to report.
  const topology = {
    ...(r.url !== undefined ? { url: r.url } : {}),
    ...(r.sentinels !== undefined ? { sentinels: r.sentinels, name: r.name } : {}),
    ...(r.nodes !== undefined ? { nodes: r.nodes } : {}),
  } as RedisTopology;
  return {
    topology,
    connectTimeoutMs: redis.connect_timeout_ms ?? REPLAY_DEFAULTS.connect_timeout_ms,
    commandTimeoutMs: redis.command_timeout_ms ?? REPLAY_DEFAULTS.command_timeout_ms,
    keyPrefix: redis.key_prefix ?? (r.nodes !== undefined ? DEFAULT_CLUSTER_KEY_PREFIX : REPLAY_DEFAULTS.key_prefix),
    ...(redis.username !== undefined ? { username: redis.username } : {}),
    ...(redis.password !== undefined ? { password: redis.password } : {}),
    ...(redis.tls !== undefined ? { tls: redis.tls } : {}),
    ...(redis.assume_noeviction !== undefined ? { assumeNoEviction: redis.assume_noeviction } : {}),
    ...(hooks.onError !== undefined ? { onError: hooks.onError } : {}),
    ...(hooks.clock !== undefined ? { clock: hooks.clock } : {}),
    ...(hooks.onGeneration !== undefined ? { onGeneration: hooks.onGeneration } : {}),
  };
}
