/**
 * Signing keys: Ed25519 (JWS `EdDSA`) and P-256 (JWS `ES256`), JWK import and export, RFC 7638
 * thumbprints. A `kid` defaults to the key's thumbprint, so the same key always has the same id.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { sha256b64url } from './encoding.js';
import type { PublicJwk, SigningAlg } from './types.js';

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

export function importPrivateJwk(jwk: unknown, kid?: string): SigningKey {
  const j = asJwkShape(jwk);
  if (typeof (jwk as { d?: unknown }).d !== 'string') throw new TypeError('private JWK lacks "d"');
  const privateKey = createPrivateKey({ key: { ...j, d: (jwk as { d: string }).d } as never, format: 'jwk' });
  return signingKeyFrom(privateKey, kid ?? (typeof j.kid === 'string' ? j.kid : undefined));
}

/** Import a public JWK; throws TypeError naming the problem for anything but Ed25519/P-256 public keys. */
export function importPublicJwk(jwk: unknown): KeyObject {
  const j = asJwkShape(jwk);
  if ((jwk as { d?: unknown }).d !== undefined) throw new TypeError('a public JWK must not carry "d"');
  const input = j.kty === 'OKP' ? { kty: j.kty, crv: j.crv, x: j.x } : { kty: j.kty, crv: j.crv, x: j.x, y: j.y };
  try {
    return createPublicKey({ key: input as never, format: 'jwk' });
  } catch {
    throw new TypeError('JWK coordinates are not a valid public key');
  }
}

function asJwkShape(jwk: unknown): PublicJwk {
  if (jwk === null || typeof jwk !== 'object') throw new TypeError('JWK must be an object');
  const j = jwk as Record<string, unknown>;
  if (j.kty === 'OKP') {
    if (j.crv !== 'Ed25519') throw new TypeError('OKP JWK must have crv "Ed25519"');
    if (typeof j.x !== 'string' || j.x.length !== 43) throw new TypeError('Ed25519 JWK "x" must be 32 bytes of base64url');
    return j as unknown as PublicJwk;
  }
  if (j.kty === 'EC') {
    if (j.crv !== 'P-256') throw new TypeError('EC JWK must have crv "P-256"');
    if (typeof j.x !== 'string' || j.x.length !== 43 || typeof j.y !== 'string' || j.y.length !== 43) {
      throw new TypeError('P-256 JWK "x" and "y" must be 32 bytes of base64url each');
    }
    return j as unknown as PublicJwk;
  }
  throw new TypeError('JWK "kty" must be "OKP" (Ed25519) or "EC" (P-256)');
}

/** RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order, base64url. */
export function jwkThumbprint(jwk: PublicJwk): string {
  const text =
    jwk.kty === 'OKP'
      ? `{"crv":${JSON.stringify(jwk.crv)},"kty":"OKP","x":${JSON.stringify(jwk.x)}}`
      : `{"crv":${JSON.stringify(jwk.crv)},"kty":"EC","x":${JSON.stringify(jwk.x)},"y":${JSON.stringify(jwk.y)}}`;
  return sha256b64url(text);
}

export function algForJwk(jwk: Pick<PublicJwk, 'kty' | 'crv'>): SigningAlg {
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ES256';
  throw new TypeError('only Ed25519 and P-256 keys are supported');
}

export function algForKey(key: KeyObject): SigningAlg {
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
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
 * A public JWK from a public or private JWK (a private one is reduced to its public part), with
 * `kid` (as given, else the thumbprint) and `alg` set. Throws TypeError naming the problem.
 */
export function toPublicJwk(json: unknown): PublicJwk {
  if (json !== null && typeof json === 'object' && typeof (json as { d?: unknown }).d === 'string') return importPrivateJwk(json).publicJwk;
  const bare = exportPublicJwk(importPublicJwk(json));
  const kid = (json as { kid?: unknown }).kid;
  return { ...bare, kid: typeof kid === 'string' && kid !== '' ? kid : jwkThumbprint(bare), alg: algForJwk(bare) };
}

/** A key set: a JWKS (`{"keys": [...]}`) or one JWK. Throws TypeError naming the bad entry. */
export function parseKeySet(json: unknown): PublicJwk[] {
  const list = json !== null && typeof json === 'object' && Array.isArray((json as { keys?: unknown }).keys) ? ((json as { keys: unknown[] }).keys) : [json];
  if (list.length === 0) throw new TypeError('the key set is empty');
  return list.map((k, i) => {
    try {
      return toPublicJwk(k);
    } catch (e) {
      throw new TypeError(`key ${i}: ${(e as Error).message}`);
    }
  });
}
