/**
 * `trustplane bundle build | merge-source | remove-source | sign | verify | inspect`.
 *
 * Non-destructive by rule: every edit writes a new document to `--out FILE` or standard output and
 * replaces its input only with `--in-place` (atomically: a sibling file renamed over it, which is
 * also how a running server should be handed a new bundle). An edit that would produce a document
 * the verifier refuses is refused here, naming every problem; edits leave the result unsigned, to
 * be reviewed and then signed with `bundle sign`.
 */
import { buildBundle, importKeySet, mergeSource, removeSource, BundleError, signBundle, validateBundle, verifyBundle, BUNDLE_CLOCK_SKEW_S, canonicalBundleBytes, sha256hex, isKeyBinding, type BundleDocument, type Route, type TrustKey, type KeyBinding, type PublicJwk } from '../../../core/src/server-api.js';
import { UsageError, bool, list, need, parseArgs, str, type FlagSpec, type Parsed } from '../args.js';
import type { Command, Io } from '../command.js';
import {
  emit,
  isoTime,
  outputTarget,
  type InputFile,
  type OutputTarget,
  parseDuration,
  parseIntFlag,
  publicJwkOf,
  readBytes,
  readJson,
  readPrivateKey,
  readPublicKey,
  readSigningKeys,
  readYamlOrJson,
  relative,
} from '../files.js';

const USAGE_HEAD = `trustplane bundle <subcommand> [options]

  Every edit reads --bundle FILE ("-" = standard input) and writes the new document to --out FILE or
  standard output; --in-place replaces the input (atomically). Edits raise the serial by one and
  leave the result unsigned: review it, then "bundle sign". A result the verifier would refuse is
  refused (exit 1, every problem named).`;

/** Each subcommand's own usage, as `trustplane bundle <sub> --help` prints it. */
const SUB_USAGE: Record<string, string> = {
  'build': `  build [--input FILE] [--serial N] [--valid-for DUR] [--out FILE]
      An unsigned skeleton. --input: YAML/JSON {serial?, valid_for?|issued_at+expires_at, keys:
      [{jwk_file|jwk, kid?, issuer, trust_domain, max_key_binding}], routes: [...], revocations?}
      (docs/cli.md). Or from flags, one key and simple routes:
        --key-file FILE --issuer URI --trust-domain TD [--max-key-binding CLASS] [--kid KID]
        --route ID:METHODS:PATH (repeatable; METHODS like GET,POST or *) --audience AUD
        --subject PATTERN [--required-key-binding CLASS] [--freshness realtime|bounded|offline-ok]
      --valid-for DUR: issued now, expiring after DUR (default 30d).`,
  'merge-source': `  merge-source --bundle FILE --key-file FILE --issuer URI --trust-domain TD --route ID…
               --subject PATTERN [--max-key-binding CLASS] [--min-key-binding CLASS] [--kid KID]
  merge-source --bundle FILE --trust-entry FILE --route ID… --subject PATTERN [--min-key-binding CLASS]
      Adds a client: its public key (from a public or private JWK file; only the public part is
      written) and a source rule {issuer, trust_domain, subject, min_key_binding} on each --route.
      --trust-entry reads a bundle keys[] entry {kid, issuer, trust_domain, max_key_binding, jwk},
      e.g. the broker's GET /v1/trust-entry answer, instead of the key flags. Nothing else changes;
      running it twice changes nothing the second time. A kid in revocations.kids is refused.`,
  'import-jwks': `  import-jwks --bundle FILE --jwks FILE --issuer URI --trust-domain TD [--max-key-binding CLASS]
              [--route ID… --subject PATTERN] [--prune --confirm-remove]
      Imports an OIDC/JWKS issuer's key set ({"keys": [...]}, e.g. its jwks_uri document): each
      Ed25519/P-256 signing key is added, or updated when its kid holds other material; keys of
      other types or use "enc" are skipped and listed. This issuer's keys that the set no longer
      holds are listed, and removed only with --prune --confirm-remove. --route/--subject also add
      the source rule, as merge-source does.`,
  'remove-source': `  remove-source --bundle FILE --kid KID --confirm-remove [--revoke]
      Removes the key and, when no other key of its issuer and trust domain remains, the source
      rules naming them. --revoke also lists the kid in revocations.kids. Refused (exit 2) without
      --confirm-remove; refused (exit 1) if a route would be left without a source.`,
  'sign': `  sign --bundle FILE --key FILE [--valid-for DUR]
      Signs with a bundle-signing private JWK. --valid-for re-stamps issued_at (now) and
      expires_at; when the input was already signed the serial is raised too, so the new content
      never shares a serial with a published one. An expired result is refused.`,
  'verify': `  verify --bundle FILE (--signing-keys FILE | --allow-unsigned) [--min-serial N] [--json]
      As a server verifies on load: schema, signature, time window, rollback below --min-serial.
      Prints serial, times, signer; exit 1 with the code (bundle_expired, …) when refused.`,
  'inspect': `  inspect --bundle FILE [--json]
      Summary: serial, times, keys by kid, routes with match/audience/sources/requirements,
      revocations. The signature is not checked (use verify).`,
};

