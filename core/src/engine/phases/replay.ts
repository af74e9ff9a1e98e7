/**
 * Phase 8, replay. Rule: last of all, consume the passport `jti` atomically; a second presentation
 * is `jti_replay`, and a store that cannot answer denies (fail closed). Being last is what keeps a
 * malformed or unauthorised request from burning a caller's jti.
 */
import type { ReasonCode } from '../../reasons.js';
import type { PhaseState } from '../state.js';

export async function replayPhase(s: PhaseState): Promise<ReasonCode | undefined> {
  const c = s.claims!;
  // The jti stays consumed until the passport can no longer be accepted at all.
  const ttlMs = Math.max(1000, (c.exp + s.options.clockToleranceS) * 1000 - s.nowMs);
  let result;
  try {
    result = await s.store.consume(`${c.iss}\n${c.jti}`, ttlMs);
  } catch {
    return 'replay_store_unavailable';
  }
  if (result === 'consumed') return undefined;
  return result === 'replayed' ? 'jti_replay' : 'replay_store_unavailable';
}
