/**
 * The exact syntax of the identities a passport and a bundle carry: `iss`, `sub`, `trust_domain`,
 * `aud` and `kid` (docs/transcript-v1.md §4.2 states each rule normatively; docs/bundle.md applies
 * the same rules to the bundle side).
 *
 * Every identity is accepted in ONE spelling only, so that equality — issuer trust, revocation,
 * subject patterns — can be a byte comparison and a re-spelled identity can never pass for another:
 *
 * - `spiffe:` URIs are SPIFFE IDs exactly as the SPIFFE ID specification allows them
 *   (github.com/spiffe/spiffe standards/SPIFFE-ID.md §2): scheme `spiffe` in lower case, a trust
 *   domain of `[a-z0-9._-]`, no userinfo or port, path segments of `[A-Za-z0-9._-]` that are never
 *   empty, `.` or `..`, no trailing `/`, no percent-encoding, no query or fragment, at most 2048 bytes.
 * - Any other URI is an absolute URI (RFC 3986 §4.3) already in the normal form of RFC 3986 §6.2.2
 *   and §6.2.3: lower-case scheme and host, percent-escapes in upper-case hex and never for an
 *   unreserved character, no default port (`:80` for http/ws, `:443` for https/wss), no `.` or `..`
 *   path segment; and, for an identity, no userinfo, no query and no fragment.
 *
 * The rules are single precompiled regular expressions anchored with `^…$` and no `m` flag: in
 * JavaScript `$` is then the end of the input only, never the position before a final line feed
 * (ECMA-262 §22.2.2.6 Assertion), so a value with a trailing `\n` never matches. They are checked on
 * every request, and a native regex costs no allocation.
 */

/** SPIFFE-ID.md §2.3: implementations must support IDs up to 2048 bytes; ours are ASCII, so characters. */
export const MAX_IDENTITY_LENGTH = 2048;
/** SPIFFE-ID.md §2.3 (RFC 3986's 255-character host). */
export const MAX_TRUST_DOMAIN_LENGTH = 255;
/** `aud` and a route's `audience`. */
export const MAX_AUDIENCE_LENGTH = 1024;
/** `kid`, in characters of 0x21–0x7E, so also in bytes and in UTF-16 code units. */
export const MAX_KID_LENGTH = 256;
/** `jti` (docs/transcript-v1.md §4): of a passport, a DPoP access token and a DPoP proof alike. */
export const MAX_JTI_LENGTH = 128;

/** SPIFFE-ID.md §2.1, §2.2: one regex, segments that are `.` or `..` refused by the lookahead. */
const SPIFFE_ID = /^spiffe:\/\/[a-z0-9._-]{1,255}(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9._-]+)*$/;
/** SPIFFE-ID.md §2.1 trust domain characters. */
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;

/*
 * RFC 3986 pieces, in normal form (§6.2.2.1: escapes in upper-case hex; §6.2.2.2: no escape of an
 * unreserved character — the lookahead names the hex pairs of ALPHA, DIGIT, "-", ".", "_", "~").
 */
const ESC = '%(?!2[DE]|3[0-9]|4[1-9A-F]|5[0-9AF]|6[1-9A-F]|7[0-9AE])[0-9A-F]{2}';
/** pchar (§3.3) without "%": unreserved, sub-delims, ":" and "@". */
const PCHAR = `(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|${ESC})`;
/** A path segment that is not a dot segment (§3.3, §5.2.4). */
const SEGMENT = `(?!\\.\\.?(?:/|$))${PCHAR}*`;
/** reg-name (§3.2.2) in lower case, or an IP literal in lower-case hex; never empty, no userinfo. */
const HOST = `(?:\\[[0-9a-f:.]+\\]|(?:[a-z0-9._~!$&'()*+,;=-]|${ESC})+)`;
/** A port without leading zeros, not 0. */
const PORT = '(?::[1-9][0-9]{0,4})?';
/** §6.2.3: the scheme's default port is omitted. */
const NO_DEFAULT_PORT = '(?!(?:https|wss)://[^/]*:443(?:/|$))(?!(?:http|ws)://[^/]*:80(?:/|$))';
/** `scheme:` and a path without authority (`urn:example:a`, path-rootless or path-absolute). */
const OPAQUE_URI = new RegExp(`^(?!spiffe:)[a-z][a-z0-9+.-]*:(?!\\/\\/)(?=[^])\\/?${SEGMENT}(?:\\/${SEGMENT})*$`);
/** `scheme://host[:port]` and a path-abempty. */
const HIER_URI = new RegExp(`^(?!spiffe:)${NO_DEFAULT_PORT}[a-z][a-z0-9+.-]*:\\/\\/${HOST}${PORT}(?:\\/${SEGMENT})*$`);

/** Visible ASCII: `aud` and `kid` are compared byte for byte and written into logs and headers. */
const VISIBLE = /^[\x21-\x7e]+$/;