const USAGE_COMMON = `  Common: --out FILE (an existing file is refused unless --force), --in-place, --json (verify,
  inspect). Durations: 300, 90s, 15m, 12h, 30d.`;

const USAGE = `${USAGE_HEAD}\n\n${Object.values(SUB_USAGE).join('\n\n')}\n\n${USAGE_COMMON}`;

const EDIT_FLAGS: FlagSpec = { bundle: { type: 'string' }, out: { type: 'string' }, 'in-place': { type: 'boolean' }, force: { type: 'boolean' } };

type Sub = (p: Parsed, io: Io) => Promise<number> | number;

const SUBCOMMANDS: Record<string, { flags: FlagSpec; run: Sub }> = {
  build: {
    flags: {
      input: { type: 'string' },
      serial: { type: 'string' },
      'valid-for': { type: 'string' },
      out: { type: 'string' },
      force: { type: 'boolean' },
      'key-file': { type: 'string' },
      issuer: { type: 'string' },
      'trust-domain': { type: 'string' },
      'max-key-binding': { type: 'string' },
      kid: { type: 'string' },
      route: { type: 'list' },
      audience: { type: 'string' },
      subject: { type: 'string' },
      'required-key-binding': { type: 'string' },
      freshness: { type: 'string' },
    },
    run: build,
  },
  'merge-source': {
    flags: {
      ...EDIT_FLAGS,
      'trust-entry': { type: 'string' },
      'key-file': { type: 'string' },
      issuer: { type: 'string' },
      'trust-domain': { type: 'string' },
      'max-key-binding': { type: 'string' },
      'min-key-binding': { type: 'string' },
      kid: { type: 'string' },
      route: { type: 'list' },
      subject: { type: 'string' },
    },
    run: merge,
  },
  'import-jwks': {
    flags: {
      ...EDIT_FLAGS,
      jwks: { type: 'string' },
      issuer: { type: 'string' },
      'trust-domain': { type: 'string' },
      'max-key-binding': { type: 'string' },
      route: { type: 'list' },
      subject: { type: 'string' },
      prune: { type: 'boolean' },
      'confirm-remove': { type: 'boolean' },
    },
    run: importJwks,
  },
  'remove-source': { flags: { ...EDIT_FLAGS, kid: { type: 'string' }, 'confirm-remove': { type: 'boolean' }, revoke: { type: 'boolean' } }, run: remove },
  sign: { flags: { ...EDIT_FLAGS, key: { type: 'string' }, 'valid-for': { type: 'string' } }, run: sign },
  verify: {
    flags: { bundle: { type: 'string' }, 'signing-keys': { type: 'string' }, 'allow-unsigned': { type: 'boolean' }, 'min-serial': { type: 'string' }, json: { type: 'boolean' } },
    run: verify,
  },
  inspect: { flags: { bundle: { type: 'string' }, json: { type: 'boolean' } }, run: inspect },
};

export const bundleCommand: Command = {
  name: 'bundle',
  summary: 'build, edit (merge-source, remove-source), sign, verify and inspect bundles',
  usage: USAGE,
  usageFor(argv) {
    const section = argv[0] === undefined ? undefined : SUB_USAGE[argv[0]];
    return section === undefined ? undefined : `trustplane bundle ${section.trimStart()}\n\n${USAGE_COMMON}`;
  },
  async run(argv, io) {
    const [name, ...rest] = argv;
    if (name === undefined) throw new UsageError(`a subcommand is required: ${Object.keys(SUBCOMMANDS).join(', ')}`);
    const sub = SUBCOMMANDS[name];
    if (!sub) throw new UsageError(`unknown subcommand "${name}" (${Object.keys(SUBCOMMANDS).join(', ')})`);
    try {
      const p = parseArgs(rest, sub.flags);
      if (p.positionals.length > 0) throw new UsageError(`unexpected argument ${p.positionals[0]}`);
      return await sub.run(p, io);
    } catch (error) {
      const code = error instanceof UsageError ? 2 : 1;
      io.err(`trustplane bundle ${name}: ${error instanceof Error ? error.message : String(error)}\n`);
      return code;
    }
  },
};

