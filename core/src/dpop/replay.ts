/**
 * How long a DPoP proof's `jti` stays consumed (RFC 9449 §11.1: a proof is accepted once). The
 * window is the one the engine's freshness phase applies to the proof's `iat` (docs/dpop.md, "Time
 * rules"): accepted while `iat ≤ now + tolerance` and `now − iat ≤ proof_max_age`, with `now` in
 * whole seconds — the same window as any proof's (core/src/engine/acceptance.ts). In milliseconds on the engine clock, that is from `(iat − tolerance) × 1000` up to,
 * not including, `(iat + proof_max_age + 1) × 1000`. The record is sized by the longest
 * `proof_max_age` of any freshness class, not the matched route's: the same method, authority and
 * path may be decided under another route (Envoy names the route per listener), and the record must
 * outlive every moment any route could still accept the proof.
 */
import { longestProofMaxAgeS, proofAcceptedFromMs, proofAcceptedUntilMs } from '../engine/acceptance.js';
import type { FreshnessClass } from '../types.js';

/** First engine instant (ms) at which the proof is accepted. */
export function dpopProofAcceptedFromMs(iatS: number, toleranceS: number): number {
  return proofAcceptedFromMs(iatS, toleranceS);
}

/** First engine instant (ms) at which no route accepts the proof any more. */
export function dpopProofAcceptedUntilMs(iatS: number, freshness: Readonly<Record<FreshnessClass, { readonly proofMaxAgeS: number }>>): number {
  return proofAcceptedUntilMs(iatS, longestProofMaxAgeS(freshness));
}

/**
 * The replay-store key: the proof `jti` under the proof key's thumbprint. The prefix line `dpop`
 * is not an identity URI, so no passport key (`iss` + "\n" + `jti`) can ever equal it.
 */
export function dpopReplayKey(jkt: string, jti: string): string {
  return `dpop\n${jkt}\n${jti}`;
}
