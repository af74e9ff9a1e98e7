/**
 * Pure bundle edits behind `trustplane bundle build | merge-source | remove-source`. Each returns a
 * new unsigned document with `serial + 1` (build starts at the given serial) that must be reviewed and
 * re-signed, and each refuses to produce a document that validateBundle would refuse. Material the
 * edit is not about is carried over untouched, member for member.
 */
import { canonicalJson } from '../encoding.js';
import { jwkThumbprint } from '../keys.js';
import type { BundleEditErrorCode } from './errors.js';
import { BUNDLE_FORMAT, type AllowedSource, type BundleDocument, type Revocations, type Route, type TrustKey } from './types.js';
import { validateBundle } from './validate.js';

export type BundleEditResult =
  | { ok: true; bundle: BundleDocument; changed: boolean }
  | { ok: false; code: BundleEditErrorCode; problems: string[] };

export interface BuildBundleInput {
  /** Unix seconds. */
  readonly issuedAt: number;
  readonly expiresAt: number;
  /** Defaults to 1. */
  readonly serial?: number;
  readonly keys?: readonly TrustKey[];
  readonly routes?: readonly Route[];
  readonly revocations?: Partial<Revocations>;
}

/** An unsigned skeleton; the caller signs it after review. */
export function buildBundle(input: BuildBundleInput): BundleEditResult {
  const doc = {
    format: BUNDLE_FORMAT,
    serial: input.serial ?? 1,
    issued_at: input.issuedAt,
    expires_at: input.expiresAt,
    keys: input.keys ?? [],
    routes: input.routes ?? [],
    revocations: {
      kids: input.revocations?.kids ?? [],
      jtis: input.revocations?.jtis ?? [],
      subjects: input.revocations?.subjects ?? [],
      cnf_thumbprints: input.revocations?.cnf_thumbprints ?? [],
    },
  };
  return checked(doc, true);
}

export interface MergeSourceInput {
  /** The client's passport-signing key as the bundle should trust it. */
  readonly key: TrustKey;
  /** Ids of the routes that should accept the source. */
  readonly routes: readonly string[];
  /** Must name the key's issuer and trust domain: the rule exists to admit this key's passports. */
  readonly source: AllowedSource;
}

/**
 * Adds a client: its key (unless an identical key is already there) and the source rule on each named
 * route (unless an identical rule is already there). Running it twice changes nothing the second
 * time: the input is returned as it was, signature included, with `changed: false`.
 */
export function mergeSource(bundle: BundleDocument, input: MergeSourceInput): BundleEditResult {
  const base = validateBundle(bundle);
  if (!base.ok) return { ok: false, code: 'bundle_invalid', problems: base.problems };
  const doc = base.bundle;

  const mismatch: string[] = [];
  if (input.source.issuer !== input.key.issuer) mismatch.push('source.issuer: must equal key.issuer');
  if (input.source.trust_domain !== input.key.trust_domain) mismatch.push('source.trust_domain: must equal key.trust_domain');
  if (mismatch.length > 0) return { ok: false, code: 'bundle_invalid', problems: mismatch };

  // Check the new key and rule in place first, so a malformed one is reported at its pointer path.
  const preflight = validateBundle(
    next(doc, {
      keys: [...doc.keys.filter((k) => k.kid !== input.key.kid), input.key],
      routes: doc.routes.map((r) => (input.routes.includes(r.id) ? { ...r, allowed_sources: [...r.allowed_sources, input.source] } : r)),
    }),
  );
  if (!preflight.ok) return { ok: false, code: 'bundle_invalid', problems: preflight.problems };

  const unknown = unknownRoutes(doc, input.routes);
  if (unknown) return unknown;

  const revoked = revokedProblem(doc, input.key);
  if (revoked) return { ok: false, code: 'bundle_key_revoked', problems: [revoked] };

  let keys = doc.keys;
  const sameKid = doc.keys.find((k) => k.kid === input.key.kid);
  if (sameKid) {
    // Same key = same key material (RFC 7638 thumbprint) and same claims; how the JWK spells optional members does not matter.
    const same =
      safeThumbprint(sameKid) === safeThumbprint(input.key) &&
      sameKid.issuer === input.key.issuer &&
      sameKid.trust_domain === input.key.trust_domain &&
      sameKid.max_key_binding === input.key.max_key_binding;
    if (!same) {
      return { ok: false, code: 'bundle_key_conflict', problems: [`kid "${input.key.kid}" is already trusted with a different key, issuer, trust domain or binding`] };
    }
  } else {
    const thumbprint = safeThumbprint(input.key);
    const sameMaterial = thumbprint === undefined ? undefined : doc.keys.find((k) => safeThumbprint(k) === thumbprint);
    if (sameMaterial) {
      return { ok: false, code: 'bundle_key_conflict', problems: [`this public key is already trusted as kid "${sameMaterial.kid}"`] };
    }
    keys = [...doc.keys, input.key];
  }

  const { routes, added } = withSourceRule(doc.routes, input.routes, input.source);

  if (keys === doc.keys && added === 0) return { ok: true, bundle: doc, changed: false };
  return checked(next(doc, { keys, routes }), true);
}