// ---------------------------------------------------------------------------------------------

const docText = (doc: BundleDocument): string => `${JSON.stringify(doc, null, 2)}\n`;

function refused(code: string, problems: readonly string[]): Error {
  return new Error(`${code}: ${problems.join('; ')}`);
}

/** The input document, checked against the schema (a signature is not checked here). */
function readDocument(path: string): BundleDocument {
  const v = validateBundle(readJson(path, '--bundle'));
  if (!v.ok) throw refused('bundle_invalid', v.problems);
  return v.bundle;
}

function keyBindingFlag(p: Parsed, name: string): KeyBinding | undefined {
  const v = str(p, name);
  if (v !== undefined && !isKeyBinding(v)) throw new UsageError(`--${name} must be software, remote_kms, hardware_local or attested_workload`);
  return v;
}

/** The files an edit reads besides --bundle: its result may never be written over one of them. */
function editInputs(p: Parsed): InputFile[] {
  return (['key-file', 'key', 'input', 'trust-entry', 'jwks'] as const).flatMap((f) => (str(p, f) === undefined || str(p, f) === '-' ? [] : [{ flag: `--${f}`, path: str(p, f)! }]));
}

/** Checked before any work: where --out / --in-place / --force say the result goes may be written. */
function target(p: Parsed, input: string): OutputTarget {
  return outputTarget(input, str(p, 'out'), bool(p, 'in-place'), bool(p, 'force'), editInputs(p));
}

/** Writes the result where --out / --in-place say; the summary goes where the document does not. */
function write(p: Parsed, io: Io, input: string, doc: BundleDocument, summary: string): number {
  const t = target(p, input);
  emit(io, t, docText(doc), editInputs(p));
  if (t.path === undefined) io.err(`${summary}\n`);
  else io.out(`${summary}; written to ${t.path}\n`);
  return 0;
}

function trustKeyFromFlags(p: Parsed, forWhat: string): TrustKey {
  const file = str(p, 'key-file');
  if (file === undefined) throw new UsageError(`option --key-file is required ${forWhat}`);
  const jwk = readPublicKey(file, '--key-file');
  const kid = str(p, 'kid') ?? jwk.kid!;
  return {
    kid,
    issuer: need(p, 'issuer'),
    trust_domain: need(p, 'trust-domain'),
    max_key_binding: keyBindingFlag(p, 'max-key-binding') ?? 'software',
    jwk: { ...jwk, kid },
  };
}

// --- build ---------------------------------------------------------------------------------------

const BUILD_INPUT_KEYS = ['serial', 'valid_for', 'issued_at', 'expires_at', 'keys', 'routes', 'revocations'];
const BUILD_KEY_KEYS = ['jwk_file', 'jwk', 'kid', 'issuer', 'trust_domain', 'max_key_binding'];

