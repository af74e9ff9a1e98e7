/**
 * What the decision phases share. Each phase reads what earlier phases established and adds its
 * own findings; a phase returns a reason code to stop with a deny, or undefined to go on. A phase
 * that denies sets `detail` first where it has something to say (engine/detail.ts has the rules).
 */
import type { KeyObject } from 'node:crypto';
import type { CompiledBundle } from '../bundle/compile.js';
import type { AllowedSource, Route, TrustKey } from '../bundle/types.js';
import type { ParsedJws } from '../jws.js';
import type { ParsedProof } from '../proof.js';
import type { ReasonCode } from '../reasons.js';
import type { ReplayStore } from '../replay/types.js';
import type { CanonicalTarget, Transcript } from '../transcript.js';
import type { PassportClaims, RequestView, SigningAlg } from '../types.js';
import type { DpopCredential } from '../dpop/verify.js';
import type { EngineOptions } from './options.js';
import type { BindingReport, ProofKind } from './proof-kind.js';
import type { VerifiedPassport } from './passport-cache.js';

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
  /** Why the phase denied: a short fixed text, values through detail.ts `quoted`. Set only on a deny. */
  detail?: string;
  /** The proof kind the engine runs this request through (./proof-kind.ts). */
  kind?: ProofKind;
  /** What the kind's proof binds (kind.binds), asked once by the route phase; the audit's `bound` reads it too. */
  binding?: BindingReport;
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
