/**
 * transcript-v1 layout (docs/transcript-v1.md §6.1): the version line and the lines after it, in
 * order, each tagged with the field it binds; what may appear on the method (§6.2), headers (§6.6)
 * and nonce (§6.8) lines; and the two entry points signer and verifier build a transcript through.
 * The canonical forms the lines carry are in core/src/transcript/canonical.ts.
 */
import { type Canon, canonicalAuthority, canonicalHeaderValue, canonicalPath, canonicalQuery, escapeText } from './canonical.js';

const TRANSCRIPT_VERSION_LINE = 'trustplane-transcript-v1';

/** Headers that may never be named in a proof: bound elsewhere, rewritten by proxies, or secret. */
export const UNBINDABLE_HEADERS: ReadonlySet<string> = new Set([
  'host',
  'cookie',
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'proxy-authorization',
  'proxy-authenticate',
  'x-trustplane-passport',
  'x-trustplane-proof',
  'x-trustplane-body-sha256',
  'x-envoy-auth-partial-body',
]);

export const MAX_BOUND_HEADERS = 32;

const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
const METHOD = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,32}$/;
const NONCE = /^[A-Za-z0-9_-]{16,64}$/;

export interface TranscriptInput {
  readonly method: string;
  readonly authority: string;
  /** Path with optional `?query`, as sent (signer) or as Envoy presents it (verifier). */
  readonly pathAndQuery: string;
  /** Lower-case names, sorted and unique, each with its value (repeated values joined with ","). */
  readonly headers: readonly (readonly [string, string])[];
  /** base64url (unpadded) SHA-256 of the body. */
  readonly bodySha256: string;
  readonly nonce: string;
  readonly audience: string;
  readonly routeId: string;
  readonly jti: string;
  /** base64url SHA-256 of the passport's compact serialisation. */
  readonly passportSha256: string;
  /** Proof creation time, unix seconds. */
  readonly ts: number;
  readonly keyBinding: string;
  /** RFC 7638 thumbprint of the passport `cnf` key. */
  readonly cnfJkt: string;
}

/** The field each transcript line carries, for diagnosing which bound field differs. */
export type TranscriptField =
  | 'method'
  | 'authority'
  | 'path'
  | 'query'
  | 'headers'
  | 'body'
  | 'nonce'
  | 'aud'
  | 'route'
  | 'passport'
  | 'ts'
  | 'key_binding';

export interface Transcript {
  /** The exact bytes that are signed (UTF-8; in practice ASCII). */
  readonly bytes: Buffer;
  /** One entry per line after the version line: which field the line binds. */
  readonly fields: readonly TranscriptField[];
  readonly lines: readonly string[];
}

export function isValidMethod(m: string): boolean {
  return METHOD.test(m);
}

export function isValidNonce(n: string): boolean {
  return NONCE.test(n);
}

/** A name that may be listed in a proof. */
export function isBindableHeaderName(name: string): boolean {
  // Every x-trustplane-* header is ours: credentials, or identity headers the server overwrites.
  return HEADER_NAME.test(name) && !UNBINDABLE_HEADERS.has(name) && !name.startsWith('x-trustplane-');
}

/** Split `:path` at the first "?". */
export function splitPathAndQuery(pathAndQuery: string): [string, string] {
  const q = pathAndQuery.indexOf('?');
  return q < 0 ? [pathAndQuery, ''] : [pathAndQuery.slice(0, q), pathAndQuery.slice(q + 1)];
}

/** The request target in the form a verifier already holds it once it has matched a route. */
export interface CanonicalTarget {
  /** canonicalAuthority of the observed authority. */
  readonly authority: string;
  /** canonicalPath of the observed `:path` up to its first "?". */
  readonly path: string;
  /** canonicalQuery of what follows that "?"; empty without one. */
  readonly query: string;
}

/** The transcript input without the raw authority and path, which a CanonicalTarget replaces. */
export type TranscriptFields = Omit<TranscriptInput, 'authority' | 'pathAndQuery'>;

/**
 * Build the transcript. Every input is canonicalised here, so signer and verifier call the same
 * function with what they each hold. Fails with the reason a verifier reports.
 */
export function buildTranscript(t: TranscriptInput): Canon<Transcript> {
  if (!isValidMethod(t.method)) return { ok: false, reason: 'request_malformed', detail: 'method is not an HTTP token' };
  const authority = canonicalAuthority(t.authority);
  if (!authority.ok) return authority;
  const [rawPath, rawQuery] = splitPathAndQuery(t.pathAndQuery);
  const path = canonicalPath(rawPath);
  if (!path.ok) return path;
  const query = canonicalQuery(rawQuery);
  if (!query.ok) return query;
  return layOut(t, authority.value, path.value, query.value);
}

/**
 * buildTranscript for a verifier whose route phase has already canonicalised the request target
 * (route matching uses the same canonical forms, docs/transcript-v1.md §9.1): the same checks in
 * the same order, without splitting or canonicalising the target a second time.
 */
export function buildTranscriptForTarget(t: TranscriptFields, target: CanonicalTarget): Canon<Transcript> {
  if (!isValidMethod(t.method)) return { ok: false, reason: 'request_malformed', detail: 'method is not an HTTP token' };
  return layOut(t, target.authority, target.path, target.query);
}

function layOut(t: TranscriptFields, authority: string, path: string, query: string): Canon<Transcript> {
  if (!isValidNonce(t.nonce)) return { ok: false, reason: 'proof_malformed', detail: 'nonce must be 16-64 base64url characters' };
  if (!Number.isSafeInteger(t.ts) || t.ts < 0) return { ok: false, reason: 'proof_malformed', detail: 'ts must be a non-negative integer' };
  const names: string[] = [];
  const headerLines: string[] = [];
  for (const [i, [name, value]] of t.headers.entries()) {
    if (!isBindableHeaderName(name)) return { ok: false, reason: 'header_not_bindable', detail: `header "${escapeText(name)}" cannot be bound` };
    if (i > 0 && !(t.headers[i - 1]![0] < name)) return { ok: false, reason: 'proof_malformed', detail: 'bound header names must be sorted and unique' };
    names.push(name);
    headerLines.push(`header:${name}:${canonicalHeaderValue(value)}`);
  }
  // Section 6.1: the lines after the version line, and the field each binds, line for line.
  const lines = [
    `method:${t.method}`,
    `authority:${authority}`,
    `path:${path}`,
    `query:${query}`,
    `headers:${names.join(';')}`,
    ...headerLines,
    `body-sha256:${t.bodySha256}`,
    `nonce:${t.nonce}`,
    `aud:${escapeText(t.audience)}`,
    `route:${escapeText(t.routeId)}`,
    `jti:${escapeText(t.jti)}`,
    `passport-sha256:${t.passportSha256}`,
    `ts:${t.ts}`,
    `key-binding:${escapeText(t.keyBinding)}`,
    `cnf-jkt:${t.cnfJkt}`,
  ];
  const fields: TranscriptField[] = [
    ...(['method', 'authority', 'path', 'query', 'headers'] as const),
    ...headerLines.map(() => 'headers' as const),
    ...(['body', 'nonce', 'aud', 'route', 'passport', 'passport', 'ts', 'key_binding', 'key_binding'] as const),
  ];
  const bytes = Buffer.from(`${TRANSCRIPT_VERSION_LINE}\n${lines.join('\n')}\n`, 'utf8');
  return { ok: true, value: { bytes, fields, lines } };
}
