/**
 * What the verified-passport cache holds and how the engine asks it (docs/transcript-v1.md §15.4).
 * The engine consults it for a passport it has already verified under the same bundle: the parse,
 * the issuer signature, the claims' shape and the holder-key import are then skipped; every rule
 * that depends on the time, the bundle's trust and revocations, the route or the request still runs
 * on every check. An implementation with bounds and single-flight fills is the server's
 * (authz-server/src/passport-cache.ts).
 */
import type { CompiledBundle } from '../bundle/compile.js';
import type { TrustKey } from '../bundle/types.js';
import type { PassportClaims, SigningAlg } from '../types.js';
import type { HolderKey } from './holder-keys.js';

/** A passport whose compact form parsed, whose signature verified and whose claims had their shape. Never a proof, never a failure. */
export interface VerifiedPassport {
  readonly kid: string;
  readonly alg: SigningAlg;
  readonly trustKey: TrustKey;
  readonly claims: PassportClaims;
  readonly holder: HolderKey;
}

export interface PassportCache {
  /**
   * The entry for the passport whose base64url SHA-256 is `sha256`, verified under exactly `bundle`
   * (the same compiled bundle object: a reload is another generation, and nothing of the old one is
   * returned).
   */
  get(bundle: CompiledBundle, sha256: string): VerifiedPassport | undefined;
  /** Called only for a reusable passport that passed signature and claims under `bundle`. */
  set(bundle: CompiledBundle, sha256: string, passport: VerifiedPassport): void;
}
