/**
 * The one-machine stack: the authz server (real gRPC on loopback), the broker (Unix socket), an
 * echo upstream, and the development gateway running the real `.wasm` in front of them. Used by
 * `trustplane demo`, `trustplane up` (through cli/src/local-stack.ts) and the end-to-end tests.
 * Development tooling: dev/ is not in the image (.dockerignore, tsconfig.build.json).
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBroker, parseBrokerConfig, type RunningBroker } from '../broker/src/index.js';
import { loadConfig } from '../authz-server/src/config.js';
import { createLogger } from '../service/src/log.js';
import { PACKAGE_ROOT } from '../core/src/package-root.js';
import { startServer } from '../authz-server/src/server.js';
import { MemoryReplayStore } from '../core/src/server-api.js';
import { startEcho } from '../gateway/src/echo.js';
import { startGateway, type GatewayRoute, type RunningGateway } from './gateway/gateway.js';
import { DEV, ensureDevState } from '../cli/src/dev-state.js';
import type { LocalStackHandle, StackOptions } from '../cli/src/local-stack.js';

export const WASM_PATH = join(PACKAGE_ROOT, 'wasm-filter', 'build', 'trustplane_filter.wasm');
export const MAX_BODY_BYTES = 1024 * 1024;
/** As envoy/envoy.yaml: the listener buffer is a little larger, so the filter (not Envoy) answers an oversized body. */
export const BUFFER_LIMIT_BYTES = MAX_BODY_BYTES + 64 * 1024;

/**
 * As envoy/envoy.yaml's first route: a path with a ";" parameter (also "%3B") is answered 400 before
 * any route, so it cannot reach an unchecked route (`/public/..;/v1/admin`) and be resolved by the
 * upstream as another path (docs/transcript-v1.md §6.4).
 */
export const PATH_PARAMETER_REJECT: GatewayRoute = Object.freeze({
  safeRegex: '.*(;|%3[Bb]).*',
  wasm: false,
  extAuthz: false,
  directResponse: { status: 400, body: '{"error":"path_parameter"}' },
});

export const WASM_CONFIGURATION = Object.freeze({
  header: 'x-trustplane-body-sha256',
  max_body_bytes: MAX_BODY_BYTES,
  require_passport_header: 'x-trustplane-passport',
  log_level: 'info',
});

/**
 * Mirrors envoy/envoy.yaml: route ids from context_extensions; uploads buffered instead of hashed in
 * wasm. Each route sends only requests its bundle route (devRoutes) covers: the server denies any
 * other as route_request_mismatch, and test/envoy/shipped-routes.test.ts checks the pairing.
 */
const ROUTES: GatewayRoute[] = [
  PATH_PARAMETER_REJECT,
  { prefix: '/public/', wasm: false, extAuthz: false },
  { safeRegex: '/v1/payments/[^/]+', methods: ['GET'], wasm: true, extAuthz: true, contextExtensions: { trustplane_route: 'payments-read' } },
  { path: '/v1/payments', methods: ['POST'], wasm: true, extAuthz: true, contextExtensions: { trustplane_route: 'payments-create' } },
  {
    path: '/v1/uploads',
    methods: ['POST'],
    wasm: false,
    extAuthz: true,
    contextExtensions: { trustplane_route: 'uploads-create', trustplane_body: 'buffered' },
    withRequestBody: { maxRequestBytes: MAX_BODY_BYTES, allowPartialMessage: false, packAsBytes: true },
  },
  { prefix: '/v1/admin/', wasm: true, extAuthz: true, contextExtensions: { trustplane_route: 'admin' } },
];
export const GATEWAY_ROUTES: readonly GatewayRoute[] = Object.freeze(ROUTES);

export interface LocalStack extends LocalStackHandle {
  readonly broker: RunningBroker;
  readonly gateway: RunningGateway;
}

export async function startLocalStack(o: StackOptions = {}): Promise<LocalStack> {
  const scratch = mkdtempSync(join(tmpdir(), 'trustplane-stack-'));
  const stateDir = o.stateDir ?? join(scratch, 'state');
  // Whether this run makes the trust material (and so no passport it accepts can be older).
  const freshKeys = !existsSync(stateDir) || readdirSync(stateDir).length === 0;
  const keysMadeMs = Date.now();
  const state = ensureDevState(stateDir);
  const log = o.logger ?? createLogger('warn');
  const config = loadConfig({
    overrides: {
      'listen.grpc': '127.0.0.1:0',
      'listen.http': '127.0.0.1:0',
      'bundle.path': state.bundlePath,
      'bundle.signing_keys': state.signingKeysPath,
      'body.filter_header.trusted': true,
      'audit.sink': o.auditFile ? 'file' : 'none',
      ...(o.auditFile ? { 'audit.file': o.auditFile } : {}),
      workers: 1,
      shutdown_grace_ms: 2000,
    },
  });
  // Trust material made just now: no passport it accepts can be dated before it, so a fresh memory
  // store has forgotten nothing (docs/configuration.md, "Replay store"). With trust material from an
  // earlier run the store's generation starts with the process, as a server's does.
  const store =
    freshKeys
      ? new MemoryReplayStore({
          maxEntries: config.replay.memory.max_entries,
          generationStartMs: (Math.floor(keysMadeMs / 1000) - config.engine.clock_tolerance_s) * 1000,
        })
      : undefined;
  const server = await startServer(config, { logger: log, serveHttp: true, ...(store ? { store } : {}) });
  const brokerSocket = join(scratch, 'broker.sock');
  const broker = await startBroker(
    parseBrokerConfig({
      socket_path: brokerSocket,
      issuer: DEV.brokerIssuer,
      trust_domain: DEV.trustDomain,
      key_file: join(state.dir, 'broker-key.jwk.json'),
      software: { subject: 'spiffe://dev.trustplane.local/ns/demo/sa/broker-caller' },
    }),
    { logger: createLogger('error', () => {}) },
  );
  const echo = await startEcho();
  const gateway = await startGateway({
    listen: o.gatewayListen ?? '127.0.0.1:0',
    authz: server.grpcAddress,
    upstream: echo.url,
    routes: GATEWAY_ROUTES,
    wasm: { path: WASM_PATH, configuration: WASM_CONFIGURATION },
    statusOnError: 503,
    timeoutMs: 1000,
    bufferLimitBytes: BUFFER_LIMIT_BYTES,
  });
  return {
    state,
    server,
    broker,
    gateway,
    upstreamUrl: echo.url,
    brokerSocket,
    close: async () => {
      await gateway.close();
      await echo.close();
      await broker.close();
      await server.close();
      await store?.close();
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}
