/**
 * Holder (`cnf`) keys, imported once. Callers usually keep one holder key across many short-lived
 * passports, and the import is the dearest step a check could repeat: the strict checks of
 * core/src/keys.ts (an Ed25519 point decoding, about 120 µs of BigInt arithmetic on an idle core)
 * plus `createPublicKey` (about 45 µs), against one Map lookup on a hit. Measured side by side on
 * the same loaded 2-core machine: a miss went from 177 µs to 529 µs with the strict checks, a hit
 * stayed at 0.1–0.3 µs either way. Bounded: the oldest entry goes when the cache is full. Only
 * accepted keys are cached; a refused one costs its checks each time, and only an issuer the bundle
 * trusts can put a key into a passport that gets this far.
 *
 * Entries are found by the JWK's exact `x` text and used only when `kty`, `crv` and `y` are the
 * same and the JWK has no other member (a `cnf.jwk` is bare: docs/transcript-v1.md §4.1): the entry
 * is a pure function of those members, so it can never stand for another key or another spelling.
 */
import type { KeyObject } from 'node:crypto';
import { JwkError, checkPublicJwk } from '../keys.js';
import type { SigningAlg } from '../types.js';

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
  readonly members: number;
}

const MAX_ENTRIES = 4096;
const cache = new Map<string, Entry>();

export function holderKey(jwk: unknown): HolderKey | undefined {
  const key = holderKeyOrProblem(jwk);
  return typeof key === 'string' ? undefined : key;
}

/** holderKey, or for a refused key the rule it broke (a JwkError message: names members, never values). */
export function holderKeyOrProblem(jwk: unknown): HolderKey | string {
  if (jwk === null || typeof jwk !== 'object') return 'the JWK is not an object';
  const j = jwk as Record<string, unknown>;
  const x = j.x;
  if (typeof x === 'string') {
    const hit = cache.get(x);
    if (hit !== undefined && hit.kty === j.kty && hit.crv === j.crv && hit.y === j.y && memberCount(j) === hit.members) return hit;
  }
  let imported;
  try {
    imported = checkPublicJwk(jwk, 'bare');
  } catch (error) {
    return error instanceof JwkError ? error.message : 'the JWK is not a usable public key';
  }
  const entry: Entry = Object.freeze({
    key: imported.key,
    jkt: imported.jkt,
    alg: imported.alg,
    kty: j.kty,
    crv: j.crv,
    y: j.y,
    members: j.kty === 'EC' ? 4 : 3,
  });
  // checkPublicJwk accepted it, so x is a string.
  if (cache.size >= MAX_ENTRIES && !cache.has(x as string)) cache.delete(cache.keys().next().value!);
  cache.set(x as string, entry);
  return entry;
}

/** Own enumerable members; for-in on the null-prototype objects the passport parser makes. */
function memberCount(o: Record<string, unknown>): number {
  let n = 0;
  for (const k in o) if (Object.prototype.hasOwnProperty.call(o, k)) n++;
  return n;
}
