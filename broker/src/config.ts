/**
 * Broker configuration: read once at boot from a YAML or JSON file plus overrides, checked as a whole
 * (every problem reported at once, unknown keys refused), and frozen. Defaults live in `DEFAULTS`
 * and nowhere else. File keys are snake_case; the typed object uses camelCase with units in names.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { gidOfGroup, MAX_GID } from './lib/group.js';
import { identityProblem, isIdentityUri } from '../../core/src/identity.js';

export interface SoftwarePathConfig {
  readonly enabled: boolean;
  /** `sub` of software passports when the caller does not ask for one. */
  readonly subject: string;
  /** Patterns a caller-requested `subject` must match; empty means callers cannot choose. */
  readonly allowedSubjects: readonly string[];
}

export interface SpiffePathConfig {
  readonly trustDomain: string;
  /** PEM file with the trust domain's X.509 roots (the X.509 part of its SPIFFE bundle). */
  readonly bundleFile: string;
  /** The operator's statement that verifiers may trust this broker key for `attested_workload`. */
  readonly attestedTrustEntry: boolean;
  /** How old (or how far in the future) a proof-of-possession `iat` may be. */
  readonly popMaxAgeS: number;
  /** Certificates the caller may send: the leaf and its intermediates. */
  readonly maxChainLength: number;
}

/** The group that may use the socket: its gid, and its name when it was given by name. */
export interface SocketGroup {
  readonly gid: number;
  readonly name?: string;
}

export interface BrokerConfig {
  readonly socketPath: string;
  /** When set, the socket is 0660 and owned by this group; when absent, 0600 (the broker's user only). */
  readonly socketGroup?: SocketGroup;
  /** Optional TCP listener for `/healthz` and `/metrics` only; passports are never served on it. */
  readonly httpListen?: { readonly host: string; readonly port: number };
  readonly issuer: string;
  readonly trustDomain: string;
  /** Private JWK file; absent means an ephemeral key that lives as long as the process. */
  readonly keyFile?: string;
  readonly generateKey: boolean;
  readonly maxBodyBytes: number;
  readonly defaultLifetimeS: number;
  readonly maxLifetimeS: number;
  readonly software: SoftwarePathConfig;
  readonly spiffe?: SpiffePathConfig;
  /** Which callers may ask for reusable passports (docs/broker.md, docs/transcript-v1.md §15); absent: none. */
  readonly reusable?: ReusableConfig;
}

export interface ReusableConfig {
  /** Subject patterns (as `software.allowed_subjects`) of the passports that may be reusable: the software subject or the SPIFFE ID. */
  readonly subjects: readonly string[];
  /** The longest `lifetime_s` of a reusable passport (its default stays `default_lifetime_s`). */
  readonly maxLifetimeS: number;
}

export const DEFAULTS = Object.freeze({
  socket_path: '/var/run/trustplane/broker.sock',
  issuer: 'https://broker.trustplane.local',
  /** Used when neither `trust_domain` nor `spiffe.trust_domain` is set. */
  trust_domain: 'trustplane.local',
  generate_key: false,
  max_body_bytes: 65_536,
  default_lifetime_s: 60,
  max_lifetime_s: 300,
  software: Object.freeze({ enabled: true, subject: 'urn:trustplane:broker:local-caller', allowed_subjects: Object.freeze([] as string[]) }),
  spiffe: Object.freeze({ attested_trust_entry: false, pop_max_age_s: 60, max_chain_length: 4 }),
});

export class BrokerConfigError extends Error {
  readonly code = 'broker_config_invalid';
  constructor(readonly problems: readonly string[]) {
    super(`broker configuration is invalid: ${problems.join('; ')}`);
    this.name = 'BrokerConfigError';
  }
}

