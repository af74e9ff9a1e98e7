/**
 * The DPoP `htu` check (RFC 9449 §4.3 check 9): the proof's `htu` must be the URI of the request it
 * came with, ignoring any query and fragment. Both sides are normalised before they are compared,
 * as RFC 9449 §4.3 asks, by syntax-based normalisation (RFC 3986 §6.2.2: case of the scheme, host and
 * percent-escapes, percent-encoded unreserved characters decoded, dot segments removed) and
 * scheme-based normalisation (RFC 3986 §6.2.3: an empty path is `/`, the default port is dropped).
 *
 * The request side is the canonical authority and canonical path the route phase already built
 * (docs/transcript-v1.md §6.3, §6.4); the `htu` side is brought to the same forms with the same
 * functions, so "the same URI" means the same thing to the route matcher, to transcript-v1 and to
 * DPoP. The scheme is not compared beyond being `http` or `https`: the verifier cannot trust the
 * scheme Envoy reports (docs/transcript-v1.md §9.6), and, as there, ports 80 and 443 are both
 * dropped whatever the scheme.
 */
import { canonicalAuthority, canonicalPath } from '../transcript.js';

/** The longest `htu` looked at (the proof itself is bounded by core/src/jws.ts MAX_JWS_LENGTH). */
export const MAX_HTU_LENGTH = 4096;

export interface HtuTarget {
  /** Canonical authority (docs/transcript-v1.md §6.3). */
  readonly authority: string;
  /** Canonical path (docs/transcript-v1.md §6.4), never empty. */
  readonly path: string;
}

const ABSOLUTE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/]*)(.*)$/s;

/**
 * The normalised target of an `htu`, or undefined when it is not an absolute `http`/`https` URI
 * whose authority and path have a canonical form (such an `htu` can match no request the verifier
 * accepts: the request's own path and authority must be canonical to be routed at all).
 */
export function normaliseHtu(htu: string): HtuTarget | undefined {
  if (htu.length === 0 || htu.length > MAX_HTU_LENGTH) return undefined;
  // RFC 9449 §4.3 check 9: the query and the fragment are ignored. A fragment may contain "?", so
  // it is cut first.
  let end = htu.indexOf('#');
  if (end < 0) end = htu.length;
  const q = htu.indexOf('?');
  if (q >= 0 && q < end) end = q;
  const m = ABSOLUTE.exec(htu.slice(0, end));
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'https' && scheme !== 'http') return undefined;
  const authority = canonicalAuthority(m[2]!);
  if (!authority.ok) return undefined;
  // RFC 3986 §6.2.3: an empty path is "/". §6.2.2.2 before §6.2.2.3: "%2E" is an unreserved "."
  // and takes part in dot-segment removal like one.
  const raw = m[3] === '' ? '/' : m[3]!.replace(/%2[Ee]/g, '.');
  const path = canonicalPath(removeDotSegments(raw));
  if (!path.ok) return undefined;
  return { authority: authority.value, path: path.value };
}

/** RFC 3986 §5.2.4, remove_dot_segments, on a path that starts with "/". */
export function removeDotSegments(path: string): string {
  if (!path.includes('.')) return path;
  let input = path;
  const out: string[] = [];
  while (input.length > 0) {
    if (input.startsWith('../')) input = input.slice(3);
    else if (input.startsWith('./')) input = input.slice(2);
    else if (input.startsWith('/./')) input = input.slice(2);
    else if (input === '/.') input = '/';
    else if (input.startsWith('/../')) {
      input = input.slice(3);
      out.pop();
    } else if (input === '/..') {
      input = '/';
      out.pop();
    } else if (input === '.' || input === '..') input = '';
    else {
      const next = input.indexOf('/', input.startsWith('/') ? 1 : 0);
      const segment = next < 0 ? input : input.slice(0, next);
      out.push(segment);
      input = next < 0 ? '' : input.slice(next);
    }
  }
  return out.join('');
}
