/**
 * Broker configuration: read once at boot from a YAML or JSON file plus overrides, checked as a whole
 * (every problem reported at once, unknown keys refused), and frozen. Defaults live in `DEFAULTS`
 * and nowhere else. File keys are snake_case; the typed object uses camelCase with units in names.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { ConfigReader, isMapping, mergeSettings, parseHostPort, readConfigFile } from '../../service/src/config.js';
import { gidOfGroup, MAX_GID } from './lib/group.js';
import { identityProblem, isIdentityUri } from '../../core/src/server-api.js';

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

const TOP_KEYS = ['socket_path', 'socket_group', 'http_listen', 'issuer', 'trust_domain', 'key_file', 'generate_key', 'max_body_bytes', 'default_lifetime_s', 'max_lifetime_s', 'software', 'spiffe', 'reusable'];
const REUSABLE_KEYS = ['subjects', 'max_lifetime_s'];
const SOFTWARE_KEYS = ['enabled', 'subject', 'allowed_subjects'];
const SPIFFE_KEYS = ['trust_domain', 'bundle_file', 'attested_trust_entry', 'pop_max_age_s', 'max_chain_length'];

/** Every setting the configuration file may hold, dotted (`software.subject`): docs/broker.md lists each. */
export const CONFIG_KEYS: readonly string[] = Object.freeze([
  ...TOP_KEYS.filter((k) => k !== 'software' && k !== 'spiffe' && k !== 'reusable'),
  ...SOFTWARE_KEYS.map((k) => `software.${k}`),
  ...SPIFFE_KEYS.map((k) => `spiffe.${k}`),
  ...REUSABLE_KEYS.map((k) => `reusable.${k}`),
]);

/** SPIFFE ID spec §2.1: a trust domain name is lower-case letters, digits, `.`, `-` and `_`. */
export const TRUST_DOMAIN = /^[a-z0-9._-]{1,255}$/;
/** A URI with a scheme and no whitespace, as passports require for `iss` and `sub`. */
const URI = /^[A-Za-z][A-Za-z0-9+.-]*:[\x21-\x7e]+$/;

/** Subject patterns (`software.allowed_subjects`, `reusable.subjects`): each a URI, at most 1024 characters. */
function subjectPatternProblems(r: ConfigReader, key: string, patterns: readonly string[]): void {
  for (const p of patterns) if (!URI.test(p) || p.length > 1024) r.problem(key, `${JSON.stringify(p)} is not a URI pattern`);
}

export interface ParseOptions {
  /** Relative file paths in the config are resolved against this (the config file's folder). */
  readonly baseDir?: string;
}

