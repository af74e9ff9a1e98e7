/**
 * Phase 3, claims. Rule: every required claim is present and typed, the holder key is usable, and
 * the passport is inside its validity window (with the clock tolerance) and not longer-lived than
 * the verifier's hard cap. Route-specific limits come later, in the route phase.
 */
import { acceptedFromMs, acceptedUntilMs } from '../acceptance.js';
import { holderKey, type HolderKey } from '../holder-keys.js';
import { sha256b64url } from '../../encoding.js';
import type { PassportClaims } from '../../types.js';
import { checkPassportClaimsShape } from '../../passport.js';
import type { ReasonCode } from '../../reasons.js';
import type { PhaseState } from '../state.js';

export function claimsPhase(s: PhaseState): ReasonCode | undefined {
  const hit = s.cachedPassport;
  let c: PassportClaims;
  let holder: HolderKey | undefined;
  if (hit !== undefined) {
    // Shape and holder key as they were found under this bundle; the time rules below run anyway.
    c = hit.claims;
    holder = hit.holder;
  } else {
    const shape = checkPassportClaimsShape(s.passportJws!.payload);
    if (!shape.ok) return shape.reason;
    c = shape.claims;
    holder = holderKey(c.cnf.jwk);
    if (!holder) return 'passport_cnf_invalid';
  }
  const tol = s.options.clockToleranceS;
  if (c.exp <= c.iat) return 'passport_claims_invalid';
  // Milliseconds on the engine clock, the unit the replay record is sized in (../acceptance.ts).
  if (s.nowMs >= acceptedUntilMs(c.exp, tol)) return 'passport_expired';
  if (s.nowMs < acceptedFromMs(c.iat, c.nbf, tol)) return 'passport_not_yet_valid';
  if (c.exp - c.iat > s.options.maxPassportLifetimeS) return 'passport_lifetime_exceeded';
  s.claims = c;
  s.cnfKey = holder.key;
  s.cnfJkt = holder.jkt;
  s.cnfAlg = holder.alg;
  s.reusable = c.reusable === true;
  // Only a reusable passport is worth remembering (a per-request one is used once), and only one
  // that passed everything up to here: never a failure (docs/transcript-v1.md §15.4).
  const cache = s.options.passportCache;
  if (hit === undefined && s.reusable && cache !== undefined) {
    s.passportSha256 ??= sha256b64url(s.passport!);
    cache.set(s.bundle, s.passportSha256, Object.freeze({ kid: s.kid!, alg: s.alg!, trustKey: s.trustKey!, claims: c, holder }));
  }
  return undefined;
}
