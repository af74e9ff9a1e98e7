import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadConfig } from '../../authz-server/src/config.js';
import { findRepoRoot } from '../support/envoy-config-validator.js';
import { checkoutFiles } from './docker.js';
import { helm } from './helm.js';
import { loadDocs, podSecurityProblems, validateStrict, type K8sDoc } from './k8s.js';

// The Helm chart (deploy/helm/trustplane-authz) rendered by Helm itself for every values file it
// documents (ci/*.yaml), and every other Kubernetes YAML in the repository, validated strictly and
// against Pod Security "restricted". docs/deployment.md ("How this is verified") lists the checks.

type Obj = Record<string, unknown>;
const repo = findRepoRoot();
const chart = join(repo, 'deploy/helm/trustplane-authz');
const valuesFiles = readdirSync(join(chart, 'ci')).filter((f) => f.endsWith('.yaml')).sort();
const NS = 'trustplane';

async function render(extra: readonly string[]): Promise<{ ok: boolean; out: string }> {
  return helm(repo, ['template', 'tp', chart, '--namespace', NS, ...extra]);
}

/** The standard-channel models reject filter type ExternalAuth (GEP-1494 is experimental channel). */
function withoutExperimentalExternalAuth(problems: readonly string[], docs: readonly K8sDoc[]): string[] {
  const routesWithExtAuth = new Set(
    docs
      .filter((d) => d.object['kind'] === 'HTTPRoute' && JSON.stringify(d.object).includes('"type":"ExternalAuth"'))
      .map((d) => `${d.source}: HTTPRoute/${String((d.object['metadata'] as Obj)['name'])}`),
  );
  return problems.filter((p) => {
    const m = /^(.*?): data\/spec\/rules\/\d+\/filters\/\d+\/type must be equal to one of the allowed values$/.exec(p);
    return !(m !== null && routesWithExtAuth.has(m[1] as string));
  });
}

function kindOf(docs: readonly K8sDoc[], kind: string): Obj[] {
  return docs.filter((d) => d.object['kind'] === kind).map((d) => d.object);
}

function authzDeployment(docs: readonly K8sDoc[]): Obj {
  const d = kindOf(docs, 'Deployment').find((o) => ((o['metadata'] as Obj)['name'] as string) === 'tp-trustplane-authz');
  assert.ok(d !== undefined, 'no authz Deployment');
  return d;
}

function podTemplate(o: Obj): { labels: Obj; spec: Obj } {
  const t = (o['spec'] as Obj)['template'] as Obj;
  return { labels: ((t['metadata'] as Obj)['labels'] ?? {}) as Obj, spec: t['spec'] as Obj };
}

