/**
 * Reading a configuration, shared by the authz server (authz-server/src/config.ts) and the broker
 * (broker/src/config.ts): a YAML or JSON file into a plain object, then a `ConfigReader` that takes
 * typed values out of it and collects every problem instead of stopping at the first. Each problem
 * is one line that starts with the dotted path of the setting (`replay.redis.url: must start with
 * redis:// or rediss://`); `finish` throws them all at once in one `ConfigError`. Unknown settings
 * are problems too, so a misspelt key is never silently ignored (docs/configuration.md, docs/broker.md).
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';

export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.problems = Object.freeze([...problems]);
  }
}

export type Settings = Record<string, unknown>;

export const isMapping = (v: unknown): v is Settings => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The first line of an error's message: every problem here and in the CLI is one line. */
export function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
}

/** YAML (a superset of JSON) with duplicate keys refused: how every configuration or input document is read. */
export function parseYamlOrJson(text: string): unknown {
  return parseYaml(text, { uniqueKeys: true });
}

/** Why a file could not be read, in the words an operator expects. */
export function fsReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory';
  return firstLine(e);
}

/**
 * A configuration file, YAML (a superset of JSON) with unique keys, as a plain value. A missing,
 * unreadable or unparsable file is a ConfigError whose one problem names the file, after `label`
 * when given (what named the path, e.g. `--config`, `TRUSTPLANE_CONFIG`): never a stack trace.
 */
export function readConfigFile(path: string, label?: string): unknown {
  const named = label ? `${label} ${path}` : path;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError([`${named}: ${fsReason(e)}`]);
  }
  try {
    return parseYamlOrJson(text);
  } catch (e) {
    throw new ConfigError([`${named}: not valid YAML/JSON (${firstLine(e)})`]);
  }
}

/** `over` on top of `base`, mapping by mapping; any other value (a list too) replaces. */
export function mergeSettings(base: Settings, over: Settings): Settings {
  const out: Settings = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isMapping(v) && isMapping(out[k]) ? mergeSettings(out[k], v) : v;
  return out;
}

export function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

const HOST_PORT = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):([0-9]{1,5})$/;

/** `host:port` or `[ipv6]:port` with a port up to 65535 (0: any free port). */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const m = HOST_PORT.exec(text);
  if (!m || Number(m[3]) > 65535) return undefined;
  return { host: (m[1] ?? m[2])!, port: Number(m[3]) };
}

export interface ReaderOptions {
  /**
   * Numbers and booleans may be given as text (`"4"`, `"true"`, `"1"`): environment variables and
   * command-line flags are text (the server). Without it only YAML numbers and booleans count.
   */
  readonly textScalars?: boolean;
  /** An empty value (`key:` in YAML, null) means the setting is unset (the broker's files). */
  readonly nullIsUnset?: boolean;
}

/** Typed values out of one settings object, every problem collected; `finish` throws them at once. */
export class ConfigReader {
  readonly problems: string[] = [];
  private readonly root: Settings;

  constructor(
    raw: unknown,
    private readonly options: ReaderOptions = {},
  ) {
    if (raw === undefined || raw === null) this.root = {};
    else if (isMapping(raw)) this.root = raw;
    else {
      this.problem('', 'the configuration file must hold a mapping at the top level');
      this.root = {};
    }
  }

  /** One problem: `path: message` (the path alone names the whole file). */
  problem(path: string, message: string): void {
    this.problems.push(path === '' ? message : `${path}: ${message}`);
  }

  /** The value at a dotted path; undefined when absent (or empty, with `nullIsUnset`). */
  get(path: string): unknown {
    let o: unknown = this.root;
    for (const p of path.split('.')) o = isMapping(o) && Object.hasOwn(o, p) ? o[p] : undefined;
    return o === null && this.options.nullIsUnset ? undefined : o;
  }

  /** A mapping whose keys must all be in `allowed`; `''` is the top level. Absent: an empty one. */
  section(path: string, allowed: readonly string[]): Settings {
    const v = path === '' ? this.root : this.get(path);
    if (v === undefined) return {};
    if (!isMapping(v)) {
      this.problem(path, 'must be a mapping');
      return {};
    }
    for (const k of Object.keys(v)) if (!allowed.includes(k)) this.problem(path ? `${path}.${k}` : k, 'unknown setting');
    return v;
  }

  str<D extends string | undefined = undefined>(path: string, dflt?: D): string | D {
    const v = this.get(path);
    if (typeof v === 'string' && v.length > 0) return v;
    if (v !== undefined) this.problem(path, 'must be a non-empty string');
    return dflt as D;
  }

  int(path: string, dflt: number, min: number, max: number): number {
    let v = this.get(path);
    if (v === undefined) return dflt;
    if (this.options.textScalars && typeof v === 'string' && /^[0-9]+$/.test(v)) v = Number(v);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
      this.problem(path, `must be an integer from ${min} to ${max}`);
      return dflt;
    }
    return v;
  }

  bool(path: string, dflt: boolean): boolean {
    const v = this.get(path);
    if (v === undefined) return dflt;
    if (v === true || (this.options.textScalars && (v === 'true' || v === '1'))) return true;
    if (v === false || (this.options.textScalars && (v === 'false' || v === '0'))) return false;
    this.problem(path, 'must be true or false');
    return dflt;
  }

  oneOf<T extends string>(path: string, options: readonly T[], dflt: T): T {
    const v = this.get(path);
    if (v === undefined) return dflt;
    if (typeof v !== 'string' || !(options as readonly string[]).includes(v)) {
      this.problem(path, `must be one of ${options.join(', ')}`);
      return dflt;
    }
    return v as T;
  }

  strList(path: string, dflt: readonly string[]): string[] {
    const v = this.get(path);
    if (v === undefined) return [...dflt];
    if (Array.isArray(v) && v.every((x) => typeof x === 'string' && x.length > 0)) return [...(v as string[])];
    this.problem(path, 'must be a list of non-empty strings');
    return [...dflt];
  }

  /** A listen address: `host:port`, `[ipv6]:port`, and with `unix` also `unix:/absolute/path`. */
  listen<D extends string | undefined>(path: string, dflt: D, unix: boolean): string | D {
    const v = this.str(path, dflt);
    if (v !== undefined && !(unix && /^unix:\/.+$/.test(v)) && parseHostPort(v) === undefined) {
      this.problem(path, unix ? 'must be host:port, [ipv6]:port or unix:/absolute/path' : 'must be host:port or [ipv6]:port, e.g. 127.0.0.1:9465');
    }
    return v;
  }

  /** A non-empty list of `{host, port}` (Redis sentinels, cluster nodes). */
  hostPorts(path: string): { host: string; port: number }[] | undefined {
    const v = this.get(path);
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.length === 0) {
      this.problem(path, 'must be a non-empty list of {host, port}');
      return undefined;
    }
    return v.map((x, i) => {
      if (!isMapping(x) || typeof x.host !== 'string' || typeof x.port !== 'number') {
        this.problem(`${path}[${i}]`, 'must be {host: string, port: number}');
        return { host: '', port: 0 };
      }
      return { host: x.host, port: x.port };
    });
  }

  /** The value, deep-frozen, when nothing was wrong; otherwise a ConfigError with every problem. */
  finish<T>(value: T, describe: (problem: string) => string = (p) => p): T {
    if (this.problems.length > 0) throw new ConfigError(this.problems.map(describe));
    return deepFreeze(value);
  }
}
