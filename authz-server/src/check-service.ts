/**
 * The ext_authz Check handler: read → decide → write. envoy/check-request.ts reads the CheckRequest
 * bytes into a RequestView, the decision engine decides, envoy/check-response.ts writes the answer.
 *
 * This is the one catch on the request path: anything unexpected becomes a logged, counted
 * `internal_error` deny — never a gRPC error (the transport would answer a throw with UNKNOWN, and
 * Envoy routes that through failure_mode_allow, docs/envoy-integration.md F2.1) and never an allow.
 *
 * Load shedding happens before any of that, in overload.ts.
 */
import { edgeDecision, verifyRequest, type CompiledBundle, type EngineOptions, type ReplayStore, type Decision } from '../../core/src/server-api.js';
import { readCheckRequest } from './envoy/check-request.js';
import type { RequestViewSettings } from './envoy/request-view.js';
import { writeCheckResponse } from './envoy/check-response.js';
import { CHECK_METHOD_PATH } from './envoy/services.js';
import type { GrpcCall, GrpcServer } from './envoy/grpc-transport.js';
import { OverloadGate, type OverloadSettings } from './overload.js';

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
  readonly #gate: OverloadGate;

  constructor(private readonly deps: CheckDeps) {
    this.#gate = new OverloadGate(deps.overload);
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
   * The Check method (grpc-transport.ts). A client that resets the stream mid-call does not cut
   * this short: the check is decided, its reply is dropped (call.reply on a closed stream does
   * nothing), and the gate is released once, when the decision is made.
   */
  readonly check = (call: GrpcCall): void => {
    const answerBy = this.#gate.admit(call.deadline);
    if (answerBy === undefined) {
      call.reply(this.#shed());
      return;
    }
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
  #shed(): Buffer {
    const started = performance.now();
    const decision = edgeDecision('overloaded', {}, this.deps.engine, 'shed on arrival by the overload gate; not read');
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

  addToServer(server: GrpcServer): void {
    server.unary(CHECK_METHOD_PATH, this.check);
  }
}
