/**
 * The DPoP proof JWT (RFC 9449 §4.2), checked as RFC 9449 §4.3 lists — each check with its own
 * reason code (docs/dpop.md, docs/reason-codes.md):
 *
 *   1 one `DPoP` header                          dpop_proof_duplicated        (./headers.ts)
 *   2 a well-formed JWT                          dpop_proof_malformed
 *   3 the required claims jti, htm, htu, iat     dpop_proof_malformed
 *   4 `typ` is `dpop+jwt`                         dpop_proof_typ_invalid
 *   5 `alg` asymmetric and allowed               dpop_proof_alg_not_allowed   (./algs.ts)
 *   6 the signature verifies with `jwk`          dpop_proof_signature_invalid (verifyDpopSignature)
 *   7 `jwk` is not a private key                 dpop_jwk_private; any other key problem dpop_jwk_invalid
 *   8 `htm` is the method                        dpop_htm_mismatch            (checkDpopRequest)
 *   9 `htu` is the URI, no query or fragment     dpop_htu_mismatch            (checkDpopRequest, ./htu.ts)
 *  10 `nonce`: this verifier provides no nonce (no `DPoP-Nonce` header), so there is none to match
 *  11 `iat` within the window                    proof_expired / proof_not_yet_valid (engine freshness phase)
 *  12 `ath` is the access token's hash           dpop_ath_mismatch            (checkDpopRequest)
 *     and the key is the token's `cnf.jkt`       dpop_key_mismatch
 *
 * plus the replay rule of RFC 9449 §11.1: the `jti` is consumed once (`dpop_jti_replay`).
 * The `jwk` goes through the one import path for public keys, core/src/keys.ts checkPublicJwk.
 */
import { sha256b64url } from '../encoding.js';
import { isNumericDate, parseCompact, type ParsedJws } from '../jws.js';
import { checkPublicJwk, JwkError, verifyBytes, type ImportedPublicKey } from '../keys.js';
import { PRIVATE_MEMBERS } from '../keys/jwk-import.js';
import { cachedHolderKey } from '../engine/holder-keys.js';
import { isJti } from '../identity.js';
import type { ReasonCode } from '../reasons.js';
import type { PublicJwk } from '../types.js';
import { isDpopAlg, algFitsKey } from './algs.js';
import { normaliseHtu, MAX_HTU_LENGTH, type HtuTarget } from './htu.js';
// `htm` in the method syntax the parse phase holds the request's method to (an RFC 9110 §9.1 token).
import { isValidMethod } from '../transcript.js';

export const DPOP_TYP = 'dpop+jwt';

export interface DpopProofClaims {
  readonly jti: string;
  readonly htm: string;
  readonly htu: string;
  readonly iat: number;
  /** Absent when the client did not bind the proof to an access token. */
  readonly ath?: string;
}

export interface ParsedDpopProof {
  readonly jws: ParsedJws;
  readonly alg: string;
  /** The `jwk` header, through checkPublicJwk: the canonical key, its algorithm and RFC 7638 thumbprint. */
  readonly key: ImportedPublicKey;
  /** The key came from the holder-key cache (it was imported and vouched for before). */
  readonly keyCached: boolean;
  /** The `jwk` header as sent (for the holder-key cache, which files a key under its exact members). */
  readonly jwkMembers: Record<string, unknown>;
  readonly claims: DpopProofClaims;
}

export type DpopProofParse = { ok: true; proof: ParsedDpopProof } | { ok: false; reason: ReasonCode };


const fail = (reason: ReasonCode): DpopProofParse => ({ ok: false, reason });

