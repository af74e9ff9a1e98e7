/**
 * Schema validation of a trustplane-bundle-v1 document. Every problem is reported at once, each as
 * `<JSON pointer>: <what is wrong>`, so an operator fixes a bundle in one pass. Unknown members are
 * refused: a misspelt policy field must never be silently ignored.
 *
 * The returned document holds exactly the members of the input (copied, deep-frozen), so its
 * canonical bytes are the canonical bytes of what was signed. Defaults are applied by readers
 * (compileBundle), never written into the document.
 */
import { checkPublicJwk } from '../keys.js';
import { fromB64url } from '../encoding.js';
import { FRESHNESS_CLASSES, isKeyBinding, KEY_BINDINGS } from '../types.js';
import { BINDING_PART_NAMES, BODY_HASH_SOURCES, BUNDLE_FORMAT, PROOF_KIND_NAMES, type BundleDocument } from './types.js';
import {
  authorityProblem,
  headerNameProblem,
  MAX_BOUND_HEADERS,
  MAX_OVERRIDE_HEADERS,
  METHOD,
  overrideHeaderProblem,
  ROUTE_ID,
  routePathProblem,
  subjectPatternProblem,
  VISIBLE,
} from './lib/rules.js';
import { identityProblem, isAudience, isKid, MAX_AUDIENCE_LENGTH, MAX_KID_LENGTH, trustDomainProblem } from '../identity.js';
import { MAX_JTI_LENGTH } from '../passport.js';

export type BundleValidation = { ok: true; bundle: BundleDocument } | { ok: false; problems: string[] };

type Obj = Record<string, unknown>;

const TOP = ['format', 'serial', 'issued_at', 'expires_at', 'keys', 'routes', 'revocations', 'signature'];
const KEY = ['kid', 'issuer', 'trust_domain', 'max_key_binding', 'jwk'];
const JWK = ['kty', 'crv', 'x', 'y', 'kid', 'alg'];
const ROUTE = [
  'id',
  'match',
  'audience',
  'allowed_sources',
  'required_key_binding',
  'freshness_class',
  'bound_headers',
  'max_passport_lifetime_s',
  'require_peer_principal',
  'mode',
  'body',
  'override_headers',
  'proof_kinds',
  'min_binding',
  'reusable_passport',
];
const REUSABLE = ['max_lifetime_s'];
const MATCH = ['methods', 'path', 'authority'];
const SOURCE = ['issuer', 'trust_domain', 'subject', 'min_key_binding'];
const BODY = ['mode', 'max_bytes', 'hash_source'];
const REVOCATION_LISTS = ['kids', 'jtis', 'subjects', 'cnf_thumbprints'];
const SIGNATURE = ['alg', 'kid', 'value'];
const MAX_LIFETIME_S = 3600;
const MAX_STRING = 1024;

export function validateBundle(json: unknown): BundleValidation {
  const v = new Checker();
  const doc = v.object(json, '');
  if (!doc) return { ok: false, problems: v.problems };
  v.members(doc, '', TOP, TOP.filter((k) => k !== 'signature'));

  if (doc.format !== undefined && doc.format !== BUNDLE_FORMAT) v.problem('/format', `must be "${BUNDLE_FORMAT}"`);
  if (doc.serial !== undefined && !(Number.isSafeInteger(doc.serial) && (doc.serial as number) > 0)) {
    v.problem('/serial', 'must be a positive safe integer');
  }
  const issued = v.time(doc.issued_at, '/issued_at');
  const expires = v.time(doc.expires_at, '/expires_at');
  if (issued !== undefined && expires !== undefined && !(issued < expires)) v.problem('/expires_at', 'must be later than issued_at');

  if (doc.keys !== undefined) checkKeys(v, doc.keys);
  if (doc.routes !== undefined) checkRoutes(v, doc.routes);
  if (doc.revocations !== undefined) checkRevocations(v, doc.revocations);
  if (doc.signature !== undefined) checkSignature(v, doc.signature);

  if (v.problems.length > 0) return { ok: false, problems: v.problems };
  return { ok: true, bundle: deepFreezeCopy(doc) as unknown as BundleDocument };
}

