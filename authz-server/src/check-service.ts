/**
 * The ext_authz Check handler. It only wires pure pieces together: CheckRequest → RequestView
 * (translate/request-view), the decision engine, Decision → CheckResponse (translate/response).
 *
 * grpc-js has no global handler for exceptions thrown in handlers, so this is the one catch on the
 * request path: anything unexpected becomes a logged, counted `internal_error` deny — never a gRPC
 * error (Envoy would route that through failure_mode_allow, docs/envoy-integration.md F2.1) and never
 * an allow.
 *
 * Load shedding happens before any of that, in overload.ts.
 */
import type * as grpc from '@grpc/grpc-js';
import type { CompiledBundle } from '../../core/src/bundle/compile.js';
import { edgeDecision, verifyRequest } from '../../core/src/engine/verify.js';
import type { EngineOptions } from '../../core/src/engine/options.js';
import type { ReplayStore } from '../../core/src/replay/types.js';
import type { Decision } from '../../core/src/types.js';
import { AuthorizationService, decodeCheckRequest, type CheckResponse } from './proto.js';
import { toRequestView, type RequestViewSettings } from './translate/request-view.js';
import { toCheckResponse } from './translate/response.js';
import type { DecodedCheckRequest, UndecodableCheckRequest } from './request-codec.js';
import { encodeCheckResponseFast } from './response-codec.js';
import { OverloadGate, type OverloadSettings } from './overload.js';

export { OVERLOAD_DEFAULTS, type OverloadSettings } from './overload.js';

/**
 * The Check method with the direct codecs in place of proto-loader's: request-codec.ts reads only
 * what the translator uses, and never throws, so bytes it cannot read are answered with a
 * `request_malformed` deny rather than grpc-js's INTERNAL error, which Envoy's failure_mode_allow
 * would decide (docs/envoy-integration.md F2.1); response-codec.ts writes the responses.
 */
export const CHECK_SERVICE = {
  ...AuthorizationService,
  Check: { ...AuthorizationService.Check, requestDeserialize: decodeCheckRequest, responseSerialize: encodeCheckResponseFast },
} as typeof AuthorizationService;

export interface CheckDeps {
  readonly bundle: () => CompiledBundle | undefined;
  readonly store: ReplayStore;
  readonly settings: RequestViewSettings;
  readonly engine: EngineOptions;
  /** Every decision, allow or deny, with its handling time: metrics and audit hang here. */
  readonly onDecision: (decision: Decision, seconds: number) => void;
  readonly onInternalError: (error: unknown) => void;
  /** Load shedding; OVERLOAD_DEFAULTS when absent. */
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

  readonly check = (
    call: grpc.ServerUnaryCall<DecodedCheckRequest | UndecodableCheckRequest, CheckResponse>,
    callback: grpc.sendUnaryData<CheckResponse>,
  ): void => {
    const answerBy = this.#gate.admit(call.getDeadline());
    if (answerBy === undefined) {
      callback(null, this.#shed());
      return;
    }
    this.decide(call.request, answerBy === Infinity ? undefined : answerBy).then(
      (response) => this.#finish(() => callback(null, response)),
      // decide() never rejects; if it somehow does, answer a deny rather than leave Envoy waiting.
      (error: unknown) => this.#finish(() => callback(null, this.#internal(error))),
    );
  };

  /** `deadline` (performance.now() clock): when the answer must be on its way; bounds the store wait. */
  async decide(request: unknown, deadline?: number): Promise<CheckResponse> {
    const started = performance.now();
    let decision: Decision;
    let namespaceHeaders: readonly string[] | undefined;
    try {
      const translated = toRequestView(request, this.deps.settings);
      if (translated.ok) namespaceHeaders = translated.view.namespaceHeaders;
      decision = translated.ok
        ? await verifyRequest({ view: translated.view, bundle: this.deps.bundle(), store: this.deps.store, options: this.deps.engine, deadline })
        : edgeDecision('request_malformed', {}, this.deps.engine, translated.detail);
    } catch (error) {
      this.deps.onInternalError(error);
      decision = edgeDecision('internal_error', {}, this.deps.engine, 'unexpected error outside the engine');
    }
    try {
      this.deps.onDecision(decision, (performance.now() - started) / 1000);
    } catch (error) {
      this.deps.onInternalError(error);
    }
    return toCheckResponse(decision, namespaceHeaders);
  }

  /** A shed check: decided without reading it, counted and audited like every other decision. */
  #shed(): CheckResponse {
    const started = performance.now();
    const decision = edgeDecision('overloaded', {}, this.deps.engine, 'shed on arrival by the overload gate; not read');
    try {
      this.deps.onDecision(decision, (performance.now() - started) / 1000);
    } catch (error) {
      this.deps.onInternalError(error);
    }
    return toCheckResponse(decision);
  }

  #internal(error: unknown): CheckResponse {
    this.deps.onInternalError(error);
    return toCheckResponse(edgeDecision('internal_error', {}, this.deps.engine));
  }

  #finish(reply: () => void): void {
    try {
      reply();
    } finally {
      this.#gate.release();
    }
  }

  addToServer(server: grpc.Server): void {
    server.addService(CHECK_SERVICE, { Check: this.check });
  }
}
