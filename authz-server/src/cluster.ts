/**
 * Runs the server on every core: a primary process supervises `workers` worker processes that all
 * accept on the one gRPC address (node:cluster shares the listening socket), and serves the HTTP
 * port itself (metrics aggregated from the workers, /healthz, /readyz).
 *
 * Replay state must be shared by every process that decides: with Redis each worker has its own
 * client to the same Redis; with the memory store the single store lives in the primary and the
 * workers consume through IPC (`IpcReplayStore`, authz-server/src/cluster/ipc.ts), so a jti
 * consumed by one worker is a replay for all of them. SIGTERM/SIGINT: the primary reports
 * not-ready, tells each worker to shut down gracefully — drain (NOT_SERVING on grpc.health.v1
 * while still answering, `shutdown_drain_ms`), then stop accepting, finish in-flight checks,
 * flush audit — and exits when all have.
 *
 * A worker that cannot start (no bundle, port in use, ...) tells the primary why and exits; the
 * primary then ends the whole server at once, non-zero, with that cause on one line, rather than
 * forking replacements that fail the same way while /healthz says all is well.
 */
import cluster, { type Worker } from 'node:cluster';
import { MemoryReplayStore, type ConsumeResult } from '../../core/src/server-api.js';
import type { ServerConfig } from './config.js';
import { createLogger, errorFields } from '../../service/src/log.js';
import { createOpsServer, listen } from '../../service/src/ops-http.js';
import { ClusterMetrics } from './metrics.js';
import { ServingStatus } from './envoy/services.js';
import { logGeneration, startServer } from './server.js';
import { IpcReplayStore, type StoreDetail, type ToPrimary, type ToWorker } from './cluster/ipc.js';

export { IpcReplayStore } from './cluster/ipc.js';

const CONFIG_ENV = 'TRUSTPLANE_WORKER_CONFIG';

/** True in a worker forked by runServer: it takes its config from the primary, not from argv. */
export function isServerWorker(): boolean {
  return cluster.isWorker && process.env[CONFIG_ENV] !== undefined;
}

/** Worker entry; the config is the primary's, already validated. */
export function runForkedWorker(): Promise<void> {
  return runWorker(JSON.parse(process.env[CONFIG_ENV]!) as ServerConfig);
}

/** Entry for `trustplane server`: single process when workers is 1, otherwise primary + workers. */
export async function runServer(config: ServerConfig): Promise<void> {
  if (cluster.isWorker && process.env[CONFIG_ENV]) return runWorker(JSON.parse(process.env[CONFIG_ENV]) as ServerConfig);
  const log = createLogger(config.log_level);
  if (config.workers <= 1) {
    const server = await startServer(config, { logger: log, serveHttp: true }).catch(cannotStart);
    onSignals(async () => {
      await server.drain(config.shutdown_drain_ms);
      await server.close();
      process.exit(0);
    });
    return;
  }
  await runPrimary(config, log);
}

/** The cause of a start failure, on one line. */
function oneLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, '; ').trim();
}

/** Ends the process on a start failure: one line on stderr, exit 1, nothing left to hold it open. */
function cannotStart(error: unknown): never {
  process.stderr.write(`trustplane server: cannot start: ${oneLine(error)}\n`);
  process.exit(1);
}

