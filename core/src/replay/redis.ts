/**
 * Replay store shared by every server replica, on Redis through ioredis.
 *
 * Consume is one round trip, a Lua script (`CONSUME_LUA`, redis/commands.ts) that checks the generation marker and
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
 * Eviction: the policy is read (`CONFIG GET`) when the client becomes ready, on every reconnect and
 * on each readiness ping; anything unsafe makes `ping` false and every consume `misconfigured`
 * (redis/generation.ts). Cluster: the key prefix carries a hash tag (redis/options.ts).
 *
 * Failing closed and failing fast: a replay decision is on the request path, so the client is set
 * up to answer "cannot tell" quickly rather than wait for Redis to come back (redis/connection.ts).
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
 * The parts, each in core/src/replay/redis/: options.ts (options and their validation),
 * connection.ts (the ioredis client), commands.ts (the Lua scripts and how they are sent),
 * generation.ts (the marker's form and the eviction-policy check). This file is the entry point.
 */
import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { sha256b64url } from '../encoding.js';
import { currentGeneration, defineGenerationScript, sendConsume } from './redis/commands.js';
import { createClient, ioredis } from './redis/connection.js';
import { type Generation, MARKER, evictionPolicyProblem } from './redis/generation.js';
import { type RedisReplayStoreOptions, redisOptionsProblems } from './redis/options.js';
import type { ConsumeResult, ReplayStore } from './types.js';
import { boundedWait } from './wait.js';

export {
  DEFAULT_CLUSTER_KEY_PREFIX,
  DEFAULT_KEY_PREFIX,
  type RedisAddress,
  type RedisReplayStoreOptions,
  type RedisTopology,
  redisOptionsProblems,
} from './redis/options.js';

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
    defineGenerationScript(this.#client);
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
        const sent = sendConsume(this.#client, this.#commandTimeoutMs, this.generationKey, redisKey, known?.marker ?? '', px, this.#candidate(nowMs));
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
      const marker = await currentGeneration(this.#client, this.generationKey, this.#candidate(this.#clock()));
      if (typeof marker !== 'string' || !this.#adopt(marker)) return;
      this.#problem = await evictionPolicyProblem(this.#client, this.#assumeNoEviction);
      this.#policyChecked = this.#problem === undefined;
    } catch (error) {
      this.#report(error);
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
