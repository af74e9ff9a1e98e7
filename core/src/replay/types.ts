/**
 * Replay stores consume a passport `jti` exactly once. `consume` is atomic: of any number of
 * concurrent calls with one key, at most one sees `consumed`. A store that cannot answer returns
 * `unavailable`, never `consumed`: the decision engine turns that into a deny (fail closed).
 * `overloaded` is a wait that ran out because this process's own event loop was held up
 * (replay/wait.ts), not because the store failed. After `unavailable` or `overloaded` from a wait
 * that ran out, the command may still have run: the jti may be consumed.
 */
export type ConsumeResult = 'consumed' | 'replayed' | 'unavailable' | 'overloaded';

export interface ReplayStore {
  readonly kind: 'memory' | 'redis';
  /**
   * Mark `key` used for `ttlMs` milliseconds. `waitMs`, when given, bounds the wait for the answer
   * below the store's own timeout: what is left of the caller's deadline.
   */
  consume(key: string, ttlMs: number, waitMs?: number): Promise<ConsumeResult>;
  /**
   * Optional: the same consume answered without yielding, for a store that needs no I/O (the
   * memory store). The engine prefers it, saving the promise hops of an async call per check.
   * Same contract as `consume`; a throw counts as `unavailable`.
   */
  consumeSync?(key: string, ttlMs: number): ConsumeResult;
  /** Resolves true when the store can answer right now (used by readiness). */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