/**
 * A key whose kid is in `revocations.kids` would be merged and still deny every passport it signs
 * (docs/bundle.md, revocations), so trusting it is refused rather than reported as done. Default kids
 * are RFC 7638 thumbprints, so the same key material re-added under a new kid is caught when the
 * revoked kid was its thumbprint. No command lifts a revocation: that is an edit of
 * `revocations.kids` by hand, then `bundle sign`.
 */
function revokedProblem(doc: BundleDocument, key: TrustKey): string | undefined {
  const kids = doc.revocations.kids;
  const thumbprint = safeThumbprint(key);
  const hit = kids.includes(key.kid) ? key.kid : thumbprint !== undefined && kids.includes(thumbprint) ? thumbprint : undefined;
  if (hit === undefined) return undefined;
  return `kid "${hit}" is revoked (listed in revocations.kids), so every passport it signs would stay denied; no command lifts a revocation: remove "${hit}" from revocations.kids by hand and re-sign, or trust a new key`;
}

export interface ImportKeySetInput {
  /** The issuer's keys, each already through the strict key import, with their kids. */
  readonly keys: readonly TrustKey[];
  readonly issuer: string;
  readonly trust_domain: string;
  /** Remove this issuer's keys that the set no longer holds (`--prune --confirm-remove`). */
  readonly prune: boolean;
  /** Optionally also a source rule on these routes (as merge-source). */
  readonly routes?: readonly string[];
  readonly source?: AllowedSource;
}

export interface ImportKeySetReport {
  readonly added: string[];
  readonly updated: string[];
  readonly unchanged: string[];
  /** The issuer's kids in the bundle that the set does not hold. */
  readonly absent: string[];
  /** Those removed (only with prune). */
  readonly removed: string[];
  readonly rules_added: number;
}

/**
 * Imports an issuer's key set (an OIDC/JWKS issuer's rotation): every key in the set is added, or
 * updated when its kid is this issuer's with other material or binding; this issuer's keys missing
 * from the set are reported, and removed only with `prune`. Refused as a whole when one key is
 * revoked, is trusted for another issuer or trust domain, or is already trusted under another kid.
 */
export function importKeySet(bundle: BundleDocument, input: ImportKeySetInput): BundleEditResult & { report?: ImportKeySetReport } {
  const base = validateBundle(bundle);
  if (!base.ok) return { ok: false, code: 'bundle_invalid', problems: base.problems };
  const doc = base.bundle;
  if (input.keys.length === 0) return { ok: false, code: 'bundle_invalid', problems: ['the key set holds no usable key'] };
  const problems: string[] = [];
  const revoked = input.keys.map((k) => revokedProblem(doc, k)).filter((x): x is string => x !== undefined);
  if (revoked.length > 0) return { ok: false, code: 'bundle_key_revoked', problems: revoked };
  const ours = (k: TrustKey): boolean => k.issuer === input.issuer && k.trust_domain === input.trust_domain;
  const report: ImportKeySetReport = { added: [], updated: [], unchanged: [], absent: [], removed: [], rules_added: 0 };
  const incoming = new Map(input.keys.map((k) => [k.kid, k]));
  if (incoming.size !== input.keys.length) problems.push('the key set names one kid twice');
  for (const k of input.keys) {
    if (k.issuer !== input.issuer || k.trust_domain !== input.trust_domain) problems.push(`kid "${k.kid}": issuer and trust domain must be the import's`);
    const existing = doc.keys.find((e) => e.kid === k.kid);
    if (existing && !ours(existing)) problems.push(`kid "${k.kid}" is already trusted for ${existing.issuer} (${existing.trust_domain})`);
    const tp = safeThumbprint(k);
    const twin = doc.keys.find((e) => e.kid !== k.kid && tp !== undefined && safeThumbprint(e) === tp);
    if (twin && !(ours(twin) && !incoming.has(twin.kid) && input.prune)) problems.push(`kid "${k.kid}": this public key is already trusted as kid "${twin.kid}"`);
  }
  if (problems.length > 0) return { ok: false, code: 'bundle_key_conflict', problems };

  const keys: TrustKey[] = [];
  for (const e of doc.keys) {
    const k = incoming.get(e.kid);
    if (k) {
      const same = safeThumbprint(e) === safeThumbprint(k) && e.max_key_binding === k.max_key_binding;
      (same ? report.unchanged : report.updated).push(e.kid);
      keys.push(same ? e : k);
    } else if (ours(e)) {
      report.absent.push(e.kid);
      if (input.prune) report.removed.push(e.kid);
      else keys.push(e);
    } else keys.push(e);
  }
  for (const k of input.keys) {
    if (!doc.keys.some((e) => e.kid === k.kid)) {
      report.added.push(k.kid);
      keys.push(k);
    }
  }
  let routes = doc.routes;
  if (input.routes && input.source) {
    const unknown = unknownRoutes(doc, input.routes);
    if (unknown) return unknown;
    const withRule = withSourceRule(doc.routes, input.routes, input.source);
    routes = withRule.routes;
    (report as { rules_added: number }).rules_added = withRule.added;
  }
  if (report.added.length + report.updated.length + report.removed.length + report.rules_added === 0) return { ok: true, bundle: doc, changed: false, report };
  const r = checked(next(doc, { keys, routes }), true);
  return r.ok ? { ...r, report } : r;
}

