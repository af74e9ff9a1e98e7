/**
 * transcript-v1 as a proof kind (docs/transcript-v1.md): a TrustPlane passport in
 * `x-trustplane-passport` and a proof over the whole request in `x-trustplane-proof`. Its steps are
 * the phases of ../phases (parse, signature, claims; transcript), unchanged; this file only tells
 * the engine what they found: what the proof binds, its time, the route it names and its replay key.
 */
import { CREDENTIAL_HEADERS, HEADER, type RequestView } from '../../types.js';
import { acceptedFromMs, acceptedUntilMs, longestProofMaxAgeS, proofAcceptedFromMs, proofAcceptedUntilMs, REPLAY_RECORD_MARGIN_MS } from '../acceptance.js';
import { claimsPhase } from '../phases/claims.js';
import { parsePhase } from '../phases/parse.js';
import { signaturePhase } from '../phases/signature.js';
import { transcriptPhase } from '../phases/transcript.js';
import { credentialHeaderNames, type BindingPart, type BindingReport, type ProofKind, type ReplayClaim } from '../proof-kind.js';
import type { PhaseState } from '../state.js';

/** transcript-v1 binds every part (§6): method, authority, path, query, the headers named in `h`, and the body hash. */
const PARTS: ReadonlySet<BindingPart> = new Set<BindingPart>(['method', 'authority', 'path', 'query', 'headers', 'body']);

export const TRANSCRIPT_V1: ProofKind = Object.freeze({
  name: 'transcript-v1',
  // The passport, the proof and the filter's body hash: the names every allow removes (core/src/types.ts).
  credentialHeaders: credentialHeaderNames(...CREDENTIAL_HEADERS),
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
  credentialMode(s: PhaseState): 'per_request' | 'reusable' {
    return s.reusable === true ? 'reusable' : 'per_request';
  },
  proofTime(s: PhaseState): number {
    return s.proof!.ts;
  },
  replay(s: PhaseState): ReplayClaim {
    return s.reusable === true ? proofReplayClaim(s) : passportReplayClaim(s);
  },
});

/**
 * A reusable passport (§15.2): each proof's nonce, scoped to its passport (issuer and `jti`), stays
 * consumed for as long as that proof could be accepted — its freshness window and the clock
 * tolerance, and never beyond its passport — plus the margin. The window is the longest proof
 * window of any freshness class, not only the route's: a bundle that moves the route to a longer
 * class must not re-open a proof whose record was sized by the shorter one.
 *
 * Three lines (`iss`, `jti`, `nonce`) where a per-request key has two: neither a `jti` nor a nonce
 * holds a line feed, so the two key shapes never meet.
 */
function proofReplayClaim(s: PhaseState): ReplayClaim {
  const c = s.claims!;
  const p = s.proof!;
  const tol = s.options.clockToleranceS;
  const passportUntil = acceptedUntilMs(c.exp, tol);
  const proofUntil = proofAcceptedUntilMs(p.ts, longestProofMaxAgeS(s.options.freshness));
  const passportFrom = acceptedFromMs(c.iat, c.nbf, tol);
  const proofFrom = proofAcceptedFromMs(p.ts, tol);
  // Both windows hold now (claims and freshness phases), so the TTL exceeds the margin.
  return {
    key: `${c.iss}\n${c.jti}\n${p.nonce}`,
    ttlMs: (proofUntil < passportUntil ? proofUntil : passportUntil) - s.nowMs + REPLAY_RECORD_MARGIN_MS,
    acceptedFromMs: proofFrom > passportFrom ? proofFrom : passportFrom,
    replayed: 'proof_replay',
  };
}

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
