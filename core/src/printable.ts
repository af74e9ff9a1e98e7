/**
 * The one rule for text the verifier writes out that it did not validate itself (the request's
 * method, authority and path, a route id Envoy named, the peer principal, error messages): no
 * control character reaches a header, dynamic metadata, an audit line or a log line. Each C0
 * control (U+0000–U+001F), DEL (U+007F), each C1 control (U+0080–U+009F) and the line and paragraph
 * separators U+2028 and U+2029 — every character some log reader or terminal takes as a line break
 * or a command — is replaced by `%` and the upper-case hex of its UTF-8 bytes (`\n` → `%0A`,
 * U+0085 → `%C2%85`, U+2028 → `%E2%80%A8`), the escaping transcript-v1 §6.16 uses for the same
 * bytes. docs/audit-event.md states it for readers of the audit log.
 */
export const CONTROL_CHARACTER = /[\x00-\x1f\x7f-\x9f\u2028\u2029]/;
const CONTROL_CHARACTERS = /[\x00-\x1f\x7f-\x9f\u2028\u2029]/g;

export function printable(value: string): string {
  return CONTROL_CHARACTER.test(value) ? value.replace(CONTROL_CHARACTERS, escapeUtf8) : value;
}

function escapeUtf8(c: string): string {
  let out = '';
  for (const byte of Buffer.from(c, 'utf8')) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}
