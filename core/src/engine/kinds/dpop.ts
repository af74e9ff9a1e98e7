/**
 * DPoP (RFC 9449) as a proof kind (../proof-kind.ts, docs/dpop.md): an access token in
 * `Authorization: DPoP <token>`, issued by an issuer the bundle trusts (found by `kid` among the
 * bundle keys, like a passport), bound by `cnf.jkt` to the key of the `DPoP` proof header. The checks
 * themselves are core/src/dpop; this file runs them as the kind's phases and fills the PhaseState the
 * engine-owned phases read:
 *
 *   credential: parse (headers, token and proof forms, checks 1–5, 7), signatures (token by the
 *               bundle key, proof by its `jwk`: check 6), claims (the token's claims and window, and
 *               check 12's `cnf.jkt` half)
 *   engine:     trust, route policy (`proof_kinds` must list `dpop`; `min_binding` must not ask for
 *               more than method, authority and path)
 *   proof:      `htm`, `htu`, `ath` against the observed request (checks 8, 9, 12)
 *   engine:     freshness on the proof's `iat` (check 11), then the replay consume of its `jti`
 *
 * The identity is the access token's: `iss`, `sub`, `aud`, `jti`, the trust domain of its signing key
 * (or its own `trust_domain` claim, which must then agree), and the key-binding class `software`:
 * DPoP says nothing of where the proof key is kept, so it never claims more.
 */
import { checkDpopClaims, checkDpopRequest, parseDpop, verifyDpopSignatures } from '../../dpop/index.js';
import { AUTHORIZATION_HEADER, DPOP_HEADER, carriesDpop } from '../../dpop/headers.js';
import { dpopProofAcceptedFromMs, dpopProofAcceptedUntilMs, dpopReplayKey } from '../../dpop/replay.js';
import type { ReasonCode } from '../../reasons.js';
import { REPLAY_RECORD_MARGIN_MS } from '../acceptance.js';
import { rememberHolderKey } from '../holder-keys.js';
import { requestLineMissing } from '../phases/parse.js';
import { credentialHeaderNames, type BindingPart, type BindingReport, type ProofKind, type ReplayClaim } from '../proof-kind.js';
import type { PhaseState } from '../state.js';

/** What a DPoP proof binds: `htm` the method, `htu` the authority and path. Not the query, no header, no body. */
const PARTS: ReadonlySet<BindingPart> = new Set<BindingPart>(['method', 'authority', 'path']);
const REPORT: BindingReport = Object.freeze({ parts: PARTS, headers: Object.freeze([]) as readonly string[] });

/**
 * The detail of a DPoP deny (engine/detail.ts): which check of docs/dpop.md §4 / RFC 9449 §4.3
 * refused, as constant text (the checks in core/src/dpop/ report a reason only).
 */
const DETAIL: Partial<Record<ReasonCode, string>> = Object.freeze({
  access_token_missing: 'a DPoP proof without an Authorization: DPoP access token',
  access_token_malformed: 'the access token is not a compact JWS with a kid and no key in its header',
  access_token_typ_invalid: 'the access token typ is not at+jwt',
  access_token_alg_not_allowed: 'the access token alg is not EdDSA, Ed25519 or ES256',
  dpop_proof_missing: 'an Authorization: DPoP access token without a DPoP proof',
  dpop_proof_duplicated: 'more than one DPoP header (RFC 9449 §4.3 check 1)',
  dpop_proof_malformed: 'the DPoP proof is not one JWT with jti, htm, htu and iat (RFC 9449 §4.3 checks 2-3)',
  dpop_proof_typ_invalid: 'the DPoP proof typ is not dpop+jwt (check 4)',
  dpop_proof_alg_not_allowed: 'the DPoP proof alg is not EdDSA, Ed25519 or ES256 (check 5)',
  dpop_jwk_private: 'the DPoP proof jwk carries a private member (check 7)',
  dpop_jwk_invalid: 'the DPoP proof jwk is absent or not a usable Ed25519 or P-256 public key',
  access_token_kid_unknown: 'no bundle key has the access token kid',
  access_token_signature_invalid: 'the access token signature does not verify with the bundle key of its kid',
  dpop_proof_signature_invalid: 'the DPoP proof signature does not verify with its own jwk (check 6)',
  access_token_claims_invalid: 'an access token claim is missing, mistyped or outside its syntax',
  access_token_expired: 'the access token exp has passed (beyond the clock tolerance)',
  access_token_not_yet_valid: 'the access token iat or nbf is in the future (beyond the clock tolerance)',
  dpop_key_mismatch: 'the DPoP proof key is not the one the access token cnf.jkt names (check 12)',
  dpop_htm_mismatch: 'htm is not the request method (check 8)',
  dpop_htu_mismatch: 'htu is not the request URI: scheme, canonical authority and path (check 9)',
  dpop_ath_mismatch: 'ath is absent or not the hash of the access token (check 12)',
});