function build(p: Parsed, io: Io): number {
  const input = str(p, 'input');
  const nowS = Math.floor(Date.now() / 1000);
  let serial = parseIntFlag(str(p, 'serial'), '--serial', 1);
  let validFor = str(p, 'valid-for') !== undefined ? parseDuration(str(p, 'valid-for')!, '--valid-for') : undefined;
  let issuedAt: number | undefined;
  let expiresAt: number | undefined;
  let keys: TrustKey[];
  let routes: unknown[];
  let revocations: unknown;
  if (input !== undefined) {
    for (const f of ['key-file', 'issuer', 'trust-domain', 'max-key-binding', 'kid', 'audience', 'subject', 'required-key-binding', 'freshness']) {
      if (p.flags[f] !== undefined) throw new UsageError(`--${f} cannot be combined with --input (put it in the input file)`);
    }
    if (list(p, 'route').length > 0) throw new UsageError('--route cannot be combined with --input (put routes in the input file)');
    const raw = readYamlOrJson(input, '--input');
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`--input ${input}: must be a mapping`);
    const doc = raw as Record<string, unknown>;
    const problems: string[] = Object.keys(doc).filter((k) => !BUILD_INPUT_KEYS.includes(k)).map((k) => `unknown member "${k}"`);
    if (doc.serial !== undefined && serial === undefined) serial = Number.isSafeInteger(doc.serial) ? (doc.serial as number) : (problems.push('"serial" must be an integer'), undefined);
    if (doc.valid_for !== undefined && validFor === undefined) validFor = parseDuration(String(doc.valid_for), 'valid_for');
    if (doc.issued_at !== undefined || doc.expires_at !== undefined) {
      if (validFor !== undefined) problems.push('give valid_for (or --valid-for), or issued_at and expires_at, not both');
      issuedAt = doc.issued_at as number;
      expiresAt = doc.expires_at as number;
    }
    if (!Array.isArray(doc.keys ?? [])) problems.push('"keys" must be a list');
    keys = ((doc.keys as unknown[] | undefined) ?? []).flatMap((k, i) => {
      const where = `keys[${i}]`;
      if (k === null || typeof k !== 'object' || Array.isArray(k)) return problems.push(`${where} must be a mapping`), [];
      const e = k as Record<string, unknown>;
      for (const m of Object.keys(e)) if (!BUILD_KEY_KEYS.includes(m)) problems.push(`${where}: unknown member "${m}"`);
      if ((e.jwk_file === undefined) === (e.jwk === undefined)) return problems.push(`${where}: give jwk_file or jwk`), [];
      let jwk: PublicJwk;
      try {
        jwk = typeof e.jwk_file === 'string' ? readPublicKey(resolveFrom(input, e.jwk_file), `${where}.jwk_file`) : publicJwkOf(e.jwk, `${where}.jwk`);
      } catch (err) {
        return problems.push((err as Error).message), [];
      }
      const kid = typeof e.kid === 'string' ? e.kid : jwk.kid!;
      return [{ kid, issuer: e.issuer, trust_domain: e.trust_domain, max_key_binding: e.max_key_binding ?? 'software', jwk: { ...jwk, kid } } as TrustKey];
    });
    if (!Array.isArray(doc.routes ?? [])) problems.push('"routes" must be a list');
    routes = (doc.routes as unknown[] | undefined) ?? [];
    revocations = doc.revocations;
    if (problems.length > 0) throw new Error(`--input ${input}: ${problems.join('; ')}`);
  } else {
    const key = trustKeyFromFlags(p, '(or give --input FILE)');
    const audience = need(p, 'audience');
    const subject = need(p, 'subject');
    const required = keyBindingFlag(p, 'required-key-binding') ?? 'software';
    const freshness = str(p, 'freshness') ?? 'bounded';
    const specs = list(p, 'route');
    if (specs.length === 0) throw new UsageError('at least one --route ID:METHODS:PATH is required');
    keys = [key];
    routes = specs.map((spec) => {
      const m = /^([^:]+):([^:]+):(\/.*)$/.exec(spec);
      if (!m) throw new UsageError(`--route ${spec} must be ID:METHODS:PATH, e.g. payments-read:GET:/v1/payments/*`);
      const methods = m[2] === '*' ? undefined : m[2]!.split(',').map((x) => x.trim().toUpperCase());
      return {
        id: m[1],
        match: { ...(methods ? { methods } : {}), path: m[3] },
        audience,
        allowed_sources: [{ issuer: key.issuer, trust_domain: key.trust_domain, subject }],
        required_key_binding: required,
        freshness_class: freshness,
        bound_headers: [],
      };
    });
  }
  if (issuedAt === undefined || expiresAt === undefined) {
    issuedAt = nowS;
    expiresAt = nowS + (validFor ?? 30 * 86_400);
  }
  const built = buildBundle({
    issuedAt,
    expiresAt,
    ...(serial !== undefined ? { serial } : {}),
    keys,
    routes: routes as Route[],
    ...(revocations !== undefined ? { revocations: revocations as never } : {}),
  });
  if (!built.ok) throw refused(built.code, built.problems);
  const target = outputTarget('-', str(p, 'out'), false, bool(p, 'force'), editInputs(p));
  emit(io, target, docText(built.bundle), editInputs(p));
  const summary = `built serial ${built.bundle.serial}: ${built.bundle.keys.length} key(s), ${built.bundle.routes.length} route(s), valid ${isoTime(built.bundle.issued_at)} to ${isoTime(built.bundle.expires_at)}; unsigned: review, then bundle sign`;
  if (target.path === undefined) io.err(`${summary}\n`);
  else io.out(`${summary}; written to ${target.path}\n`);
  return 0;
}

