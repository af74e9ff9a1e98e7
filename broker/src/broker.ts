/**
 * `startBroker`: load the key and the SPIFFE trust bundle, then serve on the Unix socket (and the
 * optional TCP health/metrics listener). Everything that can be wrong with the configuration fails
 * here, before the socket exists, so a broker that is listening is a broker that can issue.
 */
import type { Server } from 'node:http';
import type { TrustKey, PublicJwk } from '../../core/src/index.js';
import { createLogger, type Logger } from '../../service/src/log.js';
import { closeServer, createBoundedServer, createOpsServer, listen } from '../../service/src/ops-http.js';
import type { BrokerConfig } from './config.js';
import { createPassportHandler } from './http.js';
import { createBrokerMetrics, type BrokerMetrics } from './metrics.js';
import { jwks, loadSigningKey, trustEntry } from './signing-key.js';
import { listenUnix } from './socket.js';
import { SvidVerifier } from './spiffe.js';

export interface BrokerDeps {
  /** Defaults to JSON lines on stderr, `component: "broker"` on each. */
  readonly logger?: Logger;
  /** Unix milliseconds; tests freeze it. */
  readonly nowMs?: () => number;
}

export interface RunningBroker {
  readonly socketPath: string;
  /** Where the TCP health/metrics listener is bound, when `http_listen` is set (port resolved). */
  readonly httpAddress?: { readonly host: string; readonly port: number };
  readonly metrics: BrokerMetrics;
  trustEntry(): TrustKey;
  jwks(): { keys: PublicJwk[] };
  close(): Promise<void>;
}

export async function startBroker(config: BrokerConfig, deps: BrokerDeps = {}): Promise<RunningBroker> {
  const log = deps.logger ?? createLogger('info', undefined, { component: 'broker' });
  const nowMs = deps.nowMs ?? Date.now;
  const key = loadSigningKey(config);
  if (config.keyFile === undefined) log.warn('broker_key_ephemeral', { kid: key.kid, detail: 'no key_file: the key changes on every start' });
  const svid = config.spiffe ? SvidVerifier.fromConfig(config.spiffe) : undefined;
  const metrics = createBrokerMetrics();
  const entry = (): TrustKey => trustEntry(key, config);
  const keySet = (): { keys: PublicJwk[] } => jwks(key);
  const ctx = { config, key, ...(svid ? { svid } : {}), nowMs, metrics, log, jwks: keySet, trustEntry: entry };

  const unixServer = createBoundedServer(createPassportHandler(ctx));
  const bound = await listenUnix(unixServer, config.socketPath, config.socketGroup);

  let tcpServer: Server | undefined;
  let httpAddress: RunningBroker['httpAddress'];
  if (config.httpListen) {
    const { host, port } = config.httpListen;
    tcpServer = createOpsServer({ metrics });
    try {
      await listen(tcpServer, host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);
    } catch (err) {
      await closeServer(unixServer);
      bound.unlink();
      throw err;
    }
    const a = tcpServer.address();
    if (a && typeof a === 'object') httpAddress = Object.freeze({ host: a.address, port: a.port });
  }
  log.info('broker_ready', {
    socket: bound.path,
    socket_group: config.socketGroup?.name ?? config.socketGroup?.gid ?? null,
    kid: key.kid,
    issuer: config.issuer,
    trust_domain: config.trustDomain,
    spiffe_trust_domain: config.spiffe?.trustDomain ?? null,
    http: httpAddress ? `${httpAddress.host}:${httpAddress.port}` : null,
  });

  let closing: Promise<void> | undefined;
  return {
    socketPath: bound.path,
    ...(httpAddress ? { httpAddress } : {}),
    metrics,
    trustEntry: entry,
    jwks: keySet,
    close(): Promise<void> {
      closing ??= (async () => {
        await Promise.all([closeServer(unixServer), tcpServer ? closeServer(tcpServer) : Promise.resolve()]);
        bound.unlink();
        log.info('broker_stopped');
      })();
      return closing;
    },
  };
}
