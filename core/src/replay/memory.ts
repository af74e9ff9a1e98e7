/**
 * In-process replay store: one server instance, bounded memory, TTL per key.
 *
 * Layout: one `Map<key, expiresAtMs>`. A Map iterates in insertion order, and a key that is
 * consumed again after it expired is deleted and re-inserted at the back, so the front of the map
 * holds the oldest insertions. Passport lifetimes are short and bounded by policy, so insertion
 * order is close to expiry order and pruning expired entries from the front is cheap: every
 * `consume` drops at most `FRONT_PRUNE_STEPS` expired entries there (each entry is dropped once,
 * so this is amortised O(1)).
 *
 * Passports of different lifetimes break that order: a long-lived entry at the front stops the
 * front prune while short-lived entries behind it expire. So every consume also takes
 * `SWEEP_STEPS` steps of an incremental sweep that walks the whole map in a cycle (a Map iterator
 * stays valid across deletions and sees entries added behind it) and drops what has expired. It
 * visits more entries per consume than a consume adds, so a cycle ends within about one longest
 * TTL, and the map holds at most the live entries plus about one longest TTL's worth of expired
 * ones: memory follows the live set, not `maxEntries` (the cluster primary holds this store for
 * every worker; test/core/replay-memory.test.ts, "bounded").
 *
 * When the store is full it first reclaims expired entries. It tracks a lower bound of the earliest
 * expiry of all entries, so "full and nothing has expired yet" is answered in O(1) without a scan.
 * Only when something may have expired does it sweep the whole map (O(n)), and at most once per
 * `FULL_SWEEP_MIN_INTERVAL_MS` of clock time, which bounds the cost of a store kept full on purpose.
 *
 * When the store is still full of unexpired entries, `consume` answers `unavailable` (the engine
 * denies with `replay_store_unavailable`) and counts the refusal in `fullRefusals`. Evicting an
 * unexpired entry instead would forget a jti that is still inside its validity window and re-open
 * the replay it was recorded to prevent; failing closed is the only safe answer. Size `maxEntries`
 * for peak rate × maximum passport lifetime.
 *
 * Time is the engine's: `consume` takes the engine instant (`nowMs`) and keeps each record until
 * `nowMs + ttlMs` on that same clock, so a record outlives its passport's acceptance window exactly
 * as the engine computed it (../engine/acceptance.ts). The store's generation is its creation: a
 * process that starts has forgotten whatever an earlier process consumed, so a passport that could
 * have been accepted before then is `state_lost` (docs/configuration.md, "Replay store").
 */
import type { ConsumeResult, ReplayStore } from './types.js';

export interface MemoryReplayStoreOptions {
  /** Upper bound on remembered keys; at least 1. */
  readonly maxEntries: number;
  /** Milliseconds since the epoch, read once for the default generation start. Defaults to `Date.now`. */
  readonly clock?: () => number;
  /**
   * The engine instant since which this store has seen every consume; defaults to `clock()` at
   * creation. Only a caller that can prove nothing was consumed before it may set it earlier: an
   * offline verifier that never shares state (`trustplane verify`), or a test world (−∞).
   */
  readonly generationStartMs?: number;
}

/** Expired entries dropped from the front on every consume: keeps each call's work constant. */
const FRONT_PRUNE_STEPS = 8;
/** Entries the incremental sweep visits per consume; more than the one a consume adds. */
const SWEEP_STEPS = 2;
/** Full sweeps of a full store happen at most this often (clock time). */
const FULL_SWEEP_MIN_INTERVAL_MS = 250;

export class MemoryReplayStore implements ReplayStore {
  readonly kind = 'memory' as const;
  readonly maxEntries: number;
  readonly generationStartMs: number;
  readonly #entries = new Map<string, number>();
  /** Lower bound of the earliest expiry among entries (exact right after a full sweep). */
  #earliestExpiry = Number.POSITIVE_INFINITY;
  /**
   * Expiry of the entry the last front prune stopped at (−∞ when it emptied the map). Until the
   * clock reaches it that entry is still live and still first, since nothing else ever removes a
   * live entry and new keys go to the back, so a prune would stop there again: skipped without
   * creating an iterator.
   */
  #frontExpiry = Number.NEGATIVE_INFINITY;
  #lastFullSweep = Number.NEGATIVE_INFINITY;
  /** The incremental sweep's place in the map, and the earliest live expiry it has seen this cycle. */
  #sweep: Iterator<[string, number]> | undefined;
  #sweepEarliest = Number.POSITIVE_INFINITY;
  #fullRefusals = 0;
  #closed = false;

