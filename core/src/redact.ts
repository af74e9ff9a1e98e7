/**
 * The one redaction list. Everything that leaves the process as a log line or an audit event goes
 * through `redactForLog` first: log `jti` and `sub`, never a token, a proof, a key or a password
 * (docs/audit-event.md, "What is never in an event").
 *
 * Three rules, applied at any depth:
 * 1. By key name. A key is compared after lower-casing and dropping everything but letters and
 *    digits (`X-TrustPlane-Passport`, `private_key` and `privateKey` all normalise alike). Its value
 *    is replaced by `REDACTED` when the name is `d` (the private member of an EC/OKP JWK) or
 *    contains one of `SENSITIVE_KEY_PARTS`. Inside an object that has `kty` (a JWK), the other
 *    private members (`p`, `q`, `dp`, `dq`, `qi`, `k`, `oth`) are masked too.
 * 2. By value shape. Any run inside a string that looks like a compact JWS — dot-separated
 *    base64url parts, longer than 40 characters, one part of which decodes to the start of a JSON
 *    object (`{"`) — is replaced by `REDACTED_JWS`, wherever in the string it sits (an error message,
 *    an `Authorization: Bearer …` value). Requiring the JSON-object header keeps long host names,
 *    which are also dot-separated and base64url-safe, out of the net.
 * 3. By text. Inside any string, the user and password of a URL (RFC 3986 §3.2.1: `redis://u:pw@h`
 *    becomes `redis://[REDACTED]@h`; a Redis client's error quotes its URL, a deny detail may quote
 *    a header) and a PEM private key block (RFC 7468, to its END line or to the end of the string:
 *    a key file read by mistake, quoted in an error) are replaced by `[REDACTED]`.
 *
 * The input is never modified; the result is a plain JSON-able copy (Maps become objects, bytes
 * become `[N bytes]`, cycles `[Circular]`, depth past 32 `[Truncated]`).
 */

import { printable } from './printable.js';

export const REDACTED = '[REDACTED]';
export const REDACTED_JWS = '[REDACTED_JWS]';

/** Substrings of a normalised key name that mark its value as secret. */
export const SENSITIVE_KEY_PARTS: readonly string[] = Object.freeze([
  'passport',
  'proof',
  'token',
  'authorization',
  'signature',
  'secret',
  'cookie',
  'password',
  'privatekey',
  'apikey',
]);

/** Exact normalised key names that are secret: the private member of an EC/OKP JWK. */
const SENSITIVE_KEYS: ReadonlySet<string> = new Set(['d']);
/** Private members of RSA and symmetric JWKs; masked only inside an object that has `kty`. */
const JWK_PRIVATE_MEMBERS: ReadonlySet<string> = new Set(['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth']);

const MAX_DEPTH = 32;
const JWS_MIN_LENGTH = 41;
/**
 * Maximal runs of base64url characters and dots. One character class, no nesting: the scan is
 * linear, so a megabyte of header value cannot make redaction backtrack (a pattern such as
 * `[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]*){2,}` is quadratic on a long run without dots).
 */
const DOTTED_RUN = /[A-Za-z0-9_.-]+/g;

/**
 * URL userinfo: from `://` to `@` with no whitespace, `/`, `?`, `#` or `@` between. Anchored on the
 * literal `://` and one character class, so the scan stays linear.
 */
const URL_USERINFO = /:\/\/[^\s/?#@]*@/g;
/** A PEM private key (RFC 7468 §10, §11 and the SEC 1 / PKCS #1 labels), to its END line or to the end of the string. */
const PEM_PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:(?!-----END)[\s\S])*(?:-----END [A-Z0-9 ]*PRIVATE KEY-----)?/g;

export function isSensitiveKey(name: string): boolean {
  const n = name.toLowerCase().replace(/[^a-z0-9]/g, '');
  if (SENSITIVE_KEYS.has(n)) return true;
  return SENSITIVE_KEY_PARTS.some((part) => n.includes(part));
}

/** True when `value`, as a whole, looks like a compact JWS (rule 2). */
export function looksLikeJws(value: string): boolean {
  if (value.length < JWS_MIN_LENGTH) return false;
  const parts = value.split('.');
  if (parts.length < 3 || !/^[A-Za-z0-9_.-]*$/.test(value)) return false;
  return parts.some(beginsJsonObject);
}

/** The string with every URL password, PEM private key and embedded JWS-looking run replaced (rules 3 and 2). */
export function redactString(value: string): string {
  if (value.includes('://')) value = value.replace(URL_USERINFO, `://${REDACTED}@`);
  if (value.includes('PRIVATE KEY-----')) value = value.replace(PEM_PRIVATE_KEY, REDACTED);
  if (value.length < JWS_MIN_LENGTH) return value;
  // A JWS-looking run has at least three parts, so two dots; a string with fewer has none to
  // replace. This spares the scan for the long dotless values every audit event carries (hex
  // digests, key ids, UUIDs).
  const dot = value.indexOf('.');
  if (dot === -1 || value.indexOf('.', dot + 1) === -1) return value;
  return value.replace(DOTTED_RUN, (run) => (looksLikeJws(run) ? REDACTED_JWS : run));
}

export function redactForLog(value: unknown): unknown {
  return redactValue(value, 0, new WeakSet<object>());
}

function beginsJsonObject(part: string): boolean {
  if (part.length < 3) return false;
  // Eight base64url characters decode to six bytes: enough for `{`, some whitespace and `"`.
  const head = Buffer.from(part.slice(0, 8), 'base64url').toString('latin1');
  return /^\s*\{\s*"/.test(head);
}

/** Plain assignment would treat a `__proto__` key as the prototype; a data property never does. */
function define(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function redactValue(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  // Every string written to a log or an audit line goes through here: no control character survives (printable.ts).
  if (typeof value === 'string') return printable(redactString(value));
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'bigint') return value.toString();
    if (typeof value === 'function' || typeof value === 'symbol') return undefined;
    return value;
  }
  if (depth >= MAX_DEPTH) return '[Truncated]';
  if (seen.has(value)) return '[Circular]';
  if (value instanceof Uint8Array) return `[${value.byteLength} bytes]`;
  if (value instanceof ArrayBuffer) return `[${value.byteLength} bytes]`;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((item) => redactValue(item, depth + 1, seen));
    if (value instanceof Error) {
      const out: Record<string, unknown> = { name: value.name, message: redactString(value.message) };
      const code = (value as { code?: unknown }).code;
      if (typeof code === 'string' || typeof code === 'number') out.code = code;
      return out;
    }
    const entries: Iterable<[unknown, unknown]> = value instanceof Map ? value.entries() : Object.entries(value);
    const isJwk = value instanceof Map ? value.has('kty') : Object.prototype.hasOwnProperty.call(value, 'kty');
    const out: Record<string, unknown> = {};
    for (const [rawKey, item] of entries) {
      const key = String(rawKey);
      if (isSensitiveKey(key) || (isJwk && JWK_PRIVATE_MEMBERS.has(key))) {
        define(out, key, REDACTED);
      } else {
        const redacted = redactValue(item, depth + 1, seen);
        if (redacted !== undefined) define(out, key, redacted);
      }
    }
    return out;
  } finally {
    // Shared (non-cyclic) references are fine to print twice; only true cycles are cut.
    seen.delete(value);
  }
}
