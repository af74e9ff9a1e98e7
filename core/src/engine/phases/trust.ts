/**
 * Phase 4, trust. Rule: the claims agree with what the bundle says of the signing key (issuer,
 * trust domain, the highest key-binding class it may assert), and nothing involved is revoked.
 */
import type { ReasonCode } from '../../reasons.js';
import { keyBindingRank } from '../../types.js';
import type { PhaseState } from '../state.js';

export function trustPhase(s: PhaseState): ReasonCode | undefined {
  const c = s.claims!;
  const k = s.trustKey!;
  if (c.iss !== k.issuer) return 'issuer_untrusted';
  if (c.trust_domain !== k.trust_domain) return 'trust_domain_mismatch';
  if (keyBindingRank(c.key_binding) > keyBindingRank(k.max_key_binding)) return 'key_binding_exceeds_issuer';
  if (s.bundle.isRevokedKid(k.kid) || s.bundle.isRevokedCnfThumbprint(s.cnfJkt!)) return 'key_revoked';
  if (s.bundle.isRevokedJti(c.jti) || s.bundle.isRevokedSubject(c.sub)) return 'passport_revoked';
  return undefined;
}
