/**
 * Holder (`cnf`) keys, imported once. Callers usually keep one holder key across many short-lived
 * passports, so importing the JWK and computing its thumbprint on every request would be repeated
 * work on the hot path. Bounded: the oldest entry goes when the cache is full.
 */
import type { KeyObject } from 'node:crypto';
import { importPublicJwk, jwkThumbprint } from '../keys.js';
import type { PublicJwk } from '../types.js';

const MAX_ENTRIES = 4096;
const cache = new Map<string, { key: KeyObject; jkt: string }>();

export function holderKey(jwk: unknown): { key: KeyObject; jkt: string } | undefined {
  if (jwk === null || typeof jwk !== 'object') return undefined;
  const j = jwk as Record<string, unknown>;
  const id = `${String(j.kty)}|${String(j.crv)}|${String(j.x)}|${String(j.y)}|${j.d === undefined ? '' : 'private'}`;
  const hit = cache.get(id);
  if (hit) return hit;
  let key: KeyObject;
  try {
    key = importPublicJwk(jwk);
  } catch {
    return undefined;
  }
  const entry = { key, jkt: jwkThumbprint(j as unknown as PublicJwk) };
  if (cache.size >= MAX_ENTRIES) cache.delete(cache.keys().next().value!);
  cache.set(id, entry);
  return entry;
}