function resolveFrom(inputFile: string, path: string): string {
  if (path.startsWith('/') || inputFile === '-') return path;
  const dir = inputFile.includes('/') ? inputFile.slice(0, inputFile.lastIndexOf('/')) : '.';
  return `${dir}/${path}`;
}

// --- merge-source / remove-source ----------------------------------------------------------------

const TRUST_ENTRY_KEYS = ['kid', 'issuer', 'trust_domain', 'max_key_binding', 'jwk'];

/**
 * A bundle keys[] entry, as the broker's GET /v1/trust-entry answers (docs/broker.md): exactly
 * those members; the JWK through the strict public-key import (a private member is refused: an
 * entry is published material); the kid must be the JWK's own when the JWK names one.
 */
function readTrustEntry(path: string): TrustKey {
  const raw = readJson(path, '--trust-entry');
  const where = `--trust-entry ${path}`;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${where}: must be a JSON object {kid, issuer, trust_domain, max_key_binding, jwk}`);
  const e = raw as Record<string, unknown>;
  const problems = [
    ...Object.keys(e).filter((k) => !TRUST_ENTRY_KEYS.includes(k)).map((k) => `unknown member "${k}"`),
    ...TRUST_ENTRY_KEYS.filter((k) => e[k] === undefined).map((k) => `"${k}" is required`),
  ];
  if (e.kid !== undefined && (typeof e.kid !== 'string' || e.kid === '')) problems.push('"kid" must be a non-empty string');
  if (e.max_key_binding !== undefined && (typeof e.max_key_binding !== 'string' || !isKeyBinding(e.max_key_binding))) problems.push('"max_key_binding" must be software, remote_kms, hardware_local or attested_workload');
  if (e.jwk !== null && typeof e.jwk === 'object' && (e.jwk as { d?: unknown }).d !== undefined) problems.push('"jwk" carries a private key ("d"); a trust entry holds the public key only');
  if (problems.length > 0) throw new Error(`${where}: ${problems.join('; ')}`);
  const jwk = publicJwkOf(e.jwk, `${where}: jwk`);
  const ownKid = (e.jwk as { kid?: unknown }).kid;
  if (typeof ownKid === 'string' && ownKid !== e.kid) throw new Error(`${where}: "kid" ${JSON.stringify(e.kid)} is not the jwk's kid ${JSON.stringify(ownKid)}`);
  return { kid: e.kid as string, issuer: e.issuer as string, trust_domain: e.trust_domain as string, max_key_binding: e.max_key_binding as KeyBinding, jwk: { ...jwk, kid: e.kid as string } };
}

/** A public JWK file that is a trust entry: say which option reads it. */
function trustKeyFromFlagsOrHint(p: Parsed): TrustKey {
  const file = str(p, 'key-file');
  try {
    return trustKeyFromFlags(p, 'for merge-source (or --trust-entry FILE)');
  } catch (e) {
    if (file !== undefined && !(e instanceof UsageError)) {
      let json: unknown;
      try {
        json = readJson(file, '--key-file');
      } catch {
        throw e;
      }
      if (json !== null && typeof json === 'object' && 'jwk' in json && 'issuer' in json) throw new UsageError(`--key-file ${file} is a trust entry ({kid, issuer, trust_domain, max_key_binding, jwk}); pass it as --trust-entry ${file}`);
    }
    throw e;
  }
}

