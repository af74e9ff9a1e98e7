/**
 * Runs the server on every core: a primary process supervises `workers` worker processes that all
 * accept on the one gRPC address (node:cluster shares the listening socket), and serves the HTTP
 * port itself (metrics aggregated from the workers, /healthz, /readyz).
 *
 * Replay state must be shared by every process that decides: with Redis each worker has its own
 * client to the same Redis; with the memory store the single store lives in the primary and the
 * workers consume through IPC (`IpcReplayStore`), so a jti consumed by one worker is a replay for
 * all of them. SIGTERM/SIGINT: the primary reports not-ready, tells each worker to shut down
 * gracefully (stop accepting, finish in-flight checks, flush audit) and exits when all have.
 */
import cluster, { type Worker } from 'node:cluster';
import { MemoryReplayStore } from '../../core/src/replay/memory.js';
import type { ConsumeResult, ReplayStore } from '../../core/src/replay/types.js';
import type { ServerConfig } from './config.js';
import { createOpsServer } from './http.js';
import { createLogger, errorFields } from './log.js';
import { ClusterMetrics } from './metrics.js';
import type { Readiness } from './health.js';
import { ServingStatus } from './proto.js';
import { listenHttp, logGeneration, startServer } from './server.js';

const CONFIG_ENV = 'TRUSTPLANE_WORKER_CONFIG';

type ToPrimary =
  | { tp: 'consume'; id: number; key: string; ttlMs: number; nowMs: number; acceptedFromMs: number }
  | { tp: 'ping'; id: number }
  | { tp: 'ready'; ready: boolean; serial: number | null; store?: StoreDetail };
type StoreDetail = ReturnType<Readiness['storeDetail']>;
type ToWorker = { tp: 'result'; id: number; result: ConsumeResult | boolean } | { tp: 'shutdown' };

/** A worker's view of the primary's memory store. Fails closed if the primary does not answer. */
export class IpcReplayStore implements ReplayStore {
  readonly kind = 'memory' as const;
  #next = 1;
  #pending = new Map<number, (r: ConsumeResult | boolean) => void>();

  constructor(private readonly timeoutMs = 1000) {
    process.on('message', (m: ToWorker) => {
      if (m?.tp === 'result') {
        this.#pending.get(m.id)?.(m.result);
        this.#pending.delete(m.id);
      }
    });
  }

  #ask(msg: { tp: 'consume'; key: string; ttlMs: number; nowMs: number; acceptedFromMs: number } | { tp: 'ping' }, fallback: ConsumeResult | boolean): Promise<ConsumeResult | boolean> {
    const id = this.#next++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        resolve(fallback);
      }, this.timeoutMs);
      this.#pending.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      if (!process.send?.({ ...msg, id } as ToPrimary)) {
        clearTimeout(timer);
        this.#pending.delete(id);
        resolve(fallback);
      }
    });
  }

  async consume(key: string, ttlMs: number, nowMs: number, acceptedFromMs: number): Promise<ConsumeResult> {
    // The worker's engine clock travels with the request: the primary's store keeps time by it.
    return (await this.#ask({ tp: 'consume', key, ttlMs, nowMs, acceptedFromMs }, 'unavailable')) as ConsumeResult;
  }

  async ping(): Promise<boolean> {
    return (await this.#ask({ tp: 'ping' }, false)) === true;
  }

  async close(): Promise<void> {
    for (const resolve of this.#pending.values()) resolve('unavailable');
    this.#pending.clear();
  }
}

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
    const server = await startServer(config, { logger: log, serveHttp: true });
    onSignals(async () => {
      await server.close();
      process.exit(0);
    });
    return;
  }
  await runPrimary(config, log);
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

async function runPrimary(config: ServerConfig, log: ReturnType<typeof createLogger>): Promise<void> {
  const memory = config.replay.store === 'memory' ? new MemoryReplayStore({ maxEntries: config.replay.memory.max_entries }) : undefined;
  const ready = new Map<number, { ready: boolean; serial: number | null; store?: StoreDetail }>();
  let shuttingDown = false;

  const fork = (): Worker => {
    const w = cluster.fork({ [CONFIG_ENV]: JSON.stringify(config) });
    w.on('message', (m: ToPrimary) => {
      if (m?.tp === 'ready') ready.set(w.id, { ready: m.ready, serial: m.serial, ...(m.store !== undefined ? { store: m.store } : {}) });
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
    log.error('worker exited; starting another', { worker: w.id, code, signal });
    fork();
  });

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
  const httpAddress = await listenHttp(http, config.listen.http);
  log.info('authz server primary started', { workers: config.workers, http: httpAddress, replay_store: config.replay.store });
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
            }, config.shutdown_grace_ms + 2000);
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
  const server = await startServer(config, { logger: log, serveHttp: false, metricsToPrimary: true, ...(store ? { store } : {}) });
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
  const timer = setInterval(report, 1000);
  timer.unref();
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    try {
      await server.close();
    } catch (error) {
      log.error('error during shutdown', errorFields(error));
    }
    process.exit(0);
  };
  process.on('message', (m: ToWorker) => {
    if (m?.tp === 'shutdown') void stop();
  });
  process.on('disconnect', () => void stop());
}
