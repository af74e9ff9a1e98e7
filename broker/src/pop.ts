/**
 * Proof of possession of an X.509-SVID private key, for the broker's SPIFFE path.
 *
 * The caller signs, with the SVID key, the canonical JSON of the challenge below; the broker rebuilds
 * the same bytes from what it observes (its own issuer, the request members, the thumbprint of the
 * holder key it was sent, the hash of the leaf it was sent) plus the caller's `iat` and `nonce`, so a
 * signature made for any other request, leaf, holder key or broker does not verify. Binding
 * `holder_jkt` is what ties the SVID to the passport's `cnf`: the workload that holds the SVID key
 * names the key that will sign its requests.
 *
 * The signature algorithm follows from the leaf key, never from the request: Ed25519; ECDSA P-256
 * with SHA-256 and P-384 with SHA-384, both r||s (IEEE P1363, as JWS uses); RSA PKCS#1 v1.5 with
 * SHA-256 (RSASSA-PSS with SHA-256 for RSA-PSS keys). Shared by the broker and the client helper.
 */
import { constants, sign, verify, type KeyObject } from 'node:crypto';
import { canonicalJson } from '../../core/src/index.js';

export const POP_TYP = 'trustplane-broker-pop-v1';

const PEM_CERT = /^-----BEGIN CERTIFICATE-----\r?\n([A-Za-z0-9+/=\r\n]+?)\r?\n?-----END CERTIFICATE-----\r?\n?$/;

/** The DER of exactly one PEM CERTIFICATE block (nothing before or after it), or undefined. */
export function pemCertificateDer(pem: string): Buffer | undefined {
  const m = PEM_CERT.exec(pem);
  if (!m) return undefined;
  const b64 = m[1]!.replace(/\r?\n/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) return undefined;
  return Buffer.from(b64, 'base64');
}

export interface PopChallenge {
  /** The broker's issuer URI (its `GET /v1/trust-entry` `issuer`). */
  readonly broker: string;
  readonly audience: string;
  readonly route?: string;
  readonly lifetimeS?: number;
  /** Only when the request asks for a reusable passport: then `reusable: true` is signed too. */
  readonly reusable?: boolean;
  /** RFC 7638 thumbprint of `holder_jwk`. */
  readonly holderJkt: string;
  /** base64url SHA-256 of the leaf certificate's DER. */
  readonly svidSha256: string;
  /** Unix seconds. */
  readonly iat: number;
  readonly nonce: string;
}

/** The exact bytes signed; absent optional members are `null` so that every challenge has one layout. */
export function popSigningInput(c: PopChallenge): Buffer {
  return Buffer.from(
    canonicalJson({
      typ: POP_TYP,
      broker: c.broker,
      audience: c.audience,
      route: c.route ?? null,
      lifetime_s: c.lifetimeS ?? null,
      // Present only for a reusable request, so every other challenge keeps its layout (docs/broker.md).
      ...(c.reusable === true ? { reusable: true } : {}),
      holder_jkt: c.holderJkt,
      svid_sha256: c.svidSha256,
      iat: c.iat,
      nonce: c.nonce,
    }),
    'utf8',
  );
}

type Scheme =
  | { readonly kind: 'eddsa' }
  | { readonly kind: 'ecdsa'; readonly hash: 'sha256' | 'sha384'; readonly size: number }
  | { readonly kind: 'rsa'; readonly pss: boolean };

/** The one scheme a key type signs PoPs with; undefined for key types the broker does not accept. */
export function popScheme(key: KeyObject): Scheme | undefined {
  switch (key.asymmetricKeyType) {
    case 'ed25519':
      return { kind: 'eddsa' };
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === 'prime256v1') return { kind: 'ecdsa', hash: 'sha256', size: 64 };
      if (curve === 'secp384r1') return { kind: 'ecdsa', hash: 'sha384', size: 96 };
      return undefined;
    }
    case 'rsa':
      return (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048 ? { kind: 'rsa', pss: false } : undefined;
    case 'rsa-pss':
      return (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048 ? { kind: 'rsa', pss: true } : undefined;
    default:
      return undefined;
  }
}

export function signPop(privateKey: KeyObject, input: Uint8Array): Buffer {
  const s = popScheme(privateKey);
  if (!s) throw new TypeError('SVID key type is not supported for proof of possession (Ed25519, P-256, P-384 or RSA ≥ 2048)');
  if (s.kind === 'eddsa') return sign(null, input, privateKey);
  if (s.kind === 'ecdsa') return sign(s.hash, input, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return s.pss ? sign('sha256', input, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }) : sign('sha256', input, privateKey);
}

export function verifyPop(publicKey: KeyObject, input: Uint8Array, signature: Uint8Array): boolean {
  const s = popScheme(publicKey);
  if (!s) return false;
  try {
    if (s.kind === 'eddsa') return signature.length === 64 && verify(null, input, publicKey, signature);
    if (s.kind === 'ecdsa') return signature.length === s.size && verify(s.hash, input, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature);
    return s.pss
      ? verify('sha256', input, { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, signature)
      : verify('sha256', input, publicKey, signature);
  } catch {
    return false;
  }
}
