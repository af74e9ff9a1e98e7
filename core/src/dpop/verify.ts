/**
 * The DPoP checks in the order the engine's phases run them (docs/reason-codes.md, "Phases";
 * docs/dpop.md, "Verification, in order"): parse, signatures, claims — then the engine's trust and
 * route phases — then the request checks (./proof.ts checkDpopRequest), the engine's freshness
 * phase on the proof's `iat`, and last the replay consume of the proof's `jti`.
 */
import type { CompiledBundle, CompiledKey } from '../bundle/compile.js';
import { acceptedFromMs, acceptedUntilMs } from '../engine/acceptance.js';
import { parseCompact, type ParsedJws } from '../jws.js';
import { verifyBytes } from '../keys.js';
import type { ReasonCode } from '../reasons.js';
import type { RequestView } from '../types.js';
import { algFitsKey } from './algs.js';
import { checkAccessTokenClaims, checkAccessTokenHeader, type AccessTokenClaims } from './access-token.js';
import { readDpopCredentials } from './headers.js';
import { parseDpopProof, verifyDpopSignature, type ParsedDpopProof } from './proof.js';

export interface DpopCredential {
  /** The access token exactly as presented (what `ath` hashes). */
  readonly token: string;
  readonly tokenJws: ParsedJws;
  readonly kid: string;
  readonly tokenAlg: string;
  readonly proof: ParsedDpopProof;
}

export type Step<T> = { ok: true; value: T } | { ok: false; reason: ReasonCode };

const no = <T>(reason: ReasonCode): Step<T> => ({ ok: false, reason });

/** Parse phase: the two headers, the access token's form and header rules, the proof's checks 2–5 and 7. */
export function parseDpop(view: RequestView): Step<DpopCredential> {
  const creds = readDpopCredentials(view);
  if (!creds.ok) return creds;
  const tokenJws = parseCompact(creds.token);
  if (!tokenJws) return no('access_token_malformed');
  const header = checkAccessTokenHeader(tokenJws.header);
  if (!header.ok) return header;
  if (tokenJws.signature.length === 0) return no('access_token_malformed');
  const proof = parseDpopProof(creds.proof);
  if (!proof.ok) return proof;
  return { ok: true, value: { token: creds.token, tokenJws, kid: header.kid, tokenAlg: header.alg, proof: proof.proof } };
}

/**
 * Signature phase: the access token verifies with the bundle key of its `kid` under that key's
 * algorithm (a header `alg` naming another is a bad signature, never a reason to try another
 * verifier), then the proof with its own `jwk` (check 6).
 */
export function verifyDpopSignatures(c: DpopCredential, bundle: CompiledBundle): Step<CompiledKey> {
  const entry = bundle.keyByKid(c.kid);
  if (!entry) return no('access_token_kid_unknown');
  if (!algFitsKey(c.tokenAlg, entry.alg)) return no('access_token_signature_invalid');
  if (!verifyBytes(entry.alg, entry.publicKey, c.tokenJws.signingInput, c.tokenJws.signature)) return no('access_token_signature_invalid');
  if (!verifyDpopSignature(c.proof)) return no('dpop_proof_signature_invalid');
  return { ok: true, value: entry };
}

export interface DpopClaimsOptions {
  readonly nowMs: number;
  readonly clockToleranceS: number;
}

/**
 * Claims phase: the access token's claims, its validity window (RFC 7519 §4.1.4–4.1.6, widened by
 * the clock tolerance, in milliseconds as for passports: docs/transcript-v1.md §11), and check 12's
 * key half: the proof's key is the one `cnf.jkt` names. The lifetime (the route's limit and the
 * verifier's hard cap) is the engine's route phase, as for a passport.
 */
export function checkDpopClaims(c: DpopCredential, o: DpopClaimsOptions): Step<AccessTokenClaims> {
  const shape = checkAccessTokenClaims(c.tokenJws.payload);
  if (!shape.ok) return no(shape.reason);
  const t = shape.claims;
  // The passport's window, by the same functions (../engine/acceptance.ts), so the two cannot drift.
  if (o.nowMs >= acceptedUntilMs(t.exp, o.clockToleranceS)) return no('access_token_expired');
  if (o.nowMs < acceptedFromMs(t.iat, t.nbf, o.clockToleranceS)) return no('access_token_not_yet_valid');
  if (c.proof.key.jkt !== t.jkt) return no('dpop_key_mismatch');
  return { ok: true, value: t };
}
