/**
 * Replay stores consume a passport `jti` exactly once. `consume` is atomic: of any number of
 * concurrent calls with one key, at most one sees `consumed`. A store that cannot answer returns
 * `unavailable`, never `consumed`: the decision engine turns that into a deny (fail closed).
 *
 * A store also answers for what it may have forgotten. Each store has a *generation*: the engine
 * instant since which it has seen every consume (the memory store: its creation, i.e. the process
 * start; Redis: a marker key, see redis.ts). A passport that could have been accepted before the
 * generation began may have been consumed in a state the store no longer holds, so `consume`
 * answers `state_lost` for it, without recording anything (docs/configuration.md, "Replay store").
 *
 * `overloaded` is a wait that ran out because this process's own event loop was held up
 * (replay/wait.ts), not because the store failed. After `unavailable` or `overloaded` from a wait
 * that ran out, the command may still have run: the jti may be consumed.
 */
export type ConsumeResult = 'consumed' | 'replayed' | 'unavailable' | 'state_lost' | 'misconfigured' | 'overloaded';

export interface ReplayStore {
  readonly kind: 'memory' | 'redis';
  /**
   * Mark `key` used for `ttlMs` milliseconds from `nowMs` (the engine clock), unless a passport
   * first acceptable at `acceptedFromMs` (engine clock, ../engine/acceptance.ts) precedes the
   * store's generation: then `state_lost`, and nothing is recorded. `waitMs`, when given, bounds the
   * wait for the answer below the store's own timeout: what is left of the caller's deadline.
   */
  consume(key: string, ttlMs: number, nowMs: number, acceptedFromMs: number, waitMs?: number): Promise<ConsumeResult>;
  /** Resolves true when the store can answer right now (used by readiness). */
  ping(): Promise<boolean>;
  /**
   * Optional: why the store refuses to serve although it may be reachable (e.g. a Redis eviction
   * policy that could drop replay records); undefined when there is nothing to say.
   */
  problem?(): string | undefined;
  /** Engine instant (ms) the current generation began; undefined while not known yet. */
  readonly generationStartMs?: number | undefined;
  close(): Promise<void>;
}
