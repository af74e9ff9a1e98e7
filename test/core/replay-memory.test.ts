import assert from 'node:assert/strict';
import { MemoryReplayStore, createReplayStore } from '../../core/src/replay/index.js';

/** A clock the test moves by hand. */
function manualClock(start = 1_700_000_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

describe('MemoryReplayStore', () => {
  it('consumes a key once and reports every later consume as a replay', async () => {
    const store = new MemoryReplayStore({ maxEntries: 10 });
    assert.equal(await store.consume('jti-1', 60_000, Date.now(), Date.now()), 'consumed');
    assert.equal(await store.consume('jti-1', 60_000, Date.now(), Date.now()), 'replayed');
    assert.equal(await store.consume('jti-1', 60_000, Date.now(), Date.now()), 'replayed');
    assert.equal(await store.consume('jti-2', 60_000, Date.now(), Date.now()), 'consumed');
    assert.equal(store.size, 2);
  });

  it('forgets a key exactly when its TTL has passed', async () => {
    const clock = manualClock();
    const store = new MemoryReplayStore({ maxEntries: 10, clock: clock.now });
    assert.equal(await store.consume('k', 1000, clock.now(), clock.now()), 'consumed');
    clock.advance(999);
    assert.equal(await store.consume('k', 1000, clock.now(), clock.now()), 'replayed');
    clock.advance(1);
    assert.equal(await store.consume('k', 1000, clock.now(), clock.now()), 'consumed');
    clock.advance(500);
    assert.equal(await store.consume('k', 1000, clock.now(), clock.now()), 'replayed');
  });

  it('drops expired keys from the front once the clock passes the first live key, and not before', async () => {
    const clock = manualClock();
    const store = new MemoryReplayStore({ maxEntries: 100, clock: clock.now });
    assert.equal(await store.consume('a', 100, clock.now(), clock.now()), 'consumed');
    assert.equal(await store.consume('b', 200, clock.now(), clock.now()), 'consumed');
    assert.equal(await store.consume('long', 10_000, clock.now(), clock.now()), 'consumed');
    clock.advance(50);
    assert.equal(await store.consume('c', 10_000, clock.now(), clock.now()), 'consumed');
    assert.equal(store.size, 4);
    clock.advance(50); // "a" expires
    assert.equal(await store.consume('d', 10_000, clock.now(), clock.now()), 'consumed');
    assert.equal(store.size, 4);
    clock.advance(100); // "b" expires; "long" is still live and now first
    assert.equal(await store.consume('e', 10_000, clock.now(), clock.now()), 'consumed');
    assert.equal(store.size, 4);
    assert.equal(await store.consume('f', 10_000, clock.now(), clock.now()), 'consumed');
    assert.equal(store.size, 5);
    clock.advance(9_800); // "long" expires
    assert.equal(await store.consume('g', 10_000, clock.now(), clock.now()), 'consumed');
    assert.equal(store.size, 5);
    assert.equal(await store.consume('a', 100, clock.now(), clock.now()), 'consumed');
    assert.equal(await store.consume('long', 100, clock.now(), clock.now()), 'consumed');
  });

  it('of 200 concurrent consumes of one key, exactly one is consumed', async () => {
    const store = new MemoryReplayStore({ maxEntries: 10 });
    const results = await Promise.all(Array.from({ length: 200 }, () => store.consume('same', 60_000, Date.now(), Date.now())));
    assert.equal(results.filter((r) => r === 'consumed').length, 1);
    assert.equal(results.filter((r) => r === 'replayed').length, 199);
  });

  it('when full, reclaims expired keys to admit a new one', async () => {
    const clock = manualClock();
    const store = new MemoryReplayStore({ maxEntries: 3, clock: clock.now });
    assert.equal(await store.consume('long', 10_000, clock.now(), clock.now()), 'consumed');
    assert.equal(await store.consume('short-1', 100, clock.now(), clock.now()), 'consumed');
    assert.equal(await store.consume('short-2', 100, clock.now(), clock.now()), 'consumed');
    clock.advance(100);
    // The oldest entry is unexpired, so front pruning alone cannot help: the sweep must find the others.
    assert.equal(await store.consume('new-1', 10_000, clock.now(), clock.now()), 'consumed');
    assert.equal(await store.consume('new-2', 10_000, clock.now(), clock.now()), 'consumed');
    assert.equal(store.size, 3);
    assert.equal(store.fullRefusals, 0);
    assert.equal(await store.consume('long', 10_000, clock.now(), clock.now()), 'replayed');
  });

  it('when full of unexpired keys, refuses with unavailable (fail closed) and counts it, evicting nothing', async () => {
    const clock = manualClock();
    const store = new MemoryReplayStore({ maxEntries: 2, clock: clock.now });
    assert.equal(await store.consume('a', 5000, clock.now(), clock.now()), 'consumed');
    assert.equal(await store.consume('b', 5000, clock.now(), clock.now()), 'consumed');
    assert.equal(await store.consume('c', 5000, clock.now(), clock.now()), 'unavailable');
    assert.equal(await store.consume('d', 5000, clock.now(), clock.now()), 'unavailable');
    assert.equal(store.fullRefusals, 2);
    // The remembered keys are still protected: nothing was evicted to make room.
    assert.equal(await store.consume('a', 5000, clock.now(), clock.now()), 'replayed');
    assert.equal(await store.consume('b', 5000, clock.now(), clock.now()), 'replayed');
    assert.equal(store.fullRefusals, 2);
    // And a refused key was not recorded: once room frees up, it is consumed normally.
    clock.advance(5000);
    assert.equal(await store.consume('c', 5000, clock.now(), clock.now()), 'consumed');
    assert.equal(store.size, 1);
  });

  it('prunes expired keys from the front as it goes, so size follows the live keys', async () => {
    const clock = manualClock();
    const store = new MemoryReplayStore({ maxEntries: 1000, clock: clock.now });
    for (let i = 0; i < 8; i++) assert.equal(await store.consume(`old-${i}`, 50, clock.now(), clock.now()), 'consumed');
    clock.advance(50);
    assert.equal(await store.consume('fresh', 50, clock.now(), clock.now()), 'consumed');
    assert.equal(store.size, 1);
  });

  it('rejects caller mistakes with TypeError: bad maxEntries, bad ttl, non-string key', async () => {
    assert.throws(() => new MemoryReplayStore({ maxEntries: 0 }), { name: 'TypeError', message: 'maxEntries must be a positive integer, got 0' });
    assert.throws(() => new MemoryReplayStore({ maxEntries: 1.5 }), TypeError);
    const store = new MemoryReplayStore({ maxEntries: 1 });
    await assert.rejects(store.consume('k', 0, Date.now(), Date.now()), { name: 'TypeError', message: 'ttlMs must be a positive number, got 0' });
    await assert.rejects(store.consume('k', Number.NaN, Date.now(), Date.now()), TypeError);
    await assert.rejects(store.consume(42 as unknown as string, 10, Date.now(), Date.now()), { name: 'TypeError', message: 'replay key must be a string' });
    assert.equal(store.size, 0);
  });

  it('answers unavailable and not ready after close', async () => {
    const store = new MemoryReplayStore({ maxEntries: 5 });
    assert.equal(await store.ping(), true);
    await store.close();
    assert.equal(await store.ping(), false);
    assert.equal(await store.consume('k', 1000, Date.now(), Date.now()), 'unavailable');
  });

  it('is what createReplayStore builds for store: memory, with the default size cap', async () => {
    const store = createReplayStore({ store: 'memory' });
    assert.ok(store instanceof MemoryReplayStore);
    assert.equal(store.kind, 'memory');
    assert.equal(store.maxEntries, 100_000);
    const small = createReplayStore({ store: 'memory', max_entries: 7 });
    assert.ok(small instanceof MemoryReplayStore);
    assert.equal(small.maxEntries, 7);
    assert.throws(() => createReplayStore({ store: 'memory', max_entries: -1 }), TypeError);
    assert.throws(() => createReplayStore({ store: 'disk' } as never), { name: 'TypeError', message: 'replay.store must be "memory" or "redis", got "disk"' });
  });
});
