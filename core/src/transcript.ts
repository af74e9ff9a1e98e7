/**
 * transcript-v1: the canonical byte string a holder signs and a verifier rebuilds.
 * `docs/transcript-v1.md` is the normative specification; this module and core/src/transcript/
 * implement it line for line, one responsibility a file:
 *   - transcript/canonical.ts: the canonical forms of authority, path, query, header values and
 *     free text (§6.3–§6.6, §6.16);
 *   - transcript/layout.ts: the line layout and the builders signer and verifier call (§6.1);
 *   - transcript/diagnose.ts: the field-digest table and mismatch diagnosis (§8).
 * This file is the entry point every importer uses; it re-exports the public parts.
 */
export { type Canon, canonicalAuthority, canonicalPath, canonicalQuery, escapeText, trimOws } from './transcript/canonical.js';
export {
  type CanonicalTarget,
  type Transcript,
  type TranscriptField,
  type TranscriptInput,
  MAX_BOUND_HEADERS,
  UNBINDABLE_HEADERS,
  buildTranscript,
  buildTranscriptForTarget,
  isBindableHeaderName,
  isValidMethod,
  isValidNonce,
  splitPathAndQuery,
} from './transcript/layout.js';
export { diagnoseMismatch, fieldDigests } from './transcript/diagnose.js';
