/**
 * Server configuration: one file (YAML or JSON), then environment variables, then flags — later
 * sources win. Parsed once at boot into a frozen object; unknown keys are refused and every problem
 * is reported at once. Defaults live only in DEFAULTS below; `docs/configuration.md` lists them.
 */
import { availableParallelism } from 'node:os';
import { PASSPORT_CACHE_DEFAULT_MAX_ENTRIES, PASSPORT_CACHE_MAX_ENTRIES_LIMIT } from '../../core/src/server-api.js';
import { ConfigError, ConfigReader, isMapping, mergeSettings, type Settings } from '../../service/src/config.js';

export interface RedisSettings {
  readonly url?: string;
  readonly sentinels?: readonly { readonly host: string; readonly port: number }[];
  readonly name?: string;
  readonly cluster?: { readonly nodes: readonly { readonly host: string; readonly port: number }[] };
  readonly connect_timeout_ms: number;
  readonly command_timeout_ms: number;
  readonly key_prefix: string;
  readonly assume_noeviction: boolean;
}

export interface ServerConfig {
  readonly listen: { readonly grpc: string; readonly http: string };
  readonly tls?: { readonly cert_file: string; readonly key_file: string; readonly client_ca_file?: string; readonly require_client_cert: boolean };
  readonly bundle: { readonly path: string; readonly signing_keys?: string; readonly allow_unsigned: boolean; readonly state_file?: string; readonly poll_interval_ms: number };
  readonly replay: { readonly store: 'memory' | 'redis'; readonly memory: { readonly max_entries: number }; readonly redis?: RedisSettings };
  readonly body: { readonly filter_header: { readonly trusted: boolean; readonly name: string }; readonly envoy_buffers_body: boolean };
  readonly audit: { readonly sink: 'stdout' | 'file' | 'none'; readonly file?: string; readonly flush_interval_ms: number };
  readonly mode: 'enforce' | 'dry_run';
  readonly workers: number;
  readonly engine: { readonly clock_tolerance_s: number; readonly max_passport_lifetime_s: number; readonly default_route_lifetime_s: number; readonly passport_cache_max_entries: number };
  readonly log_level: 'debug' | 'info' | 'warn' | 'error';
  readonly overload: { readonly max_in_flight: number; readonly answer_margin_ms: number };
  readonly shutdown_drain_ms: number;
  readonly shutdown_grace_ms: number;
}

export const DEFAULTS = {
  listen: { grpc: '127.0.0.1:9191', http: '127.0.0.1:9464' },
  bundle: { allow_unsigned: false, poll_interval_ms: 2000 },
  replay: { store: 'memory', memory: { max_entries: 1_000_000 } },
  // command_timeout_ms stays below Envoy's default ext_authz timeout (200 ms): docs/configuration.md.
  redis: { connect_timeout_ms: 1000, command_timeout_ms: 100, key_prefix: 'trustplane:jti:', cluster_key_prefix: '{trustplane}:jti:', assume_noeviction: false },
  body: { filter_header: { trusted: false, name: 'x-trustplane-body-sha256' }, envoy_buffers_body: false },
  audit: { sink: 'stdout', flush_interval_ms: 10 },
  mode: 'enforce',
  workers: Math.min(2, availableParallelism()),
  engine: { clock_tolerance_s: 30, max_passport_lifetime_s: 3600, default_route_lifetime_s: 300, passport_cache_max_entries: PASSPORT_CACHE_DEFAULT_MAX_ENTRIES },
  log_level: 'info',
  overload: { max_in_flight: 256, answer_margin_ms: 5 },
  shutdown_drain_ms: 5000,
  shutdown_grace_ms: 10_000,
} as const;

/** Overrides from flags, already split into dotted keys (`replay.redis.url`). */
export type Overrides = Readonly<Record<string, string | number | boolean>>;

export const ENV_KEYS: Readonly<Record<string, string>> = Object.freeze({
  TRUSTPLANE_GRPC_LISTEN: 'listen.grpc',
  TRUSTPLANE_HTTP_LISTEN: 'listen.http',
  TRUSTPLANE_BUNDLE_PATH: 'bundle.path',
  TRUSTPLANE_BUNDLE_SIGNING_KEYS: 'bundle.signing_keys',
  TRUSTPLANE_ALLOW_UNSIGNED_BUNDLE: 'bundle.allow_unsigned',
  TRUSTPLANE_REPLAY_STORE: 'replay.store',
  TRUSTPLANE_REDIS_URL: 'replay.redis.url',
  TRUSTPLANE_MODE: 'mode',
  TRUSTPLANE_WORKERS: 'workers',
  TRUSTPLANE_AUDIT_SINK: 'audit.sink',
  TRUSTPLANE_AUDIT_FILE: 'audit.file',
  TRUSTPLANE_LOG_LEVEL: 'log_level',
});

