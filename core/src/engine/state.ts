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
import type { DpopCredential } from '../dpop/verify.js';
import type { ProofKind } from './proof-kind.js';
import type { PassportCache, VerifiedPassport } from './passport-cache.js';

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
  /** The proof kind the engine runs this request through (./proof-kind.ts). */
  kind?: ProofKind;
  /** The verified-passport cache's entry for this passport, when it had one (./passport-cache.ts): parse, signature and claim shape are then not repeated. */
  cachedPassport?: VerifiedPassport;
  /** The passport says it is reusable (docs/transcript-v1.md §15). */
  reusable?: boolean;
  /** base64url SHA-256 of the passport as presented: the cache key and the transcript's passport-sha256. */
  passportSha256?: string;
  /** DPoP (./kinds/dpop.ts): the access token and the proof as parsed. */
  dpop?: DpopCredential;
}

export type SyncPhase = (s: PhaseState) => ReasonCode | undefined;