/** True when `value` is a SPIFFE ID (SPIFFE-ID.md §2). */
export function isSpiffeId(value: string): boolean {
  return value.length <= MAX_IDENTITY_LENGTH && SPIFFE_ID.test(value);
}

/** True when `value` is an identity (`iss`, `sub`, a bundle issuer or revoked subject) in its one accepted spelling. */
export function isIdentityUri(value: string): boolean {
  if (value.length === 0 || value.length > MAX_IDENTITY_LENGTH) return false;
  // Dispatch on the exact prefix: "SPIFFE:" or "Spiffe:" is not lower case, so neither form matches it.
  if (value.startsWith('spiffe:')) return SPIFFE_ID.test(value);
  return HIER_URI.test(value) || OPAQUE_URI.test(value);
}

export function isTrustDomain(value: string): boolean {
  return value.length <= MAX_TRUST_DOMAIN_LENGTH && TRUST_DOMAIN.test(value);
}

export function isAudience(value: string): boolean {
  return value.length <= MAX_AUDIENCE_LENGTH && VISIBLE.test(value);
}

export function isKid(value: string): boolean {
  return value.length <= MAX_KID_LENGTH && VISIBLE.test(value);
}

/** A `jti`: 1–128 visible ASCII characters (it is part of a replay key and written into the transcript and logs). */
export function isJti(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_JTI_LENGTH && VISIBLE.test(value);
}

/**
 * Why `value` is not an identity, in one line, for bundle problems and CLI errors; undefined when it
 * is one. Not used per request (it allocates its messages).
 */
export function identityProblem(value: string): string | undefined {
  if (isIdentityUri(value)) return undefined;
  if (value.length === 0) return 'must be a non-empty URI';
  if (value.length > MAX_IDENTITY_LENGTH) return `must be at most ${MAX_IDENTITY_LENGTH} characters`;
  if (/[\x00-\x20\x7f-\u{10ffff}]/u.test(value)) return 'must be ASCII without whitespace or control characters';
  if (/^spiffe:/i.test(value)) {
    if (!value.startsWith('spiffe://')) return 'a SPIFFE ID starts with "spiffe://" in lower case';
    const rest = value.slice('spiffe://'.length);
    const slash = rest.indexOf('/');
    const td = slash === -1 ? rest : rest.slice(0, slash);
    if (!isTrustDomain(td)) return 'a SPIFFE trust domain is 1-255 characters of a-z 0-9 . - _ (no port, userinfo or upper case)';
    if (value.endsWith('/')) return 'a SPIFFE ID has no trailing "/"';
    return 'SPIFFE ID path segments are A-Z a-z 0-9 . - _ only: no empty, "." or ".." segment, no percent-encoding, query or fragment';
  }
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:/.test(value)) return 'must be an absolute URI with a scheme (RFC 3986 §4.3)';
  if (/^[^:]*[A-Z][^:]*:/.test(value)) return 'the scheme must be lower case (RFC 3986 §6.2.2.1)';
  if (/[?#]/.test(value)) return 'an identity has no query or fragment';
  if (/%(?![0-9A-Fa-f]{2})/.test(value)) return 'a "%" must start a percent-escape of two hex digits';
  if (/%[0-9A-F]?[a-f]/.test(value)) return 'percent-escapes must use upper-case hex (RFC 3986 §6.2.2.1)';
  if (new RegExp(`%(?=2[DE]|3[0-9]|4[1-9A-F]|5[0-9AF]|6[1-9A-F]|7[0-9AE])`).test(value)) {
    return 'an unreserved character must not be percent-encoded (RFC 3986 §6.2.2.2)';
  }
  if (/(?:^[^:]*:|\/)\.\.?(?:\/|$)/.test(value)) return 'must not have a "." or ".." path segment';
  const auth = /^[^:]*:\/\/([^/]*)/.exec(value);
  if (auth) {
    const a = auth[1]!;
    if (a.includes('@')) return 'an identity has no userinfo';
    if (/[A-Z]/.test(a)) return 'the host must be lower case (RFC 3986 §6.2.2.1)';
    if (a === '' || a.startsWith(':')) return 'the authority must name a host';
    if (/:(?:443)$/.test(a) && /^(?:https|wss):/.test(value)) return 'the default port :443 must be omitted (RFC 3986 §6.2.3)';
    if (/:(?:80)$/.test(a) && /^(?:http|ws):/.test(value)) return 'the default port :80 must be omitted (RFC 3986 §6.2.3)';
    return 'the authority must be host[:port] with a port of 1-5 digits and no leading zero';
  }
  return 'must be an absolute URI of RFC 3986 characters only';
}

export function trustDomainProblem(value: string): string | undefined {
  if (isTrustDomain(value) && value.length > 0) return undefined;
  return `must be 1-${MAX_TRUST_DOMAIN_LENGTH} characters of a-z 0-9 . - _ (SPIFFE trust domain syntax)`;
}
