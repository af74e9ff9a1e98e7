/**
 * One authz-server process: the gRPC listener (ext_authz Check + grpc.health.v1), the bundle
 * source with hot reload, the replay store, metrics, audit, and graceful shutdown. `cluster.ts`
 * runs several of these as worker processes; tests run one directly on a loopback port.
 */
import { readFileSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import { DEFAULT_ENGINE_OPTIONS, VerifiedPassportCache, createReplayStore, parseKeySet, type CompiledBundle, type EngineOptions, type ReplayStoreConfig, type ReplayStore, type PublicJwk, type PassportCache } from '../../core/src/server-api.js';
import { firstLine, fsReason } from '../../service/src/config.js';
import { AuditSink } from './audit-sink.js';
import { BundleSource } from './bundle-source.js';
import { CheckService } from './check-service.js';
import type { ServerConfig } from './config.js';
import { Readiness } from './health.js';
import { createLogger, errorFields, type Logger } from '../../service/src/log.js';
import { closeServer, createOpsServer, listen } from '../../service/src/ops-http.js';
import { ServerMetrics } from './metrics.js';
import { ServingStatus } from './envoy/services.js';
import { GrpcServer, type GrpcTls } from './envoy/grpc-transport.js';

export interface StartOptions {
  readonly logger?: Logger;
  /** Replay store to use instead of the configured one (cluster workers share the primary's). */
  readonly store?: ReplayStore;
  /** Serve /metrics, /healthz, /readyz on listen.http (the cluster primary does it for workers). */
  readonly serveHttp?: boolean;
  /** In a cluster worker: hand metrics to the primary's aggregator. */
  readonly metricsToPrimary?: boolean;
}

export interface RunningServer {
  /** Bound gRPC address (`host:port` with the real port, or `unix:/path`). */
  readonly grpcAddress: string;
  readonly httpAddress?: string;
  readonly readiness: Readiness;
  readonly metrics: ServerMetrics;
  readonly check: CheckService;
  readonly bundle: () => CompiledBundle | undefined;
  /** The verified-passport cache the checks use (docs/transcript-v1.md §15.4); absent when turned off. */
  readonly passportCache?: PassportCache;
  /**
   * The drain period before a stop: report NOT_SERVING (grpc.health.v1 and /readyz) while still
   * answering every check for `ms`, so that Envoy's health checks notice before the port closes.
   */
  drain(ms: number): Promise<void>;
  /** Stop accepting, finish in-flight checks, end Watch streams, flush audit, release everything. */
  close(): Promise<void>;
}

export function engineOptions(config: ServerConfig): EngineOptions {
  return {
    ...DEFAULT_ENGINE_OPTIONS,
    clockToleranceS: config.engine.clock_tolerance_s,
    maxPassportLifetimeS: config.engine.max_passport_lifetime_s,
    defaultRouteLifetimeS: config.engine.default_route_lifetime_s,
    mode: config.mode,
    // One per call, so one per CheckService (per worker): docs/transcript-v1.md §15.4.
    ...(config.engine.passport_cache_max_entries > 0 ? { passportCache: new VerifiedPassportCache(config.engine.passport_cache_max_entries) } : {}),
  };
}

export function replayConfig(config: ServerConfig): ReplayStoreConfig {
  if (config.replay.store === 'memory') return { store: 'memory', max_entries: config.replay.memory.max_entries };
  const r = config.replay.redis!;
  const common = { connect_timeout_ms: r.connect_timeout_ms, command_timeout_ms: r.command_timeout_ms, key_prefix: r.key_prefix, assume_noeviction: r.assume_noeviction };
  if (r.url) return { store: 'redis', redis: { ...common, url: r.url } };
  if (r.sentinels) return { store: 'redis', redis: { ...common, sentinels: r.sentinels, name: r.name! } };
  return { store: 'redis', redis: { ...common, nodes: r.cluster!.nodes } };
}

/** Bundle-signing public keys: a JWKS (`{"keys": [...]}`) or a single JWK. Errors name the file. */
export function readSigningKeys(path: string | undefined): PublicJwk[] {
  if (!path) return [];
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`bundle.signing_keys ${path}: ${fsReason(e)}`);
  }
  try {
    return parseKeySet(JSON.parse(text));
  } catch (e) {
    throw new Error(`bundle.signing_keys ${path}: ${firstLine(e)}`);
  }
}

