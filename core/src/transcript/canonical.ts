/**
 * transcript-v1 canonical forms (docs/transcript-v1.md §6.3 authority, §6.4 path, §6.5 query,
 * §6.6 header values, §6.16 free-text escaping): the pure string rules that make a signer's and a
 * verifier's view of one request the same bytes. No I/O, no layout: core/src/transcript/layout.ts
 * puts the canonical values into lines.
 *
 * The canonical forms are chosen to be fixed points of what Envoy and Istio may do to a request on
 * the way (docs/envoy-integration.md F1 and FA): percent-decoding of unreserved characters, upper-casing
 * of escapes, lower-cased header names, comma-joined repeated headers, `:authority` instead of Host,
 * default ports. Paths that Envoy's normalisation could map onto a different path (dot segments,
 * empty segments, encoded slash or backslash) are refused outright rather than normalised, so a
 * signature over one path can never verify for another.
 */
import type { ReasonCode } from '../reasons.js';

export type Canon<T> = { ok: true; value: T } | { ok: false; reason: ReasonCode; detail: string };

const HEX = '0123456789ABCDEF';
const UNRESERVED = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~') UNRESERVED[c.charCodeAt(0)] = 1;
/** pchar minus unreserved and pct-encoded (RFC 3986 §3.3), plus "/" which separates segments. */
const PATH_LITERAL = new Uint8Array(128);
for (const c of "!$&'()*+,;=:@/") PATH_LITERAL[c.charCodeAt(0)] = 1;
/** Query characters (RFC 3986 §3.4) that stay literal; "&" and "=" are structure and handled apart. */
const QUERY_LITERAL = new Uint8Array(128);
for (const c of "!$'()*+,;:@/?") QUERY_LITERAL[c.charCodeAt(0)] = 1;

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

function pct(b: number): string {
  return `%${HEX[b >> 4]!}${HEX[b & 15]!}`;
}

/** Escaped bytes a component refuses: "/", "\\" and NUL in a path, NUL in a query. */
const PATH_REFUSED = new Uint8Array(256);
PATH_REFUSED[0x2f] = PATH_REFUSED[0x5c] = PATH_REFUSED[0x00] = 1;
const QUERY_REFUSED = new Uint8Array(256);
QUERY_REFUSED[0x00] = 1;

/**
 * Canonical percent-encoding of one path or query component: escapes of unreserved characters are
 * decoded, other escapes get upper-case hex, characters outside `literal` are encoded as UTF-8.
 * Returns undefined on a malformed escape, or on an encoded byte marked in `refuseEncoded`.
 */
function canonicalComponent(s: string, literal: Uint8Array, refuseEncoded: Uint8Array): string | undefined {
  const bytes = Buffer.from(s, 'utf8');
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0x25) {
      if (i + 2 >= bytes.length) return undefined;
      const hi = hexVal(bytes[i + 1]!);
      const lo = hexVal(bytes[i + 2]!);
      if (hi < 0 || lo < 0) return undefined;
      const d = (hi << 4) | lo;
      if (refuseEncoded[d]) return undefined;
      out += d < 128 && UNRESERVED[d] ? String.fromCharCode(d) : pct(d);
      i += 2;
    } else if (b < 128 && (UNRESERVED[b] || literal[b])) {
      out += String.fromCharCode(b);
    } else {
      out += pct(b);
    }
  }
  return out;
}

