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
 *
 * The two per-decision metrics are counted here in plain numbers and handed to prom-client only
 * when a scrape asks (prom-client's `collect` hook for the counter, the registry's `get()` contract
 * for the histogram). prom-client's own `inc` and `observe` build and hash a label string and
 * allocate objects and a closure on every call: about 1 µs a decision, where this costs a table
 * lookup and two increments. What a scrape shows is unchanged, series order included.
 */
import { AggregatorRegistry, Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Metric, MetricValueWithName } from 'prom-client';
import type { BundleSourceErrorCode } from '../../core/src/bundle/errors.js';
import { REASON_CODES } from '../../core/src/reasons.js';
import type { ReasonCode } from '../../core/src/reasons.js';

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

export const UNKNOWN_ROUTE = 'unknown';

const RELOAD_CODE = /^bundle_[a-z_]{1,40}$/;

type DecisionLabel = 'decision' | 'reason' | 'route' | 'mode';

/** One `trustplane_decisions_total` series and its count. */
interface DecisionSeries {
  readonly labels: Readonly<Record<DecisionLabel, string>>;
  count: number;
}

/** Index of each reason code; a series table has two slots per reason (enforce, dry run). */
const REASON_INDEX: ReadonlyMap<string, number> = new Map(REASON_CODES.map((code, i) => [code, i]));
const INTERNAL_ERROR_INDEX = REASON_INDEX.get('internal_error')!;

/** The series of one route label, by `reason index × 2 + (dry run ? 1 : 0)`; a slot fills when first counted. */
interface SeriesTable {
  readonly route: string;
  readonly slots: Array<DecisionSeries | undefined>;
}

export class ServerMetrics {
  readonly registry: Registry;
  readonly #clock: () => number;
  /** Every decision series counted so far, in the order first counted (the order a scrape lists them). */
  readonly #series: DecisionSeries[] = [];
  /** Route label → its table. Never shrinks: a counter series, once exposed, must keep counting up. */
  readonly #tables = new Map<string, SeriesTable>();
  /** Route ids of the bundle in use → their tables; any other route id counts as `unknown`. */
  #tablesByRoute = new Map<string, SeriesTable>();
  readonly #unknownTable: SeriesTable;
  readonly #checkDuration: DurationHistogram;
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

    this.#unknownTable = this.#table(UNKNOWN_ROUTE);
    const series = this.#series;
    new Counter<DecisionLabel>({
      name: 'trustplane_decisions_total',
      help: 'Authorization decisions, by verdict, reason code, bundle route id and mode.',
      labelNames: ['decision', 'reason', 'route', 'mode'] as const,
      registers,
      collect() {
        this.reset();
        for (const s of series) this.inc(s.labels, s.count);
      },
    });
    this.#checkDuration = new DurationHistogram(
      'trustplane_check_duration_seconds',
      'Time to answer one Check, from request received to response built.',
      CHECK_DURATION_BUCKETS,
    );
    // Not a prom-client class, but it answers `get()` exactly as prom-client's Histogram does, which
    // is all a registry (and the cluster aggregation) asks of a metric.
    registry.registerMetric(this.#checkDuration as unknown as Metric);
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
    const routeId = decision.routeId;
    const table = (typeof routeId === 'string' && this.#tablesByRoute.get(routeId)) || this.#unknownTable;
    const slot = (REASON_INDEX.get(decision.reason) ?? INTERNAL_ERROR_INDEX) * 2 + (decision.dryRun ? 1 : 0);
    const series = table.slots[slot] ?? this.#newSeries(table, slot);
    series.count++;
    if (durationSeconds !== undefined && Number.isFinite(durationSeconds) && durationSeconds >= 0) {
      this.#checkDuration.observe(durationSeconds);
    }
  }

  #table(route: string): SeriesTable {
    let table = this.#tables.get(route);
    if (table === undefined) {
      table = { route, slots: new Array<DecisionSeries | undefined>(REASON_CODES.length * 2).fill(undefined) };
      this.#tables.set(route, table);
    }
    return table;
  }

  #newSeries(table: SeriesTable, slot: number): DecisionSeries {
    const reason = REASON_CODES[slot >> 1]!;
    const series: DecisionSeries = {
      labels: { decision: reason === 'ok' ? 'allow' : 'deny', reason, route: table.route, mode: slot & 1 ? 'dry_run' : 'enforce' },
      count: 0,
    };
    table.slots[slot] = series;
    this.#series.push(series);
    return series;
  }

  /** The `route` label value for a route id: the id when the bundle in use has it, else `unknown`. */
  routeLabel(routeId: string | null | undefined): string {
    return typeof routeId === 'string' && this.#tablesByRoute.has(routeId) ? routeId : UNKNOWN_ROUTE;
  }

  /** A bundle was verified and is now in use. */
  setBundle(bundle: BundleObservation): void {
    const byRoute = new Map<string, SeriesTable>();
    for (const id of bundle.routeIds) byRoute.set(id, this.#table(id));
    this.#tablesByRoute = byRoute;
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

/**
 * A histogram without labels, for the one observed on every decision: observe() is a bucket search
 * and three additions. get() returns what prom-client's Histogram returns (cumulative `_bucket`
 * values with `le` the bound, then `+Inf`, `_sum` and `_count`), so the registry renders and the
 * cluster aggregates it the same way; test/authz-server/metrics.test.ts renders both side by side.
 */
class DurationHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #bounds: readonly number[];
  /** Observations per bucket (not cumulative); the last slot is above every bound. */
  #counts: number[];
  #sum = 0;
  #count = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    bounds: readonly number[],
  ) {
    this.#bounds = [...bounds];
    this.#counts = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(value: number): void {
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.#counts[i]!++;
    this.#sum += value;
    this.#count++;
  }

  get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: MetricValueWithName<'le'>[] }> {
    const bucket = `${this.name}_bucket`;
    const values: MetricValueWithName<'le'>[] = [];
    let cumulative = 0;
    this.#bounds.forEach((bound, i) => {
      cumulative += this.#counts[i]!;
      values.push({ labels: { le: bound }, value: cumulative, metricName: bucket });
    });
    values.push(
      { labels: { le: '+Inf' }, value: this.#count, metricName: bucket },
      { labels: {}, value: this.#sum, metricName: `${this.name}_sum` },
      { labels: {}, value: this.#count, metricName: `${this.name}_count` },
    );
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  reset(): void {
    this.#counts = this.#counts.map(() => 0);
    this.#sum = 0;
    this.#count = 0;
  }
}
