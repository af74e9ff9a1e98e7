/**
 * The decision engine: runs the phases in the order docs/reason-codes.md ("Phases") fixes — parse,
 * signature, claims, trust, route policy, transcript, freshness, and only then the replay consume —
 * for the request's proof kind (./proof-kind.ts: the kind supplies parse to claims and the proof
 * check, the engine owns trust, route policy, freshness and replay) and
 * turns the first failure (or success) into one Decision value. A deny is a value, never an exception:
 * an exception from any phase becomes `internal_error`, fail closed. The Decision and its audit
 * event record which phase decided and, for a deny, the phase's detail (engine/detail.ts).
 */
import { randomUUID } from 'node:crypto';
import type { CompiledBundle } from '../bundle/compile.js';
import { REASONS, type Phase, type ReasonCode } from '../reasons.js';
import type { ReplayStore } from '../replay/types.js';
import { AUDIT_SCHEMA, type AuditEvent, type Decision, type Identity, type RequestView } from '../types.js';
import { sha256hex } from '../encoding.js';
import { printable } from '../printable.js';
import { finalDetail } from './detail.js';
import { freshnessPhase } from './phases/freshness.js';
import { replayPhase } from './phases/replay.js';
import { routePhase } from './phases/route.js';
import { trustPhase } from './phases/trust.js';
import { PROOF_KINDS } from './kinds/index.js';
import { BINDING_PARTS, type BindingPart, type ProofKind } from './proof-kind.js';
import { DEFAULT_ENGINE_OPTIONS, type EngineOptions } from './options.js';
import type { PhaseState, SyncPhase } from './state.js';

/** The engine-owned phases between a kind's credential and its proof (./proof-kind.ts). */
const POLICY_PHASES: readonly SyncPhase[] = [trustPhase, routePhase];
const FRESHNESS_PHASES: readonly SyncPhase[] = [freshnessPhase];
/**
 * The registry's name (core/src/reasons.ts, docs/reason-codes.md "Phases") of each phase of the
 * four groups the engine runs: a kind's credential phases (parse, signature, claims, in that order:
 * ./proof-kind.ts), the policy phases, a kind's proof phases, freshness.
 */
const GROUP_PHASE_NAMES: readonly (readonly Phase[])[] = [['parse', 'signature', 'claims'], ['trust', 'route'], ['transcript'], ['freshness']];

/** The first kind that recognises the request's headers; none: the first kind decides (it names what is missing). */
function kindFor(view: RequestView, kinds: readonly ProofKind[]): ProofKind {
  for (let i = 0; i < kinds.length; i++) if (kinds[i]!.recognises(view)) return kinds[i]!;
  return kinds[0]!;
}

export interface VerifyInput {
  readonly view: RequestView;
  readonly bundle: CompiledBundle | undefined;
  readonly store: ReplayStore;
  /** Unix milliseconds; injected so tests and vectors run on a frozen clock. */
  readonly nowMs?: number;
  readonly options?: EngineOptions;
  /**
   * When the answer must be on its way, on the performance.now() clock: Envoy's deadline less a
   * margin to send it. A wait on the replay store never runs past it.
   */
  readonly deadline?: number;
}

export async function verifyRequest(input: VerifyInput): Promise<Decision> {
  const started = performance.now();
  const nowMs = input.nowMs ?? Date.now();
  const options = input.options ?? DEFAULT_ENGINE_OPTIONS;
  if (!input.bundle) return decide(undefined, input.view, options, 'bundle_unavailable', 'internal', 'no verified bundle is loaded', nowMs, started);
  const s: PhaseState = { view: input.view, bundle: input.bundle, store: input.store, options, nowMs, deadline: input.deadline };
  let reason: ReasonCode | undefined;
  let phase: Phase = 'parse';
  try {
    // Every kind through the same phases: its credential, trust and route policy, its proof, freshness.
    const kind = kindFor(input.view, options.proofKinds ?? PROOF_KINDS);
    s.kind = kind;
    for (let g = 0; g < 4 && reason === undefined; g++) {
      const phases = g === 0 ? kind.credential : g === 1 ? POLICY_PHASES : g === 2 ? kind.proof : FRESHNESS_PHASES;
      const names = GROUP_PHASE_NAMES[g]!;
      for (let i = 0; i < phases.length; i++) {
        phase = names[Math.min(i, names.length - 1)]!;
        reason = phases[i]!(s);
        if (reason !== undefined) break;
      }
    }
    // Dry-run never consumes: it must not change what an enforcing replica would decide later.
    if (reason === undefined && modeOf(s.view, s, options) === 'enforce') {
      phase = 'replay';
      reason = await replayPhase(s);
    }
  } catch (error) {
    reason = 'internal_error';
    s.detail = `unexpected ${error instanceof Error ? error.name : typeof error} in the ${phase} phase`;
  }
  if (reason === undefined) return decide(s, input.view, options, 'ok', 'decision', undefined, nowMs, started);
  // The codes of the internal group (an unexpected error, overload) are not about the request:
  // recorded as `internal` wherever they arose, the detail saying where.
  const decidedBy = REASONS[reason].phase === 'internal' ? 'internal' : phase;
  return decide(s, input.view, options, reason, decidedBy, s.detail, nowMs, started);
}