function selects(selector: Obj, labels: Obj): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** Problems with what the chart must render whatever the values; empty when fine. */
export function chartProblems(docs: readonly K8sDoc[]): string[] {
  const problems: string[] = [];
  const dep = authzDeployment(docs);
  const { labels, spec } = podTemplate(dep);
  if (Number((dep['spec'] as Obj)['replicas']) < 2) problems.push('authz: replicas < 2');
  const pdbs = kindOf(docs, 'PodDisruptionBudget').filter((p) => selects(((p['spec'] as Obj)['selector'] as Obj)['matchLabels'] as Obj, labels));
  if (pdbs.length !== 1) problems.push('authz: no PodDisruptionBudget selecting its pods');
  const c = (spec['containers'] as Obj[])[0] as Obj;
  const probePath = (p: string): unknown => ((c[p] as Obj | undefined)?.['httpGet'] as Obj | undefined)?.['path'];
  if (probePath('readinessProbe') !== '/readyz') problems.push('authz: readiness is not /readyz ("can decide")');
  if (probePath('livenessProbe') !== '/healthz') problems.push('authz: liveness is not /healthz');
  const res = c['resources'] as Obj | undefined;
  if (!res?.['requests'] || !res['limits']) problems.push('authz: resources requests and limits');
  const spread = (spec['topologySpreadConstraints'] ?? []) as Obj[];
  if (!spread.some((s) => s['topologyKey'] === 'kubernetes.io/hostname' && selects(((s['labelSelector'] as Obj)['matchLabels'] ?? {}) as Obj, labels))) {
    problems.push('authz: no topologySpreadConstraint across nodes');
  }
  const bundleMount = ((c['volumeMounts'] ?? []) as Obj[]).find((m) => m['mountPath'] === '/etc/trustplane/bundle');
  if (bundleMount === undefined || bundleMount['subPath'] !== undefined) problems.push('authz: the bundle must be a directory mount without subPath (hot reload through the ..data swap)');
  const services = kindOf(docs, 'Service');
  const svc = services.find((s) => selects((s['spec'] as Obj)['selector'] as Obj, labels));
  const grpc = ((svc?.['spec'] as Obj | undefined)?.['ports'] as Obj[] | undefined)?.find((p) => p['name'] === 'grpc');
  if (grpc === undefined || grpc['appProtocol'] !== 'grpc') problems.push('authz: no Service port named grpc with appProtocol grpc');
  // Each Service selects the pods of exactly one workload.
  const workloads = [...kindOf(docs, 'Deployment'), ...kindOf(docs, 'StatefulSet')];
  for (const s of services) {
    const n = workloads.filter((w) => selects((s['spec'] as Obj)['selector'] as Obj, podTemplate(w).labels)).length;
    if (n !== 1) problems.push(`Service ${String((s['metadata'] as Obj)['name'])} selects the pods of ${n} workloads`);
  }
  const annotations = (((dep['spec'] as Obj)['template'] as Obj)['metadata'] as Obj)['annotations'] as Obj | undefined;
  if (annotations?.['prometheus.io/scrape'] !== 'true' && kindOf(docs, 'ServiceMonitor').length === 0) problems.push('metrics: neither scrape annotations nor a ServiceMonitor');
  const config = kindOf(docs, 'ConfigMap').find((m) => (m['data'] as Obj | undefined)?.['server.yaml'] !== undefined);
  const server = loadConfig({ file: parse(String((config?.['data'] as Obj)['server.yaml'])) as Record<string, unknown> });
  const redisUrl = server.replay.store === 'redis' ? server.replay.redis?.url : undefined;
  if (redisUrl === undefined) problems.push('authz: replay store is not Redis (replicas would not share consumed jtis)');
  for (const w of kindOf(docs, 'Deployment').filter((o) => o !== dep)) {
    const rc = (podTemplate(w).spec['containers'] as Obj[]).find((x) => String(x['image']).startsWith('redis'));
    if (rc === undefined) continue;
    const args = ((rc['args'] ?? []) as string[]).join(' ');
    for (const need of ['--appendonly yes', '--appendfsync always', '--maxmemory-policy noeviction']) {
      if (!args.includes(need)) problems.push(`in-chart Redis: missing ${need}`);
    }
  }
  for (const d of docs) problems.push(...podSecurityProblems(d));
  return problems;
}

