// Strict validation of Kubernetes objects with no cluster:
// 1. the schema validator shipped with kubernetes-models / @kubernetes-models/istio /
//    @kubernetes-models/gateway-api / @kubernetes-models/prometheus-operator (types, required fields,
//    enums, patterns), which ignores unknown fields, and
// 2. unknown fields as errors: each object is type-checked as an object literal against the same
//    packages' TypeScript interfaces (generated from the Kubernetes OpenAPI and the CRDs), so
//    TypeScript's excess-property check rejects a field at any depth that the schema does not have.
// Envoy Gateway's SecurityPolicy has no models package: it is checked against the interface in
// envoy-gateway-types.ts, transcribed from Envoy Gateway's API reference for the fields used here, and so is the Istio
// mesh overlay (IstioOperator's model has no schema for spec).
import { join } from 'node:path';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';

export interface K8sDoc {
  readonly source: string;
  readonly object: Record<string, unknown>;
}

export function loadDocs(source: string, text: string): K8sDoc[] {
  const out: K8sDoc[] = [];
  for (const d of parseAllDocuments(text)) {
    if (d.errors.length > 0) throw new Error(`${source}: ${d.errors[0]?.message}`);
    const o = d.toJS() as unknown;
    if (o === null || o === undefined) continue;
    if (typeof o !== 'object' || Array.isArray(o)) throw new Error(`${source}: a document is not a mapping`);
    out.push({ source, object: o as Record<string, unknown> });
  }
  return out;
}

interface ModelRef {
  /** Module specifier, resolvable from the repository root. */
  readonly module: string;
  readonly iface: string;
  readonly exportName: string;
}

const ENVOY_GATEWAY_TYPES = './test/deploy/envoy-gateway-types.js';

export function modelFor(apiVersion: string, kind: string): ModelRef | undefined {
  const [group, version] = apiVersion.includes('/') ? (apiVersion.split('/') as [string, string]) : ['', apiVersion];
  if (apiVersion === 'install.istio.io/v1alpha1' && kind === 'IstioOperator') {
    return { module: ENVOY_GATEWAY_TYPES, iface: 'IIstioOperatorMeshOverlay', exportName: '' };
  }
  let pkg: string;
  if (group === '' || !group.includes('.') || group.endsWith('.k8s.io') && !group.startsWith('gateway.')) pkg = 'kubernetes-models';
  else if (group.endsWith('.istio.io')) pkg = '@kubernetes-models/istio';
  else if (group.startsWith('gateway.networking.')) pkg = '@kubernetes-models/gateway-api';
  else if (group === 'monitoring.coreos.com') pkg = '@kubernetes-models/prometheus-operator';
  else if (apiVersion === 'gateway.envoyproxy.io/v1alpha1' && kind === 'SecurityPolicy') {
    return { module: ENVOY_GATEWAY_TYPES, iface: 'ISecurityPolicy', exportName: '' };
  } else return undefined;
  const path = group === '' ? version : `${group}/${version}`;
  return { module: `${pkg}/${path}/${kind}`, iface: `I${kind}`, exportName: kind };
}

