/**
 * Compact JWS (RFC 7515 §7.1) for the two algorithms TrustPlane accepts. Internal: passports and
 * bundles build on it; nothing here decides trust.
 */
import type { KeyObject } from 'node:crypto';
import { b64url, fromB64url } from './encoding.js';
import { parseStrictJsonObject } from './strict-json.js';
import { signBytes } from './keys.js';
import type { SigningAlg } from './types.js';

export interface ParsedJws {
  readonly header: Record<string, unknown>;
  readonly payload: Record<string, unknown>;
  /** ASCII bytes of `<b64 header>.<b64 payload>`: what the signature covers. */
  readonly signingInput: Buffer;
  readonly signature: Buffer;
}

/**
 * A JWT time claim (`iat`, `exp`, `nbf`: RFC 7519 §2 NumericDate) as this profile takes it: a
 * non-negative integer number of seconds, no fraction (docs/transcript-v1.md §4).
 */
export function isNumericDate(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** The longest token we parse at all; bounded so hostile input costs little. */
export const MAX_JWS_LENGTH = 8192;

export function signCompact(header: Record<string, unknown>, payload: Record<string, unknown>, alg: SigningAlg, key: KeyObject): string {
  const input = `${b64url(Buffer.from(JSON.stringify(header)))}.${b64url(Buffer.from(JSON.stringify(payload)))}`;
  return `${input}.${b64url(signBytes(alg, key, Buffer.from(input, 'ascii')))}`;
}

/**
 * Splits and decodes; undefined when the token is not a compact JWS with JSON-object parts under the
 * JSON profile of docs/transcript-v1.md §2 (strict UTF-8, no duplicate members, plain integers). The
 * signature part may be empty here (the unsecured form, RFC 7515 §7.1 with `alg` `none`), so that the
 * caller can name `alg` first; the passport parse refuses an empty one after the header rules.
 */
export function parseCompact(token: string): ParsedJws | undefined {
  if (token.length === 0 || token.length > MAX_JWS_LENGTH) return undefined;
  const first = token.indexOf('.');
  const second = token.indexOf('.', first + 1);
  if (first <= 0 || second <= first + 1 || token.indexOf('.', second + 1) !== -1) return undefined;
  const h = fromB64url(token.slice(0, first));
  const p = fromB64url(token.slice(first + 1, second));
  const s = fromB64url(token.slice(second + 1));
  if (!h || !p || !s) return undefined;
  const header = parseStrictJsonObject(h);
  const payload = parseStrictJsonObject(p);
  if (!header || !payload) return undefined;
  return { header, payload, signingInput: Buffer.from(token.slice(0, second), 'ascii'), signature: s };
}