function deny(s: PhaseState, reason: ReasonCode): ReasonCode {
  s.detail = DETAIL[reason];
  return reason;
}

function dpopParsePhase(s: PhaseState): ReasonCode | undefined {
  const missingLine = requestLineMissing(s);
  if (missingLine !== undefined) return missingLine;
  const parsed = parseDpop(s.view);
  if (!parsed.ok) return deny(s, parsed.reason);
  s.dpop = parsed.value;
  s.kid = parsed.value.kid;
  return undefined;
}

function dpopSignaturePhase(s: PhaseState): ReasonCode | undefined {
  const verified = verifyDpopSignatures(s.dpop!, s.bundle);
  if (!verified.ok) return deny(s, verified.reason);
  s.trustKey = verified.value.key;
  return undefined;
}

function dpopClaimsPhase(s: PhaseState): ReasonCode | undefined {
  const d = s.dpop!;
  const checked = checkDpopClaims(d, { nowMs: s.nowMs, clockToleranceS: s.options.clockToleranceS });
  if (!checked.ok) return deny(s, checked.reason);
  const t = checked.value;
  const key = d.proof.key;
  // The engine's trust and route phases read passport-shaped claims: the token's, with the
  // holder key the proof was made with (its thumbprint is `cnf.jkt`, checked just now).
  s.claims = {
    iss: t.iss,
    sub: t.sub,
    aud: t.aud,
    iat: t.iat,
    exp: t.exp,
    ...(t.nbf !== undefined ? { nbf: t.nbf } : {}),
    jti: t.jti,
    trust_domain: t.trust_domain ?? s.trustKey!.trust_domain,
    cnf: { jwk: key.jwk },
    key_binding: 'software',
  };
  // The key is now vouched for by an issuer the bundle trusts: later proofs with it skip the import.
  if (!d.proof.keyCached) rememberHolderKey(d.proof.jwkMembers, key);
  s.cnfKey = key.key;
  s.cnfJkt = key.jkt;
  s.cnfAlg = key.alg;
  return undefined;
}

function dpopRequestPhase(s: PhaseState): ReasonCode | undefined {
  const d = s.dpop!;
  // The route phase built the canonical authority and path of the observed request.
  const t = s.target!;
  const reason = checkDpopRequest(d.proof, { method: s.view.method, authority: t.authority, path: t.path }, d.token);
  return reason === undefined ? undefined : deny(s, reason);
}

export const DPOP: ProofKind = Object.freeze({
  name: 'dpop',
  // The access token and the proof (docs/dpop.md §5): neither goes past the verifier.
  credentialHeaders: credentialHeaderNames(AUTHORIZATION_HEADER, DPOP_HEADER),
  recognises: carriesDpop,
  credential: Object.freeze([dpopParsePhase, dpopSignaturePhase, dpopClaimsPhase]),
  proof: Object.freeze([dpopRequestPhase]),
  binds(): BindingReport {
    return REPORT;
  },
  proofTime(s: PhaseState): number {
    return s.dpop!.proof.claims.iat;
  },
  replay(s: PhaseState): ReplayClaim {
    const p = s.dpop!.proof;
    // The freshness phase accepted the proof, so nowMs is before the end of its window.
    return {
      key: dpopReplayKey(p.key.jkt, p.claims.jti),
      ttlMs: dpopProofAcceptedUntilMs(p.claims.iat, s.options.freshness) - s.nowMs + REPLAY_RECORD_MARGIN_MS,
      acceptedFromMs: dpopProofAcceptedFromMs(p.claims.iat, s.options.clockToleranceS),
      replayed: 'dpop_jti_replay',
    };
  },
});