/** A dotted key (`replay.redis.url`) set in a nested object. */
function setPath(target: Settings, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let o = target;
  for (const p of parts.slice(0, -1)) {
    if (!isMapping(o[p])) o[p] = {};
    o = o[p] as Settings;
  }
  o[parts[parts.length - 1]!] = value;
}

export function envOverrides(env: NodeJS.ProcessEnv): Settings {
  const out: Settings = {};
  for (const [name, key] of Object.entries(ENV_KEYS)) {
    const v = env[name];
    if (v !== undefined && v !== '') setPath(out, key, v);
  }
  return out;
}

/** Build the frozen config from file contents, environment and flag overrides. Throws ConfigError. */
export function loadConfig(input: { file?: unknown; env?: NodeJS.ProcessEnv; overrides?: Overrides }): ServerConfig {
  const file = input.file ?? {};
  if (!isMapping(file)) throw new ConfigError(['the configuration file must hold a mapping at the top level']);
  const flags: Settings = {};
  for (const [k, v] of Object.entries(input.overrides ?? {})) setPath(flags, k, v);
  const r = new ConfigReader(mergeSettings(mergeSettings(file, envOverrides(input.env ?? {})), flags), { textScalars: true });
  return r.finish(read(r), (p) => namingEnv(p, input.env ?? {}, input.overrides ?? {}));
}

/**
 * A problem with a value that came from an environment variable names the variable, since that is
 * what the operator has to change (a flag override wins over it, so then it is not named).
 */
function namingEnv(problem: string, env: NodeJS.ProcessEnv, overrides: Overrides): string {
  for (const [name, key] of Object.entries(ENV_KEYS)) {
    const v = env[name];
    if (v === undefined || v === '' || key in overrides) continue;
    // The value is not echoed: TRUSTPLANE_REDIS_URL may carry a password.
    if (problem.startsWith(`${key}:`)) return `${problem} (from ${name})`;
  }
  return problem;
}

