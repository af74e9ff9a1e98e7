/**
 * The ext_authz Check handler. It only wires pure pieces together: CheckRequest → RequestView
 * (translate/request-view), the decision engine, Decision → CheckResponse (translate/response).
 *
 * grpc-js has no global handler for exceptions thrown in handlers, so this is the one catch on the
 * request path: anything unexpected becomes a logged, counted `internal_error` deny — never a gRPC
 * error (Envoy would route that through failure_mode_allow, docs/envoy-integration.md F2.1) and never
 * an allow.
 *
 * Overload (docs/reason-codes.md, "Overload"). Envoy sends its ext_authz timeout as `grpc-timeout`;
 * grpc-js turns it into the call's deadline. A check is answered `overloaded` at once, without a
 * signature checked or the store touched, when less than `answerMarginMs` of that deadline is left
 * on arrival (Envoy has given up, or is about to) or when `maxInFlight` checks are already being
 * handled; otherwise the deadline less the margin bounds the wait on the replay store. What is left
 * is counted after this process's event-loop lag: grpc-js starts a call's deadline when it reads the
 * call's headers, so the time a check spent in socket buffers while the loop was busy is not
 * subtracted from it, and the lag is the measure of that time. And while the loop is saturated,
 * a check that already spent half its deadline before the handler saw it is shed too: shedding only
 * at the very end of the deadline leaves a queue as long as the deadline, and every answer late
 * (bench/overload.ts measured 2% goodput that way, and 110% of the closed-loop capacity with this
 * rule, 2 late answers of 3905, on a shared 2-core machine). Shedding costs a fraction of a
 * decision, so offered load past capacity keeps the decisions made near capacity instead of letting
 * every check grow late.
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
  /** Load shedding; OVERLOAD_DEFAULTS when absent. */
  readonly overload?: OverloadSettings;
}

export interface OverloadSettings {
  /** Checks handled at once by this process; one more is answered `overloaded`. */
  readonly maxInFlight: number;
  /** Time kept back from Envoy's deadline to send the answer, milliseconds. */
  readonly answerMarginMs: number;
}

export const OVERLOAD_DEFAULTS: OverloadSettings = Object.freeze({ maxInFlight: 256, answerMarginMs: 5 });

/** Period of the event-loop lag probe: a timer due this often that fires late when the loop is busy. */
const LAG_PROBE_MS = 10;
/** Lag above which the loop counts as saturated. */
const BUSY_LAG_MS = 10;
/** While saturated, a check that has used this share of its deadline before we saw it is shed. */
const SHED_USED_SHARE = 0.5;
/** Probe ticks per window of the longest time left seen (about 30 s). */
const WINDOW_TICKS = 3000;

export class CheckService {
  #inFlight = 0;
  #idle: (() => void)[] = [];

  readonly #maxInFlight: number;
  readonly #marginMs: number;
  /** When the lag probe is next due (performance.now()), and how late it fired last time. */
  #probeDue = performance.now() + LAG_PROBE_MS;
  #lastLagMs = 0;
  readonly #probe: NodeJS.Timeout;
  /**
   * The longest time left seen at arrival, this window and the last: close to the timeout Envoy
   * sends (grpc-js does not expose the header), so `full - left` estimates how long a check waited
   * before this process saw it.
   */
  #fullMs = 0;
  #windowMaxMs = 0;
  #ticks = 0;

  constructor(private readonly deps: CheckDeps) {
    this.#maxInFlight = deps.overload?.maxInFlight ?? OVERLOAD_DEFAULTS.maxInFlight;
    this.#marginMs = deps.overload?.answerMarginMs ?? OVERLOAD_DEFAULTS.answerMarginMs;
    this.#probe = setInterval(() => {
      const now = performance.now();
      this.#lastLagMs = now - this.#probeDue;
      this.#probeDue = now + LAG_PROBE_MS;
      if (++this.#ticks >= WINDOW_TICKS) {
        this.#ticks = 0;
        this.#fullMs = this.#windowMaxMs;
        this.#windowMaxMs = 0;
      }
    }, LAG_PROBE_MS);
    this.#probe.unref();
  }

  /**
   * How far behind the event loop is now: how late the probe fired last, or, while the loop is
   * still busy past the probe's due time, how long it has been overdue.
   */
  get eventLoopLagMs(): number {
    return Math.max(this.#lastLagMs, performance.now() - this.#probeDue);
  }

  /** Stops the lag probe (server shutdown). */
  close(): void {
    clearInterval(this.#probe);
  }

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
    // grpc-js: a Date or Unix milliseconds, Infinity when the client sent no grpc-timeout.
    const d = call.getDeadline();
    const rawMs = (typeof d === 'number' ? d : d.getTime()) - Date.now();
    const lagMs = this.eventLoopLagMs;
    const leftMs = rawMs - this.#marginMs - lagMs;
    let stale = false;
    if (rawMs !== Infinity) {
      if (rawMs > this.#windowMaxMs) this.#windowMaxMs = rawMs;
      // Saturated: the queue in front of us is long; serve the checks that can still be answered in
      // time and shed those that already spent most of their deadline waiting (their answer would be late).
      stale = lagMs > BUSY_LAG_MS && rawMs < Math.max(this.#fullMs, this.#windowMaxMs) * SHED_USED_SHARE;
    }
    if (leftMs <= 0 || stale || this.#inFlight >= this.#maxInFlight) {
      callback(null, this.#shed());
      return;
    }
    this.#inFlight++;
    this.decide(call.request, leftMs === Infinity ? undefined : performance.now() + leftMs).then(
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

  /** A shed check: decided without reading it, counted and audited like every other decision. */
  #shed(): CheckResponse {
    const started = performance.now();
    const decision = edgeDecision('overloaded', {}, this.deps.engine);
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
      this.#inFlight--;
      if (this.#inFlight === 0) for (const r of this.#idle.splice(0)) r();
    }
  }

  addToServer(server: grpc.Server): void {
    server.addService(CHECK_SERVICE, { Check: this.check });
  }
}
