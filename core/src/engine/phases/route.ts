/**
 * Phase 5, route policy (docs/transcript-v1.md §12 steps 16–26). Rule: the request target is
 * canonical — authority (§6.3), path (§6.4) and query (§6.5), refused here rather than normalised —
 * and maps to one route (Envoy's `trustplane_route` context extension when present, otherwise the
 * bundle's match on the canonical authority and path — the same canonical path the transcript
 * binds), and the passport satisfies that route: its audience, the route the proof names, the
 * lifetime limit (the route's, and never above the verifier's hard cap), one allowed source (first
 * match wins), the key-binding minimum of route and source (any matching source whose minimum is
 * met), the headers the route requires bound, and the mTLS peer principal when the route asks for
 * it. A route named by Envoy must cover the request by its own methods, authority and path
 * (`route_request_mismatch`); a method- or URL-override header the proof does not bind is refused
 * (`override_header_not_bound`).
 */
import type { ReasonCode } from '../../reasons.js';
import { canonicalAuthority, canonicalPath, canonicalQuery, splitPathAndQuery } from '../../transcript.js';
import { keyBindingRank } from '../../types.js';
import type { AllowedSource, Route } from '../../bundle/types.js';
import { quoted } from '../detail.js';
import type { PhaseState } from '../state.js';
import { DEFAULT_MIN_BINDING, DEFAULT_ROUTE_PROOF_KINDS } from '../proof-kind.js';

function matches(s: PhaseState, src: AllowedSource): boolean {
  const c = s.claims!;
  return src.issuer === c.iss && src.trust_domain === c.trust_domain && s.bundle.subjectAllowed(src.subject, c.sub);
}

export function routePhase(s: PhaseState): ReasonCode | undefined {
  const c = s.claims!;
  const authority = canonicalAuthority(s.view.authority);
  if (!authority.ok) return deny(s, authority.reason, authority.detail);
  // The one place a verifier splits `:path` and canonicalises the target: the query is refused
  // here with the path, so that path_not_canonical has one phase whichever part it is about.
  const [rawPath, rawQuery] = splitPathAndQuery(s.view.path);
  const path = canonicalPath(rawPath);
  if (!path.ok) return deny(s, path.reason, path.detail);
  const query = canonicalQuery(rawQuery);
  if (!query.ok) return deny(s, query.reason, query.detail);
  // Kept for the transcript phase, which binds exactly these forms.
  s.target = { authority: authority.value, path: path.value, query: query.value };
  let route;
  if (s.view.routeId !== undefined) {
    route = s.bundle.route(s.view.routeId);
    if (!route) return deny(s, 'route_not_found', `Envoy named route ${quoted(s.view.routeId)}, which bundle serial ${s.bundle.serial} does not have`);
    // The bundle route is the law however it was named: Envoy's name selects it, but its own
    // methods, authority and path must still hold, so a mis-routed request is a visible deny
    // (docs/transcript-v1.md §12, docs/bundle.md §1.2.1).
    s.route = route;
    if (!s.bundle.routeCovers(route, s.view.method, authority.value, path.value)) {
      return deny(s, 'route_request_mismatch', uncovered(route, s.view.method, authority.value));
    }
  } else {
    route = s.bundle.matchRoute(s.view.method, authority.value, path.value);
    if (!route) return deny(s, 'route_not_found', `no route of bundle serial ${s.bundle.serial} matches the method, canonical authority and path`);
    s.route = route;
  }
  // The route accepts the request's proof kind, and that kind binds at least what the route asks
  // (docs/bundle.md §1.2.5). Absent settings: transcript-v1 only, every part.
  const kind = s.kind!;
  if (!(route.proof_kinds ?? DEFAULT_ROUTE_PROOF_KINDS).includes(kind.name)) {
    return deny(s, 'proof_kind_not_allowed', `route ${quoted(route.id)} does not accept ${quoted(kind.name)} proofs`);
  }
  const binds = kind.binds(s);
  s.binding = binds;
  const minimum = route.min_binding ?? DEFAULT_MIN_BINDING;
  for (let i = 0; i < minimum.length; i++) {
    if (!binds.parts.has(minimum[i]!)) return deny(s, 'proof_binding_insufficient', `route ${quoted(route.id)} requires the proof to bind ${quoted(minimum[i]!)}`);
  }
  const named = kind.namedRoute?.(s);
  if (named !== undefined && named !== route.id) return deny(s, 'route_mismatch', `the proof names route ${quoted(named)}, the request is on ${quoted(route.id)}`);
  if (c.aud !== route.audience) return deny(s, 'audience_mismatch', `the route's audience is ${quoted(route.audience)}`);
  // A reusable passport only where the route accepts one, and then within the route's own bound
  // for reusable passports (docs/transcript-v1.md §15.1); a per-request passport as always. Never
  // above the verifier's hard cap, checked here with the route's limit so that the code has one phase.
  let routeLimit: number;
  if (s.reusable === true) {
    if (route.reusable_passport === undefined) return deny(s, 'passport_reuse_not_allowed', `route ${quoted(route.id)} does not accept reusable passports`);
    routeLimit = route.reusable_passport.max_lifetime_s;
  } else {
    routeLimit = route.max_passport_lifetime_s ?? s.options.defaultRouteLifetimeS;
  }
  const limit = Math.min(routeLimit, s.options.maxPassportLifetimeS);
  if (c.exp - c.iat > limit) {
    const whose = routeLimit <= s.options.maxPassportLifetimeS ? 'the route allows' : "the verifier's hard cap is";
    return deny(s, 'passport_lifetime_exceeded', `exp - iat is ${c.exp - c.iat} s; ${whose} ${limit} s`);
  }
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
  if (!known) return deny(s, 'source_not_allowed', 'no allowed_sources rule matches the issuer, trust domain and subject');
  if (!source) {
    const detail = meetsRoute ? 'every matching source rule asks for a higher min_key_binding' : `the route requires ${route.required_key_binding}`;
    return deny(s, 'key_binding_insufficient', detail);
  }
  s.source = source;
  for (const h of route.bound_headers) if (!binds.headers.includes(h)) return deny(s, 'header_not_bound', `the route requires ${quoted(h)} bound`);
  // A header that makes the upstream act on another method or URL must be signed, or it is refused
  // (docs/bundle.md §1.2.4): a Map lookup per listed name, the list fixed when the bundle compiled.
  const overrides = s.bundle.overrideHeaders(route);
  for (let i = 0; i < overrides.length; i++) {
    const h = overrides[i]!;
    if (s.view.headers.has(h) && !binds.headers.includes(h)) return deny(s, 'override_header_not_bound', `the request carries ${quoted(h)} and the proof does not bind it`);
  }
  if (route.require_peer_principal && s.view.sourcePrincipal !== c.sub) {
    return deny(s, 'peer_principal_mismatch', s.view.sourcePrincipal === undefined ? 'no mTLS peer principal' : 'the mTLS peer principal is not the passport subject');
  }
  return undefined;
}

function deny(s: PhaseState, reason: ReasonCode, detail: string): ReasonCode {
  s.detail = detail;
  return reason;
}

/** Which part of a named route's match the request is outside of. */
function uncovered(route: Route, method: string, authority: string): string {
  const m = route.match;
  if (m.methods !== undefined && !m.methods.includes(method)) return `method ${quoted(method)} is not among the methods of route ${quoted(route.id)}`;
  if (m.authority !== undefined && m.authority !== authority) return `the canonical authority is not ${quoted(m.authority)}, the authority of route ${quoted(route.id)}`;
  return `the canonical path does not match ${quoted(m.path)}, the path of route ${quoted(route.id)}`;
}
