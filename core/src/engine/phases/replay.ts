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

export async function replayPhase(s: PhaseState): Promise<ReasonCode | undefined> {
  // The key, its lifetime and its acceptance start come from the proof kind (../proof-kind.ts).
  const claim = s.kind!.replay(s);
  // A wait on the store is bounded by what is left of Envoy's deadline; with nothing left the
  // store is not asked at all, so the jti is not touched.
  let waitMs: number | undefined;
  if (s.deadline !== undefined) {
    waitMs = s.deadline - performance.now();
    if (waitMs <= 0) {
      s.detail = "no time left of Envoy's deadline to ask the replay store (the jti is untouched)";
      return 'overloaded';
    }
  }
  let result: ConsumeResult;
  try {
    result = await s.store.consume(claim.key, claim.ttlMs, s.nowMs, claim.acceptedFromMs, waitMs);
  } catch {
    s.detail = STORE_THREW;
    return 'replay_store_unavailable';
  }
  return reasonFor(s, result, claim);
}

const STORE_THREW = 'the replay store failed with an error';

/** The store's answer as a reason, and its detail (constant text: nothing is built per check). */
function reasonFor(s: PhaseState, result: ConsumeResult, claim: ReplayClaim): ReasonCode | undefined {
  switch (result) {
    case 'consumed':
      return undefined;
    case 'replayed':
      s.detail = 'its replay key (the jti per issuer, or the proof of a reusable credential) was already consumed';
      return claim.replayed;
    case 'state_lost':
      s.detail = 'the replay store began a new generation after this passport could first be accepted';
      return 'replay_state_lost';
    case 'misconfigured':
      s.detail = 'the replay store could evict records before they expire (see /readyz)';
      return 'replay_store_misconfigured';
    case 'overloaded':
      s.detail = "the wait on the replay store ran out while this server's event loop was held up";
      return 'overloaded';
    default:
      s.detail = 'the replay store could not answer (unreachable, timed out, or full of unexpired records)';
      return 'replay_store_unavailable';
  }
}
