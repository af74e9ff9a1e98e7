/**
 * transcript-v1 field digests and diagnosis (docs/transcript-v1.md §8): the per-line digest table a
 * signer sends, and, once a signature has already failed, the reason naming the first bound field
 * that differs. Diagnostic only: nothing here ever turns a deny into an allow.
 */
import { sha256 } from '../encoding.js';
import type { ReasonCode } from '../reasons.js';
import type { Transcript, TranscriptField } from './layout.js';

/** Bytes of digest kept per line in a proof's field-digest table. */
const FIELD_DIGEST_BYTES = 4;

/**
 * The field-digest table: the first 4 bytes of SHA-256 of each transcript line (after the version
 * line, without its "\n"), concatenated. Diagnostic only: a verifier never decides from it, it only
 * names which bound field differs once the signature has already failed.
 */
export function fieldDigests(tr: Transcript): Buffer {
  const out = Buffer.alloc(tr.lines.length * FIELD_DIGEST_BYTES);
  const lines = tr.lines;
  for (let i = 0; i < lines.length; i++) sha256(lines[i]!).copy(out, i * FIELD_DIGEST_BYTES, 0, FIELD_DIGEST_BYTES);
  return out;
}

/**
 * The transcript-group code a differing line points to (docs/transcript-v1.md §8). The `aud` and
 * `route` lines are checked before the signature (route phase: the proof's route is the matched
 * route, the passport's aud the route's audience), so a difference there means the signer laid
 * out another audience than its passport's (`passport_binding_mismatch`) or another route than
 * its own proof names (`transcript_mismatch`); the route-group codes are never a diagnosis.
 */
const FIELD_REASON: Record<TranscriptField, ReasonCode> = {
  method: 'method_mismatch',
  authority: 'authority_mismatch',
  path: 'path_mismatch',
  query: 'query_mismatch',
  headers: 'header_mismatch',
  body: 'body_mismatch',
  nonce: 'nonce_mismatch',
  aud: 'passport_binding_mismatch',
  route: 'transcript_mismatch',
  passport: 'passport_binding_mismatch',
  ts: 'proof_time_mismatch',
  key_binding: 'key_binding_mismatch',
};

/** After a failed signature: the reason naming the first line whose digest differs, if any. */
export function diagnoseMismatch(rebuilt: Transcript, signerDigests: Buffer | undefined): ReasonCode {
  // Decoded bytes, not base64url characters (docs/transcript-v1.md §8 step 1); an empty table names nothing.
  if (!signerDigests || signerDigests.length === 0 || signerDigests.length % FIELD_DIGEST_BYTES !== 0) return 'transcript_mismatch';
  const mine = fieldDigests(rebuilt);
  const n = Math.min(mine.length, signerDigests.length) / FIELD_DIGEST_BYTES;
  for (let i = 0; i < n; i++) {
    const a = i * FIELD_DIGEST_BYTES;
    // A line without a field cannot happen for a transcript built here; if it did, still deny.
    if (mine.compare(signerDigests, a, a + FIELD_DIGEST_BYTES, a, a + FIELD_DIGEST_BYTES) !== 0) return FIELD_REASON[rebuilt.fields[i]!] ?? 'transcript_mismatch';
  }
  // Same prefix but a different number of lines: the signer bound a different header list.
  if (mine.length !== signerDigests.length) return 'header_mismatch';
  return 'transcript_mismatch';
}
