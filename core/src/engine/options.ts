/**
 * The decision engine's settings: clock tolerance, passport lifetime limits, the default mode and
 * the freshness windows of each freshness class (docs/configuration.md; docs/bundle.md names the
 * defaults of the windows). The server and the middleware build them from their configuration.
 */
import type { FreshnessClass } from '../types.js';
import type { PassportCache } from './passport-cache.js';
import type { ProofKind } from './proof-kind.js';

export interface FreshnessWindow {
  /** How old a proof timestamp may be. */
  readonly proofMaxAgeS: number;
  /** How old (since `issued_at`) the bundle in use may be. */
  readonly bundleMaxAgeS: number;
}

export interface EngineOptions {
  /** Tolerance for clock differences between signer and verifier, seconds. */
  readonly clockToleranceS: number;
  /** Hard cap on `exp - iat`, whatever the route says. */
  readonly maxPassportLifetimeS: number;
  /** Default route lifetime limit when a route sets none. */
  readonly defaultRouteLifetimeS: number;
  readonly mode: 'enforce' | 'dry_run';
  readonly freshness: Readonly<Record<FreshnessClass, FreshnessWindow>>;
  /** The proof kinds this verifier knows, in recognition order; absent: ./kinds/index.ts PROOF_KINDS. */
  readonly proofKinds?: readonly ProofKind[];
  /** The verified-passport cache (docs/transcript-v1.md §15.4); absent: every passport is verified in full. */
  readonly passportCache?: PassportCache;
}

export const DEFAULT_ENGINE_OPTIONS: EngineOptions = Object.freeze({
  clockToleranceS: 30,
  maxPassportLifetimeS: 3600,
  defaultRouteLifetimeS: 300,
  mode: 'enforce',
  freshness: Object.freeze({
    realtime: Object.freeze({ proofMaxAgeS: 30, bundleMaxAgeS: 3600 }),
    bounded: Object.freeze({ proofMaxAgeS: 120, bundleMaxAgeS: 86_400 }),
    'offline-ok': Object.freeze({ proofMaxAgeS: 600, bundleMaxAgeS: Number.POSITIVE_INFINITY }),
  }),
});
