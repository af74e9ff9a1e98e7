/**
 * Phase 7, freshness. Rule: the proof was made within the route's freshness window (and not in the
 * future beyond the clock tolerance), and the bundle in use is no older than the route's freshness
 * class allows.
 */
import type { ReasonCode } from '../../reasons.js';
import type { PhaseState } from '../state.js';

export function freshnessPhase(s: PhaseState): ReasonCode | undefined {
  const window = s.options.freshness[s.route!.freshness_class];
  const now = Math.floor(s.nowMs / 1000);
  const ts = s.kind!.proofTime(s);
  if (ts > now + s.options.clockToleranceS) return 'proof_not_yet_valid';
  if (now - ts > window.proofMaxAgeS) return 'proof_expired';
  if (now - s.bundle.issuedAt > window.bundleMaxAgeS) return 'bundle_stale';
  return undefined;
}
