/**
 * The ext_authz Check handler. It only wires pure pieces together: CheckRequest → RequestView
 * (translate/request-view), the decision engine, Decision → CheckResponse (translate/response).
 *
 * grpc-js has no global handler for exceptions thrown in handlers, so this is the one catch on the
 * request path: anything unexpected becomes a logged, counted `internal_error` deny — never a gRPC
 * error (Envoy would route that through failure_mode_allow, docs/envoy-integration.md F2.1) and never
 * an allow.
 */
import type * as grpc from '@grpc/grpc-js';
import type { CompiledBundle } from '../../core/src/bundle/compile.js';
import { edgeDecision, verifyRequest } from '../../core/src/engine/verify.js';
import type { EngineOptions } from '../../core/src/engine/state.js';
import type { ReplayStore } from '../../core/src/replay/types.js';
import type { Decision } from '../../core/src/types.js';
import { AuthorizationService, decodeCheckRequest, type CheckResponse } from './proto.js';
import { toRequestView, type RequestViewSettings } from './translate/request-view.js';
import { toCheckResponse } from './translate/response.js';
import type { DecodedCheckRequest, UndecodableCheckRequest } from './request-codec.js';
import { encodeCheckResponseFast } from './response-codec.js';

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
}

export class CheckService {
  #inFlight = 0;
  #idle: (() => void)[] = [];

  constructor(private readonly deps: CheckDeps) {}

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Resolves once no Check is being handled (graceful shutdown). */
  drained(): Promise<void> {
    return this.#inFlight === 0 ? Promise.resolve() : new Promise((resolve) => this.#idle.push(resolve));
  }

  readonly check = (
    call: grpc.ServerUnaryCall<DecodedCheckRequest | UndecodableCheckRequest, CheckResponse>,
    callback: grpc.sendUnaryData<CheckResponse>,
  ): void => {
    this.#inFlight++;
    this.decide(call.request).then(
      (response) => this.#finish(() => callback(null, response)),
      // decide() never rejects; if it somehow does, answer a deny rather than leave Envoy waiting.
      (error: unknown) => this.#finish(() => callback(null, this.#internal(error))),
    );
  };

  async decide(request: unknown): Promise<CheckResponse> {
    const started = performance.now();
    let decision: Decision;
    let namespaceHeaders: readonly string[] | undefined;
    try {
      const translated = toRequestView(request, this.deps.settings);
      if (translated.ok) namespaceHeaders = translated.view.namespaceHeaders;
      decision = translated.ok
        ? await verifyRequest({ view: translated.view, bundle: this.deps.bundle(), store: this.deps.store, options: this.deps.engine })
        : edgeDecision('request_malformed', {}, this.deps.engine);
    } catch (error) {
      this.deps.onInternalError(error);
      decision = edgeDecision('internal_error', {}, this.deps.engine);
    }
    try {
      this.deps.onDecision(decision, (performance.now() - started) / 1000);
    } catch (error) {
      this.deps.onInternalError(error);
    }
    return toCheckResponse(decision, namespaceHeaders);
  }

  #internal(error: unknown): CheckResponse {
    this.deps.onInternalError(error);
    return toCheckResponse(edgeDecision('internal_error', {}, this.deps.engine));
  }

  #finish(reply: () => void): void {
    try {
      reply();
    } finally {
      this.#inFlight--;
      if (this.#inFlight === 0) for (const r of this.#idle.splice(0)) r();
    }
  }

  addToServer(server: grpc.Server): void {
    server.addService(CHECK_SERVICE, { Check: this.check });
  }
}