function merge(p: Parsed, io: Io): number {
  const input = need(p, 'bundle');
  const routes = list(p, 'route');
  if (routes.length === 0) throw new UsageError('at least one --route ID is required');
  const subject = need(p, 'subject');
  const entryFile = str(p, 'trust-entry');
  if (entryFile !== undefined) {
    const clash = ['key-file', 'issuer', 'trust-domain', 'max-key-binding', 'kid'].filter((f) => p.flags[f] !== undefined);
    if (clash.length > 0) throw new UsageError(`--${clash[0]} cannot be combined with --trust-entry (the entry says it)`);
  }
  const key = entryFile !== undefined ? readTrustEntry(entryFile) : trustKeyFromFlagsOrHint(p);
  const min = keyBindingFlag(p, 'min-key-binding');
  target(p, input);
  const doc = readDocument(input);
  const r = mergeSource(doc, { key, routes, source: { issuer: key.issuer, trust_domain: key.trust_domain, subject, ...(min ? { min_key_binding: min } : {}) } });
  if (!r.ok) throw refused(r.code, r.problems);
  const summary = r.changed
    ? `merged kid ${key.kid} (${key.issuer}, ${key.trust_domain}, max ${key.max_key_binding}) and a source rule for ${subject} on ${routes.join(', ')}; serial ${doc.serial} -> ${r.bundle.serial}, unsigned: review, then bundle sign`
    : `nothing to merge: kid ${key.kid} and the rule are already there; output unchanged (serial ${doc.serial}${doc.signature ? ', signature kept' : ''})`;
  return write(p, io, input, r.bundle, summary);
}

// --- import-jwks ---------------------------------------------------------------------------------

/**
 * An issuer's JWKS: `{"keys": [...]}` (RFC 7517 §5). Each Ed25519/P-256 signing key goes through the
 * strict key import (publicJwkOf); a key of a type this verifier does not support, or marked for
 * encryption, is skipped and named; a malformed supported key refuses the whole import, because a
 * set with a damaged key is not one to trust partly.
 */
function readJwks(path: string, issuer: string, trustDomain: string, max: KeyBinding): { keys: TrustKey[]; skipped: string[] } {
  const raw = readJson(path, '--jwks');
  const where = `--jwks ${path}`;
  if (raw === null || typeof raw !== 'object' || !Array.isArray((raw as { keys?: unknown }).keys)) throw new Error(`${where}: must be a JWK Set {"keys": [...]}`);
  const keys: TrustKey[] = [];
  const skipped: string[] = [];
  const problems: string[] = [];
  ((raw as { keys: unknown[] }).keys).forEach((k, i) => {
    const e = (k ?? {}) as Record<string, unknown>;
    const name = typeof e.kid === 'string' ? `kid "${e.kid}"` : `keys[${i}]`;
    if (k === null || typeof k !== 'object' || Array.isArray(k)) return void problems.push(`keys[${i}]: must be a JWK object`);
    if (e.use !== undefined && e.use !== 'sig') return void skipped.push(`${name}: use "${String(e.use)}"`);
    const supported = (e.kty === 'OKP' && e.crv === 'Ed25519') || (e.kty === 'EC' && e.crv === 'P-256');
    if (!supported) return void skipped.push(`${name}: ${String(e.kty)}${e.crv !== undefined ? ` ${String(e.crv)}` : ''} (Ed25519 and P-256 only)`);
    if (e.d !== undefined) return void problems.push(`${name}: carries a private key ("d")`);
    try {
      const jwk = publicJwkOf(k, name);
      keys.push({ kid: jwk.kid!, issuer, trust_domain: trustDomain, max_key_binding: max, jwk });
    } catch (err) {
      problems.push((err as Error).message);
    }
  });
  if (problems.length > 0) throw new Error(`${where}: ${problems.join('; ')}`);
  return { keys, skipped };
}

function importJwks(p: Parsed, io: Io): number {
  const input = need(p, 'bundle');
  const jwksFile = need(p, 'jwks');
  const issuer = need(p, 'issuer');
  const trustDomain = need(p, 'trust-domain');
  const max = keyBindingFlag(p, 'max-key-binding') ?? 'software';
  const prune = bool(p, 'prune');
  if (prune && !bool(p, 'confirm-remove')) throw new UsageError('bundle_confirm_required: --prune removes trusted keys; pass --confirm-remove too (nothing was written)');
  const routes = list(p, 'route');
  const subject = str(p, 'subject');
  if ((routes.length > 0) !== (subject !== undefined)) throw new UsageError('give --route ID… and --subject PATTERN together (or neither)');
  target(p, input);
  const doc = readDocument(input);
  const set = readJwks(jwksFile, issuer, trustDomain, max);
  const r = importKeySet(doc, {
    keys: set.keys,
    issuer,
    trust_domain: trustDomain,
    prune,
    ...(subject !== undefined ? { routes, source: { issuer, trust_domain: trustDomain, subject } } : {}),
  });
  if (!r.ok) throw refused(r.code, r.problems);
  const rep = r.report!;
  const list_ = (xs: string[]): string => (xs.length > 0 ? xs.join(', ') : '-');
  for (const s of set.skipped) io.err(`skipped ${s}\n`);
  if (rep.absent.length > 0 && !prune) io.err(`not in the JWKS, kept (--prune --confirm-remove removes them): ${rep.absent.join(', ')}\n`);
  const summary = r.changed
    ? `imported ${issuer} (${trustDomain}): added ${list_(rep.added)}; updated ${list_(rep.updated)}; unchanged ${list_(rep.unchanged)}; removed ${list_(rep.removed)}; ${rep.rules_added} source rule(s) added; serial ${doc.serial} -> ${r.bundle.serial}, unsigned: review, then bundle sign`
    : `nothing to import: the bundle already trusts exactly these keys of ${issuer}; output unchanged (serial ${doc.serial}${doc.signature ? ', signature kept' : ''})`;
  return write(p, io, input, r.bundle, summary);
}