describe('deploy: Helm chart and Kubernetes manifests', function () {
  this.timeout(180_000);
  const rendered = new Map<string, K8sDoc[]>();
  const repoDocs: K8sDoc[] = [];
  let strict: string[] = [];

  before(async () => {
    const results = await Promise.all(valuesFiles.map((f) => render(['-f', join(chart, 'ci', f)])));
    for (const [i, f] of valuesFiles.entries()) {
      const r = results[i] as { ok: boolean; out: string };
      assert.ok(r.ok, `helm template -f ci/${f}: ${r.out}`);
      rendered.set(f, loadDocs(`chart(ci/${f})`, r.out));
    }
    for (const file of checkoutFiles(repo)) {
      if (!/\.ya?ml$/.test(file) || file.startsWith('deploy/helm/') || file.startsWith('node_modules/')) continue;
      let docs: K8sDoc[];
      try {
        docs = loadDocs(file, readFileSync(join(repo, file), 'utf8'));
      } catch {
        continue; // not YAML documents of mappings (a Go template, say): not a Kubernetes manifest
      }
      repoDocs.push(...docs.filter((d) => typeof d.object['apiVersion'] === 'string' && typeof d.object['kind'] === 'string'));
    }
    const all = [...[...rendered.values()].flat(), ...repoDocs];
    strict = withoutExperimentalExternalAuth(await validateStrict(repo, all), all);
  });

  it('documents at least the default, external Redis, Istio, Gateway API and Envoy Gateway combinations', () => {
    for (const f of ['default-values.yaml', 'external-redis-secret-values.yaml', 'istio-values.yaml', 'gateway-api-values.yaml', 'envoy-gateway-values.yaml']) {
      assert.ok(valuesFiles.includes(f), `ci/${f} missing`);
    }
  });

  it('passes helm lint --strict for every documented values combination', async () => {
    const results = await Promise.all(valuesFiles.map((f) => helm(repo, ['lint', '--strict', chart, '-f', join(chart, 'ci', f)])));
    for (const [i, r] of results.entries()) assert.ok(r.ok, `helm lint -f ci/${valuesFiles[i]}: ${r.out}`);
  });

  it('renders only objects valid against the Kubernetes, Istio, Gateway API and Prometheus Operator schemas, unknown fields included', () => {
    assert.deepEqual(strict, []);
  });

  it('finds Kubernetes YAML outside the chart (envoy/istio) and holds it to the same checks', () => {
    const sources = new Set(repoDocs.map((d) => d.source));
    for (const f of ['envoy/istio/authz-server.yaml', 'envoy/istio/example-workload.yaml', 'envoy/istio/redis.yaml', 'envoy/istio/envoy-filter.yaml', 'envoy/istio/authorization-policy.yaml', 'envoy/istio/mesh-config.yaml']) {
      assert.ok(sources.has(f), `${f} not checked`);
    }
    assert.deepEqual(repoDocs.flatMap((d) => podSecurityProblems(d)), []);
  });

  for (const f of valuesFiles) {
    it(`renders what the issue asks for with ci/${f}`, () => {
      assert.deepEqual(chartProblems(rendered.get(f) as K8sDoc[]), []);
    });
  }

  it('renders the integrations each combination turns on, and never two checks for one route', () => {
    const kinds = (f: string): string[] => (rendered.get(f) as K8sDoc[]).map((d) => String(d.object['kind']));
    assert.ok(kinds('istio-values.yaml').includes('AuthorizationPolicy') && kinds('istio-values.yaml').includes('EnvoyFilter'));
    assert.ok(!kinds('default-values.yaml').includes('AuthorizationPolicy'));
    const gw = rendered.get('gateway-api-values.yaml') as K8sDoc[];
    const route = gw.find((d) => d.object['kind'] === 'HTTPRoute')?.object as Obj;
    const filter = (((route['spec'] as Obj)['rules'] as Obj[])[0]?.['filters'] as Obj[])[0] as Obj;
    assert.equal(filter['type'], 'ExternalAuth');
    assert.equal((filter['externalAuth'] as Obj)['protocol'], 'GRPC');
    assert.ok(kinds('gateway-api-values.yaml').includes('ServiceMonitor'));
    assert.ok(!kinds('gateway-api-values.yaml').includes('SecurityPolicy'));
    const eg = rendered.get('envoy-gateway-values.yaml') as K8sDoc[];
    assert.ok(kinds('envoy-gateway-values.yaml').includes('SecurityPolicy'));
    const egRoute = eg.find((d) => d.object['kind'] === 'HTTPRoute')?.object as Obj;
    assert.ok(!JSON.stringify(egRoute).includes('ExternalAuth'), 'SecurityPolicy and ExternalAuth on one route would consume each passport twice');
    assert.ok(!kinds('external-redis-secret-values.yaml').some((k, i) => k === 'Deployment' && JSON.stringify((rendered.get('external-redis-secret-values.yaml') as K8sDoc[])[i]?.object).includes('redis:')));
  });

  describe('each check fails on the defects it guards against (mutated copies)', () => {
    it('runAsNonRoot without runAsUser, a named user, a writable root, no seccomp', () => {
      const base = authzDeployment(rendered.get('default-values.yaml') as K8sDoc[]);
      const mutate = (f: (pod: Obj, c: Obj) => void): string[] => {
        const o = structuredClone(base);
        const { spec } = podTemplate(o);
        f(spec, (spec['containers'] as Obj[])[0] as Obj);
        return podSecurityProblems({ source: 'mutated', object: o });
      };
      const noUser = mutate((p, c) => {
        delete (p['securityContext'] as Obj)['runAsUser'];
        delete (c['securityContext'] as Obj)['runAsUser'];
      });
      assert.match(noUser.join('\n'), /runAsNonRoot without a numeric non-zero runAsUser/);
      assert.match(mutate((_, c) => ((c['securityContext'] as Obj)['readOnlyRootFilesystem'] = false)).join('\n'), /readOnlyRootFilesystem/);
      assert.match(mutate((p, c) => {
        delete (p['securityContext'] as Obj)['seccompProfile'];
        delete (c['securityContext'] as Obj)['seccompProfile'];
      }).join('\n'), /seccompProfile/);
      assert.match(mutate((_, c) => ((c['securityContext'] as Obj)['capabilities'] = { drop: ['NET_RAW'] })).join('\n'), /drop does not include ALL/);
    });

    it('the old envoy/istio/authz-server.yaml (runAsNonRoot, no runAsUser) fails', () => {
      const old = repoDocs.find((d) => d.source === 'envoy/istio/authz-server.yaml' && d.object['kind'] === 'Deployment') as K8sDoc;
      const o = structuredClone(old.object);
      const { spec } = podTemplate(o);
      delete (spec['securityContext'] as Obj | undefined)?.['runAsUser'];
      for (const c of spec['containers'] as Obj[]) delete (c['securityContext'] as Obj)['runAsUser'];
      assert.match(podSecurityProblems({ source: 'old', object: o }).join('\n'), /runAsNonRoot without a numeric non-zero runAsUser/);
    });

    it('an unknown field, a misspelt field and a wrong type fail the strict schema check', async () => {
      const base = authzDeployment(rendered.get('default-values.yaml') as K8sDoc[]);
      const unknown = structuredClone(base);
      ((podTemplate(unknown).spec['containers'] as Obj[])[0]!['securityContext'] as Obj)['runAsUsr'] = 1000;
      const typo = structuredClone(base);
      (typo['spec'] as Obj)['replica'] = 2;
      const wrongType = structuredClone(base);
      (wrongType['spec'] as Obj)['replicas'] = 'two';
      const policy = structuredClone(rendered.get('istio-values.yaml')!.find((d) => d.object['kind'] === 'AuthorizationPolicy')!.object);
      (policy['spec'] as Obj)['providr'] = { name: 'x' };
      const problems = await validateStrict(repo, [
        { source: 'unknown', object: unknown },
        { source: 'typo', object: typo },
        { source: 'wrongType', object: wrongType },
        { source: 'policy', object: policy },
      ]);
      const text = problems.join('\n');
      assert.match(text, /^unknown: .*'"runAsUsr"' does not exist/m);
      assert.match(text, /^typo: .*'"replica"' does not exist/m);
      assert.match(text, /^wrongType: .*replicas must be integer/m);
      assert.match(text, /^wrongType: .*Type 'string' is not assignable to type 'number'/m);
      assert.match(text, /^policy: .*'"providr"' does not exist/m);
    });

    it('the chart refuses one replica, and a trusted body-hash header on the Gateway API path', async () => {
      const one = await render(['--set', 'replicaCount=1']);
      assert.ok(!one.ok && /replicaCount: at least 2/.test(one.out), one.out);
      const gw = await render(['--set', 'gatewayApi.enabled=true']);
      assert.ok(!gw.ok && /set server.bodyFilterHeader.trusted=false/.test(gw.out), gw.out);
    });

    it('the chart checks catch a subPath bundle mount, a PDB-less chart and an evicting Redis', () => {
      const docs = (rendered.get('default-values.yaml') as K8sDoc[]).map((d) => ({ ...d, object: structuredClone(d.object) }));
      const dep = authzDeployment(docs);
      const c = (podTemplate(dep).spec['containers'] as Obj[])[0] as Obj;
      ((c['volumeMounts'] as Obj[]).find((m) => m['mountPath'] === '/etc/trustplane/bundle') as Obj)['subPath'] = 'bundle.json';
      const redis = kindOf(docs, 'Deployment').find((o) => o !== dep) as Obj;
      const rc = (podTemplate(redis).spec['containers'] as Obj[])[0] as Obj;
      rc['args'] = (rc['args'] as string[]).map((a) => (a === 'noeviction' ? 'allkeys-lru' : a));
      const noPdb = docs.filter((d) => d.object['kind'] !== 'PodDisruptionBudget');
      const text = chartProblems(noPdb).join('\n');
      assert.match(text, /without subPath/);
      assert.match(text, /no PodDisruptionBudget/);
      assert.match(text, /missing --maxmemory-policy noeviction/);
    });
  });
});
