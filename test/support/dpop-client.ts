/**
 * A DPoP client made of third-party parts, for the interop tests of issue 16: proofs come from the
 * `dpop` npm package (RFC 9449, Filip Skokan) and access tokens from `jose`'s SignJWT, never from
 * TrustPlane's own signer. Where a test needs a proof the library will not make (another `typ`, a
 * private `jwk`, a changed `iat`), `resign` edits the library's JWT and signs it again with the same
 * key through node:crypto — so every failing proof differs from a good one in exactly one place.
 */
import { KeyObject, randomUUID, sign } from 'node:crypto';
import { calculateThumbprint, generateKeyPair, generateProof, type KeyPair } from 'dpop';
import { SignJWT } from 'jose';
import type { SigningKey } from '../../core/src/keys.js';

export interface DpopClient {
  readonly keypair: KeyPair;
  /** RFC 7638 thumbprint of the proof key, as the library computes it. */
  readonly jkt: string;
  readonly alg: 'ES256' | 'Ed25519';
}

export async function dpopClient(alg: 'ES256' | 'Ed25519' = 'ES256'): Promise<DpopClient> {
  // Extractable, so the library can put the public key in the `jwk` header and resign() can use the private one.
  const keypair = await generateKeyPair(alg, { extractable: true });
  return { keypair, jkt: await calculateThumbprint(keypair.publicKey), alg };
}

export interface AccessTokenOptions {
  readonly issuerKey: SigningKey;
  readonly issuer: string;
  readonly subject: string;
  readonly audience: string;
  /** The thumbprint the token is bound to (`cnf.jkt`). */
  readonly jkt: string | undefined;
  readonly lifetimeS?: number;
  /** Unix seconds; defaults to the real clock. */
  readonly iat?: number;
  readonly typ?: string;
  readonly kid?: string;
  readonly extra?: Record<string, unknown>;
}

/** An RFC 9068 access token signed by `jose` with a bundle issuer key. */
export function accessToken(o: AccessTokenOptions): Promise<string> {
  const iat = o.iat ?? Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = { client_id: 'checkout', scope: 'payments', ...o.extra };
  if (o.jkt !== undefined) claims.cnf = { jkt: o.jkt };
  return new SignJWT(claims)
    .setProtectedHeader({ alg: o.issuerKey.alg, typ: o.typ ?? 'at+jwt', kid: o.kid ?? o.issuerKey.kid })
    .setIssuer(o.issuer)
    .setSubject(o.subject)
    .setAudience(o.audience)
    .setIssuedAt(iat)
    .setExpirationTime(iat + (o.lifetimeS ?? 300))
    .setJti(randomUUID())
    .sign(o.issuerKey.privateKey);
}

/** A proof made by the `dpop` library: `htu` and `htm` as given, `ath` over `token` when one is given. */
export function proof(c: DpopClient, htm: string, htu: string, token?: string): Promise<string> {
  return generateProof(c.keypair, htu, htm, undefined, token);
}

type Json = Record<string, unknown>;

/**
 * The library's JWT with its header and claims edited, signed again with the client's own key over
 * the edited bytes (ES256 as r||s, RFC 7518 §3.4; Ed25519 raw): a well-signed proof that differs in
 * what `edit` changed.
 */
export function resign(c: DpopClient, jwt: string, edit: (header: Json, claims: Json) => void): string {
  const [h, p] = jwt.split('.');
  const header = JSON.parse(Buffer.from(h!, 'base64url').toString('utf8')) as Json;
  const claims = JSON.parse(Buffer.from(p!, 'base64url').toString('utf8')) as Json;
  edit(header, claims);
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  const key = KeyObject.from(c.keypair.privateKey);
  const sig = c.alg === 'Ed25519' ? sign(null, Buffer.from(input), key) : sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${sig.toString('base64url')}`;
}

/** The private JWK of the client's key (for the "jwk header carries a private key" case). */
export function privateJwk(c: DpopClient): Json {
  return KeyObject.from(c.keypair.privateKey).export({ format: 'jwk' }) as Json;
}

/** Decoded claims of a compact JWT (no verification), for assertions. */
export function claimsOf(jwt: string): Json {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Json;
}
