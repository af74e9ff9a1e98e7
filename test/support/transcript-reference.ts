/**
 * A second transcript-v1 implementation, for differential tests only: each canonical form written
 * as directly from docs/transcript-v1.md §6 as possible (whole-string checks in the order the
 * spec lists them, the whole input encoded to UTF-8 bytes, a list of lines joined at the end),
 * with no fast path. core/src/transcript.ts takes shortcuts for inputs that are already canonical;
 * the property tests in test/core/transcript.test.ts check that every shortcut agrees with this,
 * detail messages included. Nothing here is copied from core/src/transcript.ts: a rule copied from
 * the code under test would agree with it when both are wrong.
 */
import type { ReasonCode } from '../../core/src/reasons.js';
import type { TranscriptField, TranscriptInput } from '../../core/src/transcript.js';

type Canon = { ok: true; value: string } | { ok: false; reason: ReasonCode; detail: string };

const UNRESERVED = new Set('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~');
const PATH_LITERAL = new Set("!$&'()*+,;=:@/");
const QUERY_KEY_LITERAL = new Set("!$'()*+,;:@/?");
const QUERY_VALUE_LITERAL = new Set([...QUERY_KEY_LITERAL, '=']);

const hex2 = (b: number): string => `%${b.toString(16).toUpperCase().padStart(2, '0')}`;

function percentCanonical(s: string, literal: ReadonlySet<string>, refused: readonly number[]): string | undefined {
  const bytes = Buffer.from(s, 'utf8');
  const out: string[] = [];
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    const ch = String.fromCharCode(b);
    if (b === 0x25) {
      const h = bytes.subarray(i + 1, i + 3).toString('latin1');
      if (!/^[0-9A-Fa-f]{2}$/.test(h)) return undefined;
      const d = parseInt(h, 16);
      if (refused.includes(d)) return undefined;
      out.push(d < 128 && UNRESERVED.has(String.fromCharCode(d)) ? String.fromCharCode(d) : hex2(d));
      i += 2;
    } else if (b < 128 && (UNRESERVED.has(ch) || literal.has(ch))) {
      out.push(ch);
    } else {
      out.push(hex2(b));
    }
  }
  return out.join('');
}