const TOP_KEYS = new Set([
  'socket_path',
  'socket_group',
  'http_listen',
  'issuer',
  'trust_domain',
  'key_file',
  'generate_key',
  'max_body_bytes',
  'default_lifetime_s',
  'max_lifetime_s',
  'software',
  'spiffe',
  'reusable',
]);
const REUSABLE_KEYS = new Set(['subjects', 'max_lifetime_s']);
const SOFTWARE_KEYS = new Set(['enabled', 'subject', 'allowed_subjects']);
const SPIFFE_KEYS = new Set(['trust_domain', 'bundle_file', 'attested_trust_entry', 'pop_max_age_s', 'max_chain_length']);

/** Every setting the configuration file may hold, dotted (`software.subject`): docs/broker.md lists each. */
export const CONFIG_KEYS: readonly string[] = Object.freeze([
  ...[...TOP_KEYS].filter((k) => k !== 'software' && k !== 'spiffe' && k !== 'reusable'),
  ...[...SOFTWARE_KEYS].map((k) => `software.${k}`),
  ...[...SPIFFE_KEYS].map((k) => `spiffe.${k}`),
  ...[...REUSABLE_KEYS].map((k) => `reusable.${k}`),
]);

/** SPIFFE ID spec §2.1: a trust domain name is lower-case letters, digits, `.`, `-` and `_`. */
export const TRUST_DOMAIN = /^[a-z0-9._-]{1,255}$/;
/** A URI with a scheme and no whitespace, as passports require for `iss` and `sub`. */
const URI = /^[A-Za-z][A-Za-z0-9+.-]*:[\x21-\x7e]+$/;

type Raw = Record<string, unknown>;

export interface ParseOptions {
  /** Relative file paths in the config are resolved against this (the config file's folder). */
  readonly baseDir?: string;
}

