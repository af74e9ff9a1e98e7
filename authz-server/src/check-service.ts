/**
 * The ext_authz Check handler: read → decide → write. envoy/check-request.ts reads the CheckRequest
 * bytes into a RequestView, the decision engine decides, envoy/check-response.ts writes the answer.
 *
 * This is the one catch on the request path: anything unexpected becomes a logged, counted
 * `internal_error` deny — never a gRPC error (the transport would answer a throw with UNKNOWN, and
 * Envoy routes that through failure_mode_allow, docs/envoy-integration.md F2.1) and never an allow.
 *
 * Load shedding happens before any of that, in overload.ts: at the call's HEADERS, when its message
 * is whole, and when its turn in the gate's run queue comes.
 */
import { edgeDecision, verifyRequest, type CompiledBundle, type EngineOptions, type ReplayStore, type Decision } from '../../core/src/server-api.js';
import { readCheckRequest } from './envoy/check-request.js';
import type { RequestViewSettings } from './envoy/request-view.js';
import { writeCheckResponse } from './envoy/check-response.js';
import { CHECK_METHOD_PATH } from './envoy/services.js';
import type { Admission, GrpcCall, GrpcServer } from './envoy/grpc-transport.js';
import { OVERLOAD_DEFAULTS, OverloadGate, type OverloadSettings } from './overload.js';

export interface CheckDeps {
  readonly bundle: () => CompiledBundle | undefined;
  readonly store: ReplayStore;
  readonly settings: RequestViewSettings;
  readonly engine: EngineOptions;
  /** Every decision, allow or deny, with its handling time: metrics and audit hang here. */
  readonly onDecision: (decision: Decision, seconds: number) => void;
  readonly onInternalError: (error: unknown) => void;
  /** Load shedding; overload.ts's OVERLOAD_DEFAULTS when absent. */
  readonly overload?: OverloadSettings;
}

export class CheckService {
  readonly #gate: OverloadGate<GrpcCall>;

  constructor(private readonly deps: CheckDeps) {
    this.#gate = new OverloadGate(deps.overload ?? OVERLOAD_DEFAULTS, this.#run);
  }

  /** Stops the overload gate's lag probe (server shutdown). */
  close(): void {
    this.#gate.close();
  }

  get inFlight(): number {
    return this.#gate.inFlight;
  }

  /** Resolves once no Check is being handled (graceful shutdown). */
  drained(): Promise<void> {
    return this.#gate.drained();
  }

  /**
   * At a Check call's HEADERS (grpc-call.ts, Admission): overload.ts's rules 1–3. A check shed here
   * is answered `overloaded` at once and its message is never read.
   */
  readonly #admission: Admission = {
    admit: (call) => {
      if (!this.#gate.admit(call.deadline)) call.reply(this.#shed('shed on arrival by the overload gate; not read'));
    },
  };

  /** The whole message is in: the check waits its turn in the gate's run queue, or is shed now. */
  readonly #onMessage = (call: GrpcCall): void => {
    if (!this.#gate.enqueue(call, call.deadline)) call.reply(this.#shed('shed by the overload gate when its message arrived; not read'));
  };

  /**
   * A check's turn in the run queue. One the client reset, or whose deadline ended it, while it was
   * queued is not decided at all: nobody would read the answer, and its jti stays unused. Once
   * started, a reset does not cut it short: it is decided, its reply is dropped (call.reply on a
   * closed stream does nothing), and the gate is released once, when the decision is made.
   */
  readonly #run = (call: GrpcCall): void => {
    if (call.done) return this.#gate.abandon();
    const answerBy = this.#gate.start(call.deadline);
    if (answerBy === undefined) return this.#finish(() => call.reply(this.#shed('shed by the overload gate before it was decided: its deadline came while it was queued; not read')));
    this.decide(call.request, answerBy === Infinity ? undefined : answerBy).then(
      (response) => this.#finish(() => call.reply(response)),
      // decide() never rejects; if it somehow does, answer a deny rather than leave Envoy waiting.
      (error: unknown) => this.#finish(() => call.reply(this.#internal(error))),
    );
  };

  /**
   * CheckRequest bytes → CheckResponse bytes. `deadline` (performance.now() clock): when the answer
   * must be on its way; bounds the store wait.
   */
  async decide(request: Uint8Array, deadline?: number): Promise<Buffer> {
    const started = performance.now();
    let decision: Decision;
    let namespaceHeaders: readonly string[] | undefined;
    try {
      const read = readCheckRequest(request, this.deps.settings);
      if ('reason' in read) {
        // What was read of the request line goes on the deny's audit line.
        decision = edgeDecision(read.reason, read.view, this.deps.engine, read.detail);
      } else {
        namespaceHeaders = read.namespaceHeaders;
        decision = await verifyRequest({ view: read, bundle: this.deps.bundle(), store: this.deps.store, options: this.deps.engine, deadline });
      }
    } catch (error) {
      this.deps.onInternalError(error);
      decision = edgeDecision('internal_error', {}, this.deps.engine, 'unexpected error outside the engine');
    }
    this.#report(decision, started);
    return writeCheckResponse(decision, namespaceHeaders);
  }

  /** Hands a decision to onDecision; a throw there is counted as an internal error, the answer stands. */
  #report(decision: Decision, started: number): void {
    try {
      this.deps.onDecision(decision, (performance.now() - started) / 1000);
    } catch (error) {
      this.deps.onInternalError(error);
    }
  }

  /** A shed check: decided without reading it, counted and audited like every other decision. */
  #shed(detail: string): Buffer {
    const started = performance.now();
    const decision = edgeDecision('overloaded', {}, this.deps.engine, detail);
    this.#report(decision, started);
    return writeCheckResponse(decision);
  }

  #internal(error: unknown): Buffer {
    this.deps.onInternalError(error);
    return writeCheckResponse(edgeDecision('internal_error', {}, this.deps.engine));
  }

  #finish(reply: () => void): void {
    try {
      reply();
    } finally {
      this.#gate.release();
    }
  }

  /** Registers the Check method: its admission at the HEADERS, its handler once the message is in. */
  addToServer(server: Pick<GrpcServer, 'unary'>): void {
    server.unary(CHECK_METHOD_PATH, this.#onMessage, this.#admission);
  }
}