/** Checks 2–5 and 7: everything about the proof that needs neither the request nor the signature. */
export function parseDpopProof(text: string): DpopProofParse {
  const jws = parseCompact(text);
  if (!jws) return fail('dpop_proof_malformed');
  const h = jws.header;
  if (h.typ !== DPOP_TYP) return fail('dpop_proof_typ_invalid');
  if (!isDpopAlg(h.alg)) return fail('dpop_proof_alg_not_allowed');
  // After the alg rule, so an unsecured proof (alg "none", empty signature) is named by its alg.
  if (jws.signature.length === 0) return fail('dpop_proof_malformed');
  // No extension is understood (RFC 7515 §4.1.11).
  if (h.crit !== undefined) return fail('dpop_proof_malformed');
  const jwk = h.jwk;
  if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk)) return fail('dpop_jwk_invalid');
  // The private members checkPublicJwk refuses (one list, ../keys/jwk-import.ts), looked for here
  // before the key type, so a private key of a type this verifier does not support is still named
  // as a private key (check 7), not as an unsupported one.
  for (const m of PRIVATE_MEMBERS) if ((jwk as Record<string, unknown>)[m] !== undefined) return fail('dpop_jwk_private');
  // A JWK may name its algorithm; `Ed25519` (RFC 9864 §2.2) is the same algorithm as the `EdDSA`
  // the key rules know, so it is read as that.
  const j = jwk as Record<string, unknown>;
  const candidate = j.alg === 'Ed25519' && j.kty === 'OKP' ? { ...j, alg: 'EdDSA' } : j;
  // A client signs every proof with the same key: a bare JWK (only kty, crv, x, y, as clients write
  // it) already in the holder-key cache (../engine/holder-keys.ts, which holds only keys that passed
  // checkPublicJwk and matches them member for member) is not imported again. A key enters the cache
  // only after the access token binding it verified (../engine/kinds/dpop.ts).
  let key: ImportedPublicKey;
  const cached = cachedHolderKey(candidate);
  if (cached !== undefined) {
    key = { jwk: bareJwk(candidate), key: cached.key, alg: cached.alg, jkt: cached.jkt };
  } else {
    try {
      key = checkPublicJwk(candidate, 'public');
    } catch (e) {
      if (e instanceof JwkError && e.code === 'jwk_private_member') return fail('dpop_jwk_private');
      return fail('dpop_jwk_invalid');
    }
  }
  const p = jws.payload;
  // The proof `jti` is part of the replay key: the jti syntax of passports (a UUID, or 96+ random bits, RFC 9449 §4.2, fits).
  if (!isJti(p.jti)) return fail('dpop_proof_malformed');
  if (typeof p.htm !== 'string' || !isValidMethod(p.htm)) return fail('dpop_proof_malformed');
  if (typeof p.htu !== 'string' || p.htu.length === 0 || p.htu.length > MAX_HTU_LENGTH) return fail('dpop_proof_malformed');
  if (!isNumericDate(p.iat)) return fail('dpop_proof_malformed');
  if (p.ath !== undefined && typeof p.ath !== 'string') return fail('dpop_proof_malformed');
  const claims: DpopProofClaims = { jti: p.jti, htm: p.htm, htu: p.htu, iat: p.iat, ...(p.ath !== undefined ? { ath: p.ath as string } : {}) };
  return { ok: true, proof: { jws, alg: h.alg, key, keyCached: cached !== undefined, jwkMembers: candidate, claims } };
}

/** The members of a JWK the holder-key cache accepted (so exactly kty, crv, x and, for P-256, y). */
function bareJwk(j: Record<string, unknown>): PublicJwk {
  return j.kty === 'EC'
    ? { kty: 'EC', crv: 'P-256', x: j.x as string, y: j.y as string }
    : { kty: 'OKP', crv: 'Ed25519', x: j.x as string };
}

/** Check 6: the signature verifies with the `jwk` key, under an `alg` that names that key's algorithm. */
export function verifyDpopSignature(proof: ParsedDpopProof): boolean {
  if (!algFitsKey(proof.alg, proof.key.alg)) return false;
  return verifyBytes(proof.key.alg, proof.key.key, proof.jws.signingInput, proof.jws.signature);
}

/** The request as the verifier observed it: the method, and the canonical authority and path (no query). */
export interface DpopRequestTarget extends HtuTarget {
  readonly method: string;
}

/**
 * Checks 8, 9 and the first half of 12, against the request and the access token as presented:
 * `htm` is the method (case-sensitive, RFC 9110 §9.1), `htu` normalises to the request's authority
 * and path, `ath` is base64url(SHA-256(access token)) (RFC 9449 §4.2).
 */
export function checkDpopRequest(proof: ParsedDpopProof, request: DpopRequestTarget, accessToken: string): ReasonCode | undefined {
  const c = proof.claims;
  if (c.htm !== request.method) return 'dpop_htm_mismatch';
  const htu = normaliseHtu(c.htu);
  if (htu === undefined || htu.authority !== request.authority || htu.path !== request.path) return 'dpop_htu_mismatch';
  if (c.ath === undefined || c.ath !== sha256b64url(accessToken)) return 'dpop_ath_mismatch';
  return undefined;
}
