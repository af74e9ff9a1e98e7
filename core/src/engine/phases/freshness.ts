/**
 * Phase 7, freshness. Rule: the proof was made within the route's freshness window (and not in the
 * future beyond the clock tolerance), and the bundle in use is no older than the route's freshness
 * class allows.
 */
import type { ReasonCode } from '../../reasons.js';
import type { PhaseState } from '../state.js';

export function freshnessPhase(s: PhaseState): ReasonCode | undefined {
  const cls = s.route!.freshness_class;
  const window = s.options.freshness[cls];
  const now = Math.floor(s.nowMs / 1000);
  const ts = s.kind!.proofTime(s);
  if (ts > now + s.options.clockToleranceS) {
    s.detail = `proof time is ${ts - now} s in the future (clock tolerance ${s.options.clockToleranceS} s)`;
    return 'proof_not_yet_valid';
  }
  if (now - ts > window.proofMaxAgeS) {
    s.detail = `the proof is ${now - ts} s old; the ${cls} window is ${window.proofMaxAgeS} s`;
    return 'proof_expired';
  }
  if (now - s.bundle.issuedAt > window.bundleMaxAgeS) {
    s.detail = `bundle serial ${s.bundle.serial} was issued ${now - s.bundle.issuedAt} s ago; ${cls} allows ${window.bundleMaxAgeS} s`;
    return 'bundle_stale';
  }
  return undefined;
}