function checkKeys(v: Checker, value: unknown): void {
  const keys = v.array(value, '/keys');
  if (!keys) return;
  const seen = new Map<string, number>();
  keys.forEach((item, i) => {
    const at = `/keys/${i}`;
    const k = v.object(item, at);
    if (!k) return;
    v.members(k, at, KEY, KEY);
    if (v.kid(k.kid, `${at}/kid`)) {
      const prev = seen.get(k.kid as string);
      if (prev !== undefined) v.problem(`${at}/kid`, `duplicates /keys/${prev}/kid`);
      else seen.set(k.kid as string, i);
    }
    v.rule(k.issuer, `${at}/issuer`, identityProblem);
    v.rule(k.trust_domain, `${at}/trust_domain`, trustDomainProblem);
    v.keyBinding(k.max_key_binding, `${at}/max_key_binding`);
    if (k.jwk !== undefined) checkJwk(v, k.jwk, `${at}/jwk`, typeof k.kid === 'string' ? k.kid : undefined);
  });
}

/**
 * A trust key's JWK goes through the one import path (core/src/keys.ts, checkPublicJwk): canonical
 * base64url, a valid point that is not of small order, no private member. Its problem names the
 * key by kid, so an operator sees which entry to fix. The bundle's own member list is narrower
 * than a public key file's: `kty`, `crv`, `x`, `y`, `kid`, `alg` (docs/bundle.md, "Keys").
 */
function checkJwk(v: Checker, value: unknown, at: string, kid: string | undefined): void {
  const j = v.object(value, at);
  if (!j) return;
  try {
    checkPublicJwk(j, 'public');
  } catch (e) {
    // The key type decides which members exist, so a foreign key gets one problem, not one per member.
    v.problem(at, `${kid !== undefined ? `key "${kid.slice(0, 64)}": ` : ''}${(e as Error).message}`);
    return;
  }
  v.members(j, at, JWK, ['kty', 'crv', 'x']);
  if (j.kid !== undefined && j.kid !== kid) v.problem(`${at}/kid`, 'must equal the key\'s kid when present');
}

function checkRoutes(v: Checker, value: unknown): void {
  const routes = v.array(value, '/routes');
  if (!routes) return;
  const ids = new Map<string, number>();
  const matches = new Map<string, number>();
  routes.forEach((item, i) => {
    const at = `/routes/${i}`;
    const r = v.object(item, at);
    if (!r) return;
    v.members(r, at, ROUTE, ['id', 'match', 'audience', 'allowed_sources', 'required_key_binding', 'freshness_class', 'bound_headers']);
    if (v.str(r.id, `${at}/id`, ROUTE_ID, 64, 'must match ^[a-z0-9][a-z0-9._-]{0,63}$')) {
      const prev = ids.get(r.id as string);
      if (prev !== undefined) v.problem(`${at}/id`, `duplicates /routes/${prev}/id`);
      else ids.set(r.id as string, i);
    }
    const matchKey = r.match !== undefined ? checkMatch(v, r.match, `${at}/match`) : undefined;
    if (matchKey !== undefined) {
      // Two routes with the same match: the second could never be selected, which is always a mistake.
      const prev = matches.get(matchKey);
      if (prev !== undefined) v.problem(`${at}/match`, `same match as /routes/${prev}/match; this route could never be selected`);
      else matches.set(matchKey, i);
    }
    v.rule(r.audience, `${at}/audience`, (a) => (isAudience(a) ? undefined : `must be 1-${MAX_AUDIENCE_LENGTH} visible ASCII characters (the passport aud it must equal)`));
    if (r.allowed_sources !== undefined) {
      const sources = v.array(r.allowed_sources, `${at}/allowed_sources`, true);
      sources?.forEach((s, j) => checkSource(v, s, `${at}/allowed_sources/${j}`));
    }
    v.keyBinding(r.required_key_binding, `${at}/required_key_binding`);
    if (r.freshness_class !== undefined && !(FRESHNESS_CLASSES as readonly unknown[]).includes(r.freshness_class)) {
      v.problem(`${at}/freshness_class`, `must be one of ${FRESHNESS_CLASSES.join(', ')}`);
    }
    if (r.bound_headers !== undefined) {
      const names = v.array(r.bound_headers, `${at}/bound_headers`);
      if (names && names.length > MAX_BOUND_HEADERS) v.problem(`${at}/bound_headers`, `must name at most ${MAX_BOUND_HEADERS} headers (the transcript limit)`);
      if (names) v.unique(names, `${at}/bound_headers`, (n) => (typeof n !== 'string' ? 'must be a string' : headerNameProblem(n)), 'duplicate header name');
    }
    v.lifetime(r.max_passport_lifetime_s, `${at}/max_passport_lifetime_s`);
    if (r.require_peer_principal !== undefined && typeof r.require_peer_principal !== 'boolean') {
      v.problem(`${at}/require_peer_principal`, 'must be a boolean');
    }
    if (r.mode !== undefined && r.mode !== 'enforce' && r.mode !== 'dry_run') v.problem(`${at}/mode`, 'must be "enforce" or "dry_run"');
    if (r.body !== undefined) checkBody(v, r.body, `${at}/body`);
    if (r.override_headers !== undefined) checkOverrideHeaders(v, r.override_headers, `${at}/override_headers`);
    if (r.proof_kinds !== undefined) checkNameList(v, r.proof_kinds, `${at}/proof_kinds`, PROOF_KIND_NAMES, true);
    if (r.min_binding !== undefined) checkNameList(v, r.min_binding, `${at}/min_binding`, BINDING_PART_NAMES, false);
    if (r.reusable_passport !== undefined) {
      const rp = v.object(r.reusable_passport, `${at}/reusable_passport`);
      if (rp) {
        v.members(rp, `${at}/reusable_passport`, REUSABLE, ['max_lifetime_s']);
        v.lifetime(rp.max_lifetime_s, `${at}/reusable_passport/max_lifetime_s`);
      }
    }
  });
}