/** Validates a raw document (already parsed from YAML/JSON); throws BrokerConfigError with every problem. */
export function parseBrokerConfig(raw: unknown, options: ParseOptions = {}): BrokerConfig {
  const problems: string[] = [];
  const top = asObject(raw, 'config', problems) ?? {};
  unknownKeys(top, TOP_KEYS, '', problems);
  const base = options.baseDir ?? process.cwd();
  const path = (v: string): string => (isAbsolute(v) ? v : resolve(base, v));

  const socketPath = str(top, 'socket_path', DEFAULTS.socket_path, problems);
  const socketGroup = group(top.socket_group, problems);
  const issuer = str(top, 'issuer', DEFAULTS.issuer, problems);
  // Passport identity syntax (docs/transcript-v1.md §4.2): verifiers refuse any other spelling.
  if (!isIdentityUri(issuer)) problems.push(`issuer: ${identityProblem(issuer)} (a URI such as https://broker.example)`);

  const keyFile = optStr(top, 'key_file', problems);
  const generateKey = bool(top, 'generate_key', DEFAULTS.generate_key, problems);
  if (generateKey && keyFile === undefined) problems.push('generate_key: needs key_file (where to save the generated key)');

  const maxBodyBytes = int(top, 'max_body_bytes', DEFAULTS.max_body_bytes, 1024, 1_048_576, problems);
  const maxLifetimeS = int(top, 'max_lifetime_s', DEFAULTS.max_lifetime_s, 1, 3600, problems);
  const defaultLifetimeS = int(top, 'default_lifetime_s', DEFAULTS.default_lifetime_s, 1, 3600, problems);
  if (defaultLifetimeS > maxLifetimeS) problems.push('default_lifetime_s: must not exceed max_lifetime_s');

  let httpListen: BrokerConfig['httpListen'];
  const listen = optStr(top, 'http_listen', problems);
  if (listen !== undefined) {
    const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):([0-9]{1,5})$/.exec(listen);
    const port = m ? Number(m[3]) : NaN;
    if (!m || port > 65535) problems.push('http_listen: must be host:port, e.g. 127.0.0.1:9465');
    else httpListen = Object.freeze({ host: (m[1] ?? m[2])!, port });
  }

  const sw = top.software === undefined ? {} : asObject(top.software, 'software', problems) ?? {};
  unknownKeys(sw, SOFTWARE_KEYS, 'software.', problems);
  const software: SoftwarePathConfig = Object.freeze({
    enabled: bool(sw, 'enabled', DEFAULTS.software.enabled, problems, 'software.'),
    subject: str(sw, 'subject', DEFAULTS.software.subject, problems, 'software.'),
    allowedSubjects: Object.freeze(strList(sw, 'allowed_subjects', DEFAULTS.software.allowed_subjects, problems, 'software.')),
  });
  if (!isIdentityUri(software.subject)) problems.push(`software.subject: ${identityProblem(software.subject)}`);
  for (const p of software.allowedSubjects) {
    if (!URI.test(p) || p.length > 1024) problems.push(`software.allowed_subjects: ${JSON.stringify(p)} is not a URI pattern`);
  }

  let spiffe: SpiffePathConfig | undefined;
  if (top.spiffe !== undefined && top.spiffe !== null) {
    const sp = asObject(top.spiffe, 'spiffe', problems) ?? {};
    unknownKeys(sp, SPIFFE_KEYS, 'spiffe.', problems);
    const td = str(sp, 'trust_domain', '', problems, 'spiffe.');
    if (!TRUST_DOMAIN.test(td)) problems.push('spiffe.trust_domain: required; lower-case letters, digits, ".", "-" and "_" only');
    const bundleFile = str(sp, 'bundle_file', '', problems, 'spiffe.');
    if (bundleFile === '') problems.push('spiffe.bundle_file: required (PEM file of the trust-domain roots)');
    spiffe = Object.freeze({
      trustDomain: td,
      bundleFile: bundleFile === '' ? '' : path(bundleFile),
      attestedTrustEntry: bool(sp, 'attested_trust_entry', DEFAULTS.spiffe.attested_trust_entry, problems, 'spiffe.'),
      popMaxAgeS: int(sp, 'pop_max_age_s', DEFAULTS.spiffe.pop_max_age_s, 1, 300, problems, 'spiffe.'),
      maxChainLength: int(sp, 'max_chain_length', DEFAULTS.spiffe.max_chain_length, 1, 8, problems, 'spiffe.'),
    });
  }

  let reusable: ReusableConfig | undefined;
  if (top.reusable !== undefined && top.reusable !== null) {
    const ru = asObject(top.reusable, 'reusable', problems) ?? {};
    unknownKeys(ru, REUSABLE_KEYS, 'reusable.', problems);
    const subjects = strList(ru, 'subjects', [], problems, 'reusable.');
    if (subjects.length === 0) problems.push('reusable.subjects: required, at least one subject pattern (who may get reusable passports)');
    for (const p of subjects) if (!URI.test(p) || p.length > 1024) problems.push(`reusable.subjects: ${JSON.stringify(p)} is not a URI pattern`);
    reusable = Object.freeze({ subjects: Object.freeze(subjects), maxLifetimeS: int(ru, 'max_lifetime_s', maxLifetimeS, 1, 3600, problems, 'reusable.') });
  }

  // One key, one trust domain: verifiers require a passport's trust_domain to equal its key's.
  const trustDomain = str(top, 'trust_domain', spiffe?.trustDomain || DEFAULTS.trust_domain, problems);
  if (!TRUST_DOMAIN.test(trustDomain)) problems.push('trust_domain: lower-case letters, digits, ".", "-" and "_" only');
  if (!software.enabled && !spiffe) problems.push('software.enabled: false leaves no way to get a passport (no spiffe section)');

  if (problems.length > 0) throw new BrokerConfigError(problems);
  return Object.freeze({
    socketPath: path(socketPath),
    ...(socketGroup ? { socketGroup } : {}),
    ...(httpListen ? { httpListen } : {}),
    issuer,
    trustDomain,
    ...(keyFile !== undefined ? { keyFile: path(keyFile) } : {}),
    generateKey,
    maxBodyBytes,
    defaultLifetimeS,
    maxLifetimeS,
    software,
    ...(spiffe ? { spiffe } : {}),
    ...(reusable ? { reusable } : {}),
  });
}

/**
 * Reads a YAML (or JSON, which is YAML) file and applies `overrides` on top, member by member for
 * the `software` and `spiffe` sections. Relative paths resolve against the file's folder.
 */
