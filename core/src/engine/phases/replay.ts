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

/** Answers synchronously when the store can (ReplayStore.consumeSync), otherwise with a promise. */
export function replayPhase(s: PhaseState): ReasonCode | undefined | Promise<ReasonCode | undefined> {
  const c = s.claims!;
  const key = `${c.iss}\n${c.jti}`;
  const tol = s.options.clockToleranceS;
  // The claims phase accepted the passport, so nowMs < acceptedUntilMs and the TTL exceeds the margin.
  const ttlMs = acceptedUntilMs(c.exp, tol) - s.nowMs + REPLAY_RECORD_MARGIN_MS;
  const fromMs = acceptedFromMs(c.iat, c.nbf, tol);
  const store = s.store;
  if (store.consumeSync !== undefined) {
    let result: ConsumeResult;
    try {
      result = store.consumeSync(key, ttlMs, s.nowMs, fromMs);
    } catch {
      s.detail = STORE_THREW;
      return 'replay_store_unavailable';
    }
    return reasonFor(s, result);
  }
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
  return consumeAsync(s, key, ttlMs, fromMs, waitMs);
}

async function consumeAsync(s: PhaseState, key: string, ttlMs: number, fromMs: number, waitMs: number | undefined): Promise<ReasonCode | undefined> {
  let result: ConsumeResult;
  try {
    result = await s.store.consume(key, ttlMs, s.nowMs, fromMs, waitMs);
  } catch {
    s.detail = STORE_THREW;
    return 'replay_store_unavailable';
  }
  return reasonFor(s, result);
}

const STORE_THREW = 'the replay store failed with an error';

/** The store's answer as a reason, and its detail (constant text: nothing is built per check). */
function reasonFor(s: PhaseState, result: ConsumeResult): ReasonCode | undefined {
  switch (result) {
    case 'consumed':
      return undefined;
    case 'replayed':
      s.detail = 'the jti (per issuer) was already consumed';
      return 'jti_replay';
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