/** Returns a key identifying the match when it is valid, for duplicate detection. */
function checkMatch(v: Checker, value: unknown, at: string): string | undefined {
  const m = v.object(value, at);
  if (!m) return undefined;
  const before = v.problems.length;
  v.members(m, at, MATCH, ['path']);
  if (v.str(m.path, `${at}/path`, undefined, 2048)) {
    const problem = routePathProblem(m.path as string);
    if (problem) v.problem(`${at}/path`, problem);
  }
  let methods: string[] = [];
  if (m.methods !== undefined) {
    const list = v.array(m.methods, `${at}/methods`, true);
    const valid = (x: unknown): string | undefined => (typeof x === 'string' && METHOD.test(x) ? undefined : 'must be an upper-case HTTP method token');
    if (list) methods = [...v.unique(list, `${at}/methods`, valid, 'duplicate method')].sort();
  }
  if (m.authority !== undefined && v.str(m.authority, `${at}/authority`, undefined, 255)) {
    const problem = authorityProblem(m.authority as string);
    if (problem) v.problem(`${at}/authority`, problem);
  }
  if (v.problems.length !== before) return undefined;
  return JSON.stringify([m.path, m.authority ?? null, methods]);
}

/** `proof_kinds`, `min_binding` (docs/bundle.md §1.2.5): unique names from a fixed list. */
function checkNameList(v: Checker, value: unknown, at: string, known: readonly string[], nonEmpty: boolean): void {
  const names = v.array(value, at, nonEmpty);
  if (names) v.unique(names, at, (n) => (typeof n === 'string' && known.includes(n) ? undefined : `must be one of ${known.join(', ')}`), 'duplicate name');
}

/** `override_headers`: an array (may be empty) of unique, bindable, lower-case header names. */
function checkOverrideHeaders(v: Checker, value: unknown, at: string): void {
  const names = v.array(value, at);
  if (!names) return;
  if (names.length > MAX_OVERRIDE_HEADERS) v.problem(at, `must name at most ${MAX_OVERRIDE_HEADERS} headers`);
  v.unique(names, at, (n) => (typeof n !== 'string' ? 'must be a string' : overrideHeaderProblem(n)), 'duplicate header name');
}