function pathRefused(detail: string): Canon<string> {
  return { ok: false, reason: 'path_not_canonical', detail };
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
/** A percent-escape, as a second decoding would read it. */
const ESCAPE = /%[0-9A-Fa-f]{2}/;
/** C0 controls and DEL. */
const CONTROL = /[\x00-\x1f\x7f]/;
/** Characters that give a path its structure; NFKC must not create any of them (see below). */
const STRUCTURAL = '/\\.;%?#';

/**
 * The second half of docs/transcript-v1.md §6.4 step 4, for a canonical path that still holds
 * escapes: what the escapes decode to must not let an upstream resolve another path. The decoded
 * bytes must be UTF-8 (an overlong `%C0%AE` is a "." to a lenient decoder) without controls, `;`
 * (path parameters, `%3B`) or a second layer of escapes (`%252e`); and Unicode compatibility
 * normalisation (NFKC, which some frameworks apply) must not create a structural character
 * (`．．` U+FF0E is ".." after NFKC, `／` U+FF0F is "/").
 */
function decodedPathProblem(c: string): string | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < c.length; i++) {
    const ch = c.charCodeAt(i);
    if (ch === 0x25) {
      bytes.push((hexVal(c.charCodeAt(i + 1)) << 4) | hexVal(c.charCodeAt(i + 2)));
      i += 2;
    } else {
      bytes.push(ch);
    }
  }
  let decoded: string;
  try {
    decoded = strictUtf8.decode(Uint8Array.from(bytes));
  } catch {
    return 'percent-escapes in path do not decode to UTF-8 (overlong or invalid sequence)';
  }
  if (CONTROL.test(decoded)) return 'encoded control character in path';
  if (decoded.includes(';')) return 'encoded path parameter (";") in path';
  if (ESCAPE.test(decoded)) return 'double percent-encoding in path';
  let nonAscii = false;
  for (let i = 0; i < decoded.length && !nonAscii; i++) nonAscii = decoded.charCodeAt(i) >= 0x80;
  if (nonAscii) {
    const nfkc = decoded.normalize('NFKC');
    if (nfkc !== decoded) {
      for (let i = 0; i < STRUCTURAL.length; i++) {
        const ch = STRUCTURAL[i]!;
        if (nfkc.split(ch).length !== decoded.split(ch).length) return `Unicode compatibility form of the path adds "${ch}"`;
      }
    }
  }
  return undefined;
}

/**
 * Canonical path: must start with "/"; no "\\", "#", NUL; no encoded "/" or "\\"; after canonical
 * percent-encoding, no "." or ".." segment, no empty segment except a trailing one, no path
 * parameter (";" or "%3B": servlet containers resolve `..;` as `..`), and escapes that decode to
 * nothing an upstream could read as another path (decodedPathProblem).
 */
export function canonicalPath(rawPath: string): Canon<string> {
  if (rawPath.charCodeAt(0) !== 0x2f) return pathRefused('path must start with "/"');
  if (rawPath.includes('\\')) return pathRefused('backslash in path');
  if (rawPath.includes('#')) return pathRefused('fragment in path');
  if (rawPath.includes('\0')) return pathRefused('NUL in path');
  const c = canonicalComponent(rawPath, PATH_LITERAL, PATH_REFUSED);
  if (c === undefined) return pathRefused('malformed or forbidden percent-escape in path (%2F, %5C and %00 are refused)');
  if (c.includes('%')) {
    const problem = decodedPathProblem(c);
    if (problem !== undefined) return pathRefused(problem);
  }
  // RFC 3986 §3.3 lets a segment carry parameters after ";"; servlet containers and others strip
  // them before resolving, so `/a/..;/b` is `/b` to them and `/admin;x` is `/admin`. No path with a
  // parameter is ever bound or routed (docs/transcript-v1.md §6.4).
  if (c.includes(';')) return pathRefused('path parameter (";") in path');
  // Segments after the leading "/", in order: none may be "." or "..", none but the last empty.
  let start = 1;
  for (;;) {
    const slash = c.indexOf('/', start);
    const end = slash < 0 ? c.length : slash;
    const len = end - start;
    if (len === 0 && slash >= 0) return pathRefused('empty segment ("//") in path');
    if ((len === 1 || len === 2) && c.charCodeAt(start) === 0x2e && (len === 1 || c.charCodeAt(start + 1) === 0x2e)) {
      return pathRefused('dot segment in path');
    }
    if (slash < 0) return { ok: true, value: c };
    start = slash + 1;
  }
}

/**
 * Canonical query: split on "&", empty parameters dropped, each key and value canonically
 * percent-encoded ("+" stays "+", distinct from "%20" and "%2B"), parameters sorted by key with
 * the original order kept among equal keys, a key without "=" kept without "=".
 */