export function loadBrokerConfig(file: string, overrides: Record<string, unknown> = {}): BrokerConfig {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, 'utf8'), { uniqueKeys: true }) ?? {};
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (err as Error).message.split('\n')[0];
    throw new BrokerConfigError([`${file}: ${why}`]);
  }
  return parseBrokerConfig(mergeOverrides(doc, overrides), { baseDir: dirname(resolve(file)) });
}

function mergeOverrides(doc: unknown, overrides: Record<string, unknown>): unknown {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return doc;
  const out: Raw = { ...(doc as Raw) };
  for (const [k, v] of Object.entries(overrides)) {
    const cur = out[k];
    const bothObjects = v !== null && typeof v === 'object' && !Array.isArray(v) && cur !== null && typeof cur === 'object' && !Array.isArray(cur);
    out[k] = bothObjects ? { ...(cur as Raw), ...(v as Raw) } : v;
  }
  return out;
}

const GROUP_FILE = '/etc/group';

/**
 * `socket_group`: a YAML integer is a gid and needs no entry anywhere (containers often have none);
 * a string is a name, resolved from /etc/group now so that a typo is a configuration problem rather
 * than a socket that nobody can reach. A quoted number is a name, as in the file itself.
 */
function group(v: unknown, problems: string[]): SocketGroup | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v) && v >= 0 && v <= MAX_GID) return Object.freeze({ gid: v });
  } else if (typeof v === 'string' && v.length > 0) {
    let text: string;
    try {
      text = readFileSync(GROUP_FILE, 'utf8');
    } catch (err) {
      problems.push(`socket_group: cannot read ${GROUP_FILE} to resolve ${JSON.stringify(v)} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); give the gid as a number`);
      return undefined;
    }
    const gid = gidOfGroup(text, v);
    if (gid !== undefined) return Object.freeze({ gid, name: v });
    problems.push(`socket_group: no group named ${JSON.stringify(v)} in ${GROUP_FILE} (a group known only to LDAP or SSSD can be given as a numeric gid)`);
    return undefined;
  }
  problems.push(`socket_group: must be a group name or a numeric gid (0 to ${MAX_GID})`);
  return undefined;
}

function asObject(v: unknown, where: string, problems: string[]): Raw | undefined {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Raw;
  problems.push(`${where}: must be a mapping`);
  return undefined;
}

function unknownKeys(o: Raw, known: ReadonlySet<string>, prefix: string, problems: string[]): void {
  for (const k of Object.keys(o)) if (!known.has(k)) problems.push(`${prefix}${k}: unknown key`);
}

function str(o: Raw, k: string, dflt: string, problems: string[], prefix = ''): string {
  const v = o[k];
  if (v === undefined || v === null) return dflt;
  if (typeof v === 'string' && v.length > 0) return v;
  problems.push(`${prefix}${k}: must be a non-empty string`);
  return dflt;
}

function optStr(o: Raw, k: string, problems: string[], prefix = ''): string | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string' && v.length > 0) return v;
  problems.push(`${prefix}${k}: must be a non-empty string`);
  return undefined;
}

function bool(o: Raw, k: string, dflt: boolean, problems: string[], prefix = ''): boolean {
  const v = o[k];
  if (v === undefined || v === null) return dflt;
  if (typeof v === 'boolean') return v;
  problems.push(`${prefix}${k}: must be true or false`);
  return dflt;
}

function int(o: Raw, k: string, dflt: number, min: number, max: number, problems: string[], prefix = ''): number {
  const v = o[k];
  if (v === undefined || v === null) return dflt;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max) return v;
  problems.push(`${prefix}${k}: must be an integer from ${min} to ${max}`);
  return dflt;
}

function strList(o: Raw, k: string, dflt: readonly string[], problems: string[], prefix = ''): string[] {
  const v = o[k];
  if (v === undefined || v === null) return [...dflt];
  if (Array.isArray(v) && v.every((x) => typeof x === 'string' && x.length > 0)) return [...(v as string[])];
  problems.push(`${prefix}${k}: must be a list of non-empty strings`);
  return [...dflt];
}
