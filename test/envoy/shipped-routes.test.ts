/**
 * Every route a shipped proxy configuration checks under a TrustPlane route id is covered by that
 * bundle route, in the bundle it ships with (docs/envoy-integration.md, "Route ids"):
 *
 * - envoy/envoy.yaml with the bundle `trustplane lab-init` writes (the docker-compose lab);
 * - envoy/envoy.local.yaml with that bundle and with the development bundle (`trustplane server --dev`);
 * - the development gateway's routes (`trustplane up`, dev/stack.ts) with the development bundle;
 * - envoy/istio/*.yaml wherever they carry context_extensions (today none: under Istio the server
 *   picks the route by bundle matching).
 *
 * For each Envoy route match the route id must exist, and the bundle route must cover the match:
 * its methods include every method Envoy sends there, its authority (if any) is every domain of the
 * virtual host, and its path pattern holds every path the Envoy match accepts. Envoy matches are read
 * as sets of paths: `path` (one path), `prefix`, `path_separated_prefix`, and `safe_regex` of the one
 * form `<literal>/[^/]+` (one segment); any other form fails the test, so a new route is written in a
 * form that can be checked. As a lint beyond what the server enforces, the bundle's own route
 * matching must pick the same route for a representative request, so Envoy never selects a broader
 * route than the bundle would.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { compileBundle, type CompiledBundle } from '../../core/src/bundle/compile.js';
import type { BundleDocument } from '../../core/src/bundle/types.js';
import { parsePathPattern, pathMatches } from '../../core/src/bundle/lib/rules.js';
import { ensureDevState } from '../../cli/src/dev-state.js';
import { GATEWAY_ROUTES } from '../../dev/stack.js';
import { cli, tempDir } from '../cli/cli-harness.js';
import { findRepoRoot } from '../support/envoy-config-validator.js';

const repo = findRepoRoot();
type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The paths an Envoy route match accepts (query removed), in the shapes the bundle can state. */
type EnvoyPaths =
  | { kind: 'exact'; path: string }
  | { kind: 'prefix'; prefix: string }
  | { kind: 'separated'; prefix: string }
  | { kind: 'segment'; base: string };

interface CheckedRoute {
  /** Where it was found, for messages. */
  readonly where: string;
  readonly routeId: string;
  /** undefined: any method. */
  readonly methods: readonly string[] | undefined;
  /** undefined: any authority. */
  readonly domains: readonly string[] | undefined;
  readonly paths: EnvoyPaths | string;
}

const ONE_SEGMENT = /^(\/(?:[A-Za-z0-9._~-]+\/)*)\[\^\/\]\+$/;

function readRegex(regex: string): EnvoyPaths | string {
  const m = ONE_SEGMENT.exec(regex.replace(/^\^/, '').replace(/\$$/, ''));
  return m ? { kind: 'segment', base: m[1]! } : `safe_regex ${JSON.stringify(regex)} is not of the checkable form <literal>/[^/]+`;
}

function envoyPaths(match: Obj): EnvoyPaths | string {
  if (typeof match['path'] === 'string') return { kind: 'exact', path: match['path'] };
  if (typeof match['prefix'] === 'string') return { kind: 'prefix', prefix: match['prefix'] };
  if (typeof match['path_separated_prefix'] === 'string') return { kind: 'separated', prefix: match['path_separated_prefix'] };
  if (isObj(match['safe_regex']) && typeof match['safe_regex']['regex'] === 'string') return readRegex(match['safe_regex']['regex']);
  return `unsupported route match ${JSON.stringify(match)}`;
}

function envoyMethods(match: Obj): readonly string[] | undefined | string {
  const headers = match['headers'];
  if (headers === undefined) return undefined;
  if (!Array.isArray(headers)) return 'headers must be a list';
  let methods: string[] | undefined;
  for (const h of headers) {
    if (!isObj(h) || h['name'] !== ':method') continue;
    const sm = h['string_match'];
    const exact = isObj(sm) ? sm['exact'] : h['exact_match'];
    if (typeof exact !== 'string' || h['invert_match'] === true) return `unsupported :method matcher ${JSON.stringify(h)}`;
    methods = [exact];
  }
  return methods;
}

