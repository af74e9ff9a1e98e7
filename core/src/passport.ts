/**
 * Passports: short-lived, audience-scoped compact JWTs with a `cnf` holder key (RFC 7800) and a
 * claimed key-binding class. `issuePassport` is used by issuers and the broker; verification is split
 * into the decision engine's phases (parse → signature → claims → trust), built on the checks here.
 */
import { randomBytes } from 'node:crypto';
import { isNumericDate, signCompact, type ParsedJws } from './jws.js';
import { algForJwk, type SigningKey } from './keys.js';
import type { ReasonCode } from './reasons.js';
import { isKeyBinding, type KeyBinding, type PassportClaims, type PublicJwk } from './types.js';
import { b64url } from './encoding.js';
import { identityProblem, isAudience, isIdentityUri, isJti, isKid, isTrustDomain, trustDomainProblem } from './identity.js';

export const PASSPORT_TYP = 'tp-passport+jwt';
export const ALLOWED_ALGS: readonly string[] = Object.freeze(['EdDSA', 'ES256']);
/** Header members that carry or point at a key. Keys come only from the bundle, by `kid`. */
export const KEY_HEADER_MEMBERS: readonly string[] = Object.freeze(['jwk', 'jku', 'x5u', 'x5c', 'x5t', 'x5t#S256']);
export { MAX_JTI_LENGTH } from './identity.js';
export const DEFAULT_PASSPORT_LIFETIME_S = 60;

export interface IssuePassportOptions {
  readonly key: SigningKey;
  readonly issuer: string;
  readonly subject: string;
  readonly audience: string;
  readonly trustDomain: string;
  readonly holder: PublicJwk;
  readonly keyBinding: KeyBinding;
  readonly lifetimeS?: number;
  /** Unix milliseconds; defaults to Date.now(). */
  readonly nowMs?: number;
  readonly jti?: string;
  /**
   * Issue a reusable passport (docs/transcript-v1.md §15): one passport for many requests, each with
   * its own proof. Only routes with `reusable_passport` accept it.
   */
  readonly reusable?: boolean;
}

export function newJti(): string {
  return b64url(randomBytes(18));
}

export function issuePassport(o: IssuePassportOptions): string {
  const iat = Math.floor((o.nowMs ?? Date.now()) / 1000);
  const lifetime = o.lifetimeS ?? DEFAULT_PASSPORT_LIFETIME_S;
  if (!Number.isSafeInteger(lifetime) || lifetime < 1) throw new TypeError('lifetimeS must be a positive integer');
  if (!isKeyBinding(o.keyBinding)) throw new TypeError(`unknown key binding ${String(o.keyBinding)}`);
  algForJwk(o.holder); // throws for unsupported holder keys
  // A verifier refuses these (passport_claims_invalid); an issuer must not mint what no verifier accepts.
  if (!isIdentityUri(o.issuer)) throw new TypeError(`issuer ${JSON.stringify(o.issuer)}: ${identityProblem(o.issuer)}`);
  if (!isIdentityUri(o.subject)) throw new TypeError(`subject ${JSON.stringify(o.subject)}: ${identityProblem(o.subject)}`);
  if (!isAudience(o.audience)) throw new TypeError(`audience ${JSON.stringify(o.audience)}: must be 1-1024 visible ASCII characters`);
  if (!isTrustDomain(o.trustDomain)) throw new TypeError(`trust domain ${JSON.stringify(o.trustDomain)}: ${trustDomainProblem(o.trustDomain)}`);
  const holder: PublicJwk =
    o.holder.kty === 'OKP' ? { kty: 'OKP', crv: 'Ed25519', x: o.holder.x } : { kty: 'EC', crv: 'P-256', x: o.holder.x, y: o.holder.y! };
  const claims: PassportClaims = {
    iss: o.issuer,
    sub: o.subject,
    aud: o.audience,
    iat,
    exp: iat + lifetime,
    jti: o.jti ?? newJti(),
    trust_domain: o.trustDomain,
    cnf: { jwk: holder },
    key_binding: o.keyBinding,
    ...(o.reusable === true ? { reusable: true as const } : {}),
  };
  return signCompact({ alg: o.key.alg, typ: PASSPORT_TYP, kid: o.key.kid }, claims as unknown as Record<string, unknown>, o.key.alg, o.key.privateKey);
}

