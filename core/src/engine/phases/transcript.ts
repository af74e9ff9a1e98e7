/**
 * Phase 6, transcript. Rule: rebuild transcript-v1 from what the verifier observed — method,
 * authority, path and query from the request; bound header values from the request; the body hash
 * from the buffered body or the trusted filter header; audience, jti, passport hash, key binding and
 * holder thumbprint from the verified passport; route from the route phase — taking from the proof
 * only the nonce, the timestamp and the header names. The proof must verify over those bytes with
 * the `cnf` key. When it does not, the field-digest table names the field that differs.
 */
import { fromB64url, sha256b64url } from '../../encoding.js';
import { verifyBytes } from '../../keys.js';
import type { ReasonCode } from '../../reasons.js';
import { buildTranscriptForTarget, diagnoseMismatch } from '../../transcript.js';
import type { PhaseState } from '../state.js';

const EMPTY_SHA256 = sha256b64url(new Uint8Array(0));

function bodyHash(s: PhaseState): { ok: true; value: string } | { ok: false; reason: ReasonCode } {
  const b = s.view.body;
  switch (b.kind) {
    case 'bytes': {
      if (b.partial) return { ok: false, reason: 'body_partial' };
      const max = s.route!.body?.max_bytes;
      if (max !== undefined && b.bytes.length > max) return { ok: false, reason: 'body_too_large' };
      return { ok: true, value: sha256b64url(b.bytes) };
    }
    case 'filter_header': {
      const d = b.value.length === 43 ? fromB64url(b.value) : undefined;
      return d && d.length === 32 ? { ok: true, value: b.value } : { ok: false, reason: 'body_hash_invalid' };
    }
    case 'empty':
      return { ok: true, value: EMPTY_SHA256 };
    case 'unavailable':
      // A route that declares it takes no body binds the empty hash without observing one; any
      // body the signer did hash then fails as body_mismatch.
      return s.route!.body?.mode === 'empty' ? { ok: true, value: EMPTY_SHA256 } : { ok: false, reason: 'body_unavailable' };
  }
}

export function transcriptPhase(s: PhaseState): ReasonCode | undefined {
  const proof = s.proof!;
  const c = s.claims!;
  const headers: [string, string][] = [];
  for (const name of proof.h) {
    const v = s.view.headers.get(name);
    // Names that may never be bound were refused when the proof was parsed.
    if (v === undefined) return 'bound_header_missing';
    headers.push([name, v]);
  }
  const body = bodyHash(s);
  if (!body.ok) return body.reason;
  // Authority and path as the route phase canonicalised them: the route matched is the path signed.
  const tr = buildTranscriptForTarget(
    {
      method: s.view.method,
      headers,
      bodySha256: body.value,
      nonce: proof.nonce,
      audience: c.aud,
      routeId: s.route!.id,
      jti: c.jti,
      passportSha256: sha256b64url(s.passport!),
      ts: proof.ts,
      keyBinding: c.key_binding,
      cnfJkt: s.cnfJkt!,
    },
    s.target!,
  );
  if (!tr.ok) return tr.reason;
  s.transcript = tr.value;
  if (!verifyBytes(s.cnfAlg!, s.cnfKey!, tr.value.bytes, proof.signature)) return diagnoseMismatch(tr.value, proof.fd);
  return undefined;
}