/** Every route of an Envoy RouteConfiguration (any object with virtual_hosts) that names a TrustPlane route. */
function fromRouteConfig(where: string, routeConfig: Obj): CheckedRoute[] {
  const out: CheckedRoute[] = [];
  for (const vh of (routeConfig['virtual_hosts'] as unknown[]) ?? []) {
    if (!isObj(vh)) continue;
    const domains = (vh['domains'] as string[] | undefined) ?? ['*'];
    for (const r of (vh['routes'] as unknown[]) ?? []) {
      if (!isObj(r) || !isObj(r['match'])) continue;
      const authz = isObj(r['typed_per_filter_config']) ? r['typed_per_filter_config']['envoy.filters.http.ext_authz'] : undefined;
      if (!isObj(authz) || authz['disabled'] === true) continue;
      const ext = isObj(authz['check_settings']) ? authz['check_settings']['context_extensions'] : undefined;
      const routeId = isObj(ext) ? ext['trustplane_route'] : undefined;
      const label = `${where} route ${JSON.stringify(r['match'])}`;
      if (typeof routeId !== 'string') {
        out.push({ where: label, routeId: '', methods: undefined, domains: undefined, paths: 'a checked route without trustplane_route (the server would fall back to bundle matching)' });
        continue;
      }
      const methods = envoyMethods(r['match']);
      out.push({
        where: label,
        routeId,
        methods: typeof methods === 'string' ? undefined : methods,
        domains: domains.includes('*') ? undefined : domains,
        paths: typeof methods === 'string' ? methods : envoyPaths(r['match']),
      });
    }
  }
  return out;
}

/** Walks any parsed YAML document for route configurations (bootstrap, or Istio patches). */
function routeConfigs(value: unknown, found: Obj[] = []): Obj[] {
  if (Array.isArray(value)) for (const v of value) routeConfigs(v, found);
  else if (isObj(value)) {
    if (Array.isArray(value['virtual_hosts'])) found.push(value);
    for (const v of Object.values(value)) routeConfigs(v, found);
  }
  return found;
}

function envoyFileRoutes(file: string): CheckedRoute[] {
  const docs = parseAllDocuments(readFileSync(join(repo, file), 'utf8')).map((d) => d.toJS() as unknown);
  return docs.flatMap((d) => routeConfigs(d).flatMap((rc) => fromRouteConfig(file, rc)));
}

function gatewayRoutes(): CheckedRoute[] {
  return GATEWAY_ROUTES.filter((r) => r.extAuthz && !r.directResponse).map((r) => {
    const where = `dev/stack.ts gateway route ${JSON.stringify({ prefix: r.prefix, path: r.path, safeRegex: r.safeRegex, methods: r.methods })}`;
    const routeId = r.contextExtensions?.['trustplane_route'] ?? '';
    const paths: EnvoyPaths | string =
      r.path !== undefined ? { kind: 'exact', path: r.path } : r.safeRegex !== undefined ? readRegex(r.safeRegex) : { kind: 'prefix', prefix: r.prefix ?? '/' };
    return { where, routeId, methods: r.methods, domains: undefined, paths };
  });
}

/** Problems with `routes` against `bundle`; empty when every route is covered. */
function coverageProblems(routes: readonly CheckedRoute[], bundle: CompiledBundle): string[] {
  const problems: string[] = [];
  for (const r of routes) {
    const before = problems.length;
    const bad = (what: string): void => void problems.push(`${r.where} → ${r.routeId || '(none)'}: ${what}`);
    if (typeof r.paths === 'string') {
      bad(r.paths);
      continue;
    }
    const route = bundle.route(r.routeId);
    if (!route) {
      bad('no such route in the bundle');
      continue;
    }
    const want = route.match.methods;
    if (want !== undefined && (r.methods === undefined || r.methods.some((m) => !want.includes(m)))) {
      bad(`sends ${r.methods?.join(',') ?? 'every method'}, the bundle route takes ${want.join(',')}`);
    }
    const authority = route.match.authority;
    if (authority !== undefined && (r.domains === undefined || r.domains.some((d) => d !== authority))) {
      bad(`serves ${r.domains?.join(',') ?? 'every authority'}, the bundle route takes ${authority}`);
    }
    const pattern = parsePathPattern(route.match.path);
    const p = r.paths;
    const covered =
      p.kind === 'exact'
        ? pathMatches(pattern, p.path)
        : p.kind === 'segment'
          ? (pattern.kind === 'one' && pattern.base === p.base) || (pattern.kind === 'any' && p.base.startsWith(pattern.base))
          : p.kind === 'prefix'
            ? pattern.kind === 'any' && p.prefix.startsWith(pattern.base)
            : pattern.kind === 'any' && `${p.prefix}/`.startsWith(pattern.base) && pathMatches(pattern, p.prefix);
    if (!covered) bad(`sends paths ${JSON.stringify(p)} that the bundle path ${route.match.path} does not cover`);
    // Lint: bundle matching alone picks the same route for a representative request.
    const path = p.kind === 'exact' ? p.path : p.kind === 'segment' ? `${p.base}x` : p.kind === 'prefix' ? (p.prefix.endsWith('/') ? `${p.prefix}x` : p.prefix) : `${p.prefix}/x`;
    const method = r.methods?.[0] ?? 'GET';
    const picked = bundle.matchRoute(method, authority ?? r.domains?.[0] ?? 'api.example.test', path);
    if (problems.length === before && picked?.id !== r.routeId) bad(`bundle matching picks ${picked?.id ?? 'no route'} for ${method} ${path}`);
  }
  return problems;
}

