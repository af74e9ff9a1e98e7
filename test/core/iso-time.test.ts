import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { isoTime } from '../../core/src/engine/iso-time.js';

describe('isoTime', () => {
  const MAX = 8.64e15;
  it('is toISOString of the same time, call after call, in the same second or not', () => {
    const ms = fc.oneof(fc.integer({ min: -MAX, max: MAX }), fc.double({ min: -MAX, max: MAX, noNaN: true }), fc.integer({ min: -5000, max: 5000 }));
    fc.assert(
      fc.property(fc.array(fc.tuple(ms, fc.array(fc.integer({ min: -1500, max: 1500 }), { maxLength: 6 })), { maxLength: 8 }), (runs) => {
        for (const [start, steps] of runs) {
          let t = start;
          for (const step of [0, ...steps]) {
            t = Math.max(-MAX, Math.min(MAX, t + step));
            assert.equal(isoTime(t), new Date(t).toISOString(), String(t));
          }
        }
      }),
      { numRuns: 2000 },
    );
  });
  it('writes the milliseconds with three digits around a second boundary', () => {
    const at = Date.UTC(2026, 0, 1, 0, 0, 59);
    assert.equal(isoTime(at + 999), '2026-01-01T00:00:59.999Z');
    assert.equal(isoTime(at + 7), '2026-01-01T00:00:59.007Z');
    assert.equal(isoTime(at + 1000), '2026-01-01T00:01:00.000Z');
    assert.equal(isoTime(at + 1042), '2026-01-01T00:01:00.042Z');
    assert.equal(isoTime(-1), '1969-12-31T23:59:59.999Z');
    assert.equal(isoTime(-0.5), '1970-01-01T00:00:00.000Z');
  });
  it('throws like Date for a time it cannot hold', () => {
    assert.throws(() => isoTime(Number.NaN), RangeError);
    assert.throws(() => isoTime(MAX + 1), RangeError);
    isoTime(0);
    assert.throws(() => isoTime(Number.NaN), RangeError);
  });
});
