/**
 * The lexical rules of trustplane-bundle-v1 values, shared by validation and compilation. Internal:
 * never exported from the bundle index. docs/bundle.md states each rule normatively.
 */
import { canonicalAuthority, canonicalPath, isBindableHeaderName, UNBINDABLE_HEADERS } from '../../transcript.js';
import { identityProblem, MAX_IDENTITY_LENGTH } from '../../identity.js';

export const ROUTE_ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** RFC 9110 §5.6.2 token, restricted to lower case because Envoy lower-cases every header name. */
export const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
/** RFC 9110 method token, upper case only so that `get` and `GET` cannot name two different things. */
export const METHOD = /^[A-Z][A-Z0-9!#$%&'*+.^_`|~-]{0,31}$/;
/** Visible ASCII; kids and trust domains are compared byte for byte and printed in logs. */
export const VISIBLE = /^[\x21-\x7e]+$/;

/**
 * The transcript's own list of headers a proof may never bind (pseudo-headers, credential, hop-by-hop,
 * `host`, `cookie`): one list, so a route can never require a header no proof is allowed to carry.
 */
export { MAX_BOUND_HEADERS, UNBINDABLE_HEADERS } from '../../transcript.js';

/** A route authority must already be in transcript-v1 canonical form, or it could never match. */
export function authorityProblem(value: string): string | undefined {
  const c = canonicalAuthority(value);
  if (!c.ok) return c.detail;
  return c.value === value ? undefined : `must be in canonical form: "${c.value}"`;
}

export function headerNameProblem(name: string): string | undefined {
  if (name.startsWith(':')) return 'pseudo-headers cannot be bound';
  if (!HEADER_NAME.test(name)) return 'must be a lower-case header name token';
  if (UNBINDABLE_HEADERS.has(name)) return `${name} cannot be bound (credential, hop-by-hop, host or cookie header)`;
  return undefined;
}

/**
 * Headers that upstream frameworks use to change the method or the URL they act on, denied on every
 * route unless the proof binds them or the route sets its own `override_headers` (docs/bundle.md
 * §1.2.4 gives the source of each name). A signed `GET` must not become a `DELETE` or another path
 * behind the verifier's back.
 */
export const DEFAULT_OVERRIDE_HEADERS: readonly string[] = Object.freeze([
  'forwarded',
  'x-forwarded-host',
  'x-forwarded-method',
  'x-forwarded-prefix',
  'x-forwarded-uri',
  'x-http-method',
  'x-http-method-override',
  'x-method-override',
  'x-original-method',
  'x-original-uri',
  'x-original-url',
  'x-rewrite-url',
]);

/** At most this many names in a route's `override_headers`: each is looked up on every request. */
export const MAX_OVERRIDE_HEADERS = 64;

/** A name a route may list in `override_headers`: a header name a proof is allowed to bind. */
export function overrideHeaderProblem(name: string): string | undefined {
  const problem = headerNameProblem(name);
  if (problem) return problem;
  if (!isBindableHeaderName(name)) return 'cannot be bound by a proof, so it cannot be an override header';
  return undefined;
}

export type PathKind = 'exact' | 'one' | 'any';

export interface PathPattern {
  readonly kind: PathKind;
  /** The whole path for `exact`; for wildcards the prefix up to and including the last `/`. */
  readonly base: string;
}

export function parsePathPattern(path: string): PathPattern {
  if (path.endsWith('/**')) return { kind: 'any', base: path.slice(0, -2) };
  if (path.endsWith('/*')) return { kind: 'one', base: path.slice(0, -1) };
  return { kind: 'exact', base: path };
}

/**
 * A route path (without its wildcard) must be a fixed point of transcript-v1 path canonicalisation,
 * so it can only ever match the canonical request path it names: no dot or empty segments, no query,
 * escapes exactly where and how the transcript writes them. A trailing `/` is allowed: it is a
 * distinct resource in HTTP.
 */
export function routePathProblem(path: string): string | undefined {
  if (!path.startsWith('/')) return 'must start with "/"';
  if (path.length > 2048) return 'must be at most 2048 characters';
  const { base } = parsePathPattern(path);
  if (base.includes('*')) return '"*" is only allowed as a final "/*" or "/**" segment';
  const c = canonicalPath(base);
  if (!c.ok) return c.detail;
  return c.value === base ? undefined : `must be in canonical form: "${c.value}"`;
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
 * Subject patterns (docs/bundle.md §1.2.2): an identity (core/src/identity.ts) in which `*` stands
 * for one or more characters within one path segment, and a final `/**` for one or more further
 * segments. Checked once, when the bundle is validated: a pattern that no valid subject could ever
 * match, or one whose wildcard sits in the scheme, the authority or a SPIFFE trust domain (where it
 * would match other issuers' name spaces), is a problem rather than a silent never-match.
 */
export function subjectPatternProblem(pattern: string): string | undefined {
  if (pattern.length > MAX_IDENTITY_LENGTH) return `must be at most ${MAX_IDENTITY_LENGTH} characters`;
  if (!VISIBLE.test(pattern)) return 'must be visible ASCII without spaces';
  const anyRest = pattern.endsWith('/**');
  const base = anyRest ? pattern.slice(0, -3) : pattern;
  if (base.includes('**')) return '"**" is only allowed as a final "/**"';
  const star = base.indexOf('*');
  if (star !== -1 || anyRest) {
    const colon = pattern.indexOf(':');
    const pathStart = pattern.startsWith('//', colon + 1) ? pattern.indexOf('/', colon + 3) : colon + 1;
    if (colon <= 0 || (star !== -1 && (pathStart === -1 || star < pathStart)) || (anyRest && (pathStart === -1 || base.length < pathStart))) {
      return '"*" and "/**" may stand only for path segments, never in the scheme, the authority or a SPIFFE trust domain';
    }
  }
  // Every `*` stands for at least one character: the pattern with each one as "x" (and a final
  // segment for "/**") must itself be a valid identity, which checks every literal part in place.
  const sample = `${base.replaceAll('*', 'x')}${anyRest ? '/x' : ''}`;
  const problem = identityProblem(sample);
  return problem === undefined ? undefined : `with each "*" standing for a segment's characters, ${problem}`;
}

/** A `.` or `..` path segment (RFC 3986 §3.3). Subjects with one are refused before any pattern sees them; this keeps the matcher safe alone. */
const DOT_SEGMENT = /\/\.\.?(?:\/|$)/;

export type SubjectMatcher = (subject: string) => boolean;

export function compileSubjectPattern(pattern: string): SubjectMatcher {
  const anyRest = pattern.endsWith('/**');
  const base = anyRest ? pattern.slice(0, -3) : pattern;
  if (!base.includes('*')) {
    if (!anyRest) return (s) => s === pattern;
    const prefix = `${base}/`;
    return (s) => s.length > prefix.length && s.startsWith(prefix) && !DOT_SEGMENT.test(s);
  }
  // Split once here, not on every match: each segment is its exact text, or the literals around its `*`s.
  const segs = base.split('/').map((seg): string | readonly string[] => (seg.includes('*') ? seg.split('*') : seg));
  return (subject) => {
    // No `*` or `/**` ever matches into or across a dot segment (docs/bundle.md §1.2.2).
    if (DOT_SEGMENT.test(subject)) return false;
    const parts = subject.split('/');
    if (anyRest) {
      // At least one more part, and what follows the pattern's segments is not empty: either
      // several parts (so a "/" at least) or one non-empty part.
      if (parts.length <= segs.length) return false;
      if (parts.length === segs.length + 1 && parts[segs.length] === '') return false;
    } else if (parts.length !== segs.length) {
      return false;
    }
    for (let i = 0; i < segs.length; i++) {
      const seg = segs[i]!;
      if (typeof seg === 'string' ? seg !== parts[i] : !globMatches(seg, parts[i]!)) return false;
    }
    return true;
  };
}

/**
 * Linear glob within one segment, given the literals around its `*`s. Placing each literal at its
 * leftmost possible position leaves the most room for the rest, so the greedy scan never needs to
 * backtrack (no regular expression, so no catastrophic backtracking on hostile subjects).
 */
function globMatches(lits: readonly string[], text: string): boolean {
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
