/**
 * The two DPoP headers of a protected-resource request (RFC 9449 §7.1): `Authorization: DPoP
 * <access token>` and `DPoP: <proof>`. Header names arrive lower-cased from Envoy
 * (docs/transcript-v1.md §9.2), and Envoy joins a repeated header with ","; neither a compact JWS
 * nor a JWT access token contains one, so a comma means two copies (docs/envoy-integration.md F1.2).
 */
import type { ReasonCode } from '../reasons.js';
// Spaces and horizontal tabs only (RFC 9110 §5.6.3 OWS), as for the transcript-v1 headers (docs/transcript-v1.md §3).
import { trimOws } from '../transcript.js';
import type { RequestView } from '../types.js';

export const DPOP_HEADER = 'dpop';
export const AUTHORIZATION_HEADER = 'authorization';

/** `DPoP` followed by one or more spaces (RFC 9110 §11.4: the scheme is case-insensitive). */
const DPOP_SCHEME = /^dpop +/i;
/** RFC 9110 §11.2 token68. */
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;

export type DpopCredentials = { ok: true; token: string; proof: string } | { ok: false; reason: ReasonCode };

/** True when the request carries a DPoP proof header or an `Authorization` header of the DPoP scheme. */
export function carriesDpop(view: RequestView): boolean {
  if (view.headers.has(DPOP_HEADER)) return true;
  const auth = view.headers.get(AUTHORIZATION_HEADER);
  return auth !== undefined && DPOP_SCHEME.test(trimOws(auth));
}

/**
 * The access token and the proof, each exactly once: `dpop_proof_duplicated` for a second `DPoP`
 * header (RFC 9449 §4.3 check 1), `dpop_proof_missing` without one, `access_token_missing` without
 * an `Authorization` header of the DPoP scheme (a `Bearer` token is not a DPoP-bound token's
 * presentation, RFC 9449 §7.1), `credential_duplicated` for a repeated `Authorization`.
 */
export function readDpopCredentials(view: RequestView): DpopCredentials {
  const proof = view.headers.get(DPOP_HEADER);
  if (proof !== undefined && (view.repeatedHeaders?.has(DPOP_HEADER) || proof.includes(','))) return { ok: false, reason: 'dpop_proof_duplicated' };
  const auth = view.headers.get(AUTHORIZATION_HEADER);
  if (auth === undefined) return { ok: false, reason: 'access_token_missing' };
  if (view.repeatedHeaders?.has(AUTHORIZATION_HEADER) || auth.includes(',')) return { ok: false, reason: 'credential_duplicated' };
  const credentials = trimOws(auth);
  const scheme = DPOP_SCHEME.exec(credentials);
  if (!scheme) return { ok: false, reason: 'access_token_missing' };
  const token = credentials.slice(scheme[0].length);
  if (!TOKEN68.test(token)) return { ok: false, reason: token === '' ? 'access_token_missing' : 'access_token_malformed' };
  const p = proof === undefined ? '' : trimOws(proof);
  if (p === '') return { ok: false, reason: 'dpop_proof_missing' };
  return { ok: true, token, proof: p };
}
