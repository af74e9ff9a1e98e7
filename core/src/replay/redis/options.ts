/**
 * Options of the Redis replay store (core/src/replay/redis.ts): the one topology, the timeouts and
 * the key prefix, and their validation, every problem at once (docs/configuration.md, replay.redis).
 *
 * Cluster: a script may only touch keys of one hash slot, so there the prefix must carry a hash
 * tag (default `{trustplane}:jti:`), which puts the marker and every replay key on one shard.
 */

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
