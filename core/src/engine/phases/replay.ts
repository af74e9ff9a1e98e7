/**
 * Phase 8, replay. Rule: last of all, consume the passport `jti` atomically; a second presentation
 * is `jti_replay`, and a store that cannot answer denies (fail closed). Being last is what keeps a
 * malformed or unauthorised request from burning a caller's jti.
 *
 * The record lives until the passport can no longer be accepted, plus a margin: both ends come
 * from ../acceptance.ts, on the engine clock, in milliseconds, so no rounding can open a gap
 * between "still accepted" and "already forgotten". A store that may have forgotten consumes made
 * before its generation began answers `state_lost` for every passport that could have been
 * accepted then (`replay_state_lost`), and records nothing.
 */
import type { ReasonCode } from '../../reasons.js';
import type { ConsumeResult } from '../../replay/types.js';
import { acceptedFromMs, acceptedUntilMs, REPLAY_RECORD_MARGIN_MS } from '../acceptance.js';
import type { PhaseState } from '../state.js';

export async function replayPhase(s: PhaseState): Promise<ReasonCode | undefined> {
  const c = s.claims!;
  const key = `${c.iss}\n${c.jti}`;
  const tol = s.options.clockToleranceS;
  // The claims phase accepted the passport, so nowMs < acceptedUntilMs and the TTL exceeds the margin.
  const ttlMs = acceptedUntilMs(c.exp, tol) - s.nowMs + REPLAY_RECORD_MARGIN_MS;
  const fromMs = acceptedFromMs(c.iat, c.nbf, tol);
  // A wait on the store is bounded by what is left of Envoy's deadline; with nothing left the
  // store is not asked at all, so the jti is not touched.
  let waitMs: number | undefined;
  if (s.deadline !== undefined) {
    waitMs = s.deadline - performance.now();
    if (waitMs <= 0) return 'overloaded';
  }
  let result: ConsumeResult;
  try {
    result = await s.store.consume(key, ttlMs, s.nowMs, fromMs, waitMs);
  } catch {
    return 'replay_store_unavailable';
  }
  return reasonFor(result);
}

function reasonFor(result: ConsumeResult): ReasonCode | undefined {
  switch (result) {
    case 'consumed':
      return undefined;
    case 'replayed':
      return 'jti_replay';
    case 'state_lost':
      return 'replay_state_lost';
    case 'misconfigured':
      return 'replay_store_misconfigured';
    case 'overloaded':
      return 'overloaded';
    default:
      return 'replay_store_unavailable';
  }
}