export interface RemoveSourceInput {
  readonly kid: string;
  /** Removal drops trust; the caller must say so explicitly (`--confirm-remove`). */
  readonly confirm: boolean;
  /** Also list the kid in `revocations.kids`, so copies of older bundles cannot be mistaken for current. */
  readonly revoke?: boolean;
}

/**
 * Removes a client: the key with `kid`, and — only when no remaining key has the same issuer and
 * trust domain — every source rule naming that issuer and trust domain, because those rules then
 * serve nobody. Rules still serving another key of that issuer stay. A route that would be left
 * without any source rule makes the edit fail: deciding what that route should become is a human call.
 */
export function removeSource(bundle: BundleDocument, input: RemoveSourceInput): BundleEditResult {
  if (input.confirm !== true) {
    return { ok: false, code: 'bundle_confirm_required', problems: ['removing trust material requires confirm: true (--confirm-remove)'] };
  }
  const base = validateBundle(bundle);
  if (!base.ok) return { ok: false, code: 'bundle_invalid', problems: base.problems };
  const doc = base.bundle;

  const removed = doc.keys.find((k) => k.kid === input.kid);
  if (!removed) return { ok: false, code: 'bundle_key_unknown', problems: [`kid "${input.kid}" is not in the bundle`] };
  const keys = doc.keys.filter((k) => k.kid !== input.kid);

  const stillServed = keys.some((k) => k.issuer === removed.issuer && k.trust_domain === removed.trust_domain);
  const servesRemoved = (s: AllowedSource): boolean => s.issuer === removed.issuer && s.trust_domain === removed.trust_domain;
  const routes = stillServed
    ? doc.routes
    : doc.routes.map((r) => (r.allowed_sources.some(servesRemoved) ? { ...r, allowed_sources: r.allowed_sources.filter((s) => !servesRemoved(s)) } : r));

  const emptied = routes.filter((r) => r.allowed_sources.length === 0).map((r) => `route "${r.id}" would have no allowed source left; edit or remove it first`);
  if (emptied.length > 0) return { ok: false, code: 'bundle_invalid', problems: emptied };

  const revocations =
    input.revoke && !doc.revocations.kids.includes(input.kid) ? { ...doc.revocations, kids: [...doc.revocations.kids, input.kid] } : doc.revocations;
  return checked(next(doc, { keys, routes, revocations }), true);
}

/** The edit's refusal when `ids` names a route the bundle does not have; undefined when all exist. */
function unknownRoutes(doc: BundleDocument, ids: readonly string[]): BundleEditResult | undefined {
  const unknown = ids.filter((id) => !doc.routes.some((r) => r.id === id));
  if (unknown.length === 0) return undefined;
  return { ok: false, code: 'bundle_route_unknown', problems: unknown.map((id) => `route "${id}" is not in the bundle`) };
}

/** `source` added to each route in `ids` that has no identical rule yet (merge-source, import-jwks), and how many got it. */
function withSourceRule(routes: readonly Route[], ids: readonly string[], source: AllowedSource): { routes: readonly Route[]; added: number } {
  const wanted = new Set(ids);
  const ruleText = canonicalJson(source);
  let added = 0;
  const out = routes.map((r) => {
    if (!wanted.has(r.id) || r.allowed_sources.some((s) => canonicalJson(s) === ruleText)) return r;
    added++;
    return { ...r, allowed_sources: [...r.allowed_sources, source] };
  });
  return { routes: out, added };
}

function next(doc: BundleDocument, changes: Partial<Pick<BundleDocument, 'keys' | 'routes' | 'revocations'>>): unknown {
  const { signature: _stale, ...unsigned } = doc;
  return { ...unsigned, ...changes, serial: doc.serial + 1 };
}

function checked(doc: unknown, changed: boolean): BundleEditResult {
  const v = validateBundle(doc);
  return v.ok ? { ok: true, bundle: v.bundle, changed } : { ok: false, code: 'bundle_invalid', problems: v.problems };
}

function safeThumbprint(key: TrustKey): string | undefined {
  try {
    return jwkThumbprint(key.jwk);
  } catch {
    return undefined;
  }
}