function checkSource(v: Checker, value: unknown, at: string): void {
  const s = v.object(value, at);
  if (!s) return;
  v.members(s, at, SOURCE, ['issuer', 'trust_domain', 'subject']);
  v.rule(s.issuer, `${at}/issuer`, identityProblem);
  v.rule(s.trust_domain, `${at}/trust_domain`, trustDomainProblem);
  v.rule(s.subject, `${at}/subject`, subjectPatternProblem);
  if (s.min_key_binding !== undefined) v.keyBinding(s.min_key_binding, `${at}/min_key_binding`);
}

function checkBody(v: Checker, value: unknown, at: string): void {
  const b = v.object(value, at);
  if (!b) return;
  v.members(b, at, BODY, ['mode']);
  if (b.mode !== undefined && b.mode !== 'bound' && b.mode !== 'empty') v.problem(`${at}/mode`, 'must be "bound" or "empty"');
  if (b.max_bytes !== undefined) {
    if (!(Number.isSafeInteger(b.max_bytes) && (b.max_bytes as number) >= 1)) v.problem(`${at}/max_bytes`, 'must be a positive integer');
    else if (b.mode === 'empty') v.problem(`${at}/max_bytes`, 'has no meaning when mode is "empty"');
  }
  if (b.hash_source !== undefined && !(BODY_HASH_SOURCES as readonly unknown[]).includes(b.hash_source)) {
    v.problem(`${at}/hash_source`, 'must be "buffered" or "filter"');
  }
}

function checkRevocations(v: Checker, value: unknown): void {
  const r = v.object(value, '/revocations');
  if (!r) return;
  v.members(r, '/revocations', REVOCATION_LISTS, REVOCATION_LISTS);
  for (const list of REVOCATION_LISTS) {
    if (r[list] === undefined) continue;
    const rule = REVOKED_SYNTAX[list];
    v.array(r[list], `/revocations/${list}`)?.forEach((x, j) => (rule ? v.rule(x, `/revocations/${list}/${j}`, rule) : v.str(x, `/revocations/${list}/${j}`)));
  }
}

/**
 * A revoked value is compared byte for byte with what a passport carries, and a passport carries each
 * identity in its one accepted spelling (docs/transcript-v1.md §4.2). A revoked entry in any other
 * spelling could never match, so it is a problem here, not a silent gap in revocation.
 */
const REVOKED_SYNTAX: Readonly<Record<string, ((value: string) => string | undefined) | undefined>> = {
  subjects: identityProblem,
  kids: (k) => (isKid(k) ? undefined : `must be 1-${MAX_KID_LENGTH} visible ASCII characters (kid syntax)`),
  jtis: (j) => (j.length <= MAX_JTI_LENGTH && VISIBLE.test(j) ? undefined : `must be 1-${MAX_JTI_LENGTH} visible ASCII characters (jti syntax)`),
  // A thumbprint spelt any other way could never equal one the verifier computes (it only computes
  // canonical ones), so the revocation would silently do nothing.
  cnf_thumbprints: (t) => (t.length === 43 && fromB64url(t) !== undefined ? undefined : 'must be an RFC 7638 SHA-256 thumbprint: 43 characters of canonical base64url'),
};

function checkSignature(v: Checker, value: unknown): void {
  const s = v.object(value, '/signature');
  if (!s) return;
  v.members(s, '/signature', SIGNATURE, SIGNATURE);
  if (s.alg !== undefined && s.alg !== 'EdDSA' && s.alg !== 'ES256') v.problem('/signature/alg', 'must be "EdDSA" or "ES256"');
  v.kid(s.kid, '/signature/kid');
  if (s.value !== undefined && (typeof s.value !== 'string' || s.value.length === 0 || fromB64url(s.value) === undefined)) {
    v.problem('/signature/value', 'must be unpadded base64url');
  }
}

/** Collects every problem, one line each, as service/src/config.ts does; paths are JSON Pointers (RFC 6901). */
class Checker {
  readonly problems: string[] = [];

  problem(path: string, message: string): void {
    this.problems.push(`${path === '' ? '/' : path}: ${message}`);
  }

