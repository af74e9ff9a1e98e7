/**
 * The lexical rules of trustplane-bundle-v1 values, shared by validation and compilation. Internal:
 * never exported from the bundle index. docs/bundle.md states each rule normatively.
 */
import { CREDENTIAL_HEADERS, HEADER } from '../../types.js';

export const ROUTE_ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** RFC 9110 §5.6.2 token, restricted to lower case because Envoy lower-cases every header name. */
export const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
/** RFC 9110 method token, upper case only so that `get` and `GET` cannot name two different things. */
export const METHOD = /^[A-Z][A-Z0-9!#$%&'*+.^_`|~-]{0,31}$/;
/** A URI with a scheme (RFC 3986 §3.1) and no whitespace: `https://issuer.example`, `spiffe://td`. */
export const URI_ISH = /^[A-Za-z][A-Za-z0-9+.-]*:[\x21-\x7e]+$/;
/** Visible ASCII; kids and trust domains are compared byte for byte and printed in logs. */
export const VISIBLE = /^[\x21-\x7e]+$/;
/** Lower-case host (reg-name or bracketed IPv6) with an optional port, as the transcript canonicalises it. */
const AUTHORITY = /^(?:[a-z0-9._~-]+|\[[0-9a-f:.]+\])(?::([0-9]{1,5}))?$/;

/**
 * Headers a proof may never bind: pseudo-headers are not headers; credential headers carry the proof
 * itself; hop-by-hop headers (RFC 9110 §7.6.1) and `x-envoy-auth-partial-body` are rewritten or dropped
 * by proxies; `host` never reaches ext_authz (Envoy folds it into `:authority`); `cookie` is split and
 * re-joined differently by HTTP/1 and HTTP/2 (RFC 9113 §8.2.3).
 */
export const UNBINDABLE_HEADERS: ReadonlySet<string> = new Set([
  ...CREDENTIAL_HEADERS,
  HEADER.envoyPartialBody,
  'host',
  'cookie',
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

export function authorityProblem(value: string): string | undefined {
  const m = AUTHORITY.exec(value);
  if (!m) return 'must be a lower-case host[:port]';
  if (m[1] !== undefined && (Number(m[1]) < 1 || Number(m[1]) > 65535 || m[1].startsWith('0'))) return 'port must be 1-65535';
  return undefined;
}

export function headerNameProblem(name: string): string | undefined {
  if (name.startsWith(':')) return 'pseudo-headers cannot be bound';
  if (!HEADER_NAME.test(name)) return 'must be a lower-case header name token';
  if (UNBINDABLE_HEADERS.has(name)) return `${name} cannot be bound (credential, hop-by-hop, host or cookie header)`;
  return undefined;
}

export type PathKind = 'exact' | 'one' | 'any';

export interface PathPattern {
  readonly kind: PathKind;
  /** The whole path for `exact`; for wildcards the prefix up to and including the last `/`. */
  readonly base: string;
}

/** One path segment character (RFC 3986 pchar), or an upper-case percent escape. `*` is reserved for wildcards. */
const SEGMENT = /^(?:[A-Za-z0-9._~!$&'()+,;=:@-]|%[0-9A-F]{2})+$/;
/** Escapes that RFC 3986 §6.2.2.2 normalises away, or that would smuggle a separator (`%2F`, `%5C`). */
const NON_CANONICAL_ESCAPE = /%(?:2[DEF]|3[0-9]|4[1-9A-F]|5[0-9A]|5C|5F|6[1-9A-F]|7[0-9A]|7E)/;

export function parsePathPattern(path: string): PathPattern {
  if (path.endsWith('/**')) return { kind: 'any', base: path.slice(0, -2) };
  if (path.endsWith('/*')) return { kind: 'one', base: path.slice(0, -1) };
  return { kind: 'exact', base: path };
}

/**
 * A route path is canonical so that it can only ever match the canonical request path it names: no
 * dot or empty segments (RFC 3986 §5.2.4 would rewrite them), no query or fragment, upper-case
 * escapes of reserved characters only. A trailing `/` is allowed: it is a distinct resource in HTTP.
 */
export function routePathProblem(path: string): string | undefined {
  if (!path.startsWith('/')) return 'must start with "/"';
  if (path.length > 2048) return 'must be at most 2048 characters';
  const { base } = parsePathPattern(path);
  const segments = base.slice(1).split('/');
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    if (seg === '') {
      if (i === segments.length - 1) continue;
      return 'must not contain empty segments ("//")';
    }
    if (seg === '.' || seg === '..') return 'must not contain "." or ".." segments';
    if (seg.includes('*')) return '"*" is only allowed as a final "/*" or "/**" segment';
    if (!SEGMENT.test(seg)) return 'contains a character that must be percent-encoded (escapes use upper-case hex)';
    if (NON_CANONICAL_ESCAPE.test(seg)) return 'must not percent-encode unreserved characters, "/" or "\\"';
  }
  return undefined;
}

export function pathMatches(p: PathPattern, path: string): boolean {
  switch (p.kind) {
    case 'exact':
      return path === p.base;
    case 'one': {
      if (path.length <= p.base.length || !path.startsWith(p.base)) return false;
      return path.indexOf('/', p.base.length) === -1;
    }
    case 'any':
      return path.startsWith(p.base);
  }
}

/**
 * Subject patterns: `*` stands for one or more characters within one `/`-separated segment; a final
 * `/**` for `/` followed by one or more characters of any kind; anything else is literal. `**` is
 * refused elsewhere so that a pattern cannot silently cross segment boundaries.
 */
export function subjectPatternProblem(pattern: string): string | undefined {
  if (pattern.length > 1024) return 'must be at most 1024 characters';
  if (!VISIBLE.test(pattern)) return 'must be visible ASCII without spaces';
  const base = pattern.endsWith('/**') ? pattern.slice(0, -3) : pattern;
  if (base.includes('**')) return '"**" is only allowed as a final "/**"';
  return undefined;
}

export type SubjectMatcher = (subject: string) => boolean;

export function compileSubjectPattern(pattern: string): SubjectMatcher {
  const anyRest = pattern.endsWith('/**');
  const base = anyRest ? pattern.slice(0, -3) : pattern;
  if (!base.includes('*')) {
    if (!anyRest) return (s) => s === pattern;
    const prefix = `${base}/`;
    return (s) => s.length > prefix.length && s.startsWith(prefix);
  }
  const segs = base.split('/');
  return (subject) => {
    const parts = subject.split('/');
    if (anyRest) {
      if (parts.length <= segs.length) return false;
      if (parts.slice(segs.length).join('/').length === 0) return false;
    } else if (parts.length !== segs.length) {
      return false;
    }
    for (let i = 0; i < segs.length; i++) if (!segmentMatches(segs[i]!, parts[i]!)) return false;
    return true;
  };
}

/**
 * Linear glob within one segment. Placing each literal at its leftmost possible position leaves the
 * most room for the rest, so the greedy scan never needs to backtrack (no regular expression, so no
 * catastrophic backtracking on hostile subjects).
 */
function segmentMatches(pattern: string, text: string): boolean {
  const lits = pattern.split('*');
  if (lits.length === 1) return pattern === text;
  const first = lits[0]!;
  const last = lits[lits.length - 1]!;
  if (!text.startsWith(first)) return false;
  let pos = first.length;
  for (let i = 1; i < lits.length - 1; i++) {
    const at = text.indexOf(lits[i]!, pos + 1);
    if (at === -1) return false;
    pos = at + lits[i]!.length;
  }
  return text.length - last.length >= pos + 1 && text.endsWith(last);
}
