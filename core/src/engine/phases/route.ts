/**
 * Phase 5, route policy. Rule: the request maps to one route (Envoy's `trustplane_route` context
 * extension when present, otherwise the bundle's match on the canonical authority and path — the
 * same canonical path the transcript binds), and the passport satisfies that route: its audience,
 * the route the proof names, the lifetime limit, one allowed source (first match wins), the
 * key-binding minimum of route and source, the headers the route requires bound, and the mTLS peer
 * principal when the route asks for it.
 */
import type { ReasonCode } from '../../reasons.js';
import { canonicalAuthority, canonicalPath, splitPathAndQuery } from '../../transcript.js';
import { keyBindingRank } from '../../types.js';
import type { PhaseState } from '../state.js';

export function routePhase(s: PhaseState): ReasonCode | undefined {
  const c = s.claims!;
  const authority = canonicalAuthority(s.view.authority);
  if (!authority.ok) return authority.reason;
  const path = canonicalPath(splitPathAndQuery(s.view.path)[0]);
  if (!path.ok) return path.reason;
  s.authority = authority.value;
  const route = s.view.routeId !== undefined ? s.bundle.route(s.view.routeId) : s.bundle.matchRoute(s.view.method, authority.value, path.value);
  if (!route) return 'route_not_found';
  s.route = route;
  if (s.proof!.route !== route.id) return 'route_mismatch';
  if (c.aud !== route.audience) return 'audience_mismatch';
  if (c.exp - c.iat > (route.max_passport_lifetime_s ?? s.options.defaultRouteLifetimeS)) return 'passport_lifetime_exceeded';
  const source = route.allowed_sources.find(
    (src) => src.issuer === c.iss && src.trust_domain === c.trust_domain && s.bundle.subjectAllowed(src.subject, c.sub),
  );
  if (!source) return 'source_not_allowed';
  s.source = source;
  const rank = keyBindingRank(c.key_binding);
  if (rank < keyBindingRank(route.required_key_binding)) return 'key_binding_insufficient';
  if (source.min_key_binding !== undefined && rank < keyBindingRank(source.min_key_binding)) return 'key_binding_insufficient';
  for (const h of route.bound_headers) if (!s.proof!.h.includes(h)) return 'header_not_bound';
  if (route.require_peer_principal && s.view.sourcePrincipal !== c.sub) return 'peer_principal_mismatch';
  return undefined;
}