export type HeaderCheck = { ok: true; kid: string; alg: 'EdDSA' | 'ES256' } | { ok: false; reason: ReasonCode };

/**
 * The members a passport header may have. `tp-passport+jwt` is this profile's own type (RFC 8725
 * §3.11), so the profile defines the whole header: a member it does not know could change how the
 * token is processed (`b64` of RFC 7797, `zip`, `cty`), so it is refused rather than ignored.
 */
const HEADER_MEMBERS: ReadonlySet<string> = new Set(['alg', 'typ', 'kid']);

/**
 * Header rules, in order (docs/transcript-v1.md §12 step 5): alg allow-list, no key material,
 * explicit typ, then passport_malformed for `crit`, any other unknown member, or a `kid` that is not
 * 1–256 visible ASCII characters.
 */
export function checkPassportHeader(h: Record<string, unknown>): HeaderCheck {
  if (typeof h.alg !== 'string' || !ALLOWED_ALGS.includes(h.alg)) return { ok: false, reason: 'passport_alg_not_allowed' };
  for (const m of KEY_HEADER_MEMBERS) if (h[m] !== undefined) return { ok: false, reason: 'passport_key_in_header' };
  if (h.typ !== PASSPORT_TYP) return { ok: false, reason: 'passport_typ_invalid' };
  // A parsed header has no prototype (strict-json.ts), so for-in sees exactly its own members; `crit` is one of them.
  for (const k in h) if (!HEADER_MEMBERS.has(k)) return { ok: false, reason: 'passport_malformed' };
  if (typeof h.kid !== 'string' || !isKid(h.kid)) return { ok: false, reason: 'passport_malformed' };
  return { ok: true, kid: h.kid, alg: h.alg as 'EdDSA' | 'ES256' };
}

export type ClaimsCheck = { ok: true; claims: PassportClaims } | { ok: false; reason: ReasonCode; detail: string };


/**
 * Shape of the claims only; time and trust rules are separate phases. The syntax of each identity is
 * docs/transcript-v1.md §4.2 (core/src/identity.ts). Claims this profile does not define are ignored
 * (RFC 7519 §4), but they are inside the signed payload and obey the JSON profile like the rest.
 */
export function checkPassportClaimsShape(p: ParsedJws['payload']): ClaimsCheck {
  const bad = (detail: string): ClaimsCheck => ({ ok: false, reason: 'passport_claims_invalid', detail });
  if (typeof p.iss !== 'string' || !isIdentityUri(p.iss)) return bad('iss must be an identity URI');
  if (typeof p.sub !== 'string' || !isIdentityUri(p.sub)) return bad('sub must be an identity URI');
  if (typeof p.aud !== 'string' || !isAudience(p.aud)) return bad('aud must be one string of 1-1024 visible ASCII characters');
  if (!isNumericDate(p.iat)) return bad('iat must be a non-negative integer');
  if (!isNumericDate(p.exp)) return bad('exp must be a non-negative integer');
  if (p.nbf !== undefined && !isNumericDate(p.nbf)) return bad('nbf must be a non-negative integer');
  if (!isJti(p.jti)) return bad('jti must be 1-128 visible ASCII characters');
  if (typeof p.trust_domain !== 'string' || !isTrustDomain(p.trust_domain)) return bad('trust_domain must be a SPIFFE trust domain name');
  if (!isKeyBinding(p.key_binding)) return bad('key_binding must be software, remote_kms, hardware_local or attested_workload');
  // docs/transcript-v1.md §15: present only as `true`; a passport without it is a per-request passport.
  if (p.reusable !== undefined && p.reusable !== true) return bad('reusable must be true when present');
  // cnf (docs/transcript-v1.md §4.1): an object whose only member is `jwk`; the key itself is
  // checked by the claims phase through the one import path (engine/holder-keys.ts).
  const cnf = p.cnf as { jwk?: unknown } | undefined;
  if (cnf === null || typeof cnf !== 'object' || Array.isArray(cnf) || cnf.jwk === null || typeof cnf.jwk !== 'object' || Array.isArray(cnf.jwk)) {
    return { ok: false, reason: 'passport_cnf_invalid', detail: 'cnf.jwk missing' };
  }
  for (const k in cnf) if (k !== 'jwk') return { ok: false, reason: 'passport_cnf_invalid', detail: 'cnf has a member other than jwk' };
  return { ok: true, claims: p as unknown as PassportClaims };
}
