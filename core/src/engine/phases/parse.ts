/**
 * Phase 1, parse. Rule: the request names a method (an HTTP token), a path and an authority, and
 * carries exactly one passport and one proof, each well-formed (docs/transcript-v1.md §12 steps
 * 1–6). A comma in a credential means Envoy joined two copies (docs/envoy-integration.md F1.2):
 * neither base64url nor our proof form contains one.
 */
import { sha256b64url } from '../../encoding.js';
import { parseCompact } from '../../jws.js';
import { KEY_HEADER_MEMBERS, PASSPORT_TYP, checkPassportHeader } from '../../passport.js';
import { parseProof } from '../../proof.js';
// transcript-v1 §3: only spaces and tabs around a credential are ignored (RFC 9110 §5.6.3 OWS).
import { isValidMethod, trimOws } from '../../transcript.js';
import { HEADER } from '../../types.js';
import { quoted } from '../detail.js';
import type { PhaseState } from '../state.js';
import type { ReasonCode } from '../../reasons.js';

function single(s: PhaseState, name: string): string | undefined | 'dup' {
  const v = s.view.headers.get(name);
  if (v === undefined) return undefined;
  if (s.view.repeatedHeaders?.has(name) || v.includes(',')) return 'dup';
  return trimOws(v);
}

/**
 * Every proof kind's first rule: the request names a method, a path and an authority. The deny,
 * or undefined when all three are there.
 */
export function requestLineMissing(s: PhaseState): ReasonCode | undefined {
  const { view } = s;
  if (view.method && view.path && view.authority) return undefined;
  s.detail = !view.method ? 'no method' : !view.path ? 'no path' : 'no authority';
  return 'request_malformed';
}

export function parsePhase(s: PhaseState): ReasonCode | undefined {
  const { view } = s;
  const missingLine = requestLineMissing(s);
  if (missingLine !== undefined) return missingLine;
  // transcript-v1 §6.2: the method line is the method as observed, so it must be a token.
  if (!isValidMethod(view.method)) {
    s.detail = `method ${quoted(view.method)} is not an HTTP token of 1-32 characters`;
    return 'request_malformed';
  }
  const passport = single(s, HEADER.passport);
  if (passport === undefined || passport === '') return missing(s, HEADER.passport, passport, 'passport_missing');
  if (passport === 'dup') return duplicated(s, HEADER.passport);
  const proof = single(s, HEADER.proof);
  if (proof === undefined || proof === '') return missing(s, HEADER.proof, proof, 'proof_missing');
  if (proof === 'dup') return duplicated(s, HEADER.proof);
  // A passport verified before under this very bundle (docs/transcript-v1.md §15.4): its header
  // rules held then and are a function of its bytes, so only the proof is left to parse here.
  const cache = s.options.passportCache;
  if (cache !== undefined) {
    const digest = sha256b64url(passport);
    s.passportSha256 = digest;
    const hit = cache.get(s.bundle, digest);
    if (hit !== undefined) {
      s.cachedPassport = hit;
      return takeProof(s, passport, proof, hit.kid, hit.alg);
    }
  }
  const jws = parseCompact(passport);
  if (!jws) {
    s.detail = 'not a compact JWS of three base64url parts with a JSON-object header and payload (at most 8192 characters)';
    return 'passport_malformed';
  }
  const header = checkPassportHeader(jws.header);
  if (!header.ok) {
    s.detail = headerDetail(header.reason, jws.header);
    return header.reason;
  }
  // transcript-v1 §12 step 5: after the header rules, so `alg` "none" is named as such first.
  if (jws.signature.length === 0) {
    s.detail = 'empty signature part';
    return 'passport_malformed';
  }
  s.passportJws = jws;
  return takeProof(s, passport, proof, header.kid, header.alg);
}

/** The last parse step on both paths (cached passport or not): the proof, then what parse found. */
function takeProof(s: PhaseState, passport: string, proof: string, kid: string, alg: 'EdDSA' | 'ES256'): ReasonCode | undefined {
  const parsed = parseProof(proof);
  if (!parsed.ok) {
    s.detail = parsed.detail;
    return parsed.reason;
  }
  s.passport = passport;
  s.kid = kid;
  s.alg = alg;
  s.proof = parsed.proof;
  return undefined;
}

function missing(s: PhaseState, name: string, value: string | undefined, reason: ReasonCode): ReasonCode {
  s.detail = value === undefined ? `no ${name} header` : `empty ${name} header`;
  return reason;
}

function duplicated(s: PhaseState, name: string): ReasonCode {
  s.detail = `${name} arrived more than once (or holds a comma)`;
  return 'credential_duplicated';
}

/** Which header rule refused (passport.ts checkPassportHeader, in its order). */
function headerDetail(reason: ReasonCode, h: Record<string, unknown>): string {
  switch (reason) {
    case 'passport_alg_not_allowed':
      return typeof h.alg === 'string' ? `alg ${quoted(h.alg)} is not EdDSA or ES256` : 'alg is missing or not a string';
    case 'passport_key_in_header':
      return `header member ${quoted(KEY_HEADER_MEMBERS.find((m) => h[m] !== undefined) ?? '?')} carries or points at a key`;
    case 'passport_typ_invalid':
      return typeof h.typ === 'string' ? `typ ${quoted(h.typ)} is not ${PASSPORT_TYP}` : 'typ is missing or not a string';
    default:
      for (const k in h) if (k !== 'alg' && k !== 'typ' && k !== 'kid') return `header member ${quoted(k)} is not allowed (only alg, typ, kid)`;
      return 'kid must be 1-256 visible ASCII characters';
  }
}
