/**
 * THE import path for a public key (docs/transcript-v1.md §4.1, docs/bundle.md "Keys"): the member
 * rules, canonical base64url coordinates, the point checks, and the RFC 7638 thumbprint that only a
 * key in its one canonical spelling can have. Every key that enters through core/src/keys.ts (the
 * entry point, which re-exports the public names) passes here; importPrivateJwk there reuses the
 * member and coordinate rules for the public half of a private key.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { fromB64url, sha256b64url } from '../encoding.js';
import { ed25519PointProblem, p256PointProblem } from '../lib/curve-points.js';
import type { PublicJwk, SigningAlg } from '../types.js';

/** A public key that passed every rule of the one import path, in its canonical form. */
export interface ImportedPublicKey {
  /** The bare canonical JWK: `kty`, `crv`, `x` (and `y`), nothing else. */
  readonly jwk: PublicJwk;
  readonly key: KeyObject;
  readonly alg: SigningAlg;
  /** RFC 7638 thumbprint of `jwk`. */
  readonly jkt: string;
}

/**
 * Where a key enters, which members besides the key itself it may carry:
 * - `bare` (a passport `cnf.jwk`): exactly `kty`, `crv`, `x` (and `y` for P-256);
 * - `public` (bundle trust and signing keys, the broker's `holder_jwk`, public key files): also
 *   `kid` (1–256 visible ASCII characters), `alg` (the key's own algorithm), `use` (`sig`) and
 *   `key_ops` (`["verify"]`).
 */
export type PublicJwkContext = 'bare' | 'public';

/**
 * THE import path for a public key (docs/transcript-v1.md §4.1, docs/bundle.md "Keys"). Checks, in
 * this order, and throws a JwkError naming the first failure: an object; `kty` and `crv` exactly
 * `OKP`/`Ed25519` or `EC`/`P-256`; no private member; no member the context does not allow;
 * `x` (and `y`) canonical base64url (RFC 7515 §2, RFC 4648 §5: URL-safe alphabet, no padding, no
 * non-zero unused bits) of exactly 32 bytes; the optional members' values; the point itself
 * (Ed25519: RFC 8032 §5.1.3 decoding with y < p, and not of small order; P-256: SEC 1 §3.2.2.1).
 * Because only one spelling of a key gets through, its RFC 7638 thumbprint is unique too, which is
 * what `revocations.cnf_thumbprints` relies on.
 */
export function checkPublicJwk(jwk: unknown, context: PublicJwkContext = 'public'): ImportedPublicKey {
  return checkPublicPart(checkMembers(jwk, context));
}

/** Import a public JWK (context `public`); throws JwkError naming the problem. */
export function importPublicJwk(jwk: unknown, context: PublicJwkContext = 'public'): KeyObject {
  return checkPublicJwk(jwk, context).key;
}

/** Every way a key can be refused. Stable: tests and callers match on them. */
export type JwkProblem =
  | 'jwk_not_object'
  | 'jwk_kty_unsupported'
  | 'jwk_crv_unsupported'
  | 'jwk_private_member'
  | 'jwk_member_unknown'
  | 'jwk_member_missing'
  | 'jwk_member_invalid'
  | 'jwk_encoding_invalid'
  | 'jwk_point_not_canonical'
  | 'jwk_point_small_order'
  | 'jwk_point_invalid'
  | 'jwk_public_mismatch';

export class JwkError extends TypeError {
  readonly code: JwkProblem;
  constructor(code: JwkProblem, message: string) {
    super(message);
    this.name = 'JwkError';
    this.code = code;
  }
}

/**
 * Members of a private key of any JWK type (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2). Refused
 * wherever a public key belongs, so a private key is never shipped by mistake to where public keys go.
 */
export const PRIVATE_MEMBERS: readonly string[] = Object.freeze(['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'r', 't', 'k']);
const OPTIONAL_MEMBERS: readonly string[] = ['kid', 'alg', 'use', 'key_ops'];
const VISIBLE_ASCII = /^[\x21-\x7e]{1,256}$/;

type JwkObject = Record<string, unknown> & { kty: 'OKP' | 'EC'; crv: 'Ed25519' | 'P-256' };

export function checkMembers(jwk: unknown, context: PublicJwkContext | 'private'): JwkObject {
  if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk)) throw new JwkError('jwk_not_object', 'JWK must be an object');
  const j = jwk as Record<string, unknown>;
  if (j.kty === 'OKP') {
    if (j.crv !== 'Ed25519') throw new JwkError('jwk_crv_unsupported', 'OKP JWK must have crv "Ed25519"');
  } else if (j.kty === 'EC') {
    if (j.crv !== 'P-256') throw new JwkError('jwk_crv_unsupported', 'EC JWK must have crv "P-256"');
  } else {
    throw new JwkError('jwk_kty_unsupported', 'JWK "kty" must be "OKP" (Ed25519) or "EC" (P-256)');
  }
  const ec = j.kty === 'EC';
  // Own enumerable members only: a parsed document has no inherited ones worth a look.
  for (const m of Object.keys(j)) {
    if (m === 'kty' || m === 'crv' || m === 'x' || (ec && m === 'y')) continue;
    if (m === 'd' && context === 'private') continue;
    if (PRIVATE_MEMBERS.includes(m)) {
      throw new JwkError('jwk_private_member', context === 'private' ? `"${m}" is not a member of an ${ec ? 'EC' : 'OKP'} private key` : `a public key must not carry the private member "${m}"`);
    }
    if (context !== 'bare' && OPTIONAL_MEMBERS.includes(m)) continue;
    throw new JwkError('jwk_member_unknown', m === 'y' ? 'an Ed25519 key has no "y"' : `unexpected member "${m.slice(0, 64)}"${context === 'bare' ? ' (only kty, crv, x' + (ec ? ', y' : '') + ')' : ''}`);
  }
  if (context === 'private' && j.d === undefined) throw new JwkError('jwk_member_missing', 'private JWK lacks "d"');
  return j as JwkObject;
}