/** Validates a raw document (already parsed from YAML/JSON); throws ConfigError with every problem. */
export function parseBrokerConfig(raw: unknown, options: ParseOptions = {}): BrokerConfig {
  const r = new ConfigReader(raw, { nullIsUnset: true });
  r.section('', TOP_KEYS);
  const base = options.baseDir ?? process.cwd();
  const path = (v: string): string => (isAbsolute(v) ? v : resolve(base, v));

  const socketPath = r.str('socket_path', DEFAULTS.socket_path);
  const socketGroup = group(r);
  const issuer = r.str('issuer', DEFAULTS.issuer);
  // Passport identity syntax (docs/transcript-v1.md §4.2): verifiers refuse any other spelling.
  if (!isIdentityUri(issuer)) r.problem('issuer', `${identityProblem(issuer)} (a URI such as https://broker.example)`);

  const keyFile = r.str('key_file');
  const generateKey = r.bool('generate_key', DEFAULTS.generate_key);
  if (generateKey && keyFile === undefined) r.problem('generate_key', 'needs key_file (where to save the generated key)');

  const maxBodyBytes = r.int('max_body_bytes', DEFAULTS.max_body_bytes, 1024, 1_048_576);
  const maxLifetimeS = r.int('max_lifetime_s', DEFAULTS.max_lifetime_s, 1, 3600);
  const defaultLifetimeS = r.int('default_lifetime_s', DEFAULTS.default_lifetime_s, 1, 3600);
  if (defaultLifetimeS > maxLifetimeS) r.problem('default_lifetime_s', 'must not exceed max_lifetime_s');
  const listen = r.listen('http_listen', undefined, false);
  const httpListen = listen === undefined ? undefined : parseHostPort(listen);

  r.section('software', SOFTWARE_KEYS);
  const software: SoftwarePathConfig = {
    enabled: r.bool('software.enabled', DEFAULTS.software.enabled),
    subject: r.str('software.subject', DEFAULTS.software.subject),
    allowedSubjects: r.strList('software.allowed_subjects', DEFAULTS.software.allowed_subjects),
  };
  if (!isIdentityUri(software.subject)) r.problem('software.subject', `${identityProblem(software.subject)}`);
  subjectPatternProblems(r, 'software.allowed_subjects', software.allowedSubjects);

  let spiffe: SpiffePathConfig | undefined;
  if (r.get('spiffe') !== undefined) {
    r.section('spiffe', SPIFFE_KEYS);
    const td = r.str('spiffe.trust_domain', '');
    if (!TRUST_DOMAIN.test(td)) r.problem('spiffe.trust_domain', 'required; lower-case letters, digits, ".", "-" and "_" only');
    const bundleFile = r.str('spiffe.bundle_file', '');
    if (bundleFile === '') r.problem('spiffe.bundle_file', 'required (PEM file of the trust-domain roots)');
    spiffe = {
      trustDomain: td,
      bundleFile: bundleFile === '' ? '' : path(bundleFile),
      attestedTrustEntry: r.bool('spiffe.attested_trust_entry', DEFAULTS.spiffe.attested_trust_entry),
      popMaxAgeS: r.int('spiffe.pop_max_age_s', DEFAULTS.spiffe.pop_max_age_s, 1, 300),
      maxChainLength: r.int('spiffe.max_chain_length', DEFAULTS.spiffe.max_chain_length, 1, 8),
    };
  }

  let reusable: ReusableConfig | undefined;
  if (r.get('reusable') !== undefined && r.get('reusable') !== null) {
    r.section('reusable', REUSABLE_KEYS);
    const subjects = r.strList('reusable.subjects', []);
    if (subjects.length === 0) r.problem('reusable.subjects', 'required, at least one subject pattern (who may get reusable passports)');
    subjectPatternProblems(r, 'reusable.subjects', subjects);
    const reusableMaxS = r.int('reusable.max_lifetime_s', maxLifetimeS, 1, 3600);
    // A reusable request without lifetime_s gets default_lifetime_s: it must fit the reusable bound too.
    if (reusableMaxS < defaultLifetimeS) r.problem('reusable.max_lifetime_s', 'must not be below default_lifetime_s (the lifetime of a reusable passport asked for without lifetime_s)');
    reusable = Object.freeze({ subjects: Object.freeze(subjects), maxLifetimeS: reusableMaxS });
  }

  // One key, one trust domain: verifiers require a passport's trust_domain to equal its key's.
  const trustDomain = r.str('trust_domain', spiffe?.trustDomain || DEFAULTS.trust_domain);
  if (!TRUST_DOMAIN.test(trustDomain)) r.problem('trust_domain', 'lower-case letters, digits, ".", "-" and "_" only');
  if (!software.enabled && !spiffe) r.problem('software.enabled', 'false leaves no way to get a passport (no spiffe section)');

  return r.finish({
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
  const doc = readConfigFile(file) ?? {};
  return parseBrokerConfig(isMapping(doc) ? mergeSettings(doc, overrides) : doc, { baseDir: dirname(resolve(file)) });
}

const GROUP_FILE = '/etc/group';

/**
 * `socket_group`: a YAML integer is a gid and needs no entry anywhere (containers often have none);
 * a string is a name, resolved from /etc/group now so that a typo is a configuration problem rather
 * than a socket that nobody can reach. A quoted number is a name, as in the file itself.
 */
function group(r: ConfigReader): SocketGroup | undefined {
  const v = r.get('socket_group');
  if (v === undefined) return undefined;
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v) && v >= 0 && v <= MAX_GID) return Object.freeze({ gid: v });
  } else if (typeof v === 'string' && v.length > 0) {
    let text: string;
    try {
      text = readFileSync(GROUP_FILE, 'utf8');
    } catch (err) {
      r.problem('socket_group', `cannot read ${GROUP_FILE} to resolve ${JSON.stringify(v)} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); give the gid as a number`);
      return undefined;
    }
    const gid = gidOfGroup(text, v);
    if (gid !== undefined) return Object.freeze({ gid, name: v });
    r.problem('socket_group', `no group named ${JSON.stringify(v)} in ${GROUP_FILE} (a group known only to LDAP or SSSD can be given as a numeric gid)`);
    return undefined;
  }
  r.problem('socket_group', `must be a group name or a numeric gid (0 to ${MAX_GID})`);
  return undefined;
}
