/**
 * What tells the Redis replay store (core/src/replay/redis.ts) that Redis has forgotten, or may
 * forget, consumed jtis: the generation marker's form, and the eviction-policy check.
 *
 * Eviction. Under any `maxmemory-policy` but `noeviction`, Redis may drop a key with a TTL before
 * it expires, silently re-opening its replay. The policy is read (`CONFIG GET`) when the client
 * becomes ready, on every reconnect and on each readiness ping; anything but `noeviction` makes
 * `ping` false and every consume `misconfigured`. Where `CONFIG` is disabled (managed Redis), the
 * operator states the policy with `assumeNoEviction`; without it the store refuses to serve.
 */
import type { Cluster, Redis } from 'ioredis';
import { ioredis } from './connection.js';

/** `<32 hex id>:<start ms>`, the marker's only form. */
export const MARKER = /^[0-9a-f]{32}:([0-9]{1,16})$/;

export interface Generation {
  readonly marker: string;
  readonly startMs: number;
}

/** Why the eviction policy is unsafe (or cannot be read), or undefined when it is `noeviction` on every node. */
export async function evictionPolicyProblem(client: Redis | Cluster, assumeNoEviction: boolean): Promise<string | undefined> {
  const { Cluster } = ioredis();
  const nodes: (Redis | Cluster)[] = client instanceof Cluster ? client.nodes('master') : [client];
  for (const node of nodes) {
    let reply: unknown;
    try {
      reply = await (node as Redis).config('GET', 'maxmemory-policy');
    } catch (error) {
      // Only Redis refusing the command (renamed, disabled, not permitted) is about the policy.
      if (!(error instanceof ioredis().ReplyError)) throw error;
      if (assumeNoEviction) continue;
      const why = (error as Error).message;
      return `cannot read maxmemory-policy (CONFIG GET: ${why}); set replay.redis.assume_noeviction: true only if the policy is noeviction`;
    }
    const policy = Array.isArray(reply) ? reply[1] : undefined;
    if (policy === undefined && assumeNoEviction) continue;
    if (policy !== 'noeviction') {
      return `Redis maxmemory-policy is ${JSON.stringify(policy ?? null)}: it can evict replay records before they expire and re-open replay; set it to noeviction`;
    }
  }
  return undefined;
}
