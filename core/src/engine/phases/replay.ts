/**
 * Phase 8, replay. Rule: last of all, consume the proof kind's replay key atomically (for a
 * per-request passport its `jti`; for a reusable one the proof's nonce, docs/transcript-v1.md §15);
 * a second presentation is the kind's replay code, and a store that cannot answer denies (fail
 * closed). Being last is what keeps a malformed or unauthorised request from burning a caller's jti.
 *
 * The record lives until what it guards can no longer be accepted, plus a margin: both ends come
 * from ../acceptance.ts, on the engine clock, in milliseconds, so no rounding can open a gap
 * between "still accepted" and "already forgotten". A store that may have forgotten consumes made
 * before its generation began answers `state_lost` for everything that could have been accepted
 * then (`replay_state_lost`), and records nothing.
 */
import type { ReasonCode } from '../../reasons.js';
import type { ConsumeResult } from '../../replay/types.js';
import type { ReplayClaim } from '../proof-kind.js';
import type { PhaseState } from '../state.js';

/** Answers synchronously when the store can (ReplayStore.consumeSync), otherwise with a promise. */
export function replayPhase(s: PhaseState): ReasonCode | undefined | Promise<ReasonCode | undefined> {
  // The key, its lifetime and its acceptance start come from the proof kind (../proof-kind.ts).
  const claim = s.kind!.replay(s);
  const store = s.store;
  if (store.consumeSync !== undefined) {
    let result: ConsumeResult;
    try {
      result = store.consumeSync(claim.key, claim.ttlMs, s.nowMs, claim.acceptedFromMs);
    } catch {
      return 'replay_store_unavailable';
    }
    return reasonFor(result, claim);
  }
  // A wait on the store is bounded by what is left of Envoy's deadline; with nothing left the
  // store is not asked at all, so the jti is not touched.
  let waitMs: number | undefined;
  if (s.deadline !== undefined) {
    waitMs = s.deadline - performance.now();
    if (waitMs <= 0) return 'overloaded';
  }
  return consumeAsync(s, claim, waitMs);
}

async function consumeAsync(s: PhaseState, claim: ReplayClaim, waitMs: number | undefined): Promise<ReasonCode | undefined> {
  let result: ConsumeResult;
  try {
    result = await s.store.consume(claim.key, claim.ttlMs, s.nowMs, claim.acceptedFromMs, waitMs);
  } catch {
    return 'replay_store_unavailable';
  }
  return reasonFor(result, claim);
}

function reasonFor(result: ConsumeResult, claim: ReplayClaim): ReasonCode | undefined {
  switch (result) {
    case 'consumed':
      return undefined;
    case 'replayed':
      return claim.replayed;
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
