/**
 * The verified-passport cache of the server (docs/transcript-v1.md §15.4): reusable passports the
 * engine has verified — parse, issuer signature, claim shape, holder-key import — found again by
 * the SHA-256 of the compact token under the bundle they were verified with.
 *
 * - One generation at a time: the first lookup or fill under another compiled bundle (a reload,
 *   which is also how revocations arrive) empties the cache, so nothing verified under an older
 *   bundle is used for the next request. Time, trust (revocations), route, proof, freshness and
 *   replay are never cached: the engine runs them on every check.
 * - Holds only what the engine gives it after success (core/src/engine/phases/claims.ts): never a
 *   proof, never a failure.
 * - Bounded: at most `maxEntries`; when full, the oldest fill goes (insertion order). A passport
 *   pushed out is verified in full on its next use, nothing else.
 * - Single-flight by construction: the engine's fill runs in the same synchronous stretch as the
 *   lookup that missed (the phases before the replay consume never yield), so two checks of one
 *   passport on this event loop cannot both be verifying it; `fills` counts the verifications kept.
 *
 * Per process: each cluster worker has its own (authz-server/src/cluster.ts), so a passport is
 * verified at most once per worker and bundle.
 */
import type { CompiledBundle, PassportCache, VerifiedPassport } from '../../core/src/server-api.js';

export const PASSPORT_CACHE_DEFAULT_MAX_ENTRIES = 10_000;

export class VerifiedPassportCache implements PassportCache {
  readonly maxEntries: number;
  readonly #entries = new Map<string, VerifiedPassport>();
  #bundle: CompiledBundle | undefined;
  #hits = 0;
  #fills = 0;

  constructor(maxEntries: number = PASSPORT_CACHE_DEFAULT_MAX_ENTRIES) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new TypeError(`passport cache maxEntries must be a positive integer, got ${String(maxEntries)}`);
    this.maxEntries = maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Lookups answered from the cache. */
  get hits(): number {
    return this.#hits;
  }

  /** Passports stored: each one verified in full once. */
  get fills(): number {
    return this.#fills;
  }

  get(bundle: CompiledBundle, sha256: string): VerifiedPassport | undefined {
    if (bundle !== this.#bundle) {
      this.#generation(bundle);
      return undefined;
    }
    const hit = this.#entries.get(sha256);
    if (hit !== undefined) this.#hits++;
    return hit;
  }

  set(bundle: CompiledBundle, sha256: string, passport: VerifiedPassport): void {
    if (bundle !== this.#bundle) this.#generation(bundle);
    if (this.#entries.has(sha256)) return;
    if (this.#entries.size >= this.maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(sha256, passport);
    this.#fills++;
  }

  #generation(bundle: CompiledBundle): void {
    this.#entries.clear();
    this.#bundle = bundle;
  }
}
