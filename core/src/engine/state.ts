/**
 * What the decision phases share. Each phase reads what earlier phases established and adds its
 * own findings; a phase returns a reason code to stop with a deny, or undefined to go on.
 */
import type { KeyObject } from 'node:crypto';
import type { CompiledBundle } from '../bundle/compile.js';
import type { AllowedSource, Route, TrustKey } from '../bundle/types.js';
import type { ParsedJws } from '../jws.js';
import type { ParsedProof } from '../proof.js';
import type { ReasonCode } from '../reasons.js';
import type { ReplayStore } from '../replay/types.js';
import type { CanonicalTarget, Transcript } from '../transcript.js';
import type { FreshnessClass, PassportClaims, RequestView, SigningAlg } from '../types.js';

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

export interface PhaseState {
  readonly view: RequestView;
  readonly bundle: CompiledBundle;
  readonly store: ReplayStore;
  readonly options: EngineOptions;
  readonly nowMs: number;
  /** When the answer must be on its way (performance.now() clock): bounds the wait on the store. */
  readonly deadline?: number;
  passport?: string;
  passportJws?: ParsedJws;
  kid?: string;
  alg?: 'EdDSA' | 'ES256';
  trustKey?: TrustKey;
  claims?: PassportClaims;
  cnfKey?: KeyObject;
  cnfJkt?: string;
  cnfAlg?: SigningAlg;
  proof?: ParsedProof;
  route?: Route;
  source?: AllowedSource;
  /** Canonical authority, path and the raw query: the route phase matches on them, the transcript binds them. */
  target?: CanonicalTarget;
  transcript?: Transcript;
}

export type SyncPhase = (s: PhaseState) => ReasonCode | undefined;
