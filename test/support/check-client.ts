/**
 * Helpers for tests and benches that drive the REAL authz server: a trust setup on disk (bundle
 * signing key as a JWKS file, a signed bundle, issuer and holder keys, all on the real clock), Envoy-
 * shaped CheckRequests for signed requests (built with Envoy's official definitions), a gRPC client
 * that can open its own connection, a grpc.health.v1 client, a Prometheus text reader, and a
 * harness that runs `trustplane server` as a real child process.
 *
 * Nothing here mocks the server: every helper talks to it over its real sockets.
 */
import { MemoryReplayStore } from '../../core/src/replay/memory.js';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { loadConfig } from '../../authz-server/src/config.js';
import { createLogger } from '../../service/src/log.js';
import { startServer, type RunningServer, type StartOptions } from '../../authz-server/src/server.js';
import { buildBundle, signBundle, type BundleDocument, type Route, type Revocations } from '../../core/src/bundle/index.js';
import { generateSigningKey, type SigningKey } from '../../core/src/keys.js';
import { issuePassport, type IssuePassportOptions } from '../../core/src/passport.js';
import { collectHeaders, signRequest, type SignOptions } from '../../core/src/signer.js';
import { REASONS, type ReasonCode } from '../../core/src/reasons.js';
import type { KeyBinding } from '../../core/src/types.js';
import {
  CHECK_PATH,
  OfficialCheckResponse,
  REPO_ROOT,
  decodeOfficialCheckResponse,
  structToPlain,
  envoyCheckRequest,
  type EnvoyCheckInput,
} from './envoy-api.js';

type OfficialCheckResponseShape = OfficialCheckResponse;
import { freePort } from './redis-server.js';
import { AUDIENCE, ISSUER, SUBJECT, TRUST_DOMAIN, route, trustKey } from './world.js';

export { AUDIENCE, ISSUER, SUBJECT, TRUST_DOMAIN } from './world.js';

// ---------------------------------------------------------------------------------------------
// Trust material on disk, on the real clock

export const BROKER_ISSUER = 'https://broker.example.test';

/** The routes every server test bundle starts with. */
export function defaultRoutes(): Route[] {
  return [
    route('payments-create', { bound_headers: ['content-type'], body: { mode: 'bound', hash_source: 'filter' } }),
    route('payments-read', { match: { methods: ['GET'], path: '/v1/payments/*' }, body: { mode: 'empty', hash_source: 'filter' } }),
    route('attested-admin', {
      match: { path: '/v1/admin/**' },
      required_key_binding: 'attested_workload',
      allowed_sources: [{ issuer: BROKER_ISSUER, trust_domain: TRUST_DOMAIN, subject: 'spiffe://example.test/**' }],
    }),
    route('payments-shadow', { match: { methods: ['POST'], path: '/v1/shadow' }, mode: 'dry_run' }),
  ];
}

export interface TrustSetup {
  readonly dir: string;
  /** Signs bundles; its public JWK is in `jwksPath`. */
  readonly bundleSigner: SigningKey;
  readonly issuerKey: SigningKey;
  readonly attestedKey: SigningKey;
  readonly holder: SigningKey;
  readonly jwksPath: string;
  readonly bundlePath: string;
  /** Build (and by default sign) a bundle document on the real clock. */
  bundle(opts?: { serial?: number; routes?: Route[]; expiresInS?: number; signer?: SigningKey | null; revocations?: Partial<Revocations> }): BundleDocument;
  /** Replace the bundle file the way deploy tools do (write a sibling, rename over). */
  writeBundle(doc: BundleDocument | string): void;
  dispose(): void;
}