/**
 * A decision made without running the phases: for a request the edge could not even translate
 * (`request_malformed`, with what it could read of method, path and authority) or an exception
 * outside the engine (`internal_error`). Still a full Decision with an audit event, so every
 * outcome is logged and counted the same way. Its phase is the registry's phase of `reason`: the
 * edge's reading of the request is the first part of parsing it. `detail` says what the edge
 * found (bounded and made printable here).
 */
export function edgeDecision(reason: ReasonCode, view: Partial<RequestView> = {}, options: EngineOptions = DEFAULT_ENGINE_OPTIONS, detail?: string): Decision {
  const v: RequestView = { method: '', scheme: '', authority: '', path: '', headers: new Map(), body: { kind: 'unavailable' }, ...view };
  return decide(undefined, v, options, reason, REASONS[reason].phase, detail, Date.now(), performance.now());
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * The audit `bound` text of what the request's kind binds, made once per parts set (a kind reports
 * the same set for every request). The route phase's report when it ran (every allow), so the
 * kind is not asked twice. A kind that cannot say (a bug in it) leaves it null rather than turn a
 * decision already made into an exception.
 */
const boundTexts = new WeakMap<ReadonlySet<BindingPart>, string>();
function boundText(s: PhaseState): string | null {
  let parts: ReadonlySet<BindingPart>;
  try {
    parts = (s.binding ?? s.kind!.binds(s)).parts;
  } catch {
    return null;
  }
  let text = boundTexts.get(parts);
  if (text === undefined) {
    text = BINDING_PARTS.filter((p) => parts.has(p)).join(' ');
    boundTexts.set(parts, text);
  }
  return text;
}

/** Envoy's per-route override, then the bundle route's mode, then the server's. */
function modeOf(view: RequestView, s: PhaseState | undefined, options: EngineOptions): 'enforce' | 'dry_run' {
  return view.mode ?? s?.route?.mode ?? options.mode;
}

function decide(
  s: PhaseState | undefined,
  view: RequestView,
  options: EngineOptions,
  reason: ReasonCode,
  phase: Phase,
  rawDetail: string | undefined,
  nowMs: number,
  started: number,
): Decision {
  const info = REASONS[reason];
  // Only a deny has a detail; an allow builds none.
  const detail = rawDetail === undefined || reason === 'ok' ? undefined : finalDetail(rawDetail);
  const dryRun = modeOf(view, s, options) === 'dry_run';
  const allow = reason === 'ok' || dryRun;
  const c = s?.claims;
  const identity: Identity | undefined =
    c && s?.trustKey
      ? { issuer: c.iss, subject: c.sub, trustDomain: c.trust_domain, keyBinding: c.key_binding, kid: s.trustKey.kid, jti: c.jti, audience: c.aud }
      : undefined;
  const decisionId = randomUUID();
  const transcriptSha256 = s?.transcript ? sha256hex(s.transcript.bytes) : undefined;
  const audit: AuditEvent = {
    schema: AUDIT_SCHEMA,
    time: new Date(nowMs).toISOString(),
    decision_id: decisionId,
    decision: reason === 'ok' ? 'allow' : 'deny',
    enforced: !dryRun,
    reason_code: reason,
    phase,
    detail: detail ?? null,
    // A bundle route id is validated; an id Envoy sent that names no route is written as printable text.
    route_id: s?.route?.id ?? (view.routeId !== undefined ? printable(view.routeId) : null),
    audience: c?.aud ?? null,
    issuer: c?.iss ?? null,
    subject: c?.sub ?? null,
    trust_domain: c?.trust_domain ?? null,
    jti: c?.jti ?? null,
    kid: s?.kid ?? null,
    key_binding: c?.key_binding ?? null,
    transcript_sha256: transcriptSha256 ?? null,
    method: view.method || null,
    authority: view.authority || null,
    path: view.path ? view.path.slice(0, 2048) : null,
    source_address: view.sourceAddress ?? null,
    source_principal: view.sourcePrincipal ?? null,
    bundle_serial: s?.bundle.serial ?? null,
    latency_us: Math.round((performance.now() - started) * 1000),
    credential_kind: s?.kind?.name ?? null,
    // The kind says, when its credential is a passport; a DPoP access token is not (docs/dpop.md).
    credential_mode: c && s!.kind?.credentialMode ? s!.kind.credentialMode(s!) : null,
    bound: c && s!.kind ? boundText(s!) : null,
    dpop_jti: s?.dpop?.proof.claims.jti ?? null,
  };
  const decision: Mutable<Decision> = { allow, reason, phase, httpStatus: info.status, grpcStatus: info.grpc, decisionId, dryRun, audit };
  // Optional members only when present, assigned rather than spread: no throwaway objects per check.
  if (audit.route_id !== null) decision.routeId = audit.route_id;
  if (identity) decision.identity = identity;
  if (detail !== undefined) decision.detail = detail;
  if (transcriptSha256) decision.transcriptSha256 = transcriptSha256;
  if (s?.kind) decision.credentialHeaders = s.kind.credentialHeaders;
  return decision;
}
