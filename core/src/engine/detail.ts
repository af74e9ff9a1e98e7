/**
 * The `detail` of a deny (Decision.detail, the audit event's `detail`, docs/audit-event.md): a short
 * fixed English text naming the check that refused, plus, where it helps, the value it refused.
 * Rules, so that a detail is safe to log:
 * - Built only on a deny, from constant text; an allow builds none.
 * - A value is quoted through `quoted`: cut to 64 characters, control characters escaped
 *   (core/src/printable.ts).
 * - Never the passport, the proof, a signature or key material. `finalDetail` is the last net:
 *   it masks anything shaped like a compact JWS or a proof (core/src/redact.ts), escapes control
 *   characters and cuts the whole text to MAX_DETAIL_LENGTH.
 */
import { printable } from '../printable.js';
import { redactString } from '../redact.js';

export const MAX_DETAIL_LENGTH = 256;
const MAX_VALUE_LENGTH = 64;

/** `"value"`, printable and at most 64 characters of it (then `…`). */
export function quoted(value: string): string {
  const cut = value.length > MAX_VALUE_LENGTH ? `${value.slice(0, MAX_VALUE_LENGTH)}…` : value;
  return `"${printable(cut)}"`;
}

/** What a Decision carries: redacted, printable, bounded. */
export function finalDetail(detail: string): string {
  const safe = printable(redactString(detail));
  return safe.length > MAX_DETAIL_LENGTH ? `${safe.slice(0, MAX_DETAIL_LENGTH - 1)}…` : safe;
}