export function checkPublicPart(j: JwkObject): ImportedPublicKey {
  const ed = j.kty === 'OKP';
  const x = coordinate(j, 'x');
  const y = ed ? undefined : coordinate(j, 'y');
  const alg: SigningAlg = ed ? 'EdDSA' : 'ES256';
  if (j.kid !== undefined && (typeof j.kid !== 'string' || !VISIBLE_ASCII.test(j.kid))) throw new JwkError('jwk_member_invalid', '"kid" must be 1-256 visible ASCII characters');
  if (j.alg !== undefined && j.alg !== alg) throw new JwkError('jwk_member_invalid', `"alg" must be "${alg}" for this key type`);
  if (j.use !== undefined && j.use !== 'sig') throw new JwkError('jwk_member_invalid', '"use" must be "sig"');
  if (j.key_ops !== undefined && !keyOpsOk(j.key_ops, j.d !== undefined)) {
    throw new JwkError('jwk_member_invalid', j.d !== undefined ? '"key_ops" must list only "sign" and "verify", once each' : '"key_ops" must be ["verify"]');
  }
  const problem = ed ? ed25519PointProblem(x) : p256PointProblem(x, y!);
  if (problem === 'not_canonical') throw new JwkError('jwk_point_not_canonical', ed ? '"x" is a non-canonical Ed25519 encoding (y >= p)' : '"x"/"y" must be below the P-256 field prime');
  if (problem === 'small_order') throw new JwkError('jwk_point_small_order', '"x" is an Ed25519 point of small order (refused: one signature would verify for every message)');
  if (problem !== undefined) throw new JwkError('jwk_point_invalid', ed ? '"x" is not a point of Ed25519' : '"x"/"y" is not a point of P-256');
  const bare: PublicJwk = ed ? { kty: 'OKP', crv: 'Ed25519', x: j.x as string } : { kty: 'EC', crv: 'P-256', x: j.x as string, y: j.y as string };
  let key: KeyObject;
  try {
    key = createPublicKey({ key: bare as never, format: 'jwk' });
  } catch {
    throw new JwkError('jwk_point_invalid', 'JWK coordinates are not a valid public key');
  }
  return Object.freeze({ jwk: Object.freeze(bare), key, alg, jkt: thumbprintOf(bare) });
}

function keyOpsOk(ops: unknown, isPrivate: boolean): boolean {
  if (!Array.isArray(ops) || ops.length === 0) return false;
  const seen = new Set<unknown>();
  for (const op of ops) {
    if (seen.has(op) || !(op === 'verify' || (isPrivate && op === 'sign'))) return false;
    seen.add(op);
  }
  return true;
}

/**
 * A coordinate or scalar: canonical base64url of exactly 32 bytes. Length first (43 characters is
 * the only length 32 bytes have without padding), then the decode-and-re-encode comparison of
 * fromB64url, which refuses padding, the other alphabet, characters outside both, and the other
 * spellings of the same bytes (non-zero unused bits: a 43-character text carries 258 bits for 256).
 */
export function coordinate(j: Record<string, unknown>, m: 'x' | 'y' | 'd'): Buffer {
  const v = j[m];
  if (v === undefined) throw new JwkError('jwk_member_missing', `JWK lacks "${m}"`);
  if (typeof v !== 'string') throw new JwkError('jwk_encoding_invalid', `"${m}" must be a base64url string`);
  const bytes = v.length === 43 ? fromB64url(v) : undefined;
  if (bytes === undefined || bytes.length !== 32) {
    throw new JwkError('jwk_encoding_invalid', `"${m}" must be 32 bytes of canonical base64url (43 characters of A-Z a-z 0-9 - _, no padding, unused bits zero)`);
  }
  return bytes;
}

/**
 * RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order, base64url. Only
 * of a canonical key: a coordinate spelt any other way throws, so no second thumbprint of one key
 * can ever be made (revocation by thumbprint relies on it).
 */
export function jwkThumbprint(jwk: PublicJwk): string {
  if (jwk === null || typeof jwk !== 'object') throw new JwkError('jwk_not_object', 'JWK must be an object');
  coordinate(jwk as unknown as Record<string, unknown>, 'x');
  if (jwk.kty === 'EC') coordinate(jwk as unknown as Record<string, unknown>, 'y');
  return thumbprintOf(jwk);
}

function thumbprintOf(jwk: PublicJwk): string {
  const text =
    jwk.kty === 'OKP'
      ? `{"crv":${JSON.stringify(jwk.crv)},"kty":"OKP","x":${JSON.stringify(jwk.x)}}`
      : `{"crv":${JSON.stringify(jwk.crv)},"kty":"EC","x":${JSON.stringify(jwk.x)},"y":${JSON.stringify(jwk.y)}}`;
  return sha256b64url(text);
}
