/**
 * Phase 6, transcript. Rule: rebuild transcript-v1 from what the verifier observed — method,
 * authority, path and query from the request; bound header values from the request; the body hash
 * from the buffered body or, on a route that trusts it, the filter's headers (a route that takes no
 * body denies any body it can see as body_mismatch); audience, jti, passport hash, key binding and
 * holder thumbprint from the verified passport; route from the route phase — taking from the proof
 * only the nonce, the timestamp and the header names. The proof must verify over those bytes with
 * the `cnf` key. When it does not, the field-digest table names the field that differs.
 */
import { fromB64url, sha256b64url } from '../../encoding.js';
import { verifyBytes } from '../../keys.js';
import type { ReasonCode } from '../../reasons.js';
import { buildTranscriptForTarget, diagnoseMismatch } from '../../transcript.js';
import { HEADER, type BodyObservation } from '../../types.js';
import { quoted } from '../detail.js';
import type { PhaseState } from '../state.js';

const EMPTY_SHA256 = sha256b64url(new Uint8Array(0));
const UNAVAILABLE: BodyObservation = Object.freeze({ kind: 'unavailable' });
const EMPTY: BodyObservation = Object.freeze({ kind: 'empty' });
const DECLARED = 'the request declares a body (content-length other than 0, or transfer-encoding)';
const MISMATCH_NAMED = "the proof signature does not verify over the rebuilt transcript; the field is named from the proof's unsigned digest table (docs/transcript-v1.md §8)";
const MISMATCH_UNNAMED = "the proof signature does not verify over the rebuilt transcript, and the proof's digest table names no differing field";

type BodyResult = { ok: true; value: string } | { ok: false; reason: ReasonCode; detail: string };
const EMPTY_BODY: BodyResult = Object.freeze({ ok: true, value: EMPTY_SHA256 });
const fail = (reason: ReasonCode, detail: string): BodyResult => ({ ok: false, reason, detail });
const NO_BODY_TAKEN = 'the route takes no body (body.mode empty)';

/**
 * The filter's body length: decimal digits without a leading zero (or exactly "0"), at most
 * 2^53 − 1. Anything else (a sign, spaces, a comma-joined client copy) is -1.
 */
function filterLength(text: string | undefined): number {
  if (text === undefined || text.length === 0 || text.length > 16) return -1;
  if (text.length > 1 && text.charCodeAt(0) === 0x30) return -1;
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return Number.isSafeInteger(n) ? n : -1;
}

/**
 * A body the request declares without Envoy or the filter having observed it (docs/transcript-v1.md
 * §10): a `content-length` other than `0`, or any `transfer-encoding`. Only consulted on a route
 * whose `body.mode` is `empty`, where any body is a mismatch.
 */
function declaresBody(headers: ReadonlyMap<string, string>): boolean {
  const length = headers.get('content-length');
  return (length !== undefined && length !== '0') || headers.has('transfer-encoding');
}

