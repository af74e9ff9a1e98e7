/**
 * Holder (`cnf`) keys, imported once. Callers usually keep one holder key across many short-lived
 * passports, so importing the JWK and computing its thumbprint on every request would be repeated
 * work on the hot path. Bounded: the oldest entry goes when the cache is full.
 *
 * Entries are found by the JWK's `x` and used only when every member the import reads (`kty`,
 * `crv`, `y`, and the absence of `d`) is the same as when the entry was made: the entry is a pure
 * function of those members, so it can never stand for another key.
 */
import type { KeyObject } from 'node:crypto';
import { algForKey, importPublicJwk, jwkThumbprint } from '../keys.js';
import type { PublicJwk, SigningAlg } from '../types.js';

export interface HolderKey {
  readonly key: KeyObject;
  readonly jkt: string;
  /** Proof algorithm, from the key type (docs/transcript-v1.md §7). */
  readonly alg: SigningAlg;
}

interface Entry extends HolderKey {
  readonly kty: unknown;
  readonly crv: unknown;
  readonly y: unknown;
}

const MAX_ENTRIES = 4096;
const cache = new Map<string, Entry>();

export function holderKey(jwk: unknown): HolderKey | undefined {
  if (jwk === null || typeof jwk !== 'object') return undefined;
  const j = jwk as Record<string, unknown>;
  const x = j.x;
  if (typeof x === 'string') {
    const hit = cache.get(x);
    if (hit !== undefined && hit.kty === j.kty && hit.crv === j.crv && hit.y === j.y && j.d === undefined) return hit;
  }
  let key: KeyObject;
  try {
    key = importPublicJwk(jwk);
  } catch {
    return undefined;
  }
  // importPublicJwk accepted it, so x is a string.
  const entry: Entry = Object.freeze({ key, jkt: jwkThumbprint(j as unknown as PublicJwk), alg: algForKey(key), kty: j.kty, crv: j.crv, y: j.y });
  if (cache.size >= MAX_ENTRIES && !cache.has(x as string)) cache.delete(cache.keys().next().value!);
  cache.set(x as string, entry);
  return entry;
}
