/**
 * Server configuration: one file (YAML or JSON), then environment variables, then flags — later
 * sources win. Parsed once at boot into a frozen object; unknown keys are refused and every problem
 * is reported at once. Defaults live only in DEFAULTS below; `docs/configuration.md` lists them.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parse as parseYaml } from 'yaml';

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
  engine: { clock_tolerance_s: 30, max_passport_lifetime_s: 3600, default_route_lifetime_s: 300, passport_cache_max_entries: 10_000 },
  log_level: 'info',
  overload: { max_in_flight: 256, answer_margin_ms: 5 },
  shutdown_drain_ms: 5000,
  shutdown_grace_ms: 10_000,
} as const;

export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

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

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

function setPath(target: Obj, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let o = target;
  for (const p of parts.slice(0, -1)) {
    if (!isObj(o[p])) o[p] = {};
    o = o[p] as Obj;
  }
  o[parts[parts.length - 1]!] = value;
}

/**
 * Read a config file: YAML (a superset of JSON) into a plain object. A missing, unreadable or
 * unparsable file is a ConfigError whose one problem names the file (`label` says where the path
 * came from, e.g. `TRUSTPLANE_CONFIG`), never a stack trace.
 */
export function readConfigFile(path: string, label = 'configuration file'): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (code ?? 'cannot read');
    throw new ConfigError([`${label} ${path}: ${why}`]);
  }
  try {
    return parseYaml(text, { uniqueKeys: true });
  } catch (e) {
    throw new ConfigError([`${label} ${path}: not valid YAML/JSON (${(e as Error).message.split('\n')[0]})`]);
  }
}

export function envOverrides(env: NodeJS.ProcessEnv): Obj {
  const out: Obj = {};
  for (const [name, key] of Object.entries(ENV_KEYS)) {
    const v = env[name];
    if (v !== undefined && v !== '') setPath(out, key, v);
  }
  return out;
}

function merge(base: Obj, over: Obj): Obj {
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isObj(v) && isObj(out[k]) ? merge(out[k] as Obj, v) : v;
  return out;
}