export function referencePath(raw: string): Canon {
  const bad = (detail: string): Canon => ({ ok: false, reason: 'path_not_canonical', detail });
  if (!raw.startsWith('/')) return bad('path must start with "/"');
  if (raw.includes('\\')) return bad('backslash in path');
  if (raw.includes('#')) return bad('fragment in path');
  if (raw.includes('\0')) return bad('NUL in path');
  const c = percentCanonical(raw, PATH_LITERAL, [0x2f, 0x5c, 0x00]);
  if (c === undefined) return bad('malformed or forbidden percent-escape in path (%2F, %5C and %00 are refused)');
  // §6.4 step 4: what the escapes decode to.
  if (c.includes('%')) {
    const bytes = Buffer.from(c.replace(/%([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
    let decoded: string;
    try {
      decoded = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
    } catch {
      return bad('percent-escapes in path do not decode to UTF-8 (overlong or invalid sequence)');
    }
    if (/[\x00-\x1f\x7f]/.test(decoded)) return bad('encoded control character in path');
    if (decoded.includes(';')) return bad('encoded path parameter (";") in path');
    if (/%[0-9A-Fa-f]{2}/.test(decoded)) return bad('double percent-encoding in path');
    const nfkc = decoded.normalize('NFKC');
    for (const ch of ['/', '\\', '.', ';', '%', '?', '#']) {
      if (nfkc.split(ch).length !== decoded.split(ch).length) return bad(`Unicode compatibility form of the path adds "${ch}"`);
    }
  }
  if (c.includes(';')) return bad('path parameter (";") in path');
  const segs = c.split('/');
  for (let i = 1; i < segs.length; i++) {
    if (segs[i] === '.' || segs[i] === '..') return bad('dot segment in path');
    if (segs[i] === '' && i !== segs.length - 1) return bad('empty segment ("//") in path');
  }
  return { ok: true, value: c };
}

export function referenceQuery(raw: string): Canon {
  if (raw === '') return { ok: true, value: '' };
  if (raw.includes('#')) return { ok: false, reason: 'path_not_canonical', detail: 'fragment in query' };
  if (raw.includes('\0')) return { ok: false, reason: 'path_not_canonical', detail: 'NUL in query' };
  const params: { k: string; p: string }[] = [];
  for (const part of raw.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const k = percentCanonical(eq < 0 ? part : part.slice(0, eq), QUERY_KEY_LITERAL, [0]);
    const v = eq < 0 ? '' : percentCanonical(part.slice(eq + 1), QUERY_VALUE_LITERAL, [0]);
    if (k === undefined || v === undefined) return { ok: false, reason: 'path_not_canonical', detail: 'malformed percent-escape in query' };
    params.push({ k, p: eq < 0 ? k : `${k}=${v}` });
  }
  // Array.prototype.sort is stable: equal keys keep their order.
  params.sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
  return { ok: true, value: params.map((x) => x.p).join('&') };
}

// ---- authority (docs/transcript-v1.md §6.3), written from the spec and RFC 3986 §3.2, not from
// core/src/transcript.ts: a scan over the scalar values, where the production code uses regular
// expressions and string searches, so that a mistake there is not repeated here.
//
// RFC 3986 §3.2: authority = [ userinfo "@" ] host [ ":" port ]; §3.2.2: host = IP-literal /
// IPv4address / reg-name, IP-literal = "[" ... "]", reg-name = *( unreserved / pct-encoded /
// sub-delims ); §3.2.3: port = *DIGIT. §6.3 narrows these: no userinfo, no percent-escape, an
// IP-literal of hex digits, ":" and "." only, a port of 1–5 digits valued 1–65535.

/** What each refusal step of §6.3 reports (the repository's wording; the differential test compares it too). */
const AUTHORITY_REFUSED = {
  length: 'authority is empty or too long', // step 2
  userinfo: 'userinfo in authority', // step 2
  unterminated: 'unterminated IPv6 literal', // step 3
  ipLiteral: 'invalid IPv6 literal', // step 3
  afterLiteral: 'junk after IPv6 literal', // step 3
  host: 'invalid host', // step 4
  port: 'invalid port', // step 5
} as const;

/** RFC 3986 §2.3 unreserved (after ASCII lower-casing no upper-case letter is left) and §2.2 sub-delims. */
const REG_NAME_CHARS = new Set([...'abcdefghijklmnopqrstuvwxyz0123456789-._~', ..."!$&'()*+,;="]);
/** §6.3 step 3: the text between the brackets. */
const IP_LITERAL_CHARS = new Set([...'0123456789abcdef:.']);
const DIGITS = new Set([...'0123456789']);

export function referenceAuthority(raw: string): Canon {
  const refuse = (step: keyof typeof AUTHORITY_REFUSED): Canon => ({ ok: false, reason: 'authority_invalid', detail: AUTHORITY_REFUSED[step] });
  // Step 1, §2: ASCII lower-casing maps exactly A–Z to a–z; §2: a string is a sequence of scalar values.
  const chars = [...raw].map((c) => (c.length === 1 && c >= 'A' && c <= 'Z' ? String.fromCharCode(c.charCodeAt(0) + 0x20) : c));
  // Step 2.
  if (chars.length === 0 || chars.length > 255) return refuse('length');
  if (chars.includes('@')) return refuse('userinfo');
  let host: string[];
  let port: string[] | undefined;
  if (chars[0] === '[') {
    // Step 3: the host runs to the first "]"; then nothing, or ":" and a port.
    const close = chars.indexOf(']');
    if (close === -1) return refuse('unterminated');
    const literal = chars.slice(1, close);
    if (literal.length === 0 || !literal.every((c) => IP_LITERAL_CHARS.has(c))) return refuse('ipLiteral');
    host = chars.slice(0, close + 1);
    const rest = chars.slice(close + 1);
    if (rest.length > 0) {
      if (rest[0] !== ':') return refuse('afterLiteral');
      port = rest.slice(1);
    }
  } else {
    // Step 4: the port follows the last ":".
    let colon = -1;
    for (let i = chars.length - 1; i >= 0 && colon === -1; i--) if (chars[i] === ':') colon = i;
    host = colon === -1 ? chars : chars.slice(0, colon);
    if (host.length === 0 || !host.every((c) => REG_NAME_CHARS.has(c))) return refuse('host');
    if (colon !== -1) port = chars.slice(colon + 1);
  }
  if (port === undefined) return { ok: true, value: host.join('') };
  // Step 5: 1–5 decimal digits, valued 1–65535, written without leading zeros; 80 and 443 dropped.
  if (port.length < 1 || port.length > 5 || !port.every((c) => DIGITS.has(c))) return refuse('port');
  const value = port.reduce((n, d) => n * 10 + (d.charCodeAt(0) - 0x30), 0);
  if (value < 1 || value > 65535) return refuse('port');
  // Step 6.
  return { ok: true, value: value === 80 || value === 443 ? host.join('') : `${host.join('')}:${value}` };
}

export function referenceEscapeText(s: string): string {
  return [...Buffer.from(s, 'utf8')].map((b) => (b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : hex2(b))).join('');
}

/**
 * The lines (after the version line) and their fields, for an input whose method, nonce, ts and
 * header names are valid; undefined when a canonical form refuses the input.
 */
export function referenceLines(t: TranscriptInput): { lines: string[]; fields: TranscriptField[] } | undefined {
  const authority = referenceAuthority(t.authority);
  const q = t.pathAndQuery.indexOf('?');
  const path = referencePath(q < 0 ? t.pathAndQuery : t.pathAndQuery.slice(0, q));
  const query = referenceQuery(q < 0 ? '' : t.pathAndQuery.slice(q + 1));
  if (!authority.ok || !path.ok || !query.ok) return undefined;
  const out: [TranscriptField, string][] = [
    ['method', `method:${t.method}`],
    ['authority', `authority:${authority.value}`],
    ['path', `path:${path.value}`],
    ['query', `query:${query.value}`],
    ['headers', `headers:${t.headers.map(([n]) => n).join(';')}`],
    ...t.headers.map(([n, v]): [TranscriptField, string] => ['headers', `header:${n}:${referenceEscapeText(v.replace(/^[ \t]+|[ \t]+$/g, ''))}`]),
    ['body', `body-sha256:${t.bodySha256}`],
    ['nonce', `nonce:${t.nonce}`],
    ['aud', `aud:${referenceEscapeText(t.audience)}`],
    ['route', `route:${referenceEscapeText(t.routeId)}`],
    ['passport', `jti:${referenceEscapeText(t.jti)}`],
    ['passport', `passport-sha256:${t.passportSha256}`],
    ['ts', `ts:${t.ts}`],
    ['key_binding', `key-binding:${referenceEscapeText(t.keyBinding)}`],
    ['key_binding', `cnf-jkt:${t.cnfJkt}`],
  ];
  return { lines: out.map(([, l]) => l), fields: out.map(([f]) => f) };
}
