/**
 * The signature algorithms DPoP accepts, for the proof (RFC 9449 §4.3 check 5) and the access
 * token alike: the two key types of core/src/keys.ts. `Ed25519` is the fully-specified name of
 * EdDSA over Ed25519 (RFC 9864 §2.2), which current DPoP clients (the `dpop` npm package among them)
 * write; `EdDSA` is its older, polymorphic name (RFC 8037 §3.1). `none` and every symmetric (HMAC)
 * or other algorithm are refused before any key is looked at.
 */
import type { SigningAlg } from '../types.js';

export const DPOP_ALGS: readonly string[] = Object.freeze(['EdDSA', 'Ed25519', 'ES256']);

export function isDpopAlg(alg: unknown): alg is string {
  return typeof alg === 'string' && DPOP_ALGS.includes(alg);
}

/** Whether a header `alg` (already on the allow-list) names the algorithm of a key of this type. */
export function algFitsKey(alg: string, keyAlg: SigningAlg): boolean {
  return keyAlg === 'ES256' ? alg === 'ES256' : alg === 'EdDSA' || alg === 'Ed25519';
}