function remove(p: Parsed, io: Io): number {
  const input = need(p, 'bundle');
  const kid = need(p, 'kid');
  if (!bool(p, 'confirm-remove')) throw new UsageError(`bundle_confirm_required: removing kid "${kid}" drops trust; pass --confirm-remove (nothing was written)`);
  target(p, input);
  const doc = readDocument(input);
  const r = removeSource(doc, { kid, confirm: true, revoke: bool(p, 'revoke') });
  if (!r.ok) throw refused(r.code, r.problems);
  const rulesBefore = doc.routes.reduce((n, x) => n + x.allowed_sources.length, 0);
  const rulesAfter = r.bundle.routes.reduce((n, x) => n + x.allowed_sources.length, 0);
  const summary = `removed kid ${kid} and ${rulesBefore - rulesAfter} source rule(s)${bool(p, 'revoke') ? '; kid listed in revocations.kids' : ''}; serial ${doc.serial} -> ${r.bundle.serial}, unsigned: review, then bundle sign`;
  return write(p, io, input, r.bundle, summary);
}

// --- sign ---------------------------------------------------------------------------------------

function sign(p: Parsed, io: Io): number {
  const input = need(p, 'bundle');
  const keyFile = need(p, 'key');
  const validFor = str(p, 'valid-for') !== undefined ? parseDuration(str(p, 'valid-for')!, '--valid-for') : undefined;
  target(p, input);
  const key = readPrivateKey(keyFile, '--key');
  let doc = readDocument(input);
  const nowS = Math.floor(Date.now() / 1000);
  if (validFor !== undefined) {
    const { signature, ...unsigned } = doc;
    doc = { ...unsigned, serial: signature ? doc.serial + 1 : doc.serial, issued_at: nowS, expires_at: nowS + validFor } as BundleDocument;
  }
  if (doc.expires_at <= nowS) throw refused('bundle_expired', [`expires_at ${isoTime(doc.expires_at)} has passed; re-stamp with --valid-for DUR`]);
  let signed: BundleDocument;
  try {
    signed = signBundle(doc, key);
  } catch (e) {
    if (e instanceof BundleError) throw refused(e.code, e.problems);
    throw e;
  }
  return write(p, io, input, signed, `signed serial ${signed.serial} with kid ${key.kid} (${key.alg}); valid ${isoTime(signed.issued_at)} to ${isoTime(signed.expires_at)}`);
}

// --- verify -------------------------------------------------------------------------------------

function verify(p: Parsed, io: Io): number {
  const input = need(p, 'bundle');
  const keysPath = str(p, 'signing-keys');
  const allowUnsigned = bool(p, 'allow-unsigned');
  if (keysPath === undefined && !allowUnsigned) throw new UsageError('give --signing-keys FILE (or --allow-unsigned for development)');
  const minSerial = parseIntFlag(str(p, 'min-serial'), '--min-serial', 1);
  const nowS = Math.floor(Date.now() / 1000);
  const r = verifyBundle(readBytes(input, '--bundle'), {
    signingKeys: keysPath === undefined ? [] : readSigningKeys(keysPath),
    allowUnsigned,
    now: nowS,
    ...(minSerial !== undefined ? { minSerial } : {}),
  });
  const json = bool(p, 'json');
  if (!r.ok) {
    if (json) io.out(`${JSON.stringify({ ok: false, code: r.code, problems: r.problems })}\n`);
    throw refused(r.code, r.problems);
  }
  const b = r.bundle;
  const signer = b.signature ? `signed by kid ${b.signature.kid} (${b.signature.alg})` : 'UNSIGNED (accepted: --allow-unsigned)';
  if (json) {
    io.out(`${JSON.stringify({ ok: true, serial: b.serial, issued_at: b.issued_at, expires_at: b.expires_at, signed_by: b.signature?.kid ?? null, sha256: r.sha256 })}\n`);
  } else {
    io.out(
      `ok: serial ${b.serial}, ${signer}\nissued  ${isoTime(b.issued_at)} (${relative(b.issued_at, nowS)})\nexpires ${isoTime(b.expires_at)} (${relative(b.expires_at, nowS)})\nsha256  ${r.sha256}\n`,
    );
  }
  return 0;
}