/** Build the frozen config from file contents, environment and flag overrides. Throws ConfigError. */
export function loadConfig(input: { file?: unknown; env?: NodeJS.ProcessEnv; overrides?: Overrides }): ServerConfig {
  const problems: string[] = [];
  let raw: Obj = {};
  if (input.file !== undefined && input.file !== null) {
    if (!isObj(input.file)) throw new ConfigError(['the configuration file must hold a mapping at the top level']);
    raw = input.file;
  }
  raw = merge(raw, envOverrides(input.env ?? {}));
  const flags: Obj = {};
  for (const [k, v] of Object.entries(input.overrides ?? {})) setPath(flags, k, v);
  raw = merge(raw, flags);
  const r = new Reader(raw, problems);
  const cfg = r.build();
  if (problems.length > 0) throw new ConfigError(problems.map((p) => namingEnv(p, input.env ?? {}, input.overrides ?? {})));
  return deepFreeze(cfg);
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

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/** Reads typed values out of the merged object, collecting every problem instead of stopping. */
class Reader {
  constructor(
    private readonly raw: Obj,
    private readonly problems: string[],
  ) {}

  private section(path: string, allowed: readonly string[]): Obj {
    const v = path === '' ? this.raw : this.get(path);
    if (v === undefined) return {};
    if (!isObj(v)) {
      this.problems.push(`${path}: must be a mapping`);
      return {};
    }
    for (const k of Object.keys(v)) if (!allowed.includes(k)) this.problems.push(`${path ? `${path}.` : ''}${k}: unknown setting`);
    return v;
  }

  private get(path: string): unknown {
    let o: unknown = this.raw;
    for (const p of path.split('.')) o = isObj(o) ? o[p] : undefined;
    return o;
  }

  private str(path: string, dflt?: string): string | undefined {
    const v = this.get(path);
    if (v === undefined) return dflt;
    if (typeof v !== 'string' || v.length === 0) {
      this.problems.push(`${path}: must be a non-empty string`);
      return dflt;
    }
    return v;
  }

  private int(path: string, dflt: number, min: number, max: number): number {
    let v = this.get(path);
    if (v === undefined) return dflt;
    if (typeof v === 'string' && /^[0-9]+$/.test(v)) v = Number(v);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
      this.problems.push(`${path}: must be an integer from ${min} to ${max}`);
      return dflt;
    }
    return v;
  }

  private bool(path: string, dflt: boolean): boolean {
    const v = this.get(path);
    if (v === undefined) return dflt;
    if (v === true || v === 'true' || v === '1') return true;
    if (v === false || v === 'false' || v === '0') return false;
    this.problems.push(`${path}: must be true or false`);
    return dflt;
  }

  private oneOf<T extends string>(path: string, options: readonly T[], dflt: T): T {
    const v = this.get(path);
    if (v === undefined) return dflt;
    if (typeof v !== 'string' || !(options as readonly string[]).includes(v)) {
      this.problems.push(`${path}: must be one of ${options.join(', ')}`);
      return dflt;
    }
    return v as T;
  }

  private listen(path: string, dflt: string): string {
    const v = this.str(path, dflt)!;
    if (!/^unix:\/.+$/.test(v) && !/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/.test(v)) {
      this.problems.push(`${path}: must be host:port, [ipv6]:port or unix:/absolute/path`);
    }
    return v;
  }

  private hostPorts(path: string): { host: string; port: number }[] | undefined {
    const v = this.get(path);
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.length === 0) {
      this.problems.push(`${path}: must be a non-empty list of {host, port}`);
      return undefined;
    }
    return v.map((x, i) => {
      if (!isObj(x) || typeof x.host !== 'string' || typeof x.port !== 'number') {
        this.problems.push(`${path}[${i}]: must be {host: string, port: number}`);
        return { host: '', port: 0 };
      }
      return { host: x.host, port: x.port };
    });
  }

  build(): ServerConfig {
    this.section('', ['listen', 'tls', 'bundle', 'replay', 'body', 'audit', 'mode', 'workers', 'engine', 'log_level', 'overload', 'shutdown_drain_ms', 'shutdown_grace_ms']);
    this.section('overload', ['max_in_flight', 'answer_margin_ms']);
    this.section('listen', ['grpc', 'http']);
    this.section('bundle', ['path', 'signing_keys', 'allow_unsigned', 'state_file', 'poll_interval_ms']);
    this.section('replay', ['store', 'memory', 'redis']);
    this.section('replay.memory', ['max_entries']);
    this.section('body', ['filter_header', 'envoy_buffers_body']);
    this.section('body.filter_header', ['trusted', 'name']);
    this.section('audit', ['sink', 'file', 'flush_interval_ms']);
    this.section('engine', ['clock_tolerance_s', 'max_passport_lifetime_s', 'default_route_lifetime_s', 'passport_cache_max_entries']);

    const bundlePath = this.str('bundle.path');
    if (bundlePath === undefined) this.problems.push('bundle.path: required (or run with --dev for a generated development bundle)');
    const allowUnsigned = this.bool('bundle.allow_unsigned', DEFAULTS.bundle.allow_unsigned);
    const signingKeys = this.str('bundle.signing_keys');
    if (!allowUnsigned && signingKeys === undefined) {
      this.problems.push('bundle.signing_keys: required unless bundle.allow_unsigned is true (development only)');
    }
    const stateFile = this.str('bundle.state_file');

    const store = this.oneOf('replay.store', ['memory', 'redis'] as const, DEFAULTS.replay.store);
    let redis: RedisSettings | undefined;
    if (this.get('replay.redis') !== undefined || store === 'redis') {
      this.section('replay.redis', ['url', 'sentinels', 'name', 'cluster', 'connect_timeout_ms', 'command_timeout_ms', 'key_prefix', 'assume_noeviction']);
      const url = this.str('replay.redis.url');
      if (url !== undefined && !/^rediss?:\/\//.test(url)) this.problems.push('replay.redis.url: must start with redis:// or rediss://');
      const sentinels = this.hostPorts('replay.redis.sentinels');
      const name = this.str('replay.redis.name');
      if (this.get('replay.redis.cluster') !== undefined) this.section('replay.redis.cluster', ['nodes']);
      const nodes = this.hostPorts('replay.redis.cluster.nodes');
      const modes = [url, sentinels, nodes].filter((x) => x !== undefined).length;
      if (store === 'redis' && modes !== 1) this.problems.push('replay.redis: set exactly one of url, sentinels (+ name), cluster.nodes');
      if (sentinels && !name) this.problems.push('replay.redis.name: required with sentinels (the master group name)');
      redis = {
        ...(url ? { url } : {}),
        ...(sentinels ? { sentinels } : {}),
        ...(name ? { name } : {}),
        ...(nodes ? { cluster: { nodes } } : {}),
        connect_timeout_ms: this.int('replay.redis.connect_timeout_ms', DEFAULTS.redis.connect_timeout_ms, 10, 60_000),
        command_timeout_ms: this.int('replay.redis.command_timeout_ms', DEFAULTS.redis.command_timeout_ms, 5, 60_000),
        // Cluster: a hash tag keeps the generation marker and the replay keys in one slot (core/src/replay/redis.ts).
        key_prefix: this.str('replay.redis.key_prefix', nodes ? DEFAULTS.redis.cluster_key_prefix : DEFAULTS.redis.key_prefix)!,
        assume_noeviction: this.bool('replay.redis.assume_noeviction', DEFAULTS.redis.assume_noeviction),
      };
      if (nodes && !/^[^{]*\{[^}]+\}/.test(redis.key_prefix)) {
        this.problems.push('replay.redis.key_prefix: with cluster it must carry a hash tag such as {trustplane}, so the generation marker and the replay keys share a slot');
      }
    }

    let tls: ServerConfig['tls'];
    if (this.get('tls') !== undefined) {
      this.section('tls', ['cert_file', 'key_file', 'client_ca_file', 'require_client_cert']);
      const cert = this.str('tls.cert_file');
      const key = this.str('tls.key_file');
      if (!cert || !key) this.problems.push('tls: cert_file and key_file are both required');
      const ca = this.str('tls.client_ca_file');
      const requireClient = this.bool('tls.require_client_cert', ca !== undefined);
      if (requireClient && !ca) this.problems.push('tls.require_client_cert: needs tls.client_ca_file');
      tls = { cert_file: cert ?? '', key_file: key ?? '', ...(ca ? { client_ca_file: ca } : {}), require_client_cert: requireClient };
    }

    const sink = this.oneOf('audit.sink', ['stdout', 'file', 'none'] as const, DEFAULTS.audit.sink);
    const auditFile = this.str('audit.file');
    if (sink === 'file' && !auditFile) this.problems.push('audit.file: required when audit.sink is file');

    return {
      listen: { grpc: this.listen('listen.grpc', DEFAULTS.listen.grpc), http: this.listen('listen.http', DEFAULTS.listen.http) },
      ...(tls ? { tls } : {}),
      bundle: {
        path: bundlePath ?? '',
        ...(signingKeys ? { signing_keys: signingKeys } : {}),
        allow_unsigned: allowUnsigned,
        ...(stateFile ? { state_file: stateFile } : {}),
        poll_interval_ms: this.int('bundle.poll_interval_ms', DEFAULTS.bundle.poll_interval_ms, 100, 3_600_000),
      },
      replay: { store, memory: { max_entries: this.int('replay.memory.max_entries', DEFAULTS.replay.memory.max_entries, 1, 100_000_000) }, ...(redis ? { redis } : {}) },
      body: {
        filter_header: {
          trusted: this.bool('body.filter_header.trusted', DEFAULTS.body.filter_header.trusted),
          name: (this.str('body.filter_header.name', DEFAULTS.body.filter_header.name) ?? '').toLowerCase(),
        },
        envoy_buffers_body: this.bool('body.envoy_buffers_body', DEFAULTS.body.envoy_buffers_body),
      },
      audit: { sink, ...(auditFile ? { file: auditFile } : {}), flush_interval_ms: this.int('audit.flush_interval_ms', DEFAULTS.audit.flush_interval_ms, 0, 1000) },
      mode: this.oneOf('mode', ['enforce', 'dry_run'] as const, DEFAULTS.mode),
      workers: this.int('workers', DEFAULTS.workers, 1, 64),
      engine: {
        clock_tolerance_s: this.int('engine.clock_tolerance_s', DEFAULTS.engine.clock_tolerance_s, 0, 600),
        max_passport_lifetime_s: this.int('engine.max_passport_lifetime_s', DEFAULTS.engine.max_passport_lifetime_s, 1, 86_400),
        default_route_lifetime_s: this.int('engine.default_route_lifetime_s', DEFAULTS.engine.default_route_lifetime_s, 1, 86_400),
        // docs/transcript-v1.md §15.4; 0 turns the verified-passport cache off.
        passport_cache_max_entries: this.int('engine.passport_cache_max_entries', DEFAULTS.engine.passport_cache_max_entries, 0, 1_000_000),
      },
      log_level: this.oneOf('log_level', ['debug', 'info', 'warn', 'error'] as const, DEFAULTS.log_level),
      overload: {
        max_in_flight: this.int('overload.max_in_flight', DEFAULTS.overload.max_in_flight, 1, 100_000),
        answer_margin_ms: this.int('overload.answer_margin_ms', DEFAULTS.overload.answer_margin_ms, 0, 1000),
      },
      shutdown_drain_ms: this.int('shutdown_drain_ms', DEFAULTS.shutdown_drain_ms, 0, 600_000),
      shutdown_grace_ms: this.int('shutdown_grace_ms', DEFAULTS.shutdown_grace_ms, 0, 600_000),
    };
  }
}