  constructor(options: MemoryReplayStoreOptions) {
    const { maxEntries } = options;
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
      throw new TypeError(`maxEntries must be a positive integer, got ${String(maxEntries)}`);
    }
    this.maxEntries = maxEntries;
    const start = options.generationStartMs ?? (options.clock ?? Date.now)();
    // −∞ says "has never forgotten anything" (an offline verifier, a test world); +∞ or NaN is a mistake.
    if (Number.isNaN(start) || start === Number.POSITIVE_INFINITY) throw new TypeError(`generationStartMs must be a number below +Infinity, got ${String(start)}`);
    this.generationStartMs = start;
  }

  /** Keys currently remembered, including expired ones not yet reclaimed. */
  get size(): number {
    return this.#entries.size;
  }

  /** How many consumes were refused because the store was full of unexpired keys. */
  get fullRefusals(): number {
    return this.#fullRefusals;
  }

  /** Atomic: the body never awaits, so no other consume runs between its read and its write. */
  async consume(key: string, ttlMs: number, nowMs: number, acceptedFromMs: number): Promise<ConsumeResult> {
    if (typeof key !== 'string') throw new TypeError('replay key must be a string');
    if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new TypeError(`ttlMs must be a positive number, got ${String(ttlMs)}`);
    if (!Number.isFinite(nowMs)) throw new TypeError(`nowMs must be a finite number, got ${String(nowMs)}`);
    // NaN compares false with everything, so it is refused rather than slipping past the guard.
    if (!(acceptedFromMs >= Number.NEGATIVE_INFINITY)) throw new TypeError('acceptedFromMs must be a number');
    if (this.#closed) return 'unavailable';
    // Could have been accepted, and consumed, by a process before this one: cannot vouch.
    if (acceptedFromMs < this.generationStartMs) return 'state_lost';

    const now = nowMs;
    this.#pruneFront(now);
    this.#sweepStep(now);

    const expiresAt = this.#entries.get(key);
    if (expiresAt !== undefined) {
      if (expiresAt > now) return 'replayed';
      // Re-inserting at the back keeps insertion order close to expiry order.
      this.#entries.delete(key);
    }

    if (this.#entries.size >= this.maxEntries) {
      this.#reclaim(now);
      if (this.#entries.size >= this.maxEntries) {
        this.#fullRefusals++;
        return 'unavailable';
      }
    }

    const expiry = now + ttlMs;
    this.#entries.set(key, expiry);
    if (expiry < this.#earliestExpiry) this.#earliestExpiry = expiry;
    return 'consumed';
  }

  ping(): Promise<boolean> {
    return Promise.resolve(!this.#closed);
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#entries.clear();
    return Promise.resolve();
  }

  #pruneFront(now: number): void {
    if (now < this.#frontExpiry) return;
    let steps = 0;
    this.#frontExpiry = Number.NEGATIVE_INFINITY;
    for (const [key, expiresAt] of this.#entries) {
      if (expiresAt > now) {
        this.#frontExpiry = expiresAt;
        break;
      }
      if (steps >= FRONT_PRUNE_STEPS) break;
      this.#entries.delete(key);
      steps++;
    }
  }

  #sweepStep(now: number): void {
    // Nothing can have expired yet (the bound is lowered on every insertion).
    if (now < this.#earliestExpiry) return;
    const it = (this.#sweep ??= this.#entries.entries());
    for (let i = 0; i < SWEEP_STEPS; i++) {
      const next = it.next();
      if (next.done === true) {
        // A whole cycle seen: what it kept is every entry there is, so its earliest expiry is exact.
        this.#sweep = undefined;
        this.#earliestExpiry = this.#sweepEarliest;
        this.#sweepEarliest = Number.POSITIVE_INFINITY;
        return;
      }
      const [key, expiresAt] = next.value;
      if (expiresAt <= now) this.#entries.delete(key);
      else if (expiresAt < this.#sweepEarliest) this.#sweepEarliest = expiresAt;
    }
  }

  #reclaim(now: number): void {
    // Nothing can have expired yet: answer without touching the entries.
    if (now < this.#earliestExpiry) return;
    if (now - this.#lastFullSweep < FULL_SWEEP_MIN_INTERVAL_MS) return;
    this.#lastFullSweep = now;
    let earliest = Number.POSITIVE_INFINITY;
    for (const [key, expiresAt] of this.#entries) {
      if (expiresAt <= now) this.#entries.delete(key);
      else if (expiresAt < earliest) earliest = expiresAt;
    }
    this.#earliestExpiry = earliest;
  }
}
