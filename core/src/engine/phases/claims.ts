/**
 * Phase 3, claims. Rule: every required claim is present and typed, the holder key is usable, and
 * the passport is inside its validity window (with the clock tolerance). Its lifetime is checked in
 * the route phase, against the route's limit and the verifier's hard cap at once, so that
 * `passport_lifetime_exceeded` has one phase (docs/transcript-v1.md §12 step 21).
 */
import { acceptedFromMs, acceptedUntilMs } from '../acceptance.js';
import { holderKeyOrProblem } from '../holder-keys.js';
import { checkPassportClaimsShape } from '../../passport.js';
import type { ReasonCode } from '../../reasons.js';
import type { PhaseState } from '../state.js';

export function claimsPhase(s: PhaseState): ReasonCode | undefined {
  const shape = checkPassportClaimsShape(s.passportJws!.payload);
  if (!shape.ok) {
    s.detail = shape.detail;
    return shape.reason;
  }
  const c = shape.claims;
  const holder = holderKeyOrProblem(c.cnf.jwk);
  if (typeof holder === 'string') {
    s.detail = `cnf.jwk: ${holder}`;
    return 'passport_cnf_invalid';
  }
  const tol = s.options.clockToleranceS;
  if (c.exp <= c.iat) {
    s.detail = 'exp is not after iat';
    return 'passport_claims_invalid';
  }
  // Milliseconds on the engine clock, the unit the replay record is sized in (../acceptance.ts).
  if (s.nowMs >= acceptedUntilMs(c.exp, tol)) {
    s.detail = `exp passed ${Math.floor(s.nowMs / 1000) - c.exp} s ago (clock tolerance ${tol} s)`;
    return 'passport_expired';
  }
  if (s.nowMs < acceptedFromMs(c.iat, c.nbf, tol)) {
    const from = c.nbf !== undefined && c.nbf > c.iat ? 'nbf' : 'iat';
    s.detail = `${from} is ${(from === 'nbf' ? c.nbf! : c.iat) - Math.floor(s.nowMs / 1000)} s in the future (clock tolerance ${tol} s)`;
    return 'passport_not_yet_valid';
  }
  s.claims = c;
  s.cnfKey = holder.key;
  s.cnfJkt = holder.jkt;
  s.cnfAlg = holder.alg;
  return undefined;
}
