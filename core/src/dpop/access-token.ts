/**
 * The DPoP-bound access token (RFC 9449 §6, §7): a JWT access token (RFC 9068) signed by an issuer
 * key of the bundle, found by its `kid` exactly as a passport's is, and bound to the client's
 * proof key by the RFC 7638 thumbprint in `cnf.jkt` (RFC 9449 §6.1). docs/dpop.md states the rules;
 * this file checks the shape of the header and of the claims, and the token's validity window.
 * Keys come only from the bundle: a key or key reference in the token header is refused.
 */
import { fromB64url } from '../encoding.js';
import { isAudience, isIdentityUri, isJti, isKid, isTrustDomain } from '../identity.js';
import { isNumericDate, type ParsedJws } from '../jws.js';
import { KEY_HEADER_MEMBERS } from '../passport.js';
import type { ReasonCode } from '../reasons.js';
import { isDpopAlg } from './algs.js';

/** RFC 9068 §2.1 and §4: `at+jwt`, or the same media type with its `application/` prefix, compared case-insensitively (RFC 7515 §4.1.9). */
export function isAccessTokenTyp(typ: unknown): boolean {
  if (typeof typ !== 'string') return false;
  const t = typ.toLowerCase();
  return t === 'at+jwt' || t === 'application/at+jwt';
}

export type AccessTokenHeader = { ok: true; kid: string; alg: string } | { ok: false; reason: ReasonCode };

/**
 * Header rules, in order: `alg` on the allow-list (so `none` and HMAC are named as such first), no
 * key material, `typ` `at+jwt`, no `crit` (no extension is understood, RFC 7515 §4.1.11), a `kid`
 * of 1–256 visible ASCII characters. Other members are ignored (RFC 7515 §4).
 */
export function checkAccessTokenHeader(h: Record<string, unknown>): AccessTokenHeader {
  if (!isDpopAlg(h.alg)) return { ok: false, reason: 'access_token_alg_not_allowed' };
  for (const m of KEY_HEADER_MEMBERS) if (h[m] !== undefined) return { ok: false, reason: 'access_token_malformed' };
  if (!isAccessTokenTyp(h.typ)) return { ok: false, reason: 'access_token_typ_invalid' };
  if (h.crit !== undefined) return { ok: false, reason: 'access_token_malformed' };
  if (typeof h.kid !== 'string' || !isKid(h.kid)) return { ok: false, reason: 'access_token_malformed' };
  return { ok: true, kid: h.kid, alg: h.alg };
}

export interface AccessTokenClaims {
  readonly iss: string;
  readonly sub: string;
  /** The one audience (a string, or an array of exactly one string). */
  readonly aud: string;
  readonly iat: number;
  readonly exp: number;
  readonly nbf?: number;
  readonly jti: string;
  /** `cnf.jkt`: the RFC 7638 thumbprint of the key every DPoP proof must be made with. */
  readonly jkt: string;
  /** Optional; when present it must be the trust domain of the signing key (trust phase). */
  readonly trust_domain?: string;
}

export type AccessTokenClaimsCheck = { ok: true; claims: AccessTokenClaims } | { ok: false; reason: ReasonCode; detail: string };


/**
 * The claims a DPoP access token must carry (RFC 9068 §2.2, RFC 9449 §6.1), each in the syntax the
 * route policy compares it in (docs/transcript-v1.md §4.2): `iss` and `sub` identities, `aud` one
 * audience, `iat` and `exp` (with `exp` after `iat`), optional `nbf`, `jti` of 1–128 visible ASCII
 * characters, `cnf` an object whose only member is `jkt`, a SHA-256 thumbprint in canonical
 * base64url. Any other claim (`client_id`, `scope` …) is ignored.
 */
export function checkAccessTokenClaims(p: ParsedJws['payload']): AccessTokenClaimsCheck {
  const bad = (detail: string): AccessTokenClaimsCheck => ({ ok: false, reason: 'access_token_claims_invalid', detail });
  if (typeof p.iss !== 'string' || !isIdentityUri(p.iss)) return bad('iss must be an identity URI');
  if (typeof p.sub !== 'string' || !isIdentityUri(p.sub)) return bad('sub must be an identity URI');
  const aud = Array.isArray(p.aud) && p.aud.length === 1 ? (p.aud[0] as unknown) : p.aud;
  if (typeof aud !== 'string' || !isAudience(aud)) return bad('aud must be one audience of 1-1024 visible ASCII characters');
  if (!isNumericDate(p.iat)) return bad('iat');
  if (!isNumericDate(p.exp)) return bad('exp');
  if (p.exp <= p.iat) return bad('exp must be after iat');
  if (p.nbf !== undefined && !isNumericDate(p.nbf)) return bad('nbf');
  if (!isJti(p.jti)) return bad('jti must be 1-128 visible ASCII characters');
  if (p.trust_domain !== undefined && (typeof p.trust_domain !== 'string' || !isTrustDomain(p.trust_domain))) return bad('trust_domain must be a SPIFFE trust domain name');
  const cnf = p.cnf as Record<string, unknown> | undefined;
  if (cnf === null || typeof cnf !== 'object' || Array.isArray(cnf)) return bad('cnf must be an object with jkt (RFC 9449 §6.1)');
  for (const k in cnf) if (k !== 'jkt') return bad('cnf must have jkt as its only member');
  const jkt = cnf.jkt;
  if (typeof jkt !== 'string' || jkt.length !== 43 || fromB64url(jkt)?.length !== 32) return bad('cnf.jkt must be a SHA-256 thumbprint in canonical base64url');
  return {
    ok: true,
    claims: {
      iss: p.iss,
      sub: p.sub,
      aud,
      iat: p.iat,
      exp: p.exp,
      ...(p.nbf !== undefined ? { nbf: p.nbf } : {}),
      jti: p.jti,
      jkt,
      ...(p.trust_domain !== undefined ? { trust_domain: p.trust_domain } : {}),
    },
  };
}
