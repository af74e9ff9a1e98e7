/**
 * The messages between the cluster primary and its workers (authz-server/src/cluster.ts), and the
 * worker's replay store over them: with the memory store the single store lives in the primary and
 * the workers consume through IPC, so a jti consumed by one worker is a replay for all of them.
 */
import { boundedWait, type ConsumeResult, type ReplayStore } from '../../../core/src/server-api.js';
import type { Readiness } from '../health.js';

export type ToPrimary =
  | { tp: 'consume'; id: number; key: string; ttlMs: number; nowMs: number; acceptedFromMs: number }
  | { tp: 'ping'; id: number }
  | { tp: 'ready'; ready: boolean; serial: number | null; store?: StoreDetail }
  | { tp: 'start-failed'; cause: string };
export type StoreDetail = ReturnType<Readiness['storeDetail']>;
export type ToWorker = { tp: 'result'; id: number; result: ConsumeResult | boolean } | { tp: 'shutdown' };

/**
 * A worker's view of the primary's memory store. Fails closed if the primary does not answer within
 * `waitMs` (or what is left of the check's deadline), with the same bounded wait as the Redis store
 * (core/src/replay/wait.ts): a primary that answered while this worker's event loop was busy still
 * counts. A request the worker stopped waiting for is forgotten after `timeoutMs`.
 */
export class IpcReplayStore implements ReplayStore {
  readonly kind = 'memory' as const;
  #next = 1;
  #pending = new Map<number, (r: ConsumeResult | boolean) => void>();

  // The primary is a local process: only a starved CPU delays it, and Envoy's deadline, when sent,
  // bounds the wait well below this.
  constructor(
    private readonly waitMs = 1000,
    private readonly timeoutMs = 2000,
  ) {
    process.on('message', (m: ToWorker) => {
      if (m?.tp === 'result') {
        this.#pending.get(m.id)?.(m.result);
        this.#pending.delete(m.id);
      }
    });
  }

  #ask(msg: { tp: 'consume'; key: string; ttlMs: number; nowMs: number; acceptedFromMs: number } | { tp: 'ping' }, fallback: ConsumeResult | boolean): Promise<ConsumeResult | boolean> {
    const id = this.#next++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        resolve(fallback);
      }, this.timeoutMs);
      this.#pending.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      if (!process.send?.({ ...msg, id } as ToPrimary)) {
        clearTimeout(timer);
        this.#pending.delete(id);
        resolve(fallback);
      }
    });
  }

  async consume(key: string, ttlMs: number, nowMs: number, acceptedFromMs: number, waitMs?: number): Promise<ConsumeResult> {
    // The worker's engine clock travels with the request: the primary's store keeps time by it.
    const answer = this.#ask({ tp: 'consume', key, ttlMs, nowMs, acceptedFromMs }, 'unavailable') as Promise<ConsumeResult>;
    const r = await boundedWait(answer, waitMs === undefined ? this.waitMs : Math.min(waitMs, this.waitMs));
    // After a wait that ran out the primary may still consume the key: the jti may be consumed.
    return r === 'timeout' ? 'unavailable' : r;
  }

  async ping(): Promise<boolean> {
    return (await this.#ask({ tp: 'ping' }, false)) === true;
  }

  async close(): Promise<void> {
    for (const resolve of this.#pending.values()) resolve('unavailable');
    this.#pending.clear();
  }
}