/** docs/transcript-v1.md §10: the body hash the transcript binds, or the deny. */
function bodyHash(s: PhaseState): BodyResult {
  const rule = s.route!.body;
  const takesNoBody = rule?.mode === 'empty';
  let b = s.view.body;
  // The filter's headers count only where the bundle route says the filter guards it.
  if (b.kind === 'filter_header' && rule?.hash_source !== 'filter') b = b.otherwise === 'empty' ? EMPTY : UNAVAILABLE;
  switch (b.kind) {
    case 'bytes': {
      if (takesNoBody) {
        // Envoy buffered something, or says it cut a body: either way there was a body.
        if (b.bytes.length > 0) return fail('body_mismatch', `${NO_BODY_TAKEN} and Envoy buffered ${b.bytes.length} bytes`);
        if (b.partial) return fail('body_mismatch', `${NO_BODY_TAKEN} and Envoy marked a partial body`);
        return declaresBody(s.view.headers) ? fail('body_mismatch', `${NO_BODY_TAKEN} and ${DECLARED}`) : EMPTY_BODY;
      }
      if (b.partial) return fail('body_partial', `Envoy buffered part of the body (${HEADER.envoyPartialBody} is not "false")`);
      const max = rule?.max_bytes;
      if (max !== undefined && b.bytes.length > max) return fail('body_too_large', `Envoy buffered ${b.bytes.length} bytes; the route allows ${max}`);
      return { ok: true, value: sha256b64url(b.bytes) };
    }
    case 'filter_header': {
      const d = b.value.length === 43 ? fromB64url(b.value) : undefined;
      const length = filterLength(b.length);
      if (!d || d.length !== 32) return fail('body_hash_invalid', `${HEADER.bodySha256} is not 43 base64url characters of a SHA-256 digest`);
      if (length < 0) return fail('body_hash_invalid', `${HEADER.bodyLength} is missing or not plain decimal`);
      // The filter writes both from one pass over the body; a pair that disagrees on emptiness
      // was not written by it.
      if ((length === 0) !== (b.value === EMPTY_SHA256)) return fail('body_hash_invalid', `${HEADER.bodySha256} and ${HEADER.bodyLength} disagree on whether the body is empty`);
      if (takesNoBody) {
        if (length > 0) return fail('body_mismatch', `${NO_BODY_TAKEN} and the filter measured ${length} bytes`);
        return declaresBody(s.view.headers) ? fail('body_mismatch', `${NO_BODY_TAKEN} and ${DECLARED}`) : EMPTY_BODY;
      }
      const max = rule?.max_bytes;
      if (max !== undefined && length > max) return fail('body_too_large', `the filter measured ${length} bytes; the route allows ${max}`);
      return { ok: true, value: b.value };
    }
    case 'empty':
      return takesNoBody && declaresBody(s.view.headers) ? fail('body_mismatch', `${NO_BODY_TAKEN} and ${DECLARED}`) : EMPTY_BODY;
    case 'unavailable':
      // A route that takes no body binds the empty hash; a body the request declares is a mismatch
      // whatever the proof signed. Without Envoy buffering or the filter on the route this is all
      // the verifier can see (docs/transcript-v1.md §10 says what stays unobserved).
      if (takesNoBody) return declaresBody(s.view.headers) ? fail('body_mismatch', `${NO_BODY_TAKEN} and ${DECLARED}`) : EMPTY_BODY;
      return fail('body_unavailable', 'no buffered body from Envoy and no filter body headers this route trusts');
  }
}

export function transcriptPhase(s: PhaseState): ReasonCode | undefined {
  const proof = s.proof!;
  const c = s.claims!;
  const headers: [string, string][] = [];
  for (const name of proof.h) {
    const v = s.view.headers.get(name);
    // Names that may never be bound were refused when the proof was parsed.
    if (v === undefined) {
      s.detail = `the proof binds ${quoted(name)} and the request does not carry it`;
      return 'bound_header_missing';
    }
    headers.push([name, v]);
  }
  const body = bodyHash(s);
  if (!body.ok) {
    s.detail = body.detail;
    return body.reason;
  }
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
      passportSha256: s.passportSha256 ?? sha256b64url(s.passport!),
      ts: proof.ts,
      keyBinding: c.key_binding,
      cnfJkt: s.cnfJkt!,
    },
    s.target!,
  );
  if (!tr.ok) {
    s.detail = tr.detail;
    return tr.reason;
  }
  s.transcript = tr.value;
  if (!verifyBytes(s.cnfAlg!, s.cnfKey!, tr.value.bytes, proof.signature)) {
    const reason = diagnoseMismatch(tr.value, proof.fd);
    s.detail = reason === 'transcript_mismatch' ? MISMATCH_UNNAMED : MISMATCH_NAMED;
    return reason;
  }
  return undefined;
}
