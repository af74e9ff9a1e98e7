/**
 * Phase 1, parse. Rule: the request names a method, path and authority, and carries exactly one
 * passport and one proof, each well-formed. A comma in a credential means Envoy joined two copies
 * (docs/envoy-integration.md F1.2): neither base64url nor our proof form contains one.
 */
import { sha256b64url } from '../../encoding.js';
import { parseCompact } from '../../jws.js';
import { checkPassportHeader } from '../../passport.js';
import { parseProof } from '../../proof.js';
import { HEADER } from '../../types.js';
import type { PhaseState } from '../state.js';
import type { ReasonCode } from '../../reasons.js';

function single(s: PhaseState, name: string): string | undefined | 'dup' {
  const v = s.view.headers.get(name);
  if (v === undefined) return undefined;
  if (s.view.repeatedHeaders?.has(name) || v.includes(',')) return 'dup';
  return trimOws(v);
}

/**
 * transcript-v1 §3: only spaces and horizontal tabs around a credential are ignored (RFC 9110
 * §5.6.3 OWS, which Envoy strips anyway). String#trim would also drop U+00A0, U+FEFF, U+2028 and
 * the other Unicode spaces, which a second verifier might not; such a character is part of the
 * value and makes it malformed.
 */
function trimOws(v: string): string {
  let start = 0;
  let end = v.length;
  while (start < end && isOws(v.charCodeAt(start))) start++;
  while (end > start && isOws(v.charCodeAt(end - 1))) end--;
  return start === 0 && end === v.length ? v : v.slice(start, end);
}

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

export function parsePhase(s: PhaseState): ReasonCode | undefined {
  const { view } = s;
  if (!view.method || !view.path || !view.authority) return 'request_malformed';
  const passport = single(s, HEADER.passport);
  if (passport === undefined || passport === '') return 'passport_missing';
  if (passport === 'dup') return 'credential_duplicated';
  const proof = single(s, HEADER.proof);
  if (proof === undefined || proof === '') return 'proof_missing';
  if (proof === 'dup') return 'credential_duplicated';
  // A passport verified before under this very bundle (docs/transcript-v1.md §15.4): its header
  // rules held then and are a function of its bytes, so only the proof is left to parse here.
  const cache = s.options.passportCache;
  if (cache !== undefined) {
    const digest = sha256b64url(passport);
    s.passportSha256 = digest;
    const hit = cache.get(s.bundle, digest);
    if (hit !== undefined) {
      const parsed = parseProof(proof);
      if (!parsed.ok) return parsed.reason;
      s.passport = passport;
      s.cachedPassport = hit;
      s.kid = hit.kid;
      s.alg = hit.alg;
      s.proof = parsed.proof;
      return undefined;
    }
  }
  const jws = parseCompact(passport);
  if (!jws) return 'passport_malformed';
  const header = checkPassportHeader(jws.header);
  if (!header.ok) return header.reason;
  // transcript-v1 §12 step 5: after the header rules, so `alg` "none" is named as such first.
  if (jws.signature.length === 0) return 'passport_malformed';
  const parsed = parseProof(proof);
  if (!parsed.ok) return parsed.reason;
  s.passport = passport;
  s.passportJws = jws;
  s.kid = header.kid;
  s.alg = header.alg;
  s.proof = parsed.proof;
  return undefined;
}