/** Every problem found, one line each, naming the source file and the object. */
export async function validateStrict(repo: string, docs: readonly K8sDoc[]): Promise<string[]> {
  const problems: string[] = [];
  const lines: string[] = [];
  const imports = new Map<string, string>();
  const starts: { index: number; doc: K8sDoc }[] = [];
  const label = (d: K8sDoc): string => `${d.source}: ${String(d.object['kind'])}/${String((d.object['metadata'] as { name?: string } | undefined)?.name)}`;

  for (const [i, doc] of docs.entries()) {
    const apiVersion = String(doc.object['apiVersion']);
    const kind = String(doc.object['kind']);
    const ref = modelFor(apiVersion, kind);
    if (ref === undefined) {
      problems.push(`${label(doc)}: no schema for ${apiVersion} ${kind}`);
      continue;
    }
    if (ref.exportName !== '') {
      let mod: Record<string, unknown>;
      try {
        mod = (await import(ref.module)) as Record<string, unknown>;
      } catch {
        problems.push(`${label(doc)}: no schema for ${apiVersion} ${kind}`);
        continue;
      }
      const Model = mod[ref.exportName] as new (d: unknown) => { validate(): void };
      try {
        new Model(doc.object).validate();
      } catch (e) {
        problems.push(`${label(doc)}: ${(e as Error).message.split('\n').join('; ')}`);
      }
    }
    const alias = `T${i}`;
    imports.set(alias, `import type { ${ref.iface} as ${alias} } from '${ref.module}';`);
    starts.push({ index: lines.length, doc });
    lines.push(`export const v${i}: ${alias} = ${JSON.stringify(doc.object, null, 1)};`.split('\n').join(' '));
  }
  const source = [...imports.values(), ...lines].join('\n');
  const file = join(repo, '__k8s_strict_check__.ts');
  const options: ts.CompilerOptions = {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) =>
    name === file ? ts.createSourceFile(name, source, lang) : getSourceFile(name, lang, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  for (const d of [...program.getSyntacticDiagnostics(), ...program.getSemanticDiagnostics()]) {
    if (d.file?.fileName !== file || d.start === undefined) {
      problems.push(`type check: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`);
      continue;
    }
    const line = d.file.getLineAndCharacterOfPosition(d.start).line;
    const owner = starts.find((s) => s.index + imports.size === line);
    const what = owner ? label(owner.doc) : `line ${line}`;
    problems.push(`${what}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`);
  }
  return problems;
}

type Obj = Record<string, unknown>;

function podSpecOf(o: Obj): Obj | undefined {
  const kind = o['kind'];
  const spec = o['spec'] as Obj | undefined;
  if (kind === 'Pod') return spec;
  if (['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job'].includes(String(kind))) return (spec?.['template'] as Obj | undefined)?.['spec'] as Obj | undefined;
  if (kind === 'CronJob') return ((((spec?.['jobTemplate'] as Obj)?.['spec'] as Obj)?.['template'] as Obj)?.['spec']) as Obj | undefined;
  return undefined;
}

/**
 * Pod Security Standards "restricted" (https://kubernetes.io/docs/concepts/security/pod-security-standards/)
 * plus what the kubelet needs to start the container: runAsNonRoot with a numeric non-zero runAsUser
 * (the kubelet cannot verify a named image user: CreateContainerConfigError) and a read-only root.
 */
export function podSecurityProblems(doc: K8sDoc): string[] {
  const pod = podSpecOf(doc.object);
  if (pod === undefined) return [];
  const name = `${doc.source}: ${String(doc.object['kind'])}/${String((doc.object['metadata'] as Obj | undefined)?.['name'])}`;
  const problems: string[] = [];
  const psc = (pod['securityContext'] ?? {}) as Obj;
  for (const field of ['hostNetwork', 'hostPID', 'hostIPC']) if (pod[field] === true) problems.push(`${name}: ${field}`);
  const containers = [...((pod['initContainers'] ?? []) as Obj[]), ...((pod['containers'] ?? []) as Obj[])];
  for (const c of containers) {
    const sc = (c['securityContext'] ?? {}) as Obj;
    const at = `${name} container ${String(c['name'])}`;
    const eff = (k: string): unknown => (sc[k] !== undefined ? sc[k] : psc[k]);
    if (eff('runAsNonRoot') !== true) problems.push(`${at}: runAsNonRoot is not true`);
    const uid = eff('runAsUser');
    if (typeof uid !== 'number' || !Number.isInteger(uid) || uid <= 0) problems.push(`${at}: runAsNonRoot without a numeric non-zero runAsUser (the kubelet refuses a non-numeric image user)`);
    if (sc['allowPrivilegeEscalation'] !== false) problems.push(`${at}: allowPrivilegeEscalation is not false`);
    if (sc['privileged'] === true) problems.push(`${at}: privileged`);
    const drop = ((sc['capabilities'] as Obj | undefined)?.['drop'] ?? []) as string[];
    if (!drop.includes('ALL')) problems.push(`${at}: capabilities.drop does not include ALL`);
    const add = ((sc['capabilities'] as Obj | undefined)?.['add'] ?? []) as string[];
    if (add.some((a) => a !== 'NET_BIND_SERVICE')) problems.push(`${at}: adds capabilities ${add.join(',')}`);
    const seccomp = ((eff('seccompProfile') ?? {}) as Obj)['type'];
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') problems.push(`${at}: seccompProfile is not RuntimeDefault`);
    if (sc['readOnlyRootFilesystem'] !== true) problems.push(`${at}: readOnlyRootFilesystem is not true`);
  }
  return problems;
}
