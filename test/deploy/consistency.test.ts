import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { loadConfig } from '../../authz-server/src/config.js';
import { parseBrokerConfig } from '../../broker/src/config.js';
import { labRoutes } from '../../cli/src/lab.js';
import { findRepoRoot } from '../support/envoy-config-validator.js';
import { AUTHZ, HEADERS, MAX_BODY_BYTES } from '../envoy/contract.js';
import { helm } from './helm.js';
import { loadDocs, type K8sDoc } from './k8s.js';

// The compose lab against the Compose Specification (the JSON schema `docker compose` validates
// with, as shipped in the dclint package), and the numbers and names that must agree between the
// Envoy configs, the chart, the Istio manifests, the compose lab and the server's own defaults.
// Route ids and paths against the bundles are checked in test/envoy (envoy-routes.test.ts); the
// chart, the Istio manifests and Gateway API carry no route ids (they cannot pass Envoy's
// context_extensions; the server selects the route from the bundle's own matching).

type Obj = Record<string, unknown>;
const repo = findRepoRoot();
const require = createRequire(import.meta.url);
const read = (f: string): string => readFileSync(join(repo, f), 'utf8');
const compose = parse(read('docker-compose.yml'), { merge: true }) as Obj;
const services = compose['services'] as Record<string, Obj>;

function schemaPath(): string {
  return join(dirname(require.resolve('dclint/package.json')), 'schemas', 'compose.schema.json');
}

