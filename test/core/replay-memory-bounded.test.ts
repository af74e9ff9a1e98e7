/**
 * The memory store's size follows its live entries, not `maxEntries` (core/src/replay/memory.ts,
 * the incremental sweep): the cluster primary holds this store for every worker, so its memory
 * must stop growing once TTLs turn over, whatever mix of passport lifetimes arrives.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MemoryReplayStore } from '../../core/src/replay/memory.js';

describe('MemoryReplayStore stays bounded once TTLs turn over', () => {
  it('with a long-lived entry at the front, short-lived entries behind it are still reclaimed: size stays near the live set', async () => {
    let now = 0;
    const store = new MemoryReplayStore({ maxEntries: 10_000_000, clock: () => now, generationStartMs: -Infinity });
    // One passport with an hour to live first, then 100 consumes a second of 90-second ones for 10 minutes.
    assert.equal(await store.consume('long', 3_600_000, now, -Infinity), 'consumed');
    let peak = 0;
    for (let i = 0; i < 60_000; i++) {
      now = i * 10;
      assert.equal(await store.consume(`k${i}`, 90_000, now, -Infinity), 'consumed');
      if (now >= 180_000) peak = Math.max(peak, store.size);
    }
    // Live: 9,000 (90 s × 100/s) plus the long one; the sweep may lag by about one longest TTL's worth.
    assert.ok(peak <= 2 * 9_000 + 1, `peak ${peak} entries after warm-up, for 9,001 live`);
    assert.ok(store.size >= 9_001, 'nothing live was dropped');
  });

  it('for any mix of TTLs and rates, the size never exceeds twice the live entries plus the sweep lag (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 60 }), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 5, max: 50 }),
        async (ttlsS, stepMs) => {
          let now = 0;
          const store = new MemoryReplayStore({ maxEntries: 10_000_000, clock: () => now, generationStartMs: -Infinity });
          const live = new Map<string, number>();
          const longestMs = Math.max(...ttlsS) * 1000;
          let worst = 0;
          const steps = Math.ceil((3 * longestMs) / stepMs);
          for (let i = 0; i < steps; i++) {
            now = i * stepMs;
            const ttl = ttlsS[i % ttlsS.length]! * 1000;
            const key = `k${i}`;
            if (await store.consume(key, ttl, now, -Infinity) !== 'consumed') return false;
            live.set(key, now + ttl);
            if (now > 2 * longestMs && i % 500 === 0) {
              let alive = 0;
              for (const [k, exp] of live) {
                if (exp > now) alive++;
                else live.delete(k);
              }
              worst = Math.max(worst, store.size - 2 * alive);
            }
          }
          // What the sweep may still hold beyond twice the live set: about one longest TTL of inserts.
          return worst <= Math.ceil(longestMs / stepMs) + 1;
        },
      ),
      { numRuns: 25 },
    );
  });

  it('a replay inside its TTL is still a replay while the sweep runs', async () => {
    let now = 0;
    const store = new MemoryReplayStore({ maxEntries: 1000, clock: () => now, generationStartMs: -Infinity });
    for (let i = 0; i < 500; i++) {
      now = i;
      await store.consume(`k${i}`, i % 2 === 0 ? 10 : 100_000, now, -Infinity);
    }
    now = 600;
    for (let i = 1; i < 500; i += 2) assert.equal(await store.consume(`k${i}`, 100_000, now, -Infinity), 'replayed', `k${i}`);
    for (let i = 0; i < 500; i += 2) assert.equal(await store.consume(`k${i}`, 10, now, -Infinity), 'consumed', `k${i} expired and can be used again`);
  });
});