  object(value: unknown, at: string): Obj | undefined {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      this.problem(at, 'must be an object');
      return undefined;
    }
    return value as Obj;
  }

  array(value: unknown, at: string, nonEmpty = false): unknown[] | undefined {
    if (!Array.isArray(value)) {
      this.problem(at, nonEmpty ? 'must be a non-empty array' : 'must be an array');
      return undefined;
    }
    if (nonEmpty && value.length === 0) {
      this.problem(at, 'must be a non-empty array');
      return undefined;
    }
    return value;
  }

  /** Reports unknown and missing members; the caller checks present members' values. */
  members(o: Obj, at: string, known: readonly string[], required: readonly string[]): void {
    for (const k of Object.keys(o)) if (!known.includes(k)) this.problem(`${at}/${pointerEscape(k)}`, 'unknown member');
    for (const k of required) if (o[k] === undefined) this.problem(`${at}/${k}`, 'is required');
  }

  /** Checks a present string value; absent values were reported by `members`. True when valid. */
  str(value: unknown, at: string, pattern?: RegExp, max = MAX_STRING, message?: string): boolean {
    if (value === undefined) return false;
    if (typeof value !== 'string' || value.length === 0) {
      this.problem(at, 'must be a non-empty string');
      return false;
    }
    if (value.length > max) {
      this.problem(at, `must be at most ${max} characters`);
      return false;
    }
    if (pattern && !pattern.test(value)) {
      this.problem(at, message ?? 'must be visible ASCII without spaces');
      return false;
    }
    return true;
  }

  /** A present string value that `problem` accepts; the problem's own words otherwise. */
  rule(value: unknown, at: string, problem: (value: string) => string | undefined): boolean {
    if (value === undefined) return false;
    if (typeof value !== 'string' || value.length === 0) {
      this.problem(at, 'must be a non-empty string');
      return false;
    }
    const p = problem(value);
    if (p !== undefined) this.problem(at, p);
    return p === undefined;
  }

  kid(value: unknown, at: string): boolean {
    return this.rule(value, at, (k) => (isKid(k) ? undefined : `must be 1-${MAX_KID_LENGTH} visible ASCII characters without spaces`));
  }

  /**
   * Each item of an array must pass `problemOf` and appear once (methods, header-name lists, proof
   * kinds, binding parts); problems name the item's index. Returns the distinct valid items.
   */
  unique(items: readonly unknown[], at: string, problemOf: (item: unknown) => string | undefined, duplicate: string): Set<string> {
    const seen = new Set<string>();
    items.forEach((item, j) => {
      const problem = problemOf(item);
      if (problem) return this.problem(`${at}/${j}`, problem);
      if (seen.has(item as string)) return this.problem(`${at}/${j}`, duplicate);
      seen.add(item as string);
    });
    return seen;
  }

  /** A present lifetime in whole seconds, 1 to MAX_LIFETIME_S (a route's and a reusable passport's). */
  lifetime(value: unknown, at: string): void {
    if (value !== undefined && !(Number.isSafeInteger(value) && (value as number) >= 1 && (value as number) <= MAX_LIFETIME_S)) {
      this.problem(at, `must be an integer from 1 to ${MAX_LIFETIME_S}`);
    }
  }

  time(value: unknown, at: string): number | undefined {
    if (value === undefined) return undefined;
    if (!Number.isSafeInteger(value) || (value as number) < 0) {
      this.problem(at, 'must be a non-negative safe integer (unix seconds)');
      return undefined;
    }
    return value as number;
  }

  keyBinding(value: unknown, at: string): void {
    if (value !== undefined && !isKeyBinding(value)) this.problem(at, `must be one of ${KEY_BINDINGS.join(', ')}`);
  }
}

/** RFC 6901 §3: `~` and `/` inside a member name are escaped. */
function pointerEscape(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

function deepFreezeCopy(value: unknown): unknown {
  if (Array.isArray(value)) return Object.freeze(value.map(deepFreezeCopy));
  if (value !== null && typeof value === 'object') {
    const out: Obj = {};
    for (const [k, v] of Object.entries(value)) out[k] = deepFreezeCopy(v);
    return Object.freeze(out);
  }
  return value;
}
