/**
 * Phase 8, replay. Rule: last of all, consume the passport `jti` atomically; a second presentation
 * is `jti_replay`, and a store that cannot answer denies (fail closed). Being last is what keeps a
 * malformed or unauthorised request from burning a caller's jti.
 */
import type { ReasonCode } from '../../reasons.js';
import type { ConsumeResult } from '../../replay/types.js';
import type { PhaseState } from '../state.js';

/** Answers synchronously when the store can (ReplayStore.consumeSync), otherwise with a promise. */
export function replayPhase(s: PhaseState): ReasonCode | undefined | Promise<ReasonCode | undefined> {
  const c = s.claims!;
  const key = `${c.iss}\n${c.jti}`;
  // The jti stays consumed until the passport can no longer be accepted at all.
  const ttlMs = Math.max(1000, (c.exp + s.options.clockToleranceS) * 1000 - s.nowMs);
  const store = s.store;
  if (store.consumeSync !== undefined) {
    let result: ConsumeResult;
    try {
      result = store.consumeSync(key, ttlMs);
    } catch {
      return 'replay_store_unavailable';
    }
    return reasonFor(result);
  }
  // A wait on the store is bounded by what is left of Envoy's deadline; with nothing left the
  // store is not asked at all, so the jti is not touched.
  let waitMs: number | undefined;
  if (s.deadline !== undefined) {
    waitMs = s.deadline - performance.now();
    if (waitMs <= 0) return 'overloaded';
  }
  return consumeAsync(s, key, ttlMs, waitMs);
}

async function consumeAsync(s: PhaseState, key: string, ttlMs: number, waitMs: number | undefined): Promise<ReasonCode | undefined> {
  let result: ConsumeResult;
  try {
    result = await s.store.consume(key, ttlMs, waitMs);
  } catch {
    return 'replay_store_unavailable';
  }
  return reasonFor(result);
}

function reasonFor(result: ConsumeResult): ReasonCode | undefined {
  if (result === 'consumed') return undefined;
  if (result === 'replayed') return 'jti_replay';
  return result === 'overloaded' ? 'overloaded' : 'replay_store_unavailable';
}