export function makeTrust(prefix = 'tp-server-test-'): TrustSetup {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const bundleSigner = generateSigningKey('EdDSA');
  const issuerKey = generateSigningKey('EdDSA');
  const attestedKey = generateSigningKey('ES256');
  const holder = generateSigningKey('EdDSA');
  const jwksPath = join(dir, 'bundle-signing.jwks.json');
  writeFileSync(jwksPath, JSON.stringify({ keys: [bundleSigner.publicJwk] }));
  const bundlePath = join(dir, 'bundle.json');
  let tmpCounter = 0;
  const setup: TrustSetup = {
    dir,
    bundleSigner,
    issuerKey,
    attestedKey,
    holder,
    jwksPath,
    bundlePath,
    bundle(opts = {}) {
      const nowS = Math.floor(Date.now() / 1000);
      const built = buildBundle({
        issuedAt: nowS - 60,
        expiresAt: nowS + (opts.expiresInS ?? 86_400),
        serial: opts.serial ?? 1,
        keys: [trustKey(issuerKey), trustKey(attestedKey, { issuer: BROKER_ISSUER, max_key_binding: 'attested_workload' })],
        routes: opts.routes ?? defaultRoutes(),
        ...(opts.revocations ? { revocations: opts.revocations } : {}),
      });
      if (!built.ok) throw new Error(`test bundle invalid: ${JSON.stringify(built)}`);
      return opts.signer === null ? built.bundle : signBundle(built.bundle, opts.signer ?? bundleSigner);
    },
    writeBundle(doc) {
      const tmp = `${bundlePath}.tmp-${process.pid}-${tmpCounter++}`;
      writeFileSync(tmp, typeof doc === 'string' ? doc : JSON.stringify(doc, null, 2));
      // A rename is atomic on one filesystem: the server never reads a half-written file.
      renameSync(tmp, bundlePath);
    },
    dispose() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return setup;
}

// ---------------------------------------------------------------------------------------------
// Signed requests, presented the way Envoy presents them

export interface SignedCheckOptions {
  readonly method?: string;
  readonly authority?: string;
  readonly path?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly route?: string;
  readonly bindHeaders?: readonly string[];
  /** Passport overrides (issuer, subject, key binding, clock, lifetime, key...). */
  readonly passport?: Partial<IssuePassportOptions> & { keyBinding?: KeyBinding };
  /** A passport to use as is (replay tests present one passport twice). */
  readonly passportToken?: string;
  readonly sign?: Partial<SignOptions>;
}

export interface SignedCheck {
  readonly passport: string;
  readonly proof: string;
  readonly method: string;
  readonly authority: string;
  readonly path: string;
  readonly body: string;
  /** Lower-case name → value, credentials included. */
  readonly headers: Map<string, string>;
}

/**
 * Passport options for a server that started moments ago on the memory store or an empty Redis:
 * dated the clock tolerance ahead, the passport cannot have been accepted before the server's
 * replay generation began, so the amnesia guard lets it through (docs/configuration.md). `iat` is
 * in whole seconds: await `nextSecond()` after the start first.
 */
export function afterStart(toleranceS = 30): { nowMs: number } {
  return { nowMs: Date.now() + toleranceS * 1000 };
}

/** Resolves once the clock has entered the next whole second. */
export function nextSecond(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 5));
}

/** Sign a request on the real clock with the setup's issuer and holder keys. */
export function signCheck(t: TrustSetup, o: SignedCheckOptions = {}): SignedCheck {
  const nowMs = Date.now();
  const method = o.method ?? 'POST';
  const authority = o.authority ?? 'api.example.test';
  const path = o.path ?? '/v1/payments';
  const body = o.body ?? (method === 'GET' ? '' : '{"amount":100}');
  const headers = o.headers ?? (method === 'GET' ? {} : { 'content-type': 'application/json' });
  const passport =
    o.passportToken ??
    issuePassport({
      key: t.issuerKey,
      issuer: ISSUER,
      subject: SUBJECT,
      audience: AUDIENCE,
      trustDomain: TRUST_DOMAIN,
      holder: t.holder.publicJwk,
      keyBinding: 'software',
      lifetimeS: 60,
      nowMs,
      ...o.passport,
    });
  const s = signRequest(
    { method, authority, pathAndQuery: path, headers, body },
    {
      passport,
      holder: t.holder,
      route: o.route ?? 'payments-create',
      bindHeaders: o.bindHeaders ?? (method === 'GET' ? [] : ['content-type']),
      nowMs,
      ...o.sign,
    },
  );
  const all = collectHeaders(headers);
  all.set('x-trustplane-passport', s.headers['x-trustplane-passport']);
  all.set('x-trustplane-proof', s.headers['x-trustplane-proof']);
  return { passport, proof: s.headers['x-trustplane-proof'], method, authority, path, body, headers: all };
}

