/**
 * Phase 5, route policy. Rule: the request maps to one route (Envoy's `trustplane_route` context
 * extension when present, otherwise the bundle's match on the canonical authority and path — the
 * same canonical path the transcript binds), and the passport satisfies that route: its audience,
 * the route the proof names, the lifetime limit, one allowed source (first match wins), the
 * key-binding minimum of route and source (any matching source whose minimum is met), the headers the route requires bound, and the mTLS peer
 * principal when the route asks for it. A route named by Envoy must cover the request by its own
 * methods, authority and path (`route_request_mismatch`); a method- or URL-override header the proof
 * does not bind is refused (`override_header_not_bound`).
 */
import type { ReasonCode } from '../../reasons.js';
import { canonicalAuthority, canonicalPath } from '../../transcript.js';
import { keyBindingRank } from '../../types.js';
import type { AllowedSource } from '../../bundle/types.js';
import type { PhaseState } from '../state.js';
import { DEFAULT_MIN_BINDING, DEFAULT_ROUTE_PROOF_KINDS } from '../proof-kind.js';

function matches(s: PhaseState, src: AllowedSource): boolean {
  const c = s.claims!;
  return src.issuer === c.iss && src.trust_domain === c.trust_domain && s.bundle.subjectAllowed(src.subject, c.sub);
}

export function routePhase(s: PhaseState): ReasonCode | undefined {
  const c = s.claims!;
  const authority = canonicalAuthority(s.view.authority);
  if (!authority.ok) return authority.reason;
  const q = s.view.path.indexOf('?');
  const path = canonicalPath(q < 0 ? s.view.path : s.view.path.slice(0, q));
  if (!path.ok) return path.reason;
  // Kept for the transcript phase, which binds exactly these forms.
  s.target = { authority: authority.value, path: path.value, rawQuery: q < 0 ? '' : s.view.path.slice(q + 1) };
  let route;
  if (s.view.routeId !== undefined) {
    route = s.bundle.route(s.view.routeId);
    if (!route) return 'route_not_found';
    // The bundle route is the law however it was named: Envoy's name selects it, but its own
    // methods, authority and path must still hold, so a mis-routed request is a visible deny
    // (docs/transcript-v1.md §12, docs/bundle.md §1.2.1).
    s.route = route;
    if (!s.bundle.routeCovers(route, s.view.method, authority.value, path.value)) return 'route_request_mismatch';
  } else {
    route = s.bundle.matchRoute(s.view.method, authority.value, path.value);
    if (!route) return 'route_not_found';
    s.route = route;
  }
  // The route accepts the request's proof kind, and that kind binds at least what the route asks
  // (docs/bundle.md §1.2.5). Absent settings: transcript-v1 only, every part.
  const kind = s.kind!;
  if (!(route.proof_kinds ?? DEFAULT_ROUTE_PROOF_KINDS).includes(kind.name)) return 'proof_kind_not_allowed';
  const binds = kind.binds(s);
  const minimum = route.min_binding ?? DEFAULT_MIN_BINDING;
  for (let i = 0; i < minimum.length; i++) if (!binds.parts.has(minimum[i]!)) return 'proof_binding_insufficient';
  const named = kind.namedRoute?.(s);
  if (named !== undefined && named !== route.id) return 'route_mismatch';
  if (c.aud !== route.audience) return 'audience_mismatch';
  // A reusable passport only where the route accepts one, and then within the route's own bound
  // for reusable passports (docs/transcript-v1.md §15.1); a per-request passport as always.
  let lifetimeLimit: number;
  if (s.reusable === true) {
    if (route.reusable_passport === undefined) return 'passport_reuse_not_allowed';
    lifetimeLimit = route.reusable_passport.max_lifetime_s;
  } else {
    lifetimeLimit = route.max_passport_lifetime_s ?? s.options.defaultRouteLifetimeS;
  }
  if (c.exp - c.iat > lifetimeLimit) return 'passport_lifetime_exceeded';
  // A source rule matches on issuer, trust domain and subject; among the matching rules, one whose
  // key-binding minimum the passport meets is used. Matching rules that all ask for more than the
  // passport has are key_binding_insufficient, not source_not_allowed: the caller is known.
  const rank = keyBindingRank(c.key_binding);
  const meetsRoute = rank >= keyBindingRank(route.required_key_binding);
  let known = false;
  let source: AllowedSource | undefined;
  for (let i = 0; i < route.allowed_sources.length; i++) {
    const src = route.allowed_sources[i]!;
    if (!matches(s, src)) continue;
    known = true;
    if (!meetsRoute) break;
    if (src.min_key_binding === undefined || rank >= keyBindingRank(src.min_key_binding)) {
      source = src;
      break;
    }
  }
  if (!known) return 'source_not_allowed';
  if (!source) return 'key_binding_insufficient';
  s.source = source;
  for (const h of route.bound_headers) if (!binds.headers.includes(h)) return 'header_not_bound';
  // A header that makes the upstream act on another method or URL must be signed, or it is refused
  // (docs/bundle.md §1.2.4): a Map lookup per listed name, the list fixed when the bundle compiled.
  const overrides = s.bundle.overrideHeaders(route);
  for (let i = 0; i < overrides.length; i++) {
    const h = overrides[i]!;
    if (s.view.headers.has(h) && !binds.headers.includes(h)) return 'override_header_not_bound';
  }
  if (route.require_peer_principal && s.view.sourcePrincipal !== c.sub) return 'peer_principal_mismatch';
  return undefined;
}
