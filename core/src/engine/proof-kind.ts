/**
 * Proof kinds: how a request proves who sends it and that it is this exact request. The engine
 * knows the order of the phases (docs/reason-codes.md, "Phases"); a kind supplies the steps that
 * depend on its wire form, and every kind goes through the same engine-owned steps between them:
 *
 *   kind.credential  — recognise and parse its headers, verify the credential's signature with a
 *                      bundle key (by `kid`), check the claims: the identity and the key binding
 *   trust            — engine: issuer, trust domain, key-binding ceiling, revocations
 *   route policy     — engine: the route, whether it accepts this kind (`proof_kinds`) and what the
 *                      proof binds (`min_binding`), audience, sources, lifetime, reusable passports
 *   kind.proof       — verify the per-request proof with the holder key over what it binds
 *   freshness        — engine: the proof's time (kind.proofTime) against the route's window
 *   replay           — engine, last: consume kind.replay(s) once, fail closed
 *
 * A kind yields, on the PhaseState, what the engine-owned steps read:
 *   - the identity: `claims` (issuer, subject, audience, trust domain, key binding, credential id,
 *     validity) and the bundle key it was verified with (`trustKey`, `kid`);
 *   - the key binding: the holder key every proof must be made with (`cnfKey`, `cnfJkt`, `cnfAlg`);
 *   - whether the credential is reusable (`reusable`, docs/transcript-v1.md §15);
 * and, through its functions, the report of what the proof binds and the replay key with how long
 * it must stay consumed. Everything a kind reads from the request it reads from `s.view`, exactly as
 * the verifier observed it.
 */
import type { ReasonCode } from '../reasons.js';
import type { PhaseState, SyncPhase } from './state.js';
import { CREDENTIAL_HEADERS, HEADER_NAMESPACE, type RequestView } from '../types.js';
import { BINDING_PART_NAMES, type BindingPartName } from '../bundle/types.js';

/** Parts of a request a proof can bind (docs/bundle.md §1.2.5, `min_binding`). */
export const BINDING_PARTS = BINDING_PART_NAMES;
export type BindingPart = BindingPartName;

/** What one proof binds of its request. */
export interface BindingReport {
  /** The parts whose values the proof's signature covers. */
  readonly parts: ReadonlySet<BindingPart>;
  /** Header names whose values the signature covers (lower-case); empty when `headers` is not bound. */
  readonly headers: readonly string[];
}

/** What the replay phase consumes, and for how long. */
export interface ReplayClaim {
  /** Store key; distinct kinds and modes use distinct key shapes, so they never collide. */
  readonly key: string;
  /** How long from `nowMs` the record must stay (engine clock, ms): until the thing it guards can no longer be accepted, plus the margin. */
  readonly ttlMs: number;
  /** First engine instant (ms) the guarded credential or proof could have been accepted: the amnesia guard compares it with the store's generation. */
  readonly acceptedFromMs: number;
  /** The deny when the key was already consumed. */
  readonly replayed: ReasonCode;
}

export interface ProofKind {
  /** The name a route lists in `proof_kinds` (docs/bundle.md §1.2.5). */
  readonly name: string;
  /**
   * The request headers that carry this kind's credential and proof, lower-case (made with
   * `credentialHeaderNames`). An allow this kind decided removes them from the request passed on —
   * the ext_authz server's `headers_to_remove` (docs/envoy-integration.md), the middleware's
   * `req.headers` (docs/middleware.md): they are for the verifier, and an upstream that logged or
   * forwarded them would hand a credential on. Required, so a new kind cannot forget it.
   */
  readonly credentialHeaders: readonly string[];
  /** True when the request carries this kind's headers; the engine takes the first kind that does. */
  recognises(view: RequestView): boolean;
  /** Parse, credential signature and claims, in order; each may stop with a deny. */
  readonly credential: readonly SyncPhase[];
  /** The proof's own verification over what it binds; runs after route policy. */
  readonly proof: readonly SyncPhase[];
  /** What the proof binds; valid once the credential phases passed. */
  binds(s: PhaseState): BindingReport;
  /** The route id the proof itself names, when the kind carries one (transcript-v1 does): must equal the matched route. */
  namedRoute?(s: PhaseState): string | undefined;
  /**
   * The audit's `credential_mode` (docs/audit-event.md): whether the credential is a per-request or
   * a reusable passport; valid once the claims phase passed. Absent for a kind whose credential is
   * not a passport (the audit then says null).
   */
  credentialMode?(s: PhaseState): 'per_request' | 'reusable';
  /** The proof's creation time, unix seconds; valid once the credential phases passed. */
  proofTime(s: PhaseState): number;
  /** The replay key and its lifetime; valid once every other phase passed. */
  replay(s: PhaseState): ReplayClaim;
}

/** RFC 9110 §5.1 field name, lower-case: the form Envoy presents header names in. */
const FIELD_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

/**
 * A kind's `credentialHeaders`, checked where they enter: lower-case field names, never `host` (Envoy
 * skips `host` and pseudo-headers in `headers_to_remove`, docs/envoy-integration.md F2.2, so such a
 * credential would silently reach the upstream), and never an `x-trustplane-*` name other than the
 * transcript-v1 credentials (an identity header would be removed right after the allow set it; any
 * other client-sent name in the namespace is removed on every allow anyway). A wrong list throws when
 * the kind's module loads, not on a request.
 */
export function credentialHeaderNames(...names: string[]): readonly string[] {
  for (const n of names) {
    if (!FIELD_NAME.test(n) || n === 'host' || (n.startsWith(HEADER_NAMESPACE) && !CREDENTIAL_HEADERS.includes(n)) || names.indexOf(n) !== names.lastIndexOf(n)) {
      throw new Error(`credential header name ${JSON.stringify(n)}: not a lower-case field name a proxy can remove, or repeated`);
    }
  }
  return Object.freeze(names);
}

/** The proof kinds a route accepts when its `proof_kinds` is absent. */
export const DEFAULT_ROUTE_PROOF_KINDS: readonly string[] = Object.freeze(['transcript-v1']);

/** The minimum binding of a route whose `min_binding` is absent: every part. */
export const DEFAULT_MIN_BINDING: readonly BindingPart[] = BINDING_PARTS;