/** 1 MiB: the body buffer Envoy is configured with in these tests (`with_request_body`). */
export const ENVOY_MAX_REQUEST_BYTES = 1024 * 1024;

/** The EnvoyCheckInput for a signed request: HTTP/1.1, body buffered with pack_as_bytes. */
export function envoyInput(s: SignedCheck, over: Partial<EnvoyCheckInput> = {}): EnvoyCheckInput {
  return {
    method: s.method,
    authority: s.authority,
    path: s.path,
    scheme: 'https',
    headers: [...s.headers.entries()],
    ...(s.body !== '' ? { body: s.body, withRequestBody: { maxRequestBytes: ENVOY_MAX_REQUEST_BYTES, packAsBytes: true } } : {}),
    source: { address: '10.0.0.7', port: 51234 },
    time: new Date(),
    ...over,
  };
}

/** Encoded CheckRequest bytes (official definitions) for a signed request. */
export function checkBytes(s: SignedCheck, over: Partial<EnvoyCheckInput> = {}): Buffer {
  return envoyCheckRequest(envoyInput(s, over));
}

// ---------------------------------------------------------------------------------------------
// gRPC clients

export interface CheckClient {
  check(bytes: Uint8Array, deadlineMs?: number): Promise<OfficialCheckResponse>;
  checkBytes(bytes: Uint8Array, deadlineMs?: number): Promise<Buffer>;
  close(): void;
}

/**
 * A raw Check client. `ownConnection` gives it a private subchannel pool, so several clients open
 * several HTTP/2 connections (grpc-js shares one per target otherwise) — that is how load is spread
 * over cluster workers, which each accept whole connections.
 */
export function makeCheckClient(address: string, opts: { ownConnection?: boolean } = {}): CheckClient {
  const options: grpc.ChannelOptions = opts.ownConnection ? { 'grpc.use_local_subchannel_pool': 1 } : {};
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), options);
  const checkBytesFn = (bytes: Uint8Array, deadlineMs = 5000): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      client.makeUnaryRequest<Uint8Array, Buffer>(
        CHECK_PATH,
        (m) => Buffer.from(m),
        (r) => r,
        bytes,
        new grpc.Metadata(),
        { deadline: Date.now() + deadlineMs },
        (err, response) => {
          if (err !== null) reject(err);
          else if (response === undefined) reject(new Error('empty response'));
          else resolve(response);
        },
      );
    });
  return {
    checkBytes: checkBytesFn,
    check: async (bytes, deadlineMs) => decodeOfficialCheckResponse(await checkBytesFn(bytes, deadlineMs)),
    close: () => client.close(),
  };
}

export type HealthStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';
const HEALTH_NAMES: readonly HealthStatus[] = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

/** grpc.health.v1.Health/Check, encoded by hand (one string field in, one enum field out). */
export function healthCheck(address: string, service = '', deadlineMs = 3000): Promise<HealthStatus> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const w = protobuf.Writer.create();
  if (service !== '') w.uint32(10).string(service);
  const request = Buffer.from(w.finish());
  return new Promise<HealthStatus>((resolve, reject) => {
    client.makeUnaryRequest<Buffer, Buffer>(
      '/grpc.health.v1.Health/Check',
      (m) => m,
      (r) => r,
      request,
      new grpc.Metadata(),
      { deadline: Date.now() + deadlineMs },
      (err, response) => {
        client.close();
        if (err !== null) return reject(err);
        const r = protobuf.Reader.create(response ?? Buffer.alloc(0));
        let status = 0;
        while (r.pos < r.len) {
          const tag = r.uint32();
          if (tag >>> 3 === 1) status = r.int32();
          else r.skipType(tag & 7);
        }
        resolve(HEALTH_NAMES[status] ?? 'UNKNOWN');
      },
    );
  });
}

