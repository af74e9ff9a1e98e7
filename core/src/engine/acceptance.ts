/**
 * The acceptance window of a passport, in one unit (milliseconds) on one clock (the engine's
 * `nowMs`): the claims phase accepts by it, the replay phase sizes the replay record by it, and
 * the amnesia guard of the replay stores reasons about it. Keeping the three on these two
 * functions is what makes "a replay record outlives every moment its passport can be accepted"
 * hold by construction (docs/configuration.md, "Replay store").
 *
 * RFC 7519 §4.1.4: the current time must be *before* `exp`; §4.1.5 (`nbf`) and §4.1.6 (`iat`):
 * not before them. Both sides widen by the clock tolerance.
 */

/** First engine instant (ms) at which a passport is accepted: its `iat`/`nbf`, less the tolerance. */
export function acceptedFromMs(iatS: number, nbfS: number | undefined, toleranceS: number): number {
  return ((nbfS !== undefined && nbfS > iatS ? nbfS : iatS) - toleranceS) * 1000;
}

/** First engine instant (ms) at which a passport is no longer accepted: `exp` plus the tolerance. */
export function acceptedUntilMs(expS: number, toleranceS: number): number {
  return (expS + toleranceS) * 1000;
}

/**
 * How much longer than the acceptance window a replay record lives. The memory store keeps it on
 * the engine clock, where any margin above 0 suffices; Redis counts a relative TTL (PX) on its own
 * clock from when the command arrives, and other replicas decide on their own clocks, so the
 * margin also absorbs clock disagreement between replicas and clock-rate drift over a record's
 * life (NTP keeps both far below a second).
 */
export const REPLAY_RECORD_MARGIN_MS = 1000;

/**
 * The acceptance window of one proof (docs/transcript-v1.md §11, §15.2), on the same clock and in
 * the same unit: the freshness phase accepts `ts` while `ts ≤ now + tol` and `now − ts ≤ maxAge`,
 * with `now` the engine clock floored to seconds. So a proof is first accepted at `(ts − tol)`
 * seconds and last accepted just before `(ts + maxAge + 1)` seconds.
 */
export function proofAcceptedFromMs(ts: number, toleranceS: number): number {
  return (ts - toleranceS) * 1000;
}

/** First engine instant (ms) at which a proof made at `ts` is too old for a window of `maxAgeS`. */
export function proofAcceptedUntilMs(ts: number, maxAgeS: number): number {
  return (ts + maxAgeS + 1) * 1000;
}

/**
 * The longest proof window of any freshness class. A replay record is sized by it, not by the
 * matched route's class: another route (or a reloaded bundle) may accept the same proof for longer,
 * and the record must outlive every moment any of them could (docs/transcript-v1.md §15.2, docs/dpop.md).
 */
export function longestProofMaxAgeS(freshness: Readonly<Record<string, { readonly proofMaxAgeS: number }>>): number {
  let max = 0;
  for (const k in freshness) {
    const w = freshness[k]!.proofMaxAgeS;
    if (w > max) max = w;
  }
  return max;
}