function onSignals(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (): void => {
    if (stopping) return;
    stopping = true;
    void stop();
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

/**
 * Memory reports for the soak (scripts/soak.ts; docs/performance.md, "Soak"), off unless
 * TRUSTPLANE_MEMORY_REPORT_MS is set: then this process logs `memory` (info) that often: its RSS,
 * V8 heap and, in the primary with the memory store, the replay store's entries; and on SIGUSR2 it
 * logs one more report after a full garbage collection when it runs with --expose-gc
 * (`after_gc: true`), which tells heap the collector can free from heap that is really held.
 */
function memoryReports(log: ReturnType<typeof createLogger>, role: 'primary' | 'worker', replayEntries?: () => number): void {
  const everyMs = Number(process.env['TRUSTPLANE_MEMORY_REPORT_MS'] ?? 0);
  if (!(everyMs > 0)) return;
  const report = (afterGc: boolean): void => {
    const m = process.memoryUsage();
    log.info('memory', {
      role,
      after_gc: afterGc,
      rss: m.rss,
      heap_used: m.heapUsed,
      heap_total: m.heapTotal,
      external: m.external,
      array_buffers: m.arrayBuffers,
      ...(replayEntries ? { replay_entries: replayEntries() } : {}),
    });
  };
  setInterval(() => report(false), everyMs).unref();
  process.on('SIGUSR2', () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    report(gc !== undefined);
  });
}

async function runPrimary(config: ServerConfig, log: ReturnType<typeof createLogger>): Promise<void> {
  const memory = config.replay.store === 'memory' ? new MemoryReplayStore({ maxEntries: config.replay.memory.max_entries }) : undefined;
  const ready = new Map<number, { ready: boolean; serial: number | null; store?: StoreDetail }>();
  let shuttingDown = false;

  // The HTTP port first: a port in use fails the start before any worker exists.
  const metrics = new ClusterMetrics();
  const http = createOpsServer({
    metrics,
    readiness: () => {
      const states = [...ready.values()];
      const ok = !shuttingDown && states.length === config.workers && states.every((s) => s.ready);
      // Every worker has its own Redis client; the first one with something to say speaks for them.
      const storeProblem = states.find((s) => s.store?.replay_store_problem !== undefined)?.store?.replay_store_problem;
      const generationStart = memory ? new Date(memory.generationStartMs).toISOString() : states.find((s) => s.store?.replay_generation_start !== undefined)?.store?.replay_generation_start;
      return {
        ready: ok,
        detail: {
          workers: states.length,
          workers_ready: states.filter((s) => s.ready).length,
          ...(storeProblem !== undefined ? { replay_store_problem: storeProblem } : {}),
          ...(generationStart !== undefined ? { replay_generation_start: generationStart } : {}),
        },
      };
    },
  });
  const httpAddress = await listen(http, config.listen.http).catch((error: unknown) => cannotStart(`listen.http ${config.listen.http}: ${oneLine(error)}`));

  /** Workers that have reported once: a worker that exits before that never started. */
  const started = new Set<number>();
  const startFailed = (w: Worker, cause: string): void => {
    if (shuttingDown) return;
    shuttingDown = true;
    for (const other of Object.values(cluster.workers ?? {})) if (other && other.id !== w.id) other.process.kill('SIGKILL');
    cannotStart(cause);
  };

  // Workers start with the primary's Node flags (node:cluster's default) and V8's own young
  // generation, which it grows under load and shrinks in lulls: fixed from the start, at any size
  // from 2 to 16 MB, an overloaded server kept less goodput and answered late on the gate of that
  // day, and no better than V8's own since (docs/performance.md, "A worker's young generation, V8's again").
  const fork = (): Worker => {
    const w = cluster.fork({ [CONFIG_ENV]: JSON.stringify(config) });
    w.on('message', (m: ToPrimary) => {
      if (m?.tp === 'start-failed') startFailed(w, m.cause);
      else if (m?.tp === 'ready') {
        started.add(w.id);
        ready.set(w.id, { ready: m.ready, serial: m.serial, ...(m.store !== undefined ? { store: m.store } : {}) });
      }
      else if (m?.tp === 'ping') w.send({ tp: 'result', id: m.id, result: memory !== undefined } satisfies ToWorker);
      else if (m?.tp === 'consume') {
        const answer = (result: ConsumeResult): void => void w.send({ tp: 'result', id: m.id, result } satisfies ToWorker);
        if (!memory) answer('unavailable');
        else memory.consume(m.key, m.ttlMs, m.nowMs, m.acceptedFromMs).then(answer, () => answer('unavailable'));
      }
    });
    return w;
  };
  for (let i = 0; i < config.workers; i++) fork();
  cluster.on('exit', (w, code, signal) => {
    ready.delete(w.id);
    if (shuttingDown) return;
    if (!started.has(w.id)) return startFailed(w, `a worker exited (${signal ?? `code ${code}`}) before it was ready`);
    log.error('worker exited; starting another', { worker: w.id, code, signal });
    fork();
  });
  log.info('authz server primary started', { workers: config.workers, http: httpAddress, replay_store: config.replay.store });
  memoryReports(log, 'primary', memory ? () => memory.size : undefined);
  if (memory) logGeneration(log, config, memory.generationStartMs);

  onSignals(async () => {
    shuttingDown = true;
    log.info('shutting down workers');
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            const kill = setTimeout(() => {
              w.process.kill('SIGKILL');
              resolve();
            }, config.shutdown_drain_ms + config.shutdown_grace_ms + 2000);
            w.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            w.send({ tp: 'shutdown' } satisfies ToWorker);
          }),
      ),
    );
    http.close();
    await memory?.close();
    log.info('authz server stopped');
    process.exit(0);
  });
}

async function runWorker(config: ServerConfig): Promise<void> {
  const log = createLogger(config.log_level);
  // The primary owns signals; a worker only reacts to its shutdown message (or to losing it).
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => {});
  const store = config.replay.store === 'memory' ? new IpcReplayStore() : undefined;
  const server = await startServer(config, { logger: log, serveHttp: false, metricsToPrimary: true, ...(store ? { store } : {}) }).catch((error: unknown) => {
    // The primary reports it, once for the whole server; this worker only has to go.
    const exit = (): never => process.exit(1);
    setTimeout(exit, 2000);
    process.send?.({ tp: 'start-failed', cause: oneLine(error) } satisfies ToPrimary, undefined, {}, exit);
    return new Promise<never>(() => {});
  });
  const report = (): void => {
    const store = server.readiness.storeDetail();
    process.send?.({
      tp: 'ready',
      ready: server.readiness.status() === ServingStatus.SERVING,
      serial: server.bundle()?.serial ?? null,
      store,
    } satisfies ToPrimary);
  };
  report();
  memoryReports(log, 'worker');
  const timer = setInterval(report, 1000);
  timer.unref();
  let stopping = false;
  const stop = async (drainMs: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    try {
      const draining = server.drain(drainMs);
      report();
      await draining;
      await server.close();
    } catch (error) {
      log.error('error during shutdown', errorFields(error));
    }
    process.exit(0);
  };
  process.on('message', (m: ToWorker) => {
    if (m?.tp === 'shutdown') void stop(config.shutdown_drain_ms);
  });
  // Without the primary nothing routes connections here any more: no point in draining.
  process.on('disconnect', () => void stop(0));
}
