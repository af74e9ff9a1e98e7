/**
 * Prometheus metrics of the ext_authz server (docs/metrics.md lists them with their labels).
 *
 * Each `ServerMetrics` owns its own prom-client `Registry`, never the global one, so two servers in
 * one process (tests) cannot mix counts and nothing a dependency registers globally leaks into
 * `/metrics`.
 *
 * Label values are bounded, because every distinct value is a new time series kept forever:
 * - `reason` comes only from the reason-code registry (core/src/reasons.ts);
 * - `route` is a route id of the bundle in use (`setBundle`), anything else — an id sent by Envoy
 *   in `context_extensions` that the bundle does not know, or no route at all — is `unknown`;
 * - `decision` is `allow` exactly when the reason is `ok`. A dry-run denial is counted as
 *   `decision="deny", mode="dry_run"` (the verdict it would have enforced), even though the request
 *   was let through: that is what an operator needs to see before switching a route to enforce;
 * - `code` of bundle reloads is `none` for `ok`, else a bundle error code.
 *
 * Worker processes (node:cluster). Each worker has its own ServerMetrics and calls
 * `serveToPrimary()`; the primary, which owns the metrics HTTP port, renders with
 * `ClusterMetrics.render()`. That is prom-client's AggregatorRegistry: the primary asks every
 * connected worker over the cluster IPC channel for `getMetricsAsJSON()` and merges the answers
 * (5 s timeout inside prom-client). Merging is per metric:
 * - counters and the histogram are summed, so totals are per server (all workers);
 * - `trustplane_bundle_serial` takes the minimum and `trustplane_bundle_age_seconds` the maximum:
 *   during a hot reload the workers may briefly differ, and the scrape then shows the stalest
 *   worker rather than a meaningless sum;
 * - the default process metrics use the aggregators prom-client declares for them (CPU and memory
 *   summed over workers, version info taken once). The primary's own process metrics are not
 *   included: it only supervises and serves the scrape.
 * A worker that does not answer fails the scrape (prom-client rejects after its timeout), which
 * Prometheus records as a failed scrape instead of silently reporting half the traffic.
 */
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { REASON_CODES, type BundleSourceErrorCode, type ReasonCode } from '../../core/src/server-api.js';

/** What a decision tells the metrics; `Decision` from the core fits this shape. */
export interface DecisionObservation {
  readonly reason: ReasonCode;
  readonly routeId?: string | null | undefined;
  /** The decision was made in dry-run mode (global or per route). */
  readonly dryRun: boolean;
}

export interface BundleObservation {
  readonly serial: number;
  /** `issued_at` of the bundle, Unix seconds: the age is measured from it. */
  readonly issuedAt: number;
  readonly routeIds: Iterable<string>;
}

export interface ServerMetricsOptions {
  /** Milliseconds since the epoch; injected by tests. */
  readonly clock?: () => number;
  /** Node and process metrics (prom-client's default set). Default true. */
  readonly processMetrics?: boolean;
}

/** Seconds. A decision costs tens of microseconds when healthy; the tail reaches a Redis timeout. */
export const CHECK_DURATION_BUCKETS: readonly number[] = Object.freeze([
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
]);

/**
 * What `trustplane_check_duration_seconds` times (docs/metrics.md): the caller starts the clock on
 * the request as received (check-service.ts: the CheckRequest bytes) and stops it at the decision.
 */
export const CHECK_DURATION_HELP =
  'Time to decide one check: from the CheckRequest bytes to the decision (reading the request, engine, replay store). Excludes writing the response and the gRPC and HTTP/2 transport.';

export const UNKNOWN_ROUTE = 'unknown';

const RELOAD_CODE = /^bundle_[a-z_]{1,40}$/;

const REASONS: ReadonlySet<string> = new Set(REASON_CODES);

export class ServerMetrics {
  readonly registry: Registry;
  readonly #clock: () => number;
  /** Route ids of the bundle in use; any other route id counts as `unknown`. */
  #routes: ReadonlySet<string> = new Set();
  readonly #decisions: Counter<'decision' | 'reason' | 'route' | 'mode'>;
  readonly #checkDuration: Histogram;
  readonly #bundleSerial: Gauge;
  readonly #bundleReloads: Counter<'result' | 'code'>;
  readonly #replayStoreErrors: Counter;
  readonly #internalErrors: Counter;
  #bundleIssuedAt: number | null = null;

