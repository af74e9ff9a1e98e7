/**
 * What the verified-passport cache holds and how the engine asks it (docs/transcript-v1.md §15.4).
 * The engine consults it for a passport it has already verified under the same bundle: the parse,
 * the issuer signature, the claims' shape and the holder-key import are then skipped; every rule
 * that depends on the time, the bundle's trust and revocations, the route or the request still runs
 * on every check. `VerifiedPassportCache` below is the one implementation, with bounds and
 * single-flight fills: the ext_authz server and the middleware both use it (docs/middleware.md).
 */
import type { CompiledBundle } from '../bundle/compile.js';
import type { TrustKey } from '../bundle/types.js';
import type { PassportClaims, SigningAlg } from '../types.js';
import type { HolderKey } from './holder-keys.js';

/** A passport whose compact form parsed, whose signature verified and whose claims had their shape. Never a proof, never a failure. */
export interface VerifiedPassport {
  readonly kid: string;
  readonly alg: SigningAlg;
  readonly trustKey: TrustKey;
  readonly claims: PassportClaims;
  readonly holder: HolderKey;
}

export interface PassportCache {
  /**
   * The entry for the passport whose base64url SHA-256 is `sha256`, verified under exactly `bundle`
   * (the same compiled bundle object: a reload is another generation, and nothing of the old one is
   * returned).
   */
  get(bundle: CompiledBundle, sha256: string): VerifiedPassport | undefined;
  /** Called only for a reusable passport that passed signature and claims under `bundle`. */
  set(bundle: CompiledBundle, sha256: string, passport: VerifiedPassport): void;
}

/** The bound of the server's cache (`engine.passport_cache_max_entries`) and of the middleware's (`passportCacheMaxEntries`). */
export const PASSPORT_CACHE_DEFAULT_MAX_ENTRIES = 10_000;
/** The largest bound either accepts (docs/configuration.md, docs/middleware.md). */
export const PASSPORT_CACHE_MAX_ENTRIES_LIMIT = 1_000_000;

/**
 * The verified-passport cache (docs/transcript-v1.md §15.4): reusable passports the
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
 * One per verifier: each cluster worker of the server has its own (authz-server/src/cluster.ts), and
 * so does each middleware `Verifier`, so a passport is verified at most once per verifier and bundle.
 * Pure data: no I/O and no dependency, so it sits beside the interface it implements.
 */
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
