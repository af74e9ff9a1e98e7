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
import { JwkError, checkPublicJwk, type ImportedPublicKey } from '../keys.js';
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
  const hit = cachedHolderKey(jwk);
  if (hit !== undefined) return hit;
  let imported;
  try {
    imported = checkPublicJwk(jwk, 'bare');
  } catch (error) {
    return error instanceof JwkError ? error.message : 'the JWK is not a usable public key';
  }
  return rememberHolderKey(jwk as Record<string, unknown>, imported);
}

/**
 * The cache entry for a bare JWK, without importing anything on a miss. For a caller that imports
 * the key itself and puts it in the cache only once the key is vouched for: DPoP reads its proof key
 * before the access token that binds it is verified, and remembers it only after (./kinds/dpop.ts),
 * so only a key a trusted issuer bound can take a place in the cache.
 */
export function cachedHolderKey(jwk: unknown): HolderKey | undefined {
  if (jwk === null || typeof jwk !== 'object') return undefined;
  const j = jwk as Record<string, unknown>;
  const x = j.x;
  if (typeof x !== 'string') return undefined;
  const hit = cache.get(x);
  return hit !== undefined && hit.kty === j.kty && hit.crv === j.crv && hit.y === j.y && memberCount(j) === hit.members ? hit : undefined;
}

/**
 * Puts a key that passed checkPublicJwk into the cache, under the members of `jwk` — only when `jwk`
 * is bare (exactly the members of `imported.jwk`), so an entry never stands for a JWK with other
 * members. Returns the entry, or the key itself when it was not cached.
 */
export function rememberHolderKey(jwk: Record<string, unknown>, imported: ImportedPublicKey): HolderKey {
  const members = imported.jwk.kty === 'EC' ? 4 : 3;
  if (memberCount(jwk) !== members || jwk.kty !== imported.jwk.kty || jwk.crv !== imported.jwk.crv || jwk.x !== imported.jwk.x || jwk.y !== imported.jwk.y) {
    return imported;
  }
  const entry: Entry = Object.freeze({
    key: imported.key,
    jkt: imported.jkt,
    alg: imported.alg,
    kty: jwk.kty,
    crv: jwk.crv,
    y: jwk.y,
    members,
  });
  const x = imported.jwk.x;
  if (cache.size >= MAX_ENTRIES && !cache.has(x)) cache.delete(cache.keys().next().value!);
  cache.set(x, entry);
  return entry;
}

/** Own enumerable members; for-in on the null-prototype objects the passport parser makes. */
function memberCount(o: Record<string, unknown>): number {
  let n = 0;
  for (const k in o) if (Object.prototype.hasOwnProperty.call(o, k)) n++;
  return n;
}