  constructor(options: ServerMetricsOptions = {}) {
    this.#clock = options.clock ?? Date.now;
    const registry = new Registry();
    this.registry = registry;
    const registers = [registry];

    this.#decisions = new Counter({
      name: 'trustplane_decisions_total',
      help: 'Authorization decisions, by verdict, reason code, bundle route id and mode.',
      labelNames: ['decision', 'reason', 'route', 'mode'] as const,
      registers,
    });
    this.#checkDuration = new Histogram({
      name: 'trustplane_check_duration_seconds',
      help: CHECK_DURATION_HELP,
      buckets: [...CHECK_DURATION_BUCKETS],
      registers,
    });
    this.#bundleSerial = new Gauge({
      name: 'trustplane_bundle_serial',
      help: 'Serial of the verified bundle in use.',
      aggregator: 'min',
      registers,
    });
    const metrics = this;
    new Gauge({
      name: 'trustplane_bundle_age_seconds',
      help: 'Seconds since the issued_at of the bundle in use, computed at scrape time.',
      aggregator: 'max',
      registers,
      collect() {
        // Before any bundle both gauges read 0; serial 0 is never a real bundle (serials are > 0),
        // so `trustplane_bundle_serial == 0` is the "no bundle yet" signal, not the age.
        const issuedAt = metrics.#bundleIssuedAt;
        if (issuedAt !== null) this.set(metrics.#clock() / 1000 - issuedAt);
      },
    });
    this.#bundleReloads = new Counter({
      name: 'trustplane_bundle_reloads_total',
      help: 'Bundle reload attempts: ok, or refused with the bundle error code (the last good bundle keeps serving).',
      labelNames: ['result', 'code'] as const,
      registers,
    });
    this.#replayStoreErrors = new Counter({
      name: 'trustplane_replay_store_errors_total',
      help: 'Errors reported by the replay store client (failed commands, connection and reconnect errors).',
      registers,
    });
    this.#internalErrors = new Counter({
      name: 'trustplane_internal_errors_total',
      help: 'Unexpected errors on the request path (the request was denied with internal_error).',
      registers,
    });
    if (options.processMetrics !== false) collectDefaultMetrics({ register: registry });
  }

  /** Count one decision and, when given, its duration. */
  observeDecision(decision: DecisionObservation, durationSeconds?: number): void {
    const reason = REASONS.has(decision.reason) ? decision.reason : 'internal_error';
    this.#decisions.inc({
      decision: reason === 'ok' ? 'allow' : 'deny',
      reason,
      route: this.routeLabel(decision.routeId),
      mode: decision.dryRun ? 'dry_run' : 'enforce',
    });
    if (durationSeconds !== undefined && Number.isFinite(durationSeconds) && durationSeconds >= 0) {
      this.#checkDuration.observe(durationSeconds);
    }
  }

  /** The `route` label value for a route id: the id when the bundle in use has it, else `unknown`. */
  routeLabel(routeId: string | null | undefined): string {
    return typeof routeId === 'string' && this.#routes.has(routeId) ? routeId : UNKNOWN_ROUTE;
  }

  /** A bundle was verified and is now in use. */
  setBundle(bundle: BundleObservation): void {
    this.#routes = new Set(bundle.routeIds);
    this.#bundleIssuedAt = bundle.issuedAt;
    this.#bundleSerial.set(bundle.serial);
  }

  observeBundleReload(result: 'ok'): void;
  observeBundleReload(result: 'refused', code: BundleSourceErrorCode): void;
  observeBundleReload(result: 'ok' | 'refused', code?: BundleSourceErrorCode): void {
    const label = result === 'ok' ? 'none' : typeof code === 'string' && RELOAD_CODE.test(code) ? code : 'other';
    this.#bundleReloads.inc({ result, code: label });
  }

  /**
   * One error reported by the replay store client (its `onError` hook). Count it there only: the
   * requests it denied are already in `trustplane_decisions_total{reason="replay_store_unavailable"}`.
   */
  replayStoreError(): void {
    this.#replayStoreErrors.inc();
  }

  internalError(): void {
    this.#internalErrors.inc();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition of this registry. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /**
   * In a cluster worker: answer the primary's metric requests with this registry. prom-client
   * keeps one list of registries per process, so the last call wins (one ServerMetrics per worker).
   */
  serveToPrimary(): void {
    AggregatorRegistry.setRegistries([this.registry]);
    // Constructing one installs the worker-side IPC listener (idempotent inside prom-client).
    new AggregatorRegistry();
  }

  /** Merge several registries' JSON the way the primary merges workers (see the file header). */
  static async aggregate(registries: readonly Registry[]): Promise<string> {
    const json = await Promise.all(registries.map((r) => r.getMetricsAsJSON()));
    return AggregatorRegistry.aggregate(json).metrics();
  }
}

/** In the cluster primary: the scrape of all workers, merged. */
export class ClusterMetrics {
  readonly #aggregator = new AggregatorRegistry();

  get contentType(): string {
    return this.#aggregator.contentType;
  }

  render(): Promise<string> {
    return this.#aggregator.clusterMetrics();
  }
}