// --- inspect ------------------------------------------------------------------------------------

function inspect(p: Parsed, io: Io): number {
  const input = need(p, 'bundle');
  const doc = readDocument(input);
  const nowS = Math.floor(Date.now() / 1000);
  const state = doc.expires_at <= nowS ? 'EXPIRED' : doc.issued_at > nowS + BUNDLE_CLOCK_SKEW_S ? 'NOT YET VALID' : 'within its validity window';
  if (bool(p, 'json')) {
    io.out(
      `${JSON.stringify(
        {
          format: doc.format,
          serial: doc.serial,
          issued_at: doc.issued_at,
          expires_at: doc.expires_at,
          time_state: state,
          signature: doc.signature ? { kid: doc.signature.kid, alg: doc.signature.alg } : null,
          sha256: sha256hex(canonicalBundleBytes(doc)),
          keys: doc.keys.map((k) => ({ kid: k.kid, issuer: k.issuer, trust_domain: k.trust_domain, max_key_binding: k.max_key_binding, kty: k.jwk.kty, crv: k.jwk.crv })),
          routes: doc.routes,
          revocations: doc.revocations,
        },
        null,
        2,
      )}\n`,
    );
    return 0;
  }
  const lines: string[] = [];
  lines.push(`${doc.format} serial ${doc.serial}, ${doc.signature ? `signed by kid ${doc.signature.kid} (${doc.signature.alg}; not checked here, use bundle verify)` : 'UNSIGNED'}`);
  lines.push(`issued  ${isoTime(doc.issued_at)} (${relative(doc.issued_at, nowS)})`);
  lines.push(`expires ${isoTime(doc.expires_at)} (${relative(doc.expires_at, nowS)}), ${state}`);
  lines.push(`sha256  ${sha256hex(canonicalBundleBytes(doc))}`);
  lines.push('', `keys (${doc.keys.length}):`);
  for (const k of doc.keys) lines.push(`  ${k.kid}`, `    issuer ${k.issuer}  trust_domain ${k.trust_domain}  max ${k.max_key_binding}  ${k.jwk.crv}`);
  lines.push('', `routes (${doc.routes.length}):`);
  for (const r of doc.routes) {
    lines.push(`  ${r.id}: ${r.match.methods?.join(',') ?? 'any method'} ${r.match.path}${r.match.authority ? ` @ ${r.match.authority}` : ''}  audience ${r.audience}`);
    const req = [
      `key binding >= ${r.required_key_binding}`,
      `freshness ${r.freshness_class}`,
      `body ${r.body?.mode ?? 'bound'}${r.body?.max_bytes !== undefined ? ` <= ${r.body.max_bytes} bytes` : ''}`,
      `lifetime <= ${r.max_passport_lifetime_s ?? 300} s`,
      ...(r.bound_headers.length > 0 ? [`bound headers ${r.bound_headers.join(', ')}`] : []),
      ...(r.require_peer_principal ? ['peer principal = subject'] : []),
      ...(r.mode === 'dry_run' ? ['DRY RUN'] : []),
    ];
    lines.push(`    requires: ${req.join('; ')}`);
    for (const s of r.allowed_sources) lines.push(`    source: ${s.issuer}  ${s.trust_domain}  subject ${s.subject}${s.min_key_binding ? `  min ${s.min_key_binding}` : ''}`);
  }
  const rv = doc.revocations;
  lines.push('', `revocations: kids ${rv.kids.length ? rv.kids.join(', ') : '-'}; jtis ${rv.jtis.length}; subjects ${rv.subjects.length ? rv.subjects.join(', ') : '-'}; cnf thumbprints ${rv.cnf_thumbprints.length}`);
  io.out(`${lines.join('\n')}\n`);
  return 0;
}
