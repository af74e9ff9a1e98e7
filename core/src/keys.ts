/**
 * Signing keys: Ed25519 (JWS `EdDSA`) and P-256 (JWS `ES256`), JWK import and export, RFC 7638
 * thumbprints. A `kid` defaults to the key's thumbprint, so the same key always has the same id.
 * The one import path for public keys and the thumbprint are in core/src/keys/jwk-import.ts
 * (docs/transcript-v1.md §4.1); this file is the entry point and re-exports them.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { bigEndian, P256_ORDER } from './lib/curve-points.js';
import { checkMembers, checkPublicJwk, checkPublicPart, coordinate, JwkError, jwkThumbprint } from './keys/jwk-import.js';
import type { PublicJwk, SigningAlg } from './types.js';

export {
  checkPublicJwk,
  type ImportedPublicKey,
  importPublicJwk,
  JwkError,
  type JwkProblem,
  jwkThumbprint,
  type PublicJwkContext,
} from './keys/jwk-import.js';

export interface SigningKey {
  readonly alg: SigningAlg;
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly publicJwk: PublicJwk;
}

export interface PrivateJwk extends PublicJwk {
  readonly d: string;
}

export function generateSigningKey(alg: SigningAlg = 'EdDSA', kid?: string): SigningKey {
  const pair =
    alg === 'EdDSA' ? generateKeyPairSync('ed25519') : alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : undefined;
  if (!pair) throw new TypeError(`unsupported signing algorithm ${String(alg)}`);
  return signingKeyFrom(pair.privateKey, kid);
}

function signingKeyFrom(privateKey: KeyObject, kid?: string): SigningKey {
  const publicKey = createPublicKey(privateKey);
  const bare = exportPublicJwk(publicKey);
  const id = kid ?? jwkThumbprint(bare);
  const alg = algForJwk(bare);
  return Object.freeze({ alg, kid: id, privateKey, publicKey, publicJwk: Object.freeze({ ...bare, kid: id, alg }) });
}

export function exportPublicJwk(key: KeyObject): PublicJwk {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519' && typeof jwk.x === 'string') return { kty: 'OKP', crv: 'Ed25519', x: jwk.x };
  if (jwk.kty === 'EC' && jwk.crv === 'P-256' && typeof jwk.x === 'string' && typeof jwk.y === 'string') {
    return { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y };
  }
  throw new TypeError('only Ed25519 and P-256 keys are supported');
}

export function exportPrivateJwk(key: SigningKey): PrivateJwk {
  const jwk = key.privateKey.export({ format: 'jwk' });
  if (typeof jwk.d !== 'string') throw new TypeError('not a private key');
  return { ...key.publicJwk, d: jwk.d };
}

/**
 * Import a private JWK (a key file, an SDK key). The public part passes every rule of
 * checkPublicJwk, `d` is canonical base64url of exactly 32 bytes (for P-256 a scalar 1 ≤ d < n),
 * and the public part must be the one `d` derives: a file whose `x` names another key is refused
 * rather than trusted for its thumbprint. Throws JwkError.
 */
export function importPrivateJwk(jwk: unknown, kid?: string): SigningKey {
  const j = checkMembers(jwk, 'private');
  const d = coordinate(j, 'd');
  if (j.kty === 'EC') {
    const n = bigEndian(d);
    if (n === 0n || n >= P256_ORDER) throw new JwkError('jwk_point_invalid', '"d" is not a P-256 private scalar (1 <= d < n)');
  }
  const pub = checkPublicPart(j);
  let privateKey: KeyObject;
  try {
    const input = j.kty === 'OKP' ? { kty: 'OKP', crv: j.crv, x: j.x, d: j.d } : { kty: 'EC', crv: j.crv, x: j.x, y: j.y, d: j.d };
    privateKey = createPrivateKey({ key: input as never, format: 'jwk' });
  } catch {
    throw new JwkError('jwk_point_invalid', 'the JWK is not a valid private key');
  }
  // OpenSSL keeps an EC JWK's x/y as the key's public point without deriving it from d, so compare
  // by use: a signature made with d must verify under the checked public key (and the public key
  // OpenSSL reports must be that key), for both curves alike.
  const probe = Buffer.from('trustplane key consistency probe');
  const derived = exportPublicJwk(createPublicKey(privateKey));
  if (derived.x !== pub.jwk.x || derived.y !== pub.jwk.y || !verifyBytes(pub.alg, pub.key, probe, signBytes(pub.alg, privateKey, probe))) {
    throw new JwkError('jwk_public_mismatch', '"x"/"y" are not the public key of "d"');
  }
  return signingKeyFrom(privateKey, kid ?? (typeof j.kid === 'string' ? j.kid : undefined));
}

export function algForJwk(jwk: Pick<PublicJwk, 'kty' | 'crv'>): SigningAlg {
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ES256';
  throw new TypeError('only Ed25519 and P-256 keys are supported');
}

/** JWS signature bytes: raw Ed25519, or ES256 as r||s (IEEE P1363), as RFC 7518 §3.4 requires. */
export function signBytes(alg: SigningAlg, privateKey: KeyObject, data: Uint8Array): Buffer {
  return alg === 'EdDSA' ? sign(null, data, privateKey) : sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
}

export function verifyBytes(alg: SigningAlg, publicKey: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    if (alg === 'EdDSA') return signature.length === 64 && verify(null, data, publicKey, signature);
    return signature.length === 64 && verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
}

/**
 * A public JWK from a key file that may be public or private (the CLI takes either where it needs
 * only the public half; a private one must pass importPrivateJwk in full, so a file whose `x` is not
 * the key of its `d` is refused). `kid` as given, else the thumbprint; `alg` set. Throws JwkError.
 */
export function toPublicJwk(json: unknown): PublicJwk {
  if (json !== null && typeof json === 'object' && (json as { d?: unknown }).d !== undefined) return importPrivateJwk(json).publicJwk;
  return publicWithKid(json);
}

function publicWithKid(json: unknown): PublicJwk {
  const k = checkPublicJwk(json, 'public');
  const kid = (json as { kid?: unknown }).kid;
  return { ...k.jwk, kid: typeof kid === 'string' ? kid : k.jkt, alg: k.alg };
}

/**
 * A set of public keys: a JWKS (`{"keys": [...]}`) or one JWK. Public keys only: the bundle-signing
 * key set is copied to every verifier, so a private member there is refused, never reduced to its
 * public half. Throws JwkError naming the bad entry.
 */
export function parseKeySet(json: unknown): PublicJwk[] {
  const list = json !== null && typeof json === 'object' && Array.isArray((json as { keys?: unknown }).keys) ? ((json as { keys: unknown[] }).keys) : [json];
  if (list.length === 0) throw new TypeError('the key set is empty');
  return list.map((k, i) => {
    try {
      return publicWithKid(k);
    } catch (e) {
      throw new JwkError((e as JwkError).code ?? 'jwk_not_object', `key ${i}: ${(e as Error).message}`);
    }
  });
}
