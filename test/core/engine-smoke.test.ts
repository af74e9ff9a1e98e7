import { strict as assert } from 'node:assert';
import { verifyRequest } from '../../core/src/engine/verify.js';
import { MemoryReplayStore } from '../../core/src/replay/memory.js';
import { NOW_MS, makeWorld, signed, view } from '../support/world.js';

describe('decision engine (smoke)', () => {
  it('allows a correctly signed request once, then denies the replay with jti_replay', async () => {
    const w = makeWorld();
    const store = new MemoryReplayStore({ maxEntries: 100 });
    const v = view(signed(w));
    const first = await verifyRequest({ view: v, bundle: w.bundle, store, nowMs: NOW_MS });
    assert.equal(first.reason, 'ok');
    assert.equal(first.allow, true);
    assert.equal(first.identity?.subject, 'spiffe://example.test/ns/shop/sa/checkout');
    const second = await verifyRequest({ view: v, bundle: w.bundle, store, nowMs: NOW_MS });
    assert.equal(second.reason, 'jti_replay');
    assert.equal(second.allow, false);
    assert.equal(second.httpStatus, 401);
  });
  it('names a tampered body as body_mismatch and leaves the jti unconsumed', async () => {
    const w = makeWorld();
    const store = new MemoryReplayStore({ maxEntries: 100 });
    const p = signed(w);
    const tampered = await verifyRequest({ view: view(p, { body: { kind: 'bytes', bytes: Buffer.from('{"amount":9999}'), partial: false } }), bundle: w.bundle, store, nowMs: NOW_MS });
    assert.equal(tampered.reason, 'body_mismatch');
    const genuine = await verifyRequest({ view: view(p), bundle: w.bundle, store, nowMs: NOW_MS });
    assert.equal(genuine.reason, 'ok');
  });
});
