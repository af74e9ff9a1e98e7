/**
 * Phase 3, claims. Rule: every required claim is present and typed, the holder key is usable, and
 * the passport is inside its validity window (with the clock tolerance). Its lifetime is checked in
 * the route phase, against the route's limit and the verifier's hard cap at once, so that
 * `passport_lifetime_exceeded` has one phase (docs/transcript-v1.md §12 step 21).
 */
import { acceptedFromMs, acceptedUntilMs } from '../acceptance.js';
import { holderKeyOrProblem, type HolderKey } from '../holder-keys.js';
import { sha256b64url } from '../../encoding.js';
import type { PassportClaims } from '../../types.js';
import { checkPassportClaimsShape } from '../../passport.js';
import type { ReasonCode } from '../../reasons.js';
import type { PhaseState } from '../state.js';

export function claimsPhase(s: PhaseState): ReasonCode | undefined {
  const hit = s.cachedPassport;
  let c: PassportClaims;
  let holder: HolderKey;
  if (hit !== undefined) {
    // Shape and holder key as they were found under this bundle; the time rules below run anyway.
    c = hit.claims;
    holder = hit.holder;
  } else {
    const shape = checkPassportClaimsShape(s.passportJws!.payload);
    if (!shape.ok) {
      s.detail = shape.detail;
      return shape.reason;
    }
    c = shape.claims;
    const key = holderKeyOrProblem(c.cnf.jwk);
    if (typeof key === 'string') {
      s.detail = `cnf.jwk: ${key}`;
      return 'passport_cnf_invalid';
    }
    holder = key;
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
  s.reusable = c.reusable === true;
  // Only a reusable passport is worth remembering (a per-request one is used once), and only one
  // that passed everything up to here: never a failure (docs/transcript-v1.md §15.4). One above the
  // verifier's hard cap fails in the route phase whatever the route, so it is not stored either.
  const cache = s.options.passportCache;
  if (hit === undefined && s.reusable && cache !== undefined && c.exp - c.iat <= s.options.maxPassportLifetimeS) {
    s.passportSha256 ??= sha256b64url(s.passport!);
    cache.set(s.bundle, s.passportSha256, Object.freeze({ kid: s.kid!, alg: s.alg!, trustKey: s.trustKey!, claims: c, holder }));
  }
  return undefined;
}
