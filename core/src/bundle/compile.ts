/**
 * The read-only form of a verified bundle that the decision engine consults on every request. All
 * work that does not depend on the request happens here once: JWKs become KeyObjects, revocation
 * lists become sets, route paths and subject patterns become matchers.
 *
 * Route precedence (docs/bundle.md, "Route matching"): an exact path beats a `/*` route, which beats
 * a `/**` route; among wildcards the longer prefix wins; remaining ties go to the earlier route. A
 * route's `methods` and `authority`, when present, must also match.
 */
import type { KeyObject } from 'node:crypto';
import { sha256hex } from '../encoding.js';
import { checkPublicJwk } from '../keys.js';
import type { SigningAlg } from '../types.js';
import { compileSubjectPattern, DEFAULT_OVERRIDE_HEADERS, parsePathPattern, pathMatches, type PathPattern, type SubjectMatcher } from './lib/rules.js';
import { canonicalBundleBytes } from './canonical.js';
import type { BundleDocument, Route, TrustKey } from './types.js';

export interface CompiledKey {
  readonly key: TrustKey;
  readonly publicKey: KeyObject;
  /** The only algorithm this key verifies (from its JWK). */
  readonly alg: SigningAlg;
}

export interface CompiledBundle {
  readonly document: BundleDocument;
  readonly serial: number;
  /** Unix seconds. */
  readonly issuedAt: number;
  readonly expiresAt: number;
  /** Hex SHA-256 of the signed content (canonicalBundleBytes), as verifyBundle reports it. */
  readonly sha256: string;
  readonly routes: readonly Route[];
  keyByKid(kid: string): CompiledKey | undefined;
  route(id: string): Route | undefined;
  /**
   * Whether `route`'s own match (methods, authority, path pattern) holds for the request: a route
   * Envoy names by id must cover the request it is asked to decide (docs/bundle.md §1.2.1).
   * `authority` and `path` canonical, as for matchRoute. False for a route of another bundle.
   */
  routeCovers(route: Route, method: string, authority: string, path: string): boolean;
  /** The override headers the route denies unless the proof binds them (docs/bundle.md §1.2.4). */
  overrideHeaders(route: Route): readonly string[];
  /** `authority` and `path` must already be canonical (transcript-v1); `path` without the query. */
  matchRoute(method: string, authority: string, path: string): Route | undefined;
  isRevokedKid(kid: string): boolean;
  isRevokedJti(jti: string): boolean;
  isRevokedSubject(subject: string): boolean;
  isRevokedCnfThumbprint(thumbprint: string): boolean;
  /** `*` matches one or more characters within one `/` segment; a final `/**` matches any non-empty rest. */
  subjectAllowed(pattern: string, subject: string): boolean;
}

interface CompiledRoute {
  readonly route: Route;
  readonly path: PathPattern;
  readonly methods: ReadonlySet<string> | undefined;
  readonly authority: string | undefined;
  readonly overrideHeaders: readonly string[];
}

const KIND_RANK = { exact: 0, one: 1, any: 2 } as const;

/** `bundle` must have passed validateBundle (verifyBundle does that); compiling does not re-check. */
export function compileBundle(bundle: BundleDocument): CompiledBundle {
  const keys = new Map<string, CompiledKey>();
  // Through the one import path again (validateBundle did too): a caller that skips validation
  // still cannot compile a small-order or non-canonical key.
  for (const key of bundle.keys) {
    const imported = checkPublicJwk(key.jwk, 'public');
    keys.set(key.kid, Object.freeze({ key, publicKey: imported.key, alg: imported.alg }));
  }

  const routesById = new Map<string, Route>();
  const compiledByRoute = new Map<Route, CompiledRoute>();
  const exact = new Map<string, CompiledRoute[]>();
  const wildcards: Array<CompiledRoute & { readonly index: number }> = [];
  bundle.routes.forEach((route, index) => {
    routesById.set(route.id, route);
    const c: CompiledRoute = {
      route,
      path: parsePathPattern(route.match.path),
      methods: route.match.methods ? new Set(route.match.methods) : undefined,
      authority: route.match.authority,
      overrideHeaders: route.override_headers ? Object.freeze([...route.override_headers]) : DEFAULT_OVERRIDE_HEADERS,
    };
    compiledByRoute.set(route, c);
    if (c.path.kind === 'exact') {
      const list = exact.get(c.path.base) ?? [];
      list.push(c);
      exact.set(c.path.base, list);
    } else {
      wildcards.push({ ...c, index });
    }
  });
  wildcards.sort((a, b) => KIND_RANK[a.path.kind] - KIND_RANK[b.path.kind] || b.path.base.length - a.path.base.length || a.index - b.index);

  const patterns = new Map<string, SubjectMatcher>();
  for (const route of bundle.routes) {
    for (const s of route.allowed_sources) if (!patterns.has(s.subject)) patterns.set(s.subject, compileSubjectPattern(s.subject));
  }

  const revoked = {
    kids: new Set(bundle.revocations.kids),
    jtis: new Set(bundle.revocations.jtis),
    subjects: new Set(bundle.revocations.subjects),
    cnf: new Set(bundle.revocations.cnf_thumbprints),
  };

  const applies = (c: CompiledRoute, method: string, authority: string): boolean =>
    (c.methods === undefined || c.methods.has(method)) && (c.authority === undefined || c.authority === authority);

  return Object.freeze({
    document: bundle,
    serial: bundle.serial,
    issuedAt: bundle.issued_at,
    expiresAt: bundle.expires_at,
    sha256: sha256hex(canonicalBundleBytes(bundle)),
    routes: bundle.routes,
    keyByKid: (kid: string) => keys.get(kid),
    route: (id: string) => routesById.get(id),
    routeCovers(route: Route, method: string, authority: string, path: string): boolean {
      const c = compiledByRoute.get(route);
      return c !== undefined && applies(c, method, authority) && pathMatches(c.path, path);
    },
    overrideHeaders: (route: Route) => compiledByRoute.get(route)?.overrideHeaders ?? DEFAULT_OVERRIDE_HEADERS,
    matchRoute(method: string, authority: string, path: string): Route | undefined {
      const samePath = exact.get(path);
      if (samePath !== undefined) for (const c of samePath) if (applies(c, method, authority)) return c.route;
      for (const c of wildcards) if (pathMatches(c.path, path) && applies(c, method, authority)) return c.route;
      return undefined;
    },
    isRevokedKid: (kid: string) => revoked.kids.has(kid),
    isRevokedJti: (jti: string) => revoked.jtis.has(jti),
    isRevokedSubject: (subject: string) => revoked.subjects.has(subject),
    isRevokedCnfThumbprint: (t: string) => revoked.cnf.has(t),
    subjectAllowed(pattern: string, subject: string): boolean {
      // Patterns outside this bundle are compiled per call rather than cached, so callers cannot grow memory.
      return (patterns.get(pattern) ?? compileSubjectPattern(pattern))(subject);
    },
  });
}