/** The listener's TLS (node:tls options in grpc-transport.ts); none for a plaintext listener. */
function tlsFiles(config: ServerConfig): GrpcTls | undefined {
  const tls = config.tls;
  if (!tls) return undefined;
  return {
    cert: readFileSync(tls.cert_file),
    key: readFileSync(tls.key_file),
    ...(tls.client_ca_file ? { ca: readFileSync(tls.client_ca_file) } : {}),
    requireClientCert: tls.require_client_cert,
  };
}

export async function startServer(config: ServerConfig, opts: StartOptions = {}): Promise<RunningServer> {
  const log = opts.logger ?? createLogger(config.log_level);
  const metrics = new ServerMetrics();
  if (opts.metricsToPrimary) metrics.serveToPrimary();

  // Declared first: the reload listener may run during open(), before these are assigned.
  let bundles: BundleSource | undefined;
  let readiness: Readiness | undefined;
  // The first load is not a reload (docs/metrics.md): a refusal then is the start error itself.
  let opened = false;
  bundles = await BundleSource.open({
    path: config.bundle.path,
    signingKeys: readSigningKeys(config.bundle.signing_keys),
    allowUnsigned: config.bundle.allow_unsigned,
    pollIntervalMs: config.bundle.poll_interval_ms,
    ...(config.bundle.state_file ? { stateFile: config.bundle.state_file } : {}),
    onReload: (event) => {
      if (event.ok) {
        const b = bundles?.current();
        if (b) metrics.setBundle({ serial: b.serial, issuedAt: b.issuedAt, routeIds: b.routes.map((r) => r.id) });
        if (opened) metrics.observeBundleReload('ok');
        log.info('bundle loaded', { serial: event.serial });
      } else if (opened) {
        metrics.observeBundleReload('refused', event.code);
        if (event.serial !== undefined) log.warn('bundle replacement refused; the last good bundle keeps serving', { code: event.code, problems: event.problems, serial: event.serial });
        else log.warn('bundle refused; no bundle is loaded, every check is denied bundle_unavailable', { code: event.code, problems: event.problems });
      }
      readiness?.changed();
    },
  });
  opened = true;
  const source = bundles;
  const first = source.current();
  if (first) metrics.setBundle({ serial: first.serial, issuedAt: first.issuedAt, routeIds: first.routes.map((r) => r.id) });

  // Whatever is open when a later step fails is released, so a start failure ends the process
  // instead of leaving a watcher, a Redis client or a half-bound port holding it open.
  const undo: (() => unknown)[] = [() => source.close()];
  let server: GrpcServer | undefined;
  try {
    const store =
      opts.store ??
      createReplayStore(replayConfig(config), {
        onError: (error) => {
          metrics.replayStoreError();
          log.warn('replay store error', errorFields(error));
        },
        onGeneration: (startMs) => logGeneration(log, config, startMs),
      });
    if (!opts.store) undo.push(() => store.close());
    if (!opts.store && store.generationStartMs !== undefined) logGeneration(log, config, store.generationStartMs);
    const audit = await AuditSink.open(config.audit.sink === 'file' ? { sink: 'file', file: config.audit.file! } : { sink: config.audit.sink }, {
      flushIntervalMs: config.audit.flush_interval_ms,
      onError: (error) => log.error('audit sink error', errorFields(error)),
    });
    undo.push(() => audit.close());

    const engine = engineOptions(config);
    const check = new CheckService({
      bundle: () => source.current(),
      store,
      settings: { bodyHeader: { trusted: config.body.filter_header.trusted, name: config.body.filter_header.name }, envoyBuffersBody: config.body.envoy_buffers_body },
      engine,
      overload: { maxInFlight: config.overload.max_in_flight, answerMarginMs: config.overload.answer_margin_ms },
      onDecision: (decision, seconds) => {
        metrics.observeDecision(decision, seconds);
        audit.write(decision.audit);
      },
      onInternalError: (error) => {
        metrics.internalError();
        log.error('unexpected error on the request path; denied', errorFields(error));
      },
    });
    const ready = new Readiness(() => source.current() !== undefined, store);
    readiness = ready;
    await ready.start();
    undo.push(() => ready.shutdown());

    const grpcServer = new GrpcServer(tlsFiles(config));
    server = grpcServer;
    check.addToServer(grpcServer);
    ready.addToServer(grpcServer);
    const port = await grpcServer.listen(config.listen.grpc).catch((error: unknown) => {
      throw new Error(`listen.grpc ${config.listen.grpc}: ${error instanceof Error ? error.message : String(error)}`);
    });
    const grpcAddress = config.listen.grpc.startsWith('unix:') ? config.listen.grpc : `${config.listen.grpc.replace(/:[0-9]+$/, '')}:${port}`;

    let http: HttpServer | undefined;
    let httpAddress: string | undefined;
    if (opts.serveHttp !== false) {
      http = createOpsServer({
        metrics,
        readiness: () => ({
          ready: ready.status() === ServingStatus.SERVING,
          detail: { bundle_serial: source.current()?.serial ?? null, replay_store: ready.storeReachable, ...ready.storeDetail() },
        }),
      });
      httpAddress = await listen(http, config.listen.http).catch((error: unknown) => {
        throw new Error(`listen.http ${config.listen.http}: ${error instanceof Error ? error.message : String(error)}`);
      });
    }
    log.info('authz server listening', { grpc: grpcAddress, http: httpAddress ?? null, replay_store: store.kind, mode: config.mode });

    const drain = async (ms: number): Promise<void> => {
      ready.shutdown();
      if (ms > 0) {
        log.info('draining: NOT_SERVING, still answering checks', { drain_ms: ms });
        await new Promise((resolve) => setTimeout(resolve, ms));
      }
    };

    let closing: Promise<void> | undefined;
    const close = (): Promise<void> =>
      (closing ??= (async () => {
        ready.shutdown();
        // An open Watch stream would hold the graceful stop for the whole grace period.
        ready.closeWatchers();
        // GOAWAY on every connection, in-flight calls finish; destroyed after the grace period.
        await grpcServer.shutdown(config.shutdown_grace_ms);
        await check.drained();
        check.close();
        await audit.close();
        source.close();
        if (!opts.store) await store.close();
        if (http) await closeServer(http);
        log.info('authz server stopped');
      })());

    return {
      grpcAddress,
      ...(httpAddress ? { httpAddress } : {}),
      readiness: ready,
      metrics,
      check,
      bundle: () => source.current(),
      ...(engine.passportCache ? { passportCache: engine.passportCache } : {}),
      drain,
      close,
    };
  } catch (error) {
    server?.forceShutdown();
    for (const step of undo.reverse()) {
      try {
        await step();
      } catch {
        // Releasing as much as possible; the start error is what gets reported.
      }
    }
    throw error;
  }
}

/**
 * Tells the operator when the replay store's memory begins and until when passports from before it
 * are denied `replay_state_lost` (docs/configuration.md, "Replay store"); a warning while that lasts.
 */
export function logGeneration(log: Logger, config: ServerConfig, startMs: number): void {
  const untilMs = startMs + (config.engine.max_passport_lifetime_s + 2 * config.engine.clock_tolerance_s) * 1000;
  const fields = { generation_start: new Date(startMs).toISOString(), replay_state_lost_until: new Date(untilMs).toISOString() };
  if (untilMs > Date.now()) log.warn('replay store generation began recently: passports acceptable before it are denied replay_state_lost until they expire', fields);
  else log.info('replay store generation', fields);
}