describe('shipped proxy routes agree with the bundles they ship with', function () {
  this.timeout(60_000);
  let t: ReturnType<typeof tempDir>;
  let lab: CompiledBundle;
  let dev: CompiledBundle;

  before(async () => {
    t = tempDir('tp-shipped-routes-');
    const r = await cli(['lab-init', '--out', 'lab'], { cwd: t.dir });
    assert.equal(r.code, 0, r.stderr);
    lab = compileBundle(JSON.parse(readFileSync(join(t.dir, 'lab', 'bundle.json'), 'utf8')) as BundleDocument);
    dev = compileBundle(ensureDevState(join(t.dir, 'dev')).bundle);
  });
  after(() => t?.dispose());

  const cases: [string, () => CheckedRoute[], () => CompiledBundle][] = [
    ['envoy/envoy.yaml with the `trustplane lab-init` bundle', () => envoyFileRoutes('envoy/envoy.yaml'), () => lab],
    ['envoy/envoy.local.yaml with the `trustplane lab-init` bundle', () => envoyFileRoutes('envoy/envoy.local.yaml'), () => lab],
    ['envoy/envoy.local.yaml with the development bundle', () => envoyFileRoutes('envoy/envoy.local.yaml'), () => dev],
    ['the `trustplane up` gateway with the development bundle', gatewayRoutes, () => dev],
  ];
  for (const [name, routes, bundle] of cases) {
    it(`${name}: every checked route names a bundle route that covers it`, () => {
      const found = routes();
      assert.ok(found.length >= 3, `expected the checked routes, found ${found.length}`);
      assert.deepEqual(coverageProblems(found, bundle()), []);
    });
  }

  it('envoy/istio/*.yaml: any context_extensions route id is covered by the lab bundle (today there are none)', () => {
    const dir = join(repo, 'envoy', 'istio');
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
    assert.ok(files.length > 0);
    const routes = files.flatMap((f) => envoyFileRoutes(join('envoy', 'istio', f)));
    assert.deepEqual(coverageProblems(routes, lab), []);
    for (const f of files) {
      // A trustplane_route anywhere else (a patch shape this walker does not read) must be noticed.
      const text = readFileSync(join(dir, f), 'utf8');
      if (text.includes('trustplane_route')) assert.ok(routes.some((r) => r.where.startsWith(join('envoy', 'istio', f))), `${f} names a route id the check did not find`);
    }
  });

  it('finds the issue\'s misconfiguration: /v1/payments/ as payments-read sends paths the bundle route does not cover', () => {
    const text = readFileSync(join(repo, 'envoy', 'envoy.yaml'), 'utf8').replace('safe_regex: { regex: "/v1/payments/[^/]+" }', 'prefix: /v1/payments/');
    const routes = routeConfigs(parse(text)).flatMap((rc) => fromRouteConfig('broken envoy.yaml', rc));
    const problems = coverageProblems(routes, lab);
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0]!, /payments-read: sends paths \{"kind":"prefix","prefix":"\/v1\/payments\/"\} that the bundle path \/v1\/payments\/\* does not cover/);
  });

  it('finds a route id missing from the bundle, a method the route does not take, and an unreadable match', () => {
    const base = { where: 'x', domains: undefined } as const;
    const problems = coverageProblems(
      [
        { ...base, routeId: 'no-such', methods: ['GET'], paths: { kind: 'exact', path: '/v1/payments' } },
        { ...base, routeId: 'payments-create', methods: undefined, paths: { kind: 'exact', path: '/v1/payments' } },
        { ...base, routeId: 'payments-create', methods: ['POST'], paths: readRegex('/v1/pay.*') },
      ],
      lab,
    );
    assert.deepEqual(problems, [
      'x → no-such: no such route in the bundle',
      'x → payments-create: sends every method, the bundle route takes POST',
      'x → payments-create: safe_regex "/v1/pay.*" is not of the checkable form <literal>/[^/]+',
    ]);
  });
});
