/**
 * transcript-v1 as a proof kind (docs/transcript-v1.md): a TrustPlane passport in
 * `x-trustplane-passport` and a proof over the whole request in `x-trustplane-proof`. Its steps are
 * the phases of ../phases (parse, signature, claims; transcript), unchanged; this file only tells
 * the engine what they found: what the proof binds, its time, the route it names and its replay key.
 */
import { HEADER, type RequestView } from '../../types.js';
import { acceptedFromMs, acceptedUntilMs, REPLAY_RECORD_MARGIN_MS } from '../acceptance.js';
import { claimsPhase } from '../phases/claims.js';
import { parsePhase } from '../phases/parse.js';
import { signaturePhase } from '../phases/signature.js';
import { transcriptPhase } from '../phases/transcript.js';
import type { BindingPart, BindingReport, ProofKind, ReplayClaim } from '../proof-kind.js';
import type { PhaseState } from '../state.js';

/** transcript-v1 binds every part (§6): method, authority, path, query, the headers named in `h`, and the body hash. */
const PARTS: ReadonlySet<BindingPart> = new Set<BindingPart>(['method', 'authority', 'path', 'query', 'headers', 'body']);

export const TRANSCRIPT_V1: ProofKind = Object.freeze({
  name: 'transcript-v1',
  recognises(view: RequestView): boolean {
    return view.headers.has(HEADER.passport) || view.headers.has(HEADER.proof);
  },
  credential: Object.freeze([parsePhase, signaturePhase, claimsPhase]),
  proof: Object.freeze([transcriptPhase]),
  binds(s: PhaseState): BindingReport {
    return { parts: PARTS, headers: s.proof!.h };
  },
  namedRoute(s: PhaseState): string | undefined {
    return s.proof!.route;
  },
  proofTime(s: PhaseState): number {
    return s.proof!.ts;
  },
  replay(s: PhaseState): ReplayClaim {
    return passportReplayClaim(s);
  },
});

/**
 * A per-request passport (§11, §12 step 32): its `jti`, under its issuer, stays consumed until one
 * second after the passport can no longer be accepted.
 */
function passportReplayClaim(s: PhaseState): ReplayClaim {
  const c = s.claims!;
  const tol = s.options.clockToleranceS;
  // The claims phase accepted the passport, so nowMs < acceptedUntilMs and the TTL exceeds the margin.
  return {
    key: `${c.iss}\n${c.jti}`,
    ttlMs: acceptedUntilMs(c.exp, tol) - s.nowMs + REPLAY_RECORD_MARGIN_MS,
    acceptedFromMs: acceptedFromMs(c.iat, c.nbf, tol),
    replayed: 'jti_replay',
  };
}
