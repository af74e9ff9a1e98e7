/**
 * The overload gate's per-turn budget (authz-server/src/overload.ts, rule 2; docs/reason-codes.md,
 * "Overload") on this process's real event loop: a loop kept busy by back-to-back turns, with the
 * checks reaching the gate either already waited on (their deadline partly used: a standing queue)
 * or fresh (a closed loop at full use). admit() returning undefined is the Check handler's
 * `overloaded` answer (authz-server/src/check-service.ts); the end-to-end answers of the other rules
 * are in server-overload.test.ts.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { OverloadGate, SATURATION_WINDOW_MS } from '../../authz-server/src/overload.js';

/** Holds the event loop, as deciding checks does. */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin
  }
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Keeps the loop busy for `forMs` in turns of `turnMs`, each admitting (and releasing) one check
 * whose deadline has `leftMs` left, after one with `fullMs` left set the gate's idea of the full deadline.
 */
async function saturate(gate: OverloadGate, forMs: number, turnMs: number, fullMs: number, leftMs: number): Promise<void> {
  if (gate.admit(Date.now() + fullMs) !== undefined) gate.release();
  const end = performance.now() + forMs;
  while (performance.now() < end) {
    await nextTurn();
    if (gate.admit(Date.now() + leftMs) !== undefined) gate.release();
    busy(turnMs);
  }
}

describe('overload gate: the per-turn budget (real event loop)', function () {
  this.timeout(10_000);
  let gate: OverloadGate;
  afterEach(() => gate.close());

  it('sheds (`overloaded`) what a turn reads past turnBudgetMs once every check has waited while the loop is saturated, and stops once the loop idles', async () => {
    gate = new OverloadGate({ maxInFlight: 1000, answerMarginMs: 5, turnBudgetMs: 4 });
    // 50 ms of a 200 ms deadline used before the handler saw each check: a standing queue.
    await saturate(gate, SATURATION_WINDOW_MS * 4, 5, 200, 150);
    assert.equal(gate.overloaded, true, 'a saturated loop whose checks all waited is overloaded');
    await nextTurn();
    const first = gate.admit(Date.now() + 150);
    assert.equal(typeof first, 'number', 'the first check of a turn is decided');
    busy(5);
    assert.equal(gate.admit(Date.now() + 150), undefined, 'past the turn budget the rest of the turn is shed');
    gate.release();
    // Idle: the loop has time to spare again, and a long turn is decided in full.
    await new Promise((resolve) => setTimeout(resolve, SATURATION_WINDOW_MS * 3));
    assert.equal(gate.overloaded, false);
    await nextTurn();
    assert.equal(typeof gate.admit(Date.now() + 150), 'number');
    busy(5);
    assert.equal(typeof gate.admit(Date.now() + 150), 'number', 'below saturation a long turn is not cut');
    gate.release();
    gate.release();
  });

  it('does not shed a saturated loop whose checks do not wait (a closed loop at full use)', async () => {
    gate = new OverloadGate({ maxInFlight: 1000, answerMarginMs: 5, turnBudgetMs: 4 });
    await saturate(gate, SATURATION_WINDOW_MS * 4, 2, 200, 200);
    assert.equal(gate.overloaded, false, 'checks that did not wait make no standing queue');
    await nextTurn();
    assert.equal(typeof gate.admit(Date.now() + 200), 'number');
    busy(5);
    assert.equal(typeof gate.admit(Date.now() + 200), 'number', 'a long turn is decided in full');
    gate.release();
    gate.release();
  });

  it('sheds a check with less than the answer margin left after the loop lag, whatever the load', async () => {
    gate = new OverloadGate({ maxInFlight: 1000, answerMarginMs: 5, turnBudgetMs: 4 });
    await nextTurn();
    assert.equal(gate.admit(Date.now() + 4), undefined);
    assert.equal(gate.admit(Date.now() - 1), undefined);
    assert.equal(gate.admit(Infinity), Infinity, 'no grpc-timeout: no deadline');
    gate.release();
  });
});
