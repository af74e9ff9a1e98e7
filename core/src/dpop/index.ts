/**
 * DPoP (RFC 9449) as an external proof kind: the checks of an access token and a DPoP proof. Of the
 * engine they use only the holder-key cache (../engine/holder-keys.ts) and the proof acceptance
 * window (../engine/acceptance.ts), never the phases or the PhaseState. core/src/engine/kinds/dpop.ts runs them as engine phases;
 * docs/dpop.md describes what is checked and what is bound.
 */
export { DPOP_ALGS, algFitsKey, isDpopAlg } from './algs.js';
export { AUTHORIZATION_HEADER, DPOP_HEADER, carriesDpop, readDpopCredentials, type DpopCredentials } from './headers.js';
export { checkAccessTokenClaims, checkAccessTokenHeader, isAccessTokenTyp, type AccessTokenClaims } from './access-token.js';
export {
  DPOP_TYP,
  checkDpopRequest,
  parseDpopProof,
  verifyDpopSignature,
  type DpopProofClaims,
  type DpopRequestTarget,
  type ParsedDpopProof,
} from './proof.js';
export { normaliseHtu, removeDotSegments, type HtuTarget } from './htu.js';
export { dpopProofAcceptedFromMs, dpopProofAcceptedUntilMs, dpopReplayKey } from './replay.js';
export { checkDpopClaims, parseDpop, verifyDpopSignatures, type DpopClaimsOptions, type DpopCredential, type Step } from './verify.js';