export function canonicalQuery(rawQuery: string): Canon<string> {
  if (rawQuery === '') return { ok: true, value: '' };
  if (rawQuery.includes('#')) return { ok: false, reason: 'path_not_canonical', detail: 'fragment in query' };
  if (rawQuery.includes('\0')) return { ok: false, reason: 'path_not_canonical', detail: 'NUL in query' };
  const params: { k: string; p: string; i: number }[] = [];
  const parts = rawQuery.split('&');
  for (const [i, part] of parts.entries()) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const k = canonicalComponent(eq < 0 ? part : part.slice(0, eq), QUERY_LITERAL, QUERY_REFUSED);
    const v = eq < 0 ? '' : canonicalComponent(part.slice(eq + 1), QUERY_LITERAL_WITH_EQ, QUERY_REFUSED);
    if (k === undefined || v === undefined) return { ok: false, reason: 'path_not_canonical', detail: 'malformed percent-escape in query' };
    params.push({ k, p: eq < 0 ? k : `${k}=${v}`, i });
  }
  params.sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : a.i - b.i));
  return { ok: true, value: params.map((x) => x.p).join('&') };
}
/** In a value, "=" is data and stays literal. */
const QUERY_LITERAL_WITH_EQ = new Uint8Array(QUERY_LITERAL);
QUERY_LITERAL_WITH_EQ['='.charCodeAt(0)] = 1;

const HOST_CHARS = /^[a-z0-9._~!$&'()*+,;=-]+$/;

/** Canonical authority: lower-case; no userinfo; port 80 and 443 dropped; IPv6 kept in brackets. */
export function canonicalAuthority(raw: string): Canon<string> {
  const bad = (detail: string): Canon<string> => ({ ok: false, reason: 'authority_invalid', detail });
  const a = raw.replace(/[A-Z]+/g, (u) => u.toLowerCase()); // ASCII only: U+212A KELVIN SIGN must not become "k"
  if (a.length === 0 || a.length > 255) return bad('authority is empty or too long');
  if (a.includes('@')) return bad('userinfo in authority');
  let host: string;
  let port: string | undefined;
  if (a.startsWith('[')) {
    const end = a.indexOf(']');
    if (end < 0) return bad('unterminated IPv6 literal');
    host = a.slice(0, end + 1);
    if (!/^\[[0-9a-f:.]+\]$/.test(host)) return bad('invalid IPv6 literal');
    const rest = a.slice(end + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return bad('junk after IPv6 literal');
      port = rest.slice(1);
    }
  } else {
    const colon = a.lastIndexOf(':');
    host = colon < 0 ? a : a.slice(0, colon);
    port = colon < 0 ? undefined : a.slice(colon + 1);
    if (!HOST_CHARS.test(host)) return bad('invalid host');
  }
  if (port !== undefined) {
    if (!/^[0-9]{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) return bad('invalid port');
    port = String(Number(port));
    if (port === '80' || port === '443') port = undefined;
  }
  return { ok: true, value: port === undefined ? host : `${host}:${port}` };
}

/** Runs of characters escapeText escapes: anything but 0x20–0x7E, and "%". */
const NOT_TEXT = /[^\x20-\x24\x26-\x7e]+/g;

/**
 * Free-text escaping for values that are not already canonical (header values, audience, route,
 * jti, nonce): UTF-8 bytes 0x20–0x7E other than "%" stay as they are, every other byte becomes
 * %XX with upper-case hex. The result never holds a line break.
 */
export function escapeText(s: string): string {
  return s.replace(NOT_TEXT, (run) => {
    let out = '';
    for (const b of Buffer.from(run, 'utf8')) out += pct(b);
    return out;
  });
}

/** Header values are compared after trimming optional whitespace at both ends, as Envoy stores them. */
export function canonicalHeaderValue(v: string): string {
  return escapeText(trimOws(v));
}

/**
 * Spaces and horizontal tabs at both ends removed (RFC 9110 §5.6.3 OWS, docs/transcript-v1.md §3);
 * no other character, Unicode spaces included (String#trim would drop those too).
 */
export function trimOws(v: string): string {
  let start = 0;
  let end = v.length;
  while (start < end && isOws(v.charCodeAt(start))) start++;
  while (end > start && isOws(v.charCodeAt(end - 1))) end--;
  return start === 0 && end === v.length ? v : v.slice(start, end);
}

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}