function composeProblems(doc: unknown): string[] {
  // dclint does not export its schema file: read it from the installed package.
  const schema = JSON.parse(readFileSync(schemaPath(), 'utf8')) as Obj;
  // `$schema` names draft-07 by an https URL Ajv does not know by that spelling; Ajv's default
  // dialect is draft-07. Formats are not checked: the schema's "duration" is Go's syntax (2s, 1m30s),
  // which no Ajv format implements; the healthcheck intervals are checked by Docker at run time.
  delete schema['$schema'];
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
  const validate = ajv.compile(schema);
  if (validate(doc)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}

/** Long-running services: everything but the one-shots (restart: "no"). */
function longRunning(doc: Obj): string[] {
  return Object.entries(doc['services'] as Record<string, Obj>).filter(([, s]) => s['restart'] !== 'no').map(([n]) => n);
}

function labProblems(doc: Obj): string[] {
  const svc = doc['services'] as Record<string, Obj>;
  const problems: string[] = [];
  for (const name of longRunning(doc)) if (svc[name]?.['healthcheck'] === undefined) problems.push(`${name}: no healthcheck`);
  for (const [name, s] of Object.entries(svc)) {
    const limits = ((s['deploy'] as Obj | undefined)?.['resources'] as Obj | undefined)?.['limits'] as Obj | undefined;
    if (limits?.['memory'] === undefined || limits['cpus'] === undefined) problems.push(`${name}: no cpu/memory limits`);
    const image = String(s['image'] ?? '');
    if (s['build'] === undefined && !/:(v?\d+\.\d+\.\d+)(-[a-z0-9]+)?(@sha256:[0-9a-f]{64})?$/.test(image)) problems.push(`${name}: image ${image} is not pinned to a patch release`);
  }
  const callerDeps = (svc['caller']?.['depends_on'] ?? {}) as Record<string, Obj>;
  for (const dep of ['envoy', 'echo', 'broker']) {
    if (callerDeps[dep]?.['condition'] !== 'service_healthy') problems.push(`caller: does not wait for ${dep} to be healthy`);
  }
  const redisCmd = ((svc['redis']?.['command'] ?? []) as string[]).join(' ');
  for (const need of ['--maxmemory-policy noeviction', '--appendonly yes', '--appendfsync always']) {
    if (!redisCmd.includes(need)) problems.push(`redis: missing ${need}`);
  }
  return problems;
}

/** Every object in `v` (depth first) for which `pred` holds. */
function findAll(v: unknown, pred: (o: Obj) => boolean, out: Obj[] = []): Obj[] {
  if (Array.isArray(v)) for (const x of v) findAll(x, pred, out);
  else if (v !== null && typeof v === 'object') {
    if (pred(v as Obj)) out.push(v as Obj);
    for (const x of Object.values(v as Obj)) findAll(x, pred, out);
  }
  return out;
}

function envoyExtAuthz(file: string): { timeoutMs: number; clusterPorts: number[]; maxRequestBytes: number[]; wasm: Obj; bufferLimit: number } {
  const cfg = parse(read(file)) as Obj;
  const sr = cfg['static_resources'] as Obj;
  const listener = (sr['listeners'] as Obj[])[0] as Obj;
  const extAuthz = findAll(cfg, (o) => o['name'] === 'envoy.filters.http.ext_authz');
  assert.equal(extAuthz.length, 1, `${file}: one ext_authz filter`);
  const grpc = ((extAuthz[0] as Obj)['typed_config'] as Obj)['grpc_service'] as Obj;
  const cluster = (sr['clusters'] as Obj[]).find((c) => c['name'] === ((grpc['envoy_grpc'] as Obj)['cluster_name'] as string)) as Obj;
  const clusterPorts = findAll(cluster, (o) => o['port_value'] !== undefined).map((o) => Number(o['port_value']));
  const maxRequestBytes = findAll(cfg, (o) => o['max_request_bytes'] !== undefined).map((o) => Number(o['max_request_bytes']));
  const wasmFilter = findAll(cfg, (o) => o['name'] === 'envoy.filters.http.wasm')[0] as Obj;
  const conf = findAll(wasmFilter, (o) => o['@type'] === 'type.googleapis.com/google.protobuf.StringValue')[0] as Obj;
  return {
    timeoutMs: durationMs(String(grpc['timeout'])),
    clusterPorts,
    maxRequestBytes,
    wasm: JSON.parse(String(conf['value'])) as Obj,
    bufferLimit: Number(listener['per_connection_buffer_limit_bytes']),
  };
}

function durationMs(s: string): number {
  const m = /^([\d.]+)(ms|s)$/.exec(s);
  assert.ok(m !== null, `duration ${s}`);
  return Number(m[1]) * (m[2] === 'ms' ? 1 : 1000);
}

/** Doc lines that install Istio with the mesh overlay alone (which re-installs Istio with only it). */
export function bareMeshInstalls(text: string): string[] {
  return text.split('\n').filter((l) => /istioctl\s+(install|apply)\b/.test(l) && /-f\s+\S*mesh-config\.yaml/.test(l) && (l.match(/\s-f\s/g) ?? []).length < 2);
}

describe('deploy: compose lab and cross-file consistency', function () {
  this.timeout(60_000);

  describe('docker-compose.yml', () => {
    it('is valid against the Compose Specification schema', () => {
      assert.deepEqual(composeProblems(compose), []);
    });

    it('has healthchecks on every long-running service, limits, pinned images, replay-safe Redis, and a caller that waits', () => {
      assert.deepEqual(longRunning(compose).sort(), ['authz-a', 'authz-b', 'broker', 'echo', 'envoy', 'redis']);
      assert.deepEqual(labProblems(compose), []);
    });

    it('fails on the defects it guards against (mutated copies)', () => {
      const bad = structuredClone(compose) as { services: Record<string, Obj> };
      (bad.services['envoy'] as Obj)['helthcheck'] = {};
      (bad.services['redis'] as Obj)['mem_limit'] = 'lots';
      assert.match(composeProblems(bad).join('\n'), /additional properties|must NOT have additional properties/);
      const weak = structuredClone(compose) as { services: Record<string, Obj> };
      delete (weak.services['echo'] as Obj)['healthcheck'];
      ((weak.services['caller'] as Obj)['depends_on'] as Record<string, Obj>)['envoy'] = { condition: 'service_started' };
      (weak.services['redis'] as Obj)['command'] = ['redis-server', '--maxmemory-policy', 'allkeys-lru'];
      (weak.services['redis'] as Obj)['image'] = 'redis:7-alpine';
      delete (weak.services['broker'] as Obj)['deploy'];
      const text = labProblems(weak as unknown as Obj).join('\n');
      for (const p of ['echo: no healthcheck', 'caller: does not wait for envoy', 'redis: missing --maxmemory-policy noeviction', 'redis: image redis:7-alpine is not pinned', 'broker: no cpu/memory limits']) {
        assert.ok(text.includes(p), `${p} not reported:\n${text}`);
      }
    });
  });

  it('no doc installs Istio with the mesh overlay alone', () => {
    for (const f of ['README.md', 'docs/deployment.md', 'envoy/README.md', 'envoy/istio/mesh-config.yaml']) assert.deepEqual(bareMeshInstalls(read(f)), [], f);
    assert.equal(bareMeshInstalls('istioctl install -f envoy/istio/mesh-config.yaml').length, 1, 'the old instruction must be caught');
    assert.equal(bareMeshInstalls('istioctl install -f mine.yaml -f envoy/istio/mesh-config.yaml').length, 0);
  });

  describe('ports, headers, timeouts and body limits agree', () => {
    let chartDocs: K8sDoc[] = [];
    before(async () => {
      const r = await helm(repo, ['template', 'tp', join(repo, 'deploy/helm/trustplane-authz'), '-n', 'trustplane', '--set', 'istio.enabled=true']);
      assert.ok(r.ok, r.out);
      chartDocs = loadDocs('chart', r.out);
    });
    const istio = (f: string): K8sDoc[] => loadDocs(f, read(f));
    const serverOf = (docs: K8sDoc[]) => {
      const cm = docs.find((d) => d.object['kind'] === 'ConfigMap' && (d.object['data'] as Obj | undefined)?.['server.yaml'] !== undefined);
      assert.ok(cm !== undefined);
      return loadConfig({ file: parse(String((cm.object['data'] as Obj)['server.yaml'])) as Record<string, unknown> });
    };
    const labServer = loadConfig({ file: parse(read('lab/server.yaml')) as Record<string, unknown> });

    it('Envoy (plain and lab) sends checks to the port the server listens on, with a timeout above the store timeout', () => {
      for (const f of ['envoy/envoy.yaml', 'envoy/envoy.local.yaml']) {
        const e = envoyExtAuthz(f);
        assert.ok(e.clusterPorts.length > 0);
        for (const port of e.clusterPorts) assert.equal(port, Number(labServer.listen.grpc.split(':').at(-1)), `${f}: authz cluster port`);
        const storeMs = labServer.replay.redis?.command_timeout_ms as number;
        assert.ok(e.timeoutMs > storeMs, `${f}: ext_authz timeout ${e.timeoutMs} ms is not above the store's ${storeMs} ms`);
      }
    });

    it('Istio: the mesh provider port and timeout against the authz manifest and the chart', () => {
      const mesh = istio('envoy/istio/mesh-config.yaml')[0]?.object as Obj;
      const provider = ((((mesh['spec'] as Obj)['meshConfig'] as Obj)['extensionProviders'] as Obj[])[0] as Obj)['envoyExtAuthzGrpc'] as Obj;
      const manifests = istio('envoy/istio/authz-server.yaml');
      for (const [name, docs] of [['envoy/istio/authz-server.yaml', manifests], ['chart', chartDocs]] as const) {
        const server = serverOf(docs);
        assert.equal(Number(server.listen.grpc.split(':').at(-1)), provider['port'], `${name}: gRPC port`);
        const svc = docs.find((d) => d.object['kind'] === 'Service' && ((d.object['spec'] as Obj)['ports'] as Obj[]).some((p) => p['name'] === 'grpc'));
        assert.equal(((svc?.object['spec'] as Obj)['ports'] as Obj[]).find((p) => p['name'] === 'grpc')?.['port'], provider['port'], `${name}: Service grpc port`);
        const storeMs = server.replay.redis?.command_timeout_ms as number;
        assert.ok(durationMs(String(provider['timeout'])) > storeMs, `${name}: mesh ext_authz timeout ${String(provider['timeout'])} not above ${storeMs} ms`);
      }
      assert.equal(provider['service'], 'trustplane-authz.trustplane.svc.cluster.local');
      assert.ok(manifests.some((d) => d.object['kind'] === 'Service' && (d.object['metadata'] as Obj)['name'] === 'trustplane-authz' && (d.object['metadata'] as Obj)['namespace'] === 'trustplane'));
    });

    it('the chart released as documented serves the Service the Istio mesh provider names', async () => {
      const mesh = istio('envoy/istio/mesh-config.yaml')[0]?.object as Obj;
      const provider = ((((mesh['spec'] as Obj)['meshConfig'] as Obj)['extensionProviders'] as Obj[])[0] as Obj)['envoyExtAuthzGrpc'] as Obj;
      const r = await helm(repo, ['template', 'trustplane-authz', join(repo, 'deploy/helm/trustplane-authz'), '-n', 'trustplane']);
      assert.ok(r.ok, r.out);
      const names = loadDocs('chart', r.out)
        .filter((d) => d.object['kind'] === 'Service' && ((d.object['spec'] as Obj)['ports'] as Obj[]).some((p) => p['name'] === 'grpc'))
        .map((d) => `${String((d.object['metadata'] as Obj)['name'])}.trustplane.svc.cluster.local`);
      assert.deepEqual(names, [provider['service']]);
    });

    it('the body-hash header name is the same in every Envoy, Istio, chart and server config', () => {
      const names = new Set<string>([HEADERS.bodySha256, labServer.body.filter_header.name]);
      names.add(String(envoyExtAuthz('envoy/envoy.yaml').wasm['header']));
      for (const docs of [istio('envoy/istio/envoy-filter.yaml'), chartDocs]) {
        const m = /\\"header\\":\\"([^\\]+)\\"/.exec(JSON.stringify(docs.find((d) => d.object['kind'] === 'EnvoyFilter')?.object));
        names.add(String(m?.[1]));
      }
      names.add(serverOf(istio('envoy/istio/authz-server.yaml')).body.filter_header.name);
      names.add(serverOf(chartDocs).body.filter_header.name);
      assert.deepEqual([...names], [HEADERS.bodySha256]);
    });

    it('body limits: wasm max_body_bytes = with_request_body max_request_bytes, below the stream buffer limit', () => {
      const e = envoyExtAuthz('envoy/envoy.yaml');
      assert.equal(e.wasm['max_body_bytes'], MAX_BODY_BYTES);
      assert.ok(e.maxRequestBytes.length > 0 && e.maxRequestBytes.every((n) => n === MAX_BODY_BYTES), String(e.maxRequestBytes));
      assert.ok(e.bufferLimit > MAX_BODY_BYTES, `per_connection_buffer_limit_bytes ${e.bufferLimit}`);
      for (const docs of [istio('envoy/istio/envoy-filter.yaml'), chartDocs]) {
        const json = JSON.stringify(docs.find((d) => d.object['kind'] === 'EnvoyFilter')?.object);
        assert.equal(Number(/max_body_bytes\\":(\d+)/.exec(json)?.[1]), MAX_BODY_BYTES);
        assert.ok(Number(/"per_connection_buffer_limit_bytes":(\d+)/.exec(json)?.[1]) > MAX_BODY_BYTES);
      }
    });

    it('the lab bundle (what lab-init ships to the compose lab) fits the Envoy, broker and chart body limits', () => {
      const e = envoyExtAuthz('envoy/envoy.yaml');
      const broker = parseBrokerConfig(parse(read('lab/broker.yaml')));
      const values = parse(read('deploy/helm/trustplane-authz/values.yaml')) as Obj;
      const limits = {
        'envoy wasm max_body_bytes': Number(e.wasm['max_body_bytes']),
        'envoy with_request_body max_request_bytes': Math.min(...e.maxRequestBytes),
        'broker max_body_bytes': Number(broker.maxBodyBytes),
        'chart istio.envoyFilter.maxBodyBytes': Number(((values['istio'] as Obj)['envoyFilter'] as Obj)['maxBodyBytes']),
        'chart gatewayApi.maxBodyBytes': Number((values['gatewayApi'] as Obj)['maxBodyBytes']),
      };
      for (const route of labRoutes()) {
        const max = (route.body as { max_bytes?: number } | undefined)?.max_bytes;
        if (max === undefined) continue;
        for (const [name, limit] of Object.entries(limits)) assert.ok(max <= limit, `route ${route.id}: body max_bytes ${max} above ${name} ${limit}`);
        assert.ok(max < e.bufferLimit, `route ${route.id}: body max_bytes ${max} not below per_connection_buffer_limit_bytes ${e.bufferLimit}`);
      }
      // Route ids: every id Envoy names exists in the lab bundle (test/envoy/envoy-routes.test.ts
      // checks the paths and methods behind them).
      const ids = new Set(labRoutes().map((r) => r.id));
      const named = findAll(parse(read('envoy/envoy.yaml')), (o) => typeof o['trustplane_route'] === 'string').map((o) => String(o['trustplane_route']));
      assert.ok(named.length > 0);
      for (const id of named) assert.ok(ids.has(id), `envoy/envoy.yaml names route ${id}, which the lab bundle lacks`);
    });

    it('the compose lab, the Istio manifests and the chart run the image user and ports the Dockerfile declares', () => {
      const dockerfile = read('Dockerfile');
      const uid = Number(/^USER (\d+)/m.exec(dockerfile)?.[1]);
      const exposed = /^EXPOSE (.*)$/m.exec(dockerfile)?.[1]?.split(/\s+/).map(Number) ?? [];
      assert.ok(exposed.includes(AUTHZ.grpcPort) && exposed.includes(AUTHZ.httpPort));
      for (const docs of [istio('envoy/istio/authz-server.yaml'), chartDocs]) {
        const dep = docs.find((d) => d.object['kind'] === 'Deployment' && JSON.stringify(d.object).includes('"server"'))?.object as Obj;
        const pod = ((dep['spec'] as Obj)['template'] as Obj)['spec'] as Obj;
        assert.equal((pod['securityContext'] as Obj)['runAsUser'], uid);
      }
      const lab = labServer.listen;
      assert.equal(lab.grpc, `0.0.0.0:${AUTHZ.grpcPort}`);
      assert.ok(services['authz-a'] !== undefined);
    });

    it('a mutated timeout or header is caught', () => {
      const storeMs = labServer.replay.redis?.command_timeout_ms as number;
      // An ext_authz timeout no longer than the store's own timeout is the mutation the check exists for.
      const mutated = `${storeMs / 1000}s`;
      assert.ok(!(durationMs(mutated) > storeMs), `an ext_authz timeout of ${mutated} must fail the timeout check`);
      const bad = loadConfig({ file: { ...(parse(read('lab/server.yaml')) as Obj), body: { filter_header: { trusted: true, name: 'x-body-hash' } } } });
      assert.notEqual(bad.body.filter_header.name, HEADERS.bodySha256);
    });
  });
});