/** Polls until `fn` returns true or `timeoutMs` passes; throws with `what` on timeout. */
export async function waitFor(what: string, fn: () => Promise<boolean> | boolean, timeoutMs = 10_000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      if (await fn()) return;
    } catch (error) {
      last = error;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function httpGet(address: string, path: string, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://${address}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, body: await res.text() };
}

// ---------------------------------------------------------------------------------------------
// Reading CheckResponses and metrics

/** The headers of an ok or denied response as name → value (every name is expected once). */
export function headerMap(options: readonly { header?: { key?: string; value?: string } }[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const o of options ?? []) if (o.header?.key !== undefined) out[o.header.key] = o.header.value ?? '';
  return out;
}

export interface MetricSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Prometheus text exposition → samples (comments skipped). */
export function parseMetrics(text: string): MetricSample[] {
  const out: MetricSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** Sum of the samples named `name` whose labels include every `labels` pair. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  return parseMetrics(text)
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

// ---------------------------------------------------------------------------------------------
// `trustplane server` as a real child process

export const CLI_MAIN = join(REPO_ROOT, 'dist', 'cli', 'src', 'main.js');

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly grpcAddress: string;
  readonly httpAddress: string;
  readonly configPath: string;
  /** Operational log lines (stderr) so far. */
  readonly log: string[];
  /** Resolves with the exit code (or the signal name) once the process is gone. */
  readonly exited: Promise<number | string>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | string>;
}

/**
 * Starts `node dist/cli/src/main.js server --config <file>` with `config` (listen addresses are
 * filled with free loopback ports) and waits until `/readyz` answers 200.
 */
export async function spawnServerProcess(dir: string, config: Record<string, unknown>, opts: { name?: string; readyTimeoutMs?: number; nodeArgs?: string[]; cliMain?: string } = {}): Promise<ServerProcess> {
  const grpcAddress = `127.0.0.1:${await freePort()}`;
  const httpAddress = `127.0.0.1:${await freePort()}`;
  const configPath = join(dir, `${opts.name ?? 'server'}-${grpcAddress.split(':')[1]}.json`);
  writeFileSync(configPath, JSON.stringify({ ...config, listen: { grpc: grpcAddress, http: httpAddress } }, null, 2));
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), opts.cliMain ?? CLI_MAIN, 'server', '--config', configPath], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, TRUSTPLANE_CONFIG: '' },
  });
  children.add(child);
  const log: string[] = [];
  let partial = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    partial += chunk.toString('utf8');
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    if (log.length < 5000) log.push(...lines);
  });
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve(code ?? signal ?? 'unknown');
    });
  });
  let gone = false;
  void exited.then(() => (gone = true));
  const stop = async (graceMs = 15_000): Promise<number | string> => {
    if (!gone) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };
  const proc: ServerProcess = { child, pid: child.pid!, grpcAddress, httpAddress, configPath, log, exited, stop };
  try {
    await waitFor(
      `${opts.name ?? 'server'} /readyz (log: ${log.slice(-5).join(' | ')})`,
      async () => {
        if (gone) throw new Error(`server exited early: ${log.slice(-10).join('\n')}`);
        return (await httpGet(httpAddress, '/readyz', 1000)).status === 200;
      },
      opts.readyTimeoutMs ?? 20_000,
      100,
    );
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    throw error;
  }
  return proc;
}

/** The server config every process test starts from (JSON is YAML too). */
export function baseConfig(t: TrustSetup, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    bundle: { path: t.bundlePath, signing_keys: t.jwksPath, poll_interval_ms: 200 },
    audit: { sink: 'none' },
    log_level: 'warn',
    workers: 1,
    // No drain period on SIGTERM unless a test asks for one: stops stay quick.
    shutdown_drain_ms: 0,
    ...over,
  };
}

// ---------------------------------------------------------------------------------------------
// The server in this process


type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

export function deepMerge(base: Obj, over: Obj): Obj {
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isObj(v) && isObj(out[k]) ? deepMerge(out[k] as Obj, v) : v;
  return out;
}

export interface InProcessServer {
  readonly server: RunningServer;
  readonly grpcAddress: string;
  readonly httpAddress: string;
  /** Operational log lines (JSON), captured instead of written to stderr. */
  readonly log: string[];
}

