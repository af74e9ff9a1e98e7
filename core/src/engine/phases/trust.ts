/**
 * Phase 4, trust. Rule: the claims agree with what the bundle says of the signing key (issuer,
 * trust domain, the highest key-binding class it may assert), and nothing involved is revoked.
 */
import type { ReasonCode } from '../../reasons.js';
import { keyBindingRank } from '../../types.js';
import { quoted } from '../detail.js';
import type { PhaseState } from '../state.js';

export function trustPhase(s: PhaseState): ReasonCode | undefined {
  const c = s.claims!;
  const k = s.trustKey!;
  if (c.iss !== k.issuer) return deny(s, 'issuer_untrusted', `key ${quoted(k.kid)} is for issuer ${quoted(k.issuer)}`);
  if (c.trust_domain !== k.trust_domain) return deny(s, 'trust_domain_mismatch', `key ${quoted(k.kid)} is for trust domain ${quoted(k.trust_domain)}`);
  if (keyBindingRank(c.key_binding) > keyBindingRank(k.max_key_binding)) {
    return deny(s, 'key_binding_exceeds_issuer', `key ${quoted(k.kid)} may assert at most ${k.max_key_binding}`);
  }
  if (s.bundle.isRevokedKid(k.kid)) return deny(s, 'key_revoked', 'the signing key (kid) is revoked');
  if (s.bundle.isRevokedCnfThumbprint(s.cnfJkt!)) return deny(s, 'key_revoked', 'the holder key (cnf thumbprint) is revoked');
  if (s.bundle.isRevokedJti(c.jti)) return deny(s, 'passport_revoked', 'the jti is revoked');
  if (s.bundle.isRevokedSubject(c.sub)) return deny(s, 'passport_revoked', 'the subject is revoked');
  return undefined;
}

function deny(s: PhaseState, reason: ReasonCode, detail: string): ReasonCode {
  s.detail = detail;
  return reason;
}