function read(r: ConfigReader): ServerConfig {
  r.section('', ['listen', 'tls', 'bundle', 'replay', 'body', 'audit', 'mode', 'workers', 'engine', 'log_level', 'overload', 'shutdown_drain_ms', 'shutdown_grace_ms']);
  r.section('overload', ['max_in_flight', 'answer_margin_ms']);
  r.section('listen', ['grpc', 'http']);
  r.section('bundle', ['path', 'signing_keys', 'allow_unsigned', 'state_file', 'poll_interval_ms']);
  r.section('replay', ['store', 'memory', 'redis']);
  r.section('replay.memory', ['max_entries']);
  r.section('body', ['filter_header', 'envoy_buffers_body']);
  r.section('body.filter_header', ['trusted', 'name']);
  r.section('audit', ['sink', 'file', 'flush_interval_ms']);
  r.section('engine', ['clock_tolerance_s', 'max_passport_lifetime_s', 'default_route_lifetime_s', 'passport_cache_max_entries']);

  const bundlePath = r.str('bundle.path');
  if (bundlePath === undefined) r.problem('bundle.path', 'required (or run with --dev for a generated development bundle)');
  const allowUnsigned = r.bool('bundle.allow_unsigned', DEFAULTS.bundle.allow_unsigned);
  const signingKeys = r.str('bundle.signing_keys');
  if (!allowUnsigned && signingKeys === undefined) {
    r.problem('bundle.signing_keys', 'required unless bundle.allow_unsigned is true (development only)');
  }
  const stateFile = r.str('bundle.state_file');

  const store = r.oneOf('replay.store', ['memory', 'redis'] as const, DEFAULTS.replay.store);
  let redis: RedisSettings | undefined;
  if (r.get('replay.redis') !== undefined || store === 'redis') {
    r.section('replay.redis', ['url', 'sentinels', 'name', 'cluster', 'connect_timeout_ms', 'command_timeout_ms', 'key_prefix', 'assume_noeviction']);
    const url = r.str('replay.redis.url');
    if (url !== undefined && !/^rediss?:\/\//.test(url)) r.problem('replay.redis.url', 'must start with redis:// or rediss://');
    const sentinels = r.hostPorts('replay.redis.sentinels');
    const name = r.str('replay.redis.name');
    if (r.get('replay.redis.cluster') !== undefined) r.section('replay.redis.cluster', ['nodes']);
    const nodes = r.hostPorts('replay.redis.cluster.nodes');
    const modes = [url, sentinels, nodes].filter((x) => x !== undefined).length;
    if (store === 'redis' && modes !== 1) r.problem('replay.redis', 'set exactly one of url, sentinels (+ name), cluster.nodes');
    if (sentinels && !name) r.problem('replay.redis.name', 'required with sentinels (the master group name)');
    redis = {
      ...(url ? { url } : {}),
      ...(sentinels ? { sentinels } : {}),
      ...(name ? { name } : {}),
      ...(nodes ? { cluster: { nodes } } : {}),
      connect_timeout_ms: r.int('replay.redis.connect_timeout_ms', DEFAULTS.redis.connect_timeout_ms, 10, 60_000),
      command_timeout_ms: r.int('replay.redis.command_timeout_ms', DEFAULTS.redis.command_timeout_ms, 5, 60_000),
      // Cluster: a hash tag keeps the generation marker and the replay keys in one slot (core/src/replay/redis.ts).
      key_prefix: r.str('replay.redis.key_prefix', nodes ? DEFAULTS.redis.cluster_key_prefix : DEFAULTS.redis.key_prefix)!,
      assume_noeviction: r.bool('replay.redis.assume_noeviction', DEFAULTS.redis.assume_noeviction),
    };
    if (nodes && !/^[^{]*\{[^}]+\}/.test(redis.key_prefix)) {
      r.problem('replay.redis.key_prefix', 'with cluster it must carry a hash tag such as {trustplane}, so the generation marker and the replay keys share a slot');
    }
  }

  let tls: ServerConfig['tls'];
  if (r.get('tls') !== undefined) {
    r.section('tls', ['cert_file', 'key_file', 'client_ca_file', 'require_client_cert']);
    const cert = r.str('tls.cert_file');
    const key = r.str('tls.key_file');
    if (!cert || !key) r.problem('tls', 'cert_file and key_file are both required');
    const ca = r.str('tls.client_ca_file');
    const requireClient = r.bool('tls.require_client_cert', ca !== undefined);
    if (requireClient && !ca) r.problem('tls.require_client_cert', 'needs tls.client_ca_file');
    tls = { cert_file: cert ?? '', key_file: key ?? '', ...(ca ? { client_ca_file: ca } : {}), require_client_cert: requireClient };
  }

  const sink = r.oneOf('audit.sink', ['stdout', 'file', 'none'] as const, DEFAULTS.audit.sink);
  const auditFile = r.str('audit.file');
  if (sink === 'file' && !auditFile) r.problem('audit.file', 'required when audit.sink is file');

  return {
    listen: { grpc: r.listen('listen.grpc', DEFAULTS.listen.grpc, true), http: r.listen('listen.http', DEFAULTS.listen.http, true) },
    ...(tls ? { tls } : {}),
    bundle: {
      path: bundlePath ?? '',
      ...(signingKeys ? { signing_keys: signingKeys } : {}),
      allow_unsigned: allowUnsigned,
      ...(stateFile ? { state_file: stateFile } : {}),
      poll_interval_ms: r.int('bundle.poll_interval_ms', DEFAULTS.bundle.poll_interval_ms, 100, 3_600_000),
    },
    replay: { store, memory: { max_entries: r.int('replay.memory.max_entries', DEFAULTS.replay.memory.max_entries, 1, 100_000_000) }, ...(redis ? { redis } : {}) },
    body: {
      filter_header: {
        trusted: r.bool('body.filter_header.trusted', DEFAULTS.body.filter_header.trusted),
        name: (r.str('body.filter_header.name', DEFAULTS.body.filter_header.name) ?? '').toLowerCase(),
      },
      envoy_buffers_body: r.bool('body.envoy_buffers_body', DEFAULTS.body.envoy_buffers_body),
    },
    audit: { sink, ...(auditFile ? { file: auditFile } : {}), flush_interval_ms: r.int('audit.flush_interval_ms', DEFAULTS.audit.flush_interval_ms, 0, 1000) },
    mode: r.oneOf('mode', ['enforce', 'dry_run'] as const, DEFAULTS.mode),
    workers: r.int('workers', DEFAULTS.workers, 1, 64),
    engine: {
      clock_tolerance_s: r.int('engine.clock_tolerance_s', DEFAULTS.engine.clock_tolerance_s, 0, 600),
      max_passport_lifetime_s: r.int('engine.max_passport_lifetime_s', DEFAULTS.engine.max_passport_lifetime_s, 1, 86_400),
      default_route_lifetime_s: r.int('engine.default_route_lifetime_s', DEFAULTS.engine.default_route_lifetime_s, 1, 86_400),
      // docs/transcript-v1.md §15.4; 0 turns the verified-passport cache off.
      passport_cache_max_entries: r.int('engine.passport_cache_max_entries', DEFAULTS.engine.passport_cache_max_entries, 0, PASSPORT_CACHE_MAX_ENTRIES_LIMIT),
    },
    log_level: r.oneOf('log_level', ['debug', 'info', 'warn', 'error'] as const, DEFAULTS.log_level),
    overload: {
      max_in_flight: r.int('overload.max_in_flight', DEFAULTS.overload.max_in_flight, 1, 100_000),
      answer_margin_ms: r.int('overload.answer_margin_ms', DEFAULTS.overload.answer_margin_ms, 0, 1000),
    },
    shutdown_drain_ms: r.int('shutdown_drain_ms', DEFAULTS.shutdown_drain_ms, 0, 600_000),
    shutdown_grace_ms: r.int('shutdown_grace_ms', DEFAULTS.shutdown_grace_ms, 0, 600_000),
  };
}
