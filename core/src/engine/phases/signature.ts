/**
 * Phase 2, signature. Rule: the passport verifies with the bundle key named by its `kid`, under the
 * algorithm that key is for (a header `alg` naming another algorithm is a bad signature, never a
 * reason to try another verifier).
 */
import { verifyBytes } from '../../keys.js';
import type { ReasonCode } from '../../reasons.js';
import { quoted } from '../detail.js';
import type { PhaseState } from '../state.js';

export function signaturePhase(s: PhaseState): ReasonCode | undefined {
  // Verified under this same bundle already (./parse.ts): the same key, the same bytes.
  if (s.cachedPassport !== undefined) {
    s.trustKey = s.cachedPassport.trustKey;
    return undefined;
  }
  const entry = s.bundle.keyByKid(s.kid!);
  if (!entry) {
    s.detail = `no key of bundle serial ${s.bundle.serial} has kid ${quoted(s.kid!)}`;
    return 'passport_kid_unknown';
  }
  const jws = s.passportJws!;
  if (entry.alg !== s.alg) {
    s.detail = `header alg ${s.alg!}, but the bundle key is an ${entry.alg} key`;
    return 'passport_signature_invalid';
  }
  if (!verifyBytes(entry.alg, entry.publicKey, jws.signingInput, jws.signature)) {
    s.detail = 'the signature does not verify with the bundle key of its kid';
    return 'passport_signature_invalid';
  }
  s.trustKey = entry.key;
  return undefined;
}