/** `startServer` on 127.0.0.1:0 (gRPC and HTTP) with the setup's bundle; `over` is deep-merged into the config file. */
export async function startInProcess(t: TrustSetup, over: Obj = {}, start: Pick<StartOptions, 'store'> = {}): Promise<InProcessServer> {
  const file = deepMerge(
    {
      listen: { grpc: '127.0.0.1:0', http: '127.0.0.1:0' },
      bundle: { path: t.bundlePath, signing_keys: t.jwksPath, poll_interval_ms: 100 },
      audit: { sink: 'none' },
      workers: 1,
      log_level: 'debug',
      shutdown_grace_ms: 5000,
    },
    over,
  );
  const config = loadConfig({ file });
  const log: string[] = [];
  // A memory store that has forgotten nothing: these servers answer for a world whose passports
  // may predate the server (tests about amnesia build their own store, test/core/replay-amnesia.test.ts).
  const store = config.replay.store === 'memory' ? new MemoryReplayStore({ maxEntries: config.replay.memory.max_entries, generationStartMs: -Infinity }) : undefined;
  const server = await startServer(config, { logger: createLogger('debug', (line) => void log.push(line)), serveHttp: true, ...(store ? { store } : {}), ...start });
  return { server, grpcAddress: server.grpcAddress, httpAddress: server.httpAddress!, log };
}

// ---------------------------------------------------------------------------------------------
// Assertions on CheckResponses

/** envoy.type.v3.StatusCode number → name, as the official definitions decode `denied_response.status.code`. */
const STATUS_NAME: Record<number, string> = Object.fromEntries(
  Object.entries(OfficialCheckResponse.root.lookupEnum('envoy.type.v3.StatusCode').values).map(([name, n]) => [n, name]),
);

export const IDENTITY_HEADER_NAMES = ['x-trustplane-subject', 'x-trustplane-issuer', 'x-trustplane-trust-domain', 'x-trustplane-key-binding', 'x-trustplane-route', 'x-trustplane-decision-id'];
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * A deny exactly as docs/envoy-integration.md ("Deny") and the reason registry say: successful RPC,
 * explicit HTTP status, reason header, JSON body.
 */
export function assertDeny(r: OfficialCheckResponseShape, reason: ReasonCode): void {
  const info = REASONS[reason];
  assert.equal(r.http_response, 'denied_response', `expected a deny with ${reason}, got ${JSON.stringify(r.dynamic_metadata)}`);
  assert.equal(r.status?.code, info.grpc, `gRPC status code for ${reason}`);
  assert.equal(r.denied_response?.status?.code, STATUS_NAME[info.status], `HTTP status for ${reason}`);
  const headers = headerMap(r.denied_response?.headers);
  assert.equal(headers['x-trustplane-reason'], reason);
  assert.match(headers['x-trustplane-decision-id'] ?? '', UUID);
  for (const h of r.denied_response?.headers ?? []) {
    assert.equal(h.append_action, 'OVERWRITE_IF_EXISTS_OR_ADD', `${h.header?.key}: append_action`);
    assert.equal(h.append, undefined, `${h.header?.key}: append must stay unset`);
  }
  if (info.status === 401) assert.equal(headers['www-authenticate'], `TrustPlane error="${reason}"`);
  const body = JSON.parse(r.denied_response?.body ?? '') as { reason: string; status: number; decision_id: string };
  assert.equal(body.reason, reason);
  assert.equal(body.status, info.status);
  assert.equal(body.decision_id, headers['x-trustplane-decision-id']);
  assert.equal(structToPlain(r.dynamic_metadata)['reason'], reason);
}

/** An allow: status 0, identity headers set with OVERWRITE_IF_EXISTS_OR_ADD (append unset), credentials removed. */
export function assertAllow(r: OfficialCheckResponseShape, route: string): void {
  assert.equal(r.http_response, 'ok_response', `expected an allow, got ${JSON.stringify(structToPlain(r.dynamic_metadata))}`);
  assert.equal(r.status?.code ?? 0, 0);
  for (const h of r.ok_response?.headers ?? []) {
    assert.equal(h.append_action, 'OVERWRITE_IF_EXISTS_OR_ADD', `${h.header?.key}: append_action`);
    assert.equal(h.append, undefined, `${h.header?.key}: append must stay unset (old Envoy would read it)`);
  }
  const headers = headerMap(r.ok_response?.headers);
  assert.equal(headers['x-trustplane-route'], route);
}
