/**
 * A check its client resets while it waits in the overload gate's run queue is not decided
 * (authz-server/src/check-service.ts, #run; docs/reason-codes.md, "Overload"): its jti stays
 * unused and the gate is released once. Over a real socket the reset and the message race in the
 * client's HTTP/2 library (a reset may leave before, or instead of, the DATA frame), so a test there
 * cannot be sure the server held the check at all; here the real CheckService, gate, engine and
 * memory store see calls whose reset is set by the test at a known point, between the message and
 * the check's turn.
 */
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http2';
import { CheckService } from '../../authz-server/src/check-service.js';
import { DEFAULTS } from '../../authz-server/src/config.js';
import { CHECK_METHOD_PATH } from '../../authz-server/src/envoy/services.js';
import type { Admission, GrpcCall, Handler } from '../../authz-server/src/envoy/grpc-call.js';
import { compileBundle } from '../../core/src/bundle/compile.js';
import { DEFAULT_ENGINE_OPTIONS } from '../../core/src/engine/options.js';
import { MemoryReplayStore } from '../../core/src/replay/memory.js';
import { assertAllow, assertDeny } from '../support/check-assertions.js';
import { afterStart } from '../support/clock.js';
import { decodeOfficialCheckResponse } from '../support/envoy-api.js';
import { checkBytes, signCheck } from '../support/signed-check.js';
import { makeTrust, type TrustSetup } from '../support/trust-setup.js';

/** A GrpcCall as the transport hands one over: `done` turns true when its client resets it. */
class HeldCall implements GrpcCall {
  readonly headers: IncomingHttpHeaders = {};
  readonly replies: Buffer[] = [];
  done = false;
  #cancel: (() => void) | undefined;
  constructor(
    readonly request: Buffer,
    readonly deadline: number,
  ) {}
  reply(message: Buffer): void {
    if (this.done) return;
    this.done = true;
    this.replies.push(message);
  }
  write(): void {
    throw new Error('not a streaming call');
  }
  end(): void {
    throw new Error('not a streaming call');
  }
  fail(): void {
    throw new Error('the Check handler answers every check with a CheckResponse');
  }
  onCancel(listener: () => void): void {
    this.#cancel = listener;
  }
  /** The client resets the stream. */
  reset(): void {
    this.done = true;
    this.#cancel?.();
  }
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('a check reset while it waits in the run queue (CheckService)', () => {
  let trust: TrustSetup;
  let service: CheckService;
  let store: MemoryReplayStore;
  let onMessage: Handler;
  let admission: Admission;
  const reasons: string[] = [];

  beforeEach(() => {
    trust = makeTrust('tp-check-queue-');
    const bundle = compileBundle(trust.bundle({ serial: 1 }));
    store = new MemoryReplayStore({ maxEntries: 100, generationStartMs: -Infinity });
    reasons.length = 0;
    service = new CheckService({
      bundle: () => bundle,
      store,
      // The server's defaults (authz-server/src/config.ts), as server.ts turns them into the view's settings.
      settings: { bodyHeader: { trusted: DEFAULTS.body.filter_header.trusted, name: DEFAULTS.body.filter_header.name }, envoyBuffersBody: DEFAULTS.body.envoy_buffers_body },
      engine: DEFAULT_ENGINE_OPTIONS,
      onDecision: (decision) => reasons.push(decision.reason),
      onInternalError: (error) => {
        throw error;
      },
      // Slices of 0 ms while pressed: a pressed gate decides one check in the turn that reads it and queues the rest.
      overload: { maxInFlight: 256, answerMarginMs: 5, sliceMs: 0 },
    });
    service.addToServer({
      unary: (path: string, handler: Handler, admit?: Admission) => {
        assert.equal(path, CHECK_METHOD_PATH);
        onMessage = handler;
        admission = admit!;
      },
    });
  });

  afterEach(() => {
    service.close();
    trust.dispose();
  });

  it('is not decided: no decision, no answer, its jti unused (a later check with it is allowed), the gate released once', async () => {
    // A check with no time left is shed at its headers, which presses the gate (overload.ts).
    const late = new HeldCall(Buffer.alloc(0), Date.now());
    admission.admit(late);
    assert.deepEqual(reasons, ['overloaded']);
    assertDeny(decodeOfficialCheckResponse(late.replies[0]!), 'overloaded');

    // In one turn, as the transport hands over two whole messages read together: the first is
    // decided as it is read, the second waits for a later turn; its client resets it before then.
    const first = new HeldCall(checkBytes(signCheck(trust, { passport: afterStart() })), Date.now() + 5000);
    const bytes = checkBytes(signCheck(trust, { passport: afterStart() }));
    const queued = new HeldCall(bytes, Date.now() + 5000);
    for (const call of [first, queued]) {
      admission.admit(call);
      assert.equal(call.done, false, 'admitted at its headers');
      onMessage(call);
    }
    assert.equal(service.inFlight, 2, 'both in flight: one being decided, one queued');
    queued.reset();
    await service.drained();
    await nextTurn();

    assert.deepEqual(reasons, ['overloaded', 'ok'], 'one decision: the first check');
    assertAllow(decodeOfficialCheckResponse(first.replies[0]!), 'payments-create');
    assert.equal(queued.replies.length, 0, 'nothing answered to the reset check');
    assert.equal(service.inFlight, 0, 'released once, not below zero');

    // Its jti was never consumed: the same request, sent again, is allowed.
    const again = new HeldCall(bytes, Date.now() + 5000);
    admission.admit(again);
    onMessage(again);
    await service.drained();
    assert.deepEqual(reasons, ['overloaded', 'ok', 'ok']);
    assertAllow(decodeOfficialCheckResponse(again.replies[0]!), 'payments-create');
    assert.equal(service.inFlight, 0);
  });
});
